"""Exercises of lesson 03, anchors and the RPN head (F7, F6)."""

from __future__ import annotations

from minirpn.anchors import generate_base_anchors
from minirpn.exercises import Exercise, number_close_to
from minirpn.receptive_field import output_size, vgg16_conv5_3
from minirpn.rpn_head import RPNHead

NUM_ANCHORS = 9


def _conv5_3_cells(size: int, ceil_mode: bool = True) -> int:
    """Cells of VGG-16's conv5_3 along one axis (F1 layer by layer; Caffe pools round up)."""
    for kernel, stride, padding in vgg16_conv5_3():
        size = output_size(size, kernel, stride, padding, ceil_mode=ceil_mode and stride > 1)
    return size


ANCHORS_800X600 = _conv5_3_cells(600) * _conv5_3_cells(800) * NUM_ANCHORS  # 38 * 50 * 9
ANCHORS_800X600_FLOOR = _conv5_3_cells(600, False) * _conv5_3_cells(800, False) * NUM_ANCHORS

ZF_HEAD_PARAMS = sum(p.size for p in RPNHead(256, 256, NUM_ANCHORS).params.values())
ZF_HEAD_WEIGHTS = 256 * 256 * 9 + 256 * (2 + 4) * NUM_ANCHORS

_BASE = generate_base_anchors()  # the paper's 9, ratio-major: row 2 is (0.5, 32), row 5 (1, 32)
_AREAS = (_BASE[:, 2] - _BASE[:, 0]) * (_BASE[:, 3] - _BASE[:, 1])
WIDE_TO_SQUARE = float(_AREAS[2] / _AREAS[5])  # 736 * 384 / 512**2


EXERCISES = [
    Exercise(
        name="03.anchors_800x600",
        verify=number_close_to(
            ANCHORS_800X600,
            mistakes=[
                (ANCHORS_800X600_FLOOR, "Caffe's poolings round up: 600 rows give 38, not 37"),
                (ANCHORS_800X600 // NUM_ANCHORS, "that is the number of cells; each has 9"),
                (round(600 * 800 / 16**2) * NUM_ANCHORS, "count whole cells along each axis"),
            ],
        ),
        solution=lambda: ANCHORS_800X600,
        wrong=lambda: ANCHORS_800X600_FLOOR,
        explanation="38 x 50 cells x 9 = 17,100 anchors.",
    ),
    Exercise(
        name="03.zf_head_params",
        verify=number_close_to(
            ZF_HEAD_PARAMS,
            mistakes=[
                (ZF_HEAD_WEIGHTS, "add the biases: one per output channel of each conv"),
                (
                    256 * (2 + 4) * NUM_ANCHORS + (2 + 4) * NUM_ANCHORS,
                    "that is only the two 1x1 siblings; the 3x3 window layer has weights too",
                ),
                (
                    256 * 256 + 256 + 256 * 54 + 54,
                    "the window layer is a 3x3 conv: each output reads 256 x 3 x 3 inputs",
                ),
            ],
        ),
        solution=lambda: ZF_HEAD_PARAMS,
        wrong=lambda: ZF_HEAD_WEIGHTS,
        explanation="590,080 in the 3x3 layer, 13,878 in the siblings: the window dominates.",
    ),
    Exercise(
        name="03.wide_to_square_area",
        verify=number_close_to(
            WIDE_TO_SQUARE,
            rtol=1e-3,
            mistakes=[
                (1.0, "without rounding the areas would be equal; but 22.63 was rounded to 23"),
                (736 / 512, "compare areas (width x height), not widths"),
            ],
        ),
        solution=lambda: WIDE_TO_SQUARE,
        wrong=lambda: 1.0,
        explanation="736 x 384 / 512^2 = 1.078: rounding the base box 22.63 x 11.31 to 23 x 12.",
    ),
]
