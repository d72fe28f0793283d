"""``history.csv``: every iteration of a training run, one row each, for a person to plot.

The columns are ``iteration`` (counting from 1), each loss by name (``rpn_cls``, ``rpn_reg``,
``cls``, ``reg``), their ``total``, the ``learning_rate`` of the step, the ``seconds`` it
took, and ``val_map50`` / ``val_map``: the validation mAP@0.5 and COCO mAP measured after
that iteration with ``minirpn train --eval-every N`` (empty on the other rows). Read it
with any spreadsheet, or ``numpy.genfromtxt("history.csv", delimiter=",", names=True)``.

The losses come from the checkpoint; what the checkpoint does not keep (rates, seconds,
validation) is kept here in :class:`IterationLog` and read back when a run resumes
(:meth:`IterationLog.read`), so a resumed run's file is the same as an uninterrupted one's
except for the seconds. The file is rewritten whole (atomically) with every checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path

from minirpn.fileio import atomic_write

HISTORY_NAME = "history.csv"
EXTRA_COLUMNS = ("total", "learning_rate", "seconds", "val_map50", "val_map")


@dataclasses.dataclass
class IterationLog:
    """Per iteration i (list index i - 1): ``rates[i]`` the learning rate of its step and
    ``seconds[i]`` its duration (NaN: not known, e.g. a run from before this file existed);
    ``validation`` maps an iteration to its ``(mAP@0.5, COCO mAP)`` on the validation images.
    """

    rates: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    validation: dict[int, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def add(self, rate: float, seconds: float) -> None:
        self.rates.append(float(rate))
        self.seconds.append(float(seconds))

    def write(self, run_dir: str | os.PathLike, loss_names, losses) -> Path:
        """Write ``run_dir/history.csv`` from the loss rows ``losses`` (one per iteration, in
        the order of ``loss_names``) and this log; return its path."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["iteration", *loss_names, *EXTRA_COLUMNS])
        for iteration, row in enumerate(losses, start=1):
            rate, seconds = self.rates[iteration - 1], self.seconds[iteration - 1]
            val = self.validation.get(iteration, (math.nan, math.nan))
            values = [*row, sum(row), rate, seconds, *val]
            writer.writerow([iteration, *(_number(v) for v in values)])
        path = Path(run_dir) / HISTORY_NAME
        with atomic_write(path) as f:
            f.write(text.getvalue().encode("utf-8"))
        return path

    @classmethod
    def read(cls, run_dir: str | os.PathLike, iterations: int) -> IterationLog:
        """The log of the first ``iterations`` rows of ``run_dir/history.csv`` (what the
        checkpoint being resumed covers); NaN where the file has no such row or none exists."""
        log = cls([math.nan] * iterations, [math.nan] * iterations, {})
        path = Path(run_dir) / HISTORY_NAME
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
        except (OSError, UnicodeDecodeError, csv.Error):
            return log  # nothing to keep: the columns it would give stay unknown
        for row in rows:
            try:
                iteration = int(row["iteration"])
                values = [_float(row[name]) for name in EXTRA_COLUMNS[1:]]
            except (KeyError, TypeError, ValueError):
                continue
            if 1 <= iteration <= iterations:
                log.rates[iteration - 1], log.seconds[iteration - 1] = values[:2]
                if not math.isnan(values[2]):
                    log.validation[iteration] = (values[2], values[3])
        return log


def _number(value: float) -> str:
    """A float as the CSV writes it: empty when NaN (not known), else its shortest repr."""
    return "" if math.isnan(value) else repr(float(value))


def _float(text: str) -> float:
    return math.nan if text == "" else float(text)
