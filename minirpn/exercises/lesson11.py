"""Exercises of lesson 11, RoIAlign (F22)."""

from __future__ import annotations

import numpy as np

from minirpn.exercises import Exercise, number_close_to
from minirpn.ops import roi_align, roi_align_backward

TINY_SCALE = 1 / 8  # the tiny backbone's spatial scale (F18)
SIZE = 16  # the toy map's side, in cells
RATIO = 2  # samples per bin side, Config.tiny's roi_align_sampling_ratio
ROI = np.array([[0.0, 30.0, 20.0, 90.0, 70.0]])  # well inside the 128-pixel image


def _ramp(channels: int = 1) -> np.ndarray:
    """(1, channels, 16, 16) float64 map whose every cell holds its column number."""
    return np.broadcast_to(np.arange(SIZE, dtype=np.float64), (1, channels, SIZE, SIZE)).copy()


def _ramp_gradient() -> float:
    """d out / d x1 of one RoIAlign bin over the ramp, from the package's backward."""
    dout = np.ones((1, 1, 1, 1))
    _, drois = roi_align_backward(dout, _ramp(), ROI, 1, TINY_SCALE, RATIO, True)
    return float(drois[0, 1])


def _unaligned_shift() -> float:
    """How far right (image pixels) aligned=False reads the ramp compared with aligned=True."""
    reads = [
        roi_align(_ramp(), ROI, 1, TINY_SCALE, RATIO, aligned)[0, 0, 0, 0]
        for aligned in (False, True)
    ]
    return float(reads[0] - reads[1]) / TINY_SCALE  # columns (cells) -> pixels


def _align_gradient_total() -> float:
    """Sum of d features of one channel when all 7 x 7 outputs of that channel get 1."""
    features = np.random.default_rng(0).random((1, 1, SIZE, SIZE))
    dout = np.ones((1, 1, 7, 7))
    dfeatures, _ = roi_align_backward(dout, features, ROI, 7, TINY_SCALE, RATIO, True)
    return float(dfeatures.sum())


EXERCISES = [
    Exercise(
        name="11.ramp_gradient",
        verify=number_close_to(
            _ramp_gradient(),
            rtol=1e-6,
            mistakes=[
                (0.0, "RoI pooling rounds x1 and has no gradient; RoIAlign's samples move with it"),
                (0.5, "that is per map cell; x1 is in image pixels, and a cell is 8 of them"),
                (
                    TINY_SCALE,
                    "x2 stays put: the samples' mean is the RoI's centre, which moves half",
                ),
                (-_ramp_gradient(), "moving x1 right moves the samples right, to larger values"),
            ],
        ),
        solution=_ramp_gradient,
        wrong=lambda: TINY_SCALE,
        explanation=(
            "1/16: the samples sit on average at the RoI's centre, (x1 + x2) / 2 * 1/8 - 0.5 "
            "on the map, and the ramp's value there is that position; moving x1 by one pixel "
            "moves the centre by half a pixel, 1/16 of a cell."
        ),
    ),
    Exercise(
        name="11.unaligned_shift",
        verify=number_close_to(
            _unaligned_shift(),
            rtol=1e-6,
            mistakes=[
                (-_unaligned_shift(), "the size is right, the direction is not"),
                (0.5, "that is in map cells; the question asks image pixels (stride 8)"),
                (8.0, "the missing shift is half a cell, not a whole one"),
                (0.0, "the interpolation puts cell centres at whole numbers in both modes"),
            ],
        ),
        solution=_unaligned_shift,
        wrong=lambda: 0.5,
        explanation=(
            "+4 px: without the half-cell shift each sample reads the map half a cell (4 px) "
            "right of and below the point it stands for, a bias of half a stride in every box."
        ),
    ),
    Exercise(
        name="11.align_gradient_total",
        verify=number_close_to(
            _align_gradient_total(),
            rtol=1e-9,
            mistakes=[
                (49 * RATIO**2, "a bin averages its samples: each passes on a quarter"),
                (49 * RATIO**2 * 4, "each sample's four weights add up to 1, not 4"),
                (1.0, "each of the 49 bins passes its whole gradient on"),
            ],
        ),
        solution=_align_gradient_total,
        wrong=lambda: 49 * RATIO**2,
        explanation=(
            "49, as for RoI pooling: each bin's output is a weighted mean of cells, weights "
            "adding up to 1, so each bin passes on its whole gradient. RoI pooling gives it all "
            "to one cell per bin, RoIAlign spreads it over the cells its samples read."
        ),
    ),
]
