"""Exercises of lesson 09, the second stage (F17)."""

from __future__ import annotations

import math

from minirpn.boxes import COORDS_PER_BOX
from minirpn.config import Config
from minirpn.exercises import Exercise, number_close_to

VOC_CLASSES = 20
PAPER = Config()  # the paper's VGG-16 test setting: 300 proposals


def _first_column(label: int) -> int:
    """Columns 4u .. 4u + 3 of a box-target row belong to class u (0 is background)."""
    return COORDS_PER_BOX * label


VOC_CANDIDATES = PAPER.rpn_post_nms_top_n_test * VOC_CLASSES

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
        name="09.voc_candidates",
        verify=number_close_to(
            VOC_CANDIDATES,
            mistakes=[
                (PAPER.rpn_post_nms_top_n_test * (VOC_CLASSES + 1), "background is no box"),
                (PAPER.rpn_post_nms_top_n_test, "each proposal is decoded once per class"),
            ],
        ),
        solution=lambda: VOC_CANDIDATES,
        wrong=lambda: PAPER.rpn_post_nms_top_n_test * (VOC_CLASSES + 1),
        explanation="6,000 = 300 x 20, before the score threshold and per-class NMS.",
    ),
]
