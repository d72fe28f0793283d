"""Exercises of lesson 09, the second stage (F17)."""

from __future__ import annotations

import math

import numpy as np

from minirpn.boxes import COORDS_PER_BOX, decode
from minirpn.config import Config
from minirpn.exercises import Exercise, number_close_to, numbers_in

VOC_CLASSES = 20
PROPOSAL = (20.0, 30.0, 60.0, 70.0)  # x1, y1, x2, y2
HEAD_DELTAS = (1.0, -0.5, 0.5, 0.0)  # the head's outputs for the proposal's class
STDS = Config.tiny().bbox_normalize_stds  # (0.1, 0.1, 0.2, 0.2), the paper's too


def _first_column(label: int) -> int:
    """Columns 4u .. 4u + 3 of a box-target row belong to class u (0 is background)."""
    return COORDS_PER_BOX * label


def _decoded(stds=STDS) -> np.ndarray:
    """The box postprocess makes of the proposal and deltas: F10 after undoing ``stds``."""
    return decode(np.array([PROPOSAL]), np.array([HEAD_DELTAS]), None, stds)[0]


def _verify_box(answer) -> str | None:
    values, problem = numbers_in(answer, 4, "(x1, y1, x2, y2)")
    if problem:
        return problem
    if np.allclose(values, _decoded(), atol=0.01):
        return None
    known = [
        (_decoded(stds=None), "the deltas are normalised: multiply them by the stds first"),
        (_decoded(stds=(0.1, 0.1, 0.1, 0.1)), "t_w and t_h have std 0.2, t_x and t_y 0.1"),
        (_decoded(stds=[1 / s for s in STDS]), "undo the division: multiply by the stds"),
    ]
    for box, message in known:
        if np.allclose(values, box, atol=0.01):
            return message
    return "not the box: centre x = x_a + t_x w_a, width w_a exp(t_w), with t = deltas x stds"


EXERCISES = [
    Exercise(
        name="09.first_column_class_15",
        verify=number_close_to(
            _first_column(15),
            mistakes=[
                (_first_column(14), "columns 0-3 belong to the background class, 0"),
                (15, "each class has 4 columns"),
                (_first_column(15) + 1, "columns are counted from 0"),
            ],
        ),
        solution=lambda: _first_column(15),
        wrong=lambda: _first_column(14),
        explanation="60: columns 60-63; the layout does not depend on C.",
    ),
    Exercise(
        name="09.initial_voc_cls_loss",
        verify=number_close_to(
            math.log(VOC_CLASSES + 1),
            rtol=0.01,
            mistakes=[
                (math.log(VOC_CLASSES), "the softmax has a background column too: C + 1"),
                (math.log(2), "ln 2 is the RPN's two-class loss; the head has C + 1 classes"),
                (1 / (VOC_CLASSES + 1), "that is the probability; the loss is -ln of it"),
            ],
        ),
        solution=lambda: math.log(VOC_CLASSES + 1),
        wrong=lambda: math.log(VOC_CLASSES),
        explanation="ln 21 = 3.04, against ln 5 = 1.61 for the four toy classes.",
    ),
    Exercise(
        name="09.decoded_box",
        verify=_verify_box,
        solution=lambda: tuple(float(v) for v in _decoded()),
        wrong=lambda: tuple(float(v) for v in _decoded(stds=None)),
        explanation=(
            "(21.90, 28, 66.10, 68): t = (0.1, -0.05, 0.1, 0), so the centre moves 4 px right "
            "and 2 px up, and the width grows by e^0.1. Without the stds the centre would move "
            "36 px right."
        ),
    ),
]
