"""minirpn.timing.best_time: the fastest run and the function's result."""

import pytest

from minirpn.timing import best_time


def test_best_time_returns_the_fastest_run_and_the_result(monkeypatch):
    ticks = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # runs of 3, 1 and 2 seconds
    monkeypatch.setattr("minirpn.timing.time.perf_counter", lambda: next(ticks))
    calls = []
    seconds, result = best_time(lambda: calls.append(1) or len(calls), repeats=3)
    assert seconds == 1.0 and result == 3 and len(calls) == 3


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats must be a positive int, got 0"):
        best_time(lambda: None, 0)
