"""Exercises of lesson 07, the proposal layer and NMS (F15, F16)."""

from __future__ import annotations

import numpy as np

from minirpn.exercises import Exercise, number_close_to
from minirpn.ops import nms

# The five boxes of the lesson: A, B, C in a row 2 px apart, D and E 1 px apart.
FIVE = np.array(
    [[0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10], [20, 20, 30, 30], [21, 21, 31, 31]],
    dtype=np.float64,
)
FIVE_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
RPN_NMS_THRESH = 0.7


def _keep_at_04() -> list[int]:
    return nms(FIVE, FIVE_SCORES, 0.4).tolist()


def _verify_keep(answer) -> str | None:
    try:
        values = [int(i) for i in answer]
    except (TypeError, ValueError):
        return "expected a list of box indices, e.g. [0, 1]"
    expected = _keep_at_04()
    if values == expected:
        return None
    if sorted(values) == sorted(expected):
        return "the right boxes, but NMS returns them by decreasing score"
    if values == nms(FIVE, FIVE_SCORES, 0.5).tolist():
        return "that is the keep list at 0.5; at 0.4 C's IoU of 0.429 with A is too much"
    if 2 in values:
        return "C overlaps A by 6/14 = 0.429 > 0.4"
    if 3 in values:
        return "D overlaps E by 81/119 = 0.681"
    return "start from the best box (E, 0.95) and drop every box overlapping it by more than 0.4"


EXERCISES = [
    Exercise(
        name="07.keep_at_04",
        verify=_verify_keep,
        solution=_keep_at_04,
        wrong=lambda: [4, 0, 2],
        explanation="[4, 0]: E drops D, A drops B and now C too (0.429 > 0.4).",
    ),
    Exercise(
        name="07.shift_fraction",
        verify=number_close_to(
            (1 - RPN_NMS_THRESH) / (1 + RPN_NMS_THRESH),
            rtol=0.01,
            mistakes=[
                (1 - RPN_NMS_THRESH, "1 - IoU is not the shift: solve (w - d)/(w + d) = 0.7"),
                ((1 - RPN_NMS_THRESH) / 2, "solve (w - d)/(w + d) = 0.7 for d / w"),
            ],
        ),
        solution=lambda: (1 - RPN_NMS_THRESH) / (1 + RPN_NMS_THRESH),
        wrong=lambda: 1 - RPN_NMS_THRESH,
        explanation="d = 0.3/1.7 w = 0.176 w. 16/128 = 0.125 is less: neighbouring 128-px "
        "anchors overlap by (128-16)/(128+16) = 0.78 > 0.7, so NMS keeps only one of them.",
    ),
]
