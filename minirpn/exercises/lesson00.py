"""Exercises of lesson 00, the whole picture (F21, F5)."""

from __future__ import annotations

import math

from minirpn.config import Config
from minirpn.exercises import Exercise, number_close_to

HEIGHT, WIDTH = 600, 1000
SIZES = [32 * math.sqrt(2) ** k for k in range(9)]  # 32 ... 512, the lesson's assumptions
RATIOS = (0.5, 1.0, 2.0)  # h / w
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


def _head_multiply_adds() -> tuple[int, int, int]:
    """Multiply-adds of fc6 and fc7 for one image's test proposals, from the tiny config:
    (both layers, all proposals), (fc6 alone), (one proposal)."""
    cfg = Config.tiny()
    pooled = cfg.rpn_channels * cfg.roi_pool_size**2  # fc6's inputs: (C, 7, 7) of one RoI
    fc6 = pooled * cfg.fc_channels
    fc7 = cfg.fc_channels * cfg.fc_channels
    proposals = cfg.rpn_post_nms_top_n_test
    return proposals * (fc6 + fc7), proposals * fc6, fc6 + fc7


HEAD_MADDS, FC6_MADDS, ONE_PROPOSAL_MADDS = _head_multiply_adds()
VGG_MADDS_PER_REGION = 512 * 7 * 7 * 4096 + 4096 * 4096  # fc6 and fc7 of VGG-16

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
        name="00.head_multiply_adds",
        verify=number_close_to(
            HEAD_MADDS,
            mistakes=[
                (ONE_PROPOSAL_MADDS, "that is one proposal; the head runs on all 100"),
                (FC6_MADDS, "fc7 counts too: 256 inputs, 256 outputs"),
                (100 * 49 * 256 + 100 * 256 * 256, "fc6 reads all 64 channels of the 7 x 7 cells"),
            ],
        ),
        solution=lambda: HEAD_MADDS,
        wrong=lambda: ONE_PROPOSAL_MADDS,
        explanation=(
            f"{HEAD_MADDS:,}: (64 x 7 x 7 x 256 + 256 x 256) per proposal, times 100. VGG-16's "
            f"are {VGG_MADDS_PER_REGION / 1e6:.1f} million per region (512 x 7 x 7 x 4096 + "
            "4096 x 4096): the reason not to classify 150,000 windows."
        ),
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
