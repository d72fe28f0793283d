"""Exercises of lesson 04, IoU and anchor labels (F9, F8, F13)."""

from __future__ import annotations

import numbers

import numpy as np

from minirpn.exercises import Exercise
from minirpn.ops import box_iou

SIDE = 16.0  # the tiny model's smallest square anchor
POSITIVE_IOU = 0.7  # rule (b)

# Pairs the IoU check runs on: overlapping, nested, touching (IoU 0), apart in x and y
# (IoU 0), identical, and the lesson's hand example.
_PAIRS = [
    ((0.0, 0.0, 10.0, 10.0), (5.0, 5.0, 15.0, 15.0)),
    ((0.0, 0.0, 20.0, 10.0), (5.0, 2.0, 10.0, 6.0)),
    ((0.0, 0.0, 10.0, 10.0), (10.0, 0.0, 20.0, 10.0)),
    ((0.0, 0.0, 10.0, 10.0), (30.0, 40.0, 45.0, 60.0)),
    ((3.5, 1.0, 9.0, 7.5), (3.5, 1.0, 9.0, 7.5)),
    ((-8.0, -4.0, 12.0, 30.0), (0.0, 0.0, 16.0, 16.0)),
]


def _shift_iou(d: float, side: float = SIDE) -> float:
    """IoU of a side x side square with its copy moved d pixels along x (F9)."""
    square = np.array([[0.0, 0.0, side, side]])
    return float(box_iou(square, square + [d, 0.0, d, 0.0])[0, 0])


def _largest_shift() -> int:
    d = 0
    while _shift_iou(d + 1) >= POSITIVE_IOU:
        d += 1
    return d


LARGEST_SHIFT = _largest_shift()


def _unclamped_iou(a, b):
    """A plausible mistake: the intersection's width and height not clamped at 0."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def _verify_iou(function):
    if not callable(function):
        return "expected a function my_iou(a, b) of two boxes"
    for a, b in _PAIRS:
        expected = float(box_iou(np.array([a]), np.array([b]))[0, 0])
        got = function(a, b)
        if isinstance(got, bool) or not isinstance(got, numbers.Real | np.floating):
            return f"my_iou{a, b} returned {type(got).__name__}, expected a number"
        if abs(float(got) - expected) > 1e-9:
            disjoint = expected == 0.0
            hint = (
                " These boxes do not overlap: clamp the intersection's width and height "
                "at 0 (two negative extents multiply to a positive area)."
                if disjoint
                else ""
            )
            return f"my_iou{a, b} = {float(got):.4g}, box_iou gives {expected:.4g}.{hint}"
    return None


def _verify_shift(answer):
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return f"expected a whole number of pixels, got {type(answer).__name__}"
    if answer != int(answer):
        return f"{answer:g} is not whole; which whole shifts keep IoU >= 0.7?"
    d = int(answer)
    if d == LARGEST_SHIFT:
        return None
    if d < 0 or d >= SIDE:
        return "the shift must be between 0 and 16 pixels for the squares to overlap at all"
    if _shift_iou(d) < POSITIVE_IOU:
        return f"at d = {d} the IoU is {_shift_iou(d):.3f}, already below 0.7"
    return f"at d = {d} the IoU is {_shift_iou(d):.3f}; a larger shift still passes 0.7"


EXERCISES = [
    Exercise(
        name="04.iou_function",
        verify=_verify_iou,
        solution=lambda: lambda a, b: float(box_iou(np.array([a]), np.array([b]))[0, 0]),
        wrong=lambda: _unclamped_iou,
        explanation="min of the right edges minus max of the left edges, clamped at 0.",
    ),
    Exercise(
        name="04.largest_shift",
        verify=_verify_shift,
        solution=lambda: LARGEST_SHIFT,
        wrong=lambda: 4,
        explanation=(
            "IoU = (16 - d) / (16 + d) >= 0.7 needs d <= 2.8: with anchors 8 px apart, an "
            "object off the grid by 3 px or more gets no anchor from rule (b), only from (a)."
        ),
    ),
]
