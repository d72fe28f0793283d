"""Exercises of lesson 08, RoI projection and RoI pooling (F18, F19)."""

from __future__ import annotations

import numpy as np

from minirpn.exercises import Exercise, number_close_to
from minirpn.ops import roi_pool, roi_pool_backward
from minirpn.ops.geometry import roi_pool_bins

VGG_SCALE = 1 / 16
ROI_X = (100.0, 300.0)


def _roi_columns() -> int:
    """Columns read for the RoI, from the package's bin edges (one bin spans them all)."""
    _, _, w_start, w_end = roi_pool_bins(
        np.array([[ROI_X[0], 0.0, ROI_X[1], 16.0]]), (1, 1), VGG_SCALE, 64, 64
    )
    return int(w_end[0, 0] - w_start[0, 0])


def _distinct_cells() -> int:
    """Distinct argmax cells of a 3x3-cell RoI pooled to 7x7, on a map with distinct values."""
    features = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
    _, argmax = roi_pool(features, np.array([[0.0, 0.0, 0.0, 2.0, 2.0]]), 7, 1.0)
    return len(np.unique(argmax))


def _gradient_total() -> float:
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, 6, 6))
    rois = np.array([[0.0, 0.0, 0.0, 4.0, 4.0]])
    out, argmax = roi_pool(x, rois, 2, 1.0)
    return float(roi_pool_backward(np.ones_like(out), rois, argmax, x.shape).sum())


EXERCISES = [
    Exercise(
        name="08.roi_columns",
        verify=number_close_to(
            _roi_columns(),
            rtol=1e-9,
            mistakes=[
                (200 / 16, "RoI pooling works on whole cells: round each corner first"),
                (_roi_columns() - 1, "both rounded corners are included: x2 - x1 + 1"),
                (200 / 16 + 1, "round 100/16 and 300/16 separately, then count x2 - x1 + 1"),
            ],
        ),
        solution=_roi_columns,
        wrong=lambda: 200 / 16,
        explanation="round(6.25) = 6 to round(18.75) = 19, both included: 14 columns.",
    ),
    Exercise(
        name="08.distinct_cells",
        verify=number_close_to(
            _distinct_cells(),
            rtol=1e-9,
            mistakes=[
                (49, "49 bins, but they only see 9 cells: several bins pick the same cell"),
                (3, "3 per row, and there are 3 rows"),
            ],
        ),
        solution=_distinct_cells,
        wrong=lambda: 49,
        explanation="9: each bin spans one or two of the 9 cells, so the 7 x 7 output "
        "repeats them: pooling a small RoI enlarges it, it adds no information.",
    ),
    Exercise(
        name="08.gradient_total",
        verify=number_close_to(
            _gradient_total(),
            rtol=1e-9,
            mistakes=[
                (3.0, "three cells receive gradient, but the shared one receives two bins' worth"),
                (36.0, "only the argmax cells receive gradient"),
                (1.0, "every bin sends its gradient somewhere: four bins"),
            ],
        ),
        solution=_gradient_total,
        wrong=lambda: 3.0,
        explanation="4: every non-empty bin passes its whole gradient to one cell, so the total "
        "is the sum of d out, whichever cells won.",
    ),
]
