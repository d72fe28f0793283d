"""Exercises of lesson 00, the whole picture (F21, F5)."""

from __future__ import annotations

import math

from minirpn.exercises import Exercise, number_close_to

HEIGHT, WIDTH = 600, 1000
SIZES = [32 * math.sqrt(2) ** k for k in range(9)]  # 32 ... 512, the lesson's assumptions
RATIOS = (0.5, 1.0, 2.0)  # h / w
VOC_CLASSES = 20
TINY_STRIDE, TINY_ANCHORS = 8, 9  # three 2x2 poolings; 3 scales x 3 ratios


def _count_windows(stride: int, plus_one: bool = True) -> int:
    """Windows inside a 600x1000 image at ``stride`` (F1's count along each axis)."""
    total = 0
    for size in SIZES:
        for ratio in RATIOS:
            w, h = round(size / math.sqrt(ratio)), round(size * math.sqrt(ratio))
            if w <= WIDTH and h <= HEIGHT:
                extra = 1 if plus_one else 0
                total += ((WIDTH - w) // stride + extra) * ((HEIGHT - h) // stride + extra)
    return total


WINDOWS_8, WINDOWS_16 = _count_windows(8), _count_windows(16)
TINY_MAP = (HEIGHT // TINY_STRIDE, WIDTH // TINY_STRIDE)  # 75 x 125, no rounding here
TINY_ANCHOR_COUNT = TINY_MAP[0] * TINY_MAP[1] * TINY_ANCHORS

EXERCISES = [
    Exercise(
        name="00.windows_stride_16",
        verify=number_close_to(
            WINDOWS_16,
            mistakes=[
                (WINDOWS_8 // 4, "close, but count it: floor((W - w) / 16) + 1 is not a quarter"),
                (WINDOWS_8, "that is the count at stride 8"),
                (_count_windows(16, plus_one=False), "the first position counts too: + 1"),
            ],
        ),
        solution=lambda: WINDOWS_16,
        wrong=lambda: WINDOWS_8 // 4,
        explanation=(
            f"{WINDOWS_16:,} windows, {WINDOWS_8 / WINDOWS_16:.2f}x fewer than at stride 8: "
            "floor((W - w) / s) + 1 does not halve exactly when s doubles (the first position "
            "stays). Still over 100 times the 300 proposals, and a coarser grid fits objects "
            "less well."
        ),
    ),
    Exercise(
        name="00.voc_box_columns",
        verify=number_close_to(
            4 * (VOC_CLASSES + 1),
            mistakes=[
                (4 * VOC_CLASSES, "the head has a box block for the background class too"),
                (VOC_CLASSES + 1, "that is the class scores; each class has 4 box deltas"),
                (4, "the regression is class-specific: 4 deltas per class"),
            ],
        ),
        solution=lambda: 4 * (VOC_CLASSES + 1),
        wrong=lambda: 4 * VOC_CLASSES,
        explanation="84 = 4 deltas x (20 classes + background), as in the original's bbox_pred.",
    ),
    Exercise(
        name="00.anchors_600x1000",
        verify=number_close_to(
            TINY_ANCHOR_COUNT,
            mistakes=[
                (TINY_MAP[0] * TINY_MAP[1], "every cell has 9 anchors"),
                (38 * 63 * 9, "that is VGG-16 (stride 16); the tiny backbone's stride is 8"),
                (2 * TINY_ANCHOR_COUNT, "18 is the score channels: 2 scores per anchor"),
            ],
        ),
        solution=lambda: TINY_ANCHOR_COUNT,
        wrong=lambda: TINY_MAP[0] * TINY_MAP[1],
        explanation=(
            "a 75x125 map, 9 anchors a cell: 84,375, four times VGG-16's 21,546 because "
            "its stride is half as large."
        ),
    ),
]
