"""Exercises of lesson 05, box coding and the RPN loss (F10, F11, F12)."""

from __future__ import annotations

import math

import numpy as np

from minirpn.boxes import encode
from minirpn.exercises import Exercise, number_close_to, numbers_in
from minirpn.nn import smooth_l1

ANCHOR = [0.0, 0.0, 32.0, 32.0]
GT = [8.0, 0.0, 24.0, 64.0]
RPN_SIGMA = 3.0
PAPER_N_CLS, PAPER_MAP, PAPER_LAMBDA = 256, (60, 40), 10.0


def _targets() -> np.ndarray:
    return encode(np.array([ANCHOR]), np.array([GT]))[0]


def _verify_targets(answer) -> str | None:
    values, problem = numbers_in(answer, 4, "(t_x, t_y, t_w, t_h)")
    if problem:
        return problem
    expected = _targets()
    if np.allclose(values, expected, atol=2e-3):
        return None
    wrong = ~np.isclose(values, expected, atol=2e-3)
    names = [name for name, bad in zip(("t_x", "t_y", "t_w", "t_h"), wrong, strict=True) if bad]
    hints = []
    if wrong[1] and np.isclose(values[1], 16 / 64, atol=2e-3):
        hints.append("t_y divides the shift by the anchor's height, not the ground truth's")
    if wrong[2] or wrong[3]:
        if np.allclose(values[2:], [-0.5, 1.0], atol=2e-3):
            hints.append("t_w and t_h are log(w / w_a), not w / w_a - 1")
        elif np.allclose(values[2:], [np.log10(0.5), np.log10(2.0)], atol=2e-3):
            hints.append("F10 uses the natural log")
        elif np.allclose(values[2:], [np.log(2.0), np.log(0.5)], atol=2e-3):
            hints.append("the ratio is ground truth over anchor: log(w / w_a)")
    if wrong[0] and np.isclose(values[0], 8 / 32, atol=2e-3):
        hints.append("t_x compares the centres, not the left edges")
    return f"{', '.join(names)} not right" + (f": {'; '.join(hints)}" if hints else "")


def _smooth_l1_at_half() -> float:
    loss, _ = smooth_l1(np.array([0.5]), np.zeros(1), sigma=RPN_SIGMA)
    return loss


EXERCISES = [
    Exercise(
        name="05.targets_by_hand",
        verify=_verify_targets,
        solution=lambda: tuple(float(t) for t in _targets()),
        wrong=lambda: (0.0, 0.5, -0.5, 1.0),
        explanation="(0, 0.5, -0.693, +0.693): same x centre, half an anchor height lower, "
        "half as wide and twice as tall.",
    ),
    Exercise(
        name="05.smooth_l1_at_half",
        verify=number_close_to(
            0.5 - 0.5 / RPN_SIGMA**2,
            rtol=1e-3,
            mistakes=[
                (
                    0.5 * (RPN_SIGMA * 0.5) ** 2,
                    "0.5 > 1/9: the linear piece applies, not 0.5 (σx)²",
                ),
                (0.125, "that is σ = 1's quadratic piece; the RPN uses σ = 3 and |x| > 1/9"),
                (0.5, "the linear piece subtracts 0.5 / σ²"),
                (0.5 - 0.5 / RPN_SIGMA, "the linear piece subtracts 0.5 / σ², σ squared"),
            ],
        ),
        solution=_smooth_l1_at_half,
        wrong=lambda: 0.5 * (RPN_SIGMA * 0.5) ** 2,
        explanation="0.5 - 0.5/9 = 0.444; with σ = 1 it would be 0.5 * 0.5² = 0.125, smaller: "
        "σ = 3 treats this error as an L1 error, not a squared one.",
    ),
    Exercise(
        name="05.normalisation_ratio",
        verify=number_close_to(
            PAPER_LAMBDA * PAPER_N_CLS / math.prod(PAPER_MAP),
            rtol=0.01,
            mistakes=[
                (PAPER_LAMBDA, "N_reg and N_cls differ too: compare λ / N_reg with 1 / N_cls"),
                (
                    math.prod(PAPER_MAP) / (PAPER_LAMBDA * PAPER_N_CLS),
                    "upside down: anchor_locations over minibatch",
                ),
                (
                    PAPER_LAMBDA * PAPER_N_CLS / (math.prod(PAPER_MAP) * 9),
                    "N_reg counts anchor locations (cells), not the 9 anchors of each",
                ),
            ],
        ),
        solution=lambda: PAPER_LAMBDA * PAPER_N_CLS / math.prod(PAPER_MAP),
        wrong=lambda: PAPER_LAMBDA,
        explanation="10 * 256 / 2400 = 1.07: λ = 10 makes the paper's normalisation weigh the "
        "regression about like the released code's.",
    ),
]
