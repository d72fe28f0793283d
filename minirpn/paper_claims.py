"""The numbers of ``docs/paper_claims.md``, for the lessons that show a row of it.

``benchmarks/paper_claims.py`` trains the tiny detector on the toy data once per setting of
five of the paper's experiments and writes its report and ``docs/paper_claims.json``.
Lessons 03 (anchors), 05 (lambda, loss normalisation), 10 (training schemes) and 11
(RoIAlign) read that file instead of training a dozen detectors themselves, and judge the
differences between its rows with :func:`difference`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

REPORT_JSON = Path(__file__).resolve().parent.parent / "docs" / "paper_claims.json"
ROW_EXPERIMENTS = ("anchors", "lambda", "normalisation", "schemes")
MEASURES = ("map50", "map", "train_seconds")  # what a row holds a mean and a spread of


def claim_rows(name: str, path: str | Path = REPORT_JSON) -> list[dict]:
    """The rows of one experiment of the report (``anchors``, ``lambda``, ...).

    Each row is a dict with ``row`` (the setting), ``map50``, ``map`` and ``train_seconds``
    (means over the seeds), the same keys with ``_spread`` (half the range over the seeds)
    and ``_each`` (one value per seed), and ``paper`` (the paper's mAP %, or None).

    Raises:
        ValueError: ``name`` is not an experiment with rows, or the report lacks it.
        FileNotFoundError: no report at ``path`` (make it with benchmarks/paper_claims.py).
    """
    if name not in ROW_EXPERIMENTS:
        raise ValueError(f"name must be one of {list(ROW_EXPERIMENTS)}, got {name!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no report at {str(path)!r}: run `python benchmarks/paper_claims.py` to make it"
        )
    experiments = json.loads(path.read_text())["experiments"]
    if name not in experiments:
        raise ValueError(f"the report {str(path)!r} has no {name!r} experiment yet")
    return experiments[name]


def claims_table(rows: list[dict], time: bool = False) -> str:
    """The rows as a text table: setting, mAP@0.5, COCO mAP (mean ± spread), the paper's
    figure, and with ``time`` the training time and its ratio to the first row's."""
    width = max(len(r["row"]) for r in rows)
    head = f"{'setting':{width}s}  {'mAP@0.5':>13s}  {'COCO mAP':>13s}"
    head += f"  {'train s':>8s}  {'x first':>7s}" if time else f"  {'paper %':>7s}"
    lines = [head]
    for r in rows:
        line = (
            f"{r['row']:{width}s}  {r['map50']:.3f} ± {r['map50_spread']:.3f}"
            f"  {r['map']:.3f} ± {r['map_spread']:.3f}"
        )
        if time:
            ratio = r["train_seconds"] / rows[0]["train_seconds"]
            line += f"  {r['train_seconds']:8.0f}  {ratio:7.2f}"
        else:
            line += f"  {'-' if r['paper'] is None else format(r['paper'], '.1f'):>7s}"
        lines.append(line)
    return "\n".join(lines)


class Difference(NamedTuple):
    """Row a's measure minus row b's, and the noise it is judged against."""

    value: float  # the difference of the means over the seeds
    noise: float  # twice the larger of the two spreads

    @property
    def beyond_noise(self) -> bool:
        return abs(self.value) > self.noise

    def __str__(self) -> str:
        where = "beyond" if self.beyond_noise else "within"
        return f"{self.value:+.3f} ({where} the noise: twice the spread is {self.noise:.3f})"


def difference(a: dict, b: dict, measure: str = "map") -> Difference:
    """How far row ``a`` is above row ``b`` on ``measure`` (``map``, ``map50`` or
    ``train_seconds``), with the noise: twice the larger spread of the two rows. The spread
    is half the range over the seeds, so with two seeds a difference within twice it could
    swap sign with two other seeds; the lessons call only a larger one a difference.

    Raises ValueError for an unknown measure.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")
    spread = max(a[f"{measure}_spread"], b[f"{measure}_spread"])
    return Difference(a[measure] - b[measure], 2 * spread)
