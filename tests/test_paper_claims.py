"""The report of the paper's claims: reading it back (minirpn.paper_claims) and its contents."""

import json

import numpy as np
import pytest

from minirpn.paper_claims import (
    REPORT_JSON,
    ROW_EXPERIMENTS,
    claim_rows,
    claims_table,
    difference,
)

# The paper's figures (mAP %, VOC 2007 test, VGG-16), typed here from its Tables 8 and 9.
PAPER_TABLE_8 = [65.8, 66.7, 68.8, 67.9, 69.8, 69.9]  # 1x1 (128, 256), 1x3 (128, 256), 3x1, 3x3
PAPER_TABLE_9 = [67.2, 68.9, 69.9, 69.1]  # lambda 0.1, 1, 10, 100


def row(name, map50, map_, seconds, paper=None):
    return {
        "row": name,
        "paper": paper,
        "map50": map50,
        "map50_spread": 0.001,
        "map": map_,
        "map_spread": 0.02,
        "train_seconds": seconds,
        "train_seconds_spread": 3.0,
    }


def test_claims_table_by_hand():
    rows = [row("a", 0.99, 0.6, 100.0, 69.9), row("longer name", 0.5, 0.25, 150.0)]
    lines = claims_table(rows).splitlines()
    assert lines[1].split() == ["a", "0.990", "±", "0.001", "0.600", "±", "0.020", "69.9"]
    assert lines[2].split()[-1] == "-"  # no figure in the paper
    timed = claims_table(rows, time=True).splitlines()
    assert timed[2].split()[-2:] == ["150", "1.50"]  # ratio to the first row, not the mean
    assert timed[1].split()[-2:] == ["100", "1.00"]


def test_difference_is_judged_against_twice_the_larger_spread():
    a, b = row("a", 0.99, 0.63, 100.0), row("b", 0.98, 0.60, 90.0)
    b["map_spread"] = 0.01  # a's is 0.02: the noise is 2 x 0.02, not 2 x 0.01
    within = difference(a, b)
    assert within.value == pytest.approx(0.03) and within.noise == pytest.approx(0.04)
    assert not within.beyond_noise and "within the noise" in str(within)
    a["map"] = 0.65
    beyond = difference(b, a)
    assert beyond.value == pytest.approx(-0.05) and beyond.beyond_noise
    assert str(beyond).startswith("-0.050 (beyond")
    assert difference(a, b, "train_seconds") == pytest.approx((10.0, 6.0))
    with pytest.raises(ValueError, match="measure must be one of .* got 'recall'"):
        difference(a, b, "recall")


def test_claim_rows_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="name must be one of .* got 'proposals'"):
        claim_rows("proposals")
    with pytest.raises(FileNotFoundError, match="benchmarks/paper_claims.py"):
        claim_rows("anchors", tmp_path / "missing.json")
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"experiments": {"lambda": []}}))
    with pytest.raises(ValueError, match="no 'anchors' experiment"):
        claim_rows("anchors", partial)
    assert claim_rows("lambda", partial) == []


def test_the_committed_report_holds_every_experiment_and_the_papers_figures():
    assert REPORT_JSON.exists(), "docs/paper_claims.json is committed with the report"
    report = json.loads(REPORT_JSON.read_text())
    for name in ROW_EXPERIMENTS:
        rows = claim_rows(name)
        assert rows, name
        for r in rows:
            assert r["seeds"] == report["seeds"] == len(r["map_each"]) == len(r["map50_each"])
            assert min(r["map_each"]) <= r["map"] <= max(r["map_each"])
            assert 0.0 <= r["map"] <= r["map50"] <= 1.0
    assert [r["paper"] for r in claim_rows("anchors")] == PAPER_TABLE_8
    assert [r["paper"] for r in claim_rows("lambda")] == PAPER_TABLE_9
    proposals = report["experiments"]["proposals"]
    recall = np.array(proposals["recall"])  # (N, IoU)
    assert (np.diff(recall, axis=0) >= 0).all()  # more proposals never lower the recall
    assert (np.diff(recall, axis=1) <= 0).all()  # a stricter IoU never raises it
