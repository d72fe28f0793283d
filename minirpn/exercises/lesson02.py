"""Exercises of lesson 02, receptive fields and coordinate mapping (F3, F4)."""

from __future__ import annotations

import numbers

import numpy as np

from minirpn.backbone import tiny_backbone
from minirpn.exercises import Exercise, number_close_to
from minirpn.receptive_field import (
    layer_specs,
    map_point,
    receptive_field,
    vgg16_conv5_3,
    zf_conv5,
)

RPN_5X5 = (5, 1, 2)  # a 5x5 sliding window with 'same' padding
FIELD_5X5 = receptive_field(vgg16_conv5_3() + [RPN_5X5]).size  # 196 + 4 * 16 = 260
ZF_CENTER_COL10 = float(receptive_field(zf_conv5()).center(10))  # 16 * 10 + 0.5
GT_CENTER_X = 61.0
TINY_STRIDE, TINY_OFFSET = 8, 4.0  # the tiny backbone's stride and cell 0 centre (F4)


def _tiny_layers():
    """The tiny backbone's layers as (kernel, stride, padding); the weights play no part."""
    return layer_specs(tiny_backbone(np.random.default_rng(0)))


def _nearest_column(x: float = GT_CENTER_X) -> int:
    """The last-map column whose centre is closest to image x: F4 inverted, then rounded."""
    continuous = float(map_point(_tiny_layers(), x, src=0, dst=None))  # cell c covers [c, c+1)
    return int(np.floor(continuous))


NEAREST_COLUMN = _nearest_column()


def _verify_nearest_column(answer):
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return f"expected a column index (an int), got {type(answer).__name__}"
    if answer != int(answer):
        return f"{answer:g} is a position between cells; which whole column holds it?"
    if int(answer) == NEAREST_COLUMN:
        return None
    if int(answer) == round(GT_CENTER_X / TINY_STRIDE):
        return "61 / 8 forgets that cell 0 is centred at 4, not at 0: subtract it first"
    return f"column {int(answer)} is centred at {TINY_STRIDE * answer + TINY_OFFSET:g}, not near 61"


EXERCISES = [
    Exercise(
        name="02.field_5x5",
        verify=number_close_to(
            FIELD_5X5,
            mistakes=[
                (196 + 4, "the 5x5 window sits on a map of stride 16: each extra tap is 16 px"),
                (228, "that is the 3x3 window's field; a 5x5 one reaches one more cell each side"),
                (196 + 5 * 16, "F3 adds (k - 1) strides, not k: the first tap is the cell itself"),
            ],
        ),
        solution=lambda: FIELD_5X5,
        wrong=lambda: 196 + 4,
        explanation="196 + (5 - 1) x 16 = 260: late layers grow the field by their stride.",
    ),
    Exercise(
        name="02.zf_center",
        verify=number_close_to(
            ZF_CENTER_COL10,
            mistakes=[
                (168.0, "16 x 10 + 8 is VGG-16's centre; ZF's cell 0 is centred elsewhere"),
                (160.0, "that is the left edge of pixel 160; a pixel's centre is at i + 0.5"),
            ],
        ),
        solution=lambda: ZF_CENTER_COL10,
        wrong=lambda: 168.0,
        explanation="16 x 10 + 0.5: ZF's cells sit 7.5 px left of anchors centred for VGG-16.",
    ),
    Exercise(
        name="02.nearest_column",
        verify=_verify_nearest_column,
        solution=lambda: NEAREST_COLUMN,
        wrong=lambda: round(GT_CENTER_X / TINY_STRIDE),
        explanation="(61 - 4) / 8 = 7.1: column 7, centred at 60, is 1 px away.",
    ),
]
