"""Timing for the lessons' speed comparisons: the fastest of a few runs."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The fastest of ``repeats`` calls of ``function``, in seconds, and its result.

    The fastest run is the one least disturbed by other programs; compare two functions
    timed in the same session (ratios), not seconds across machines.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result
