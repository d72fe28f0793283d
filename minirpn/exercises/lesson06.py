"""Exercises of lesson 06, initialisation (F14)."""

from __future__ import annotations

import math

import numpy as np

from minirpn.exercises import Exercise, number_close_to
from minirpn.nn import softmax_cross_entropy
from minirpn.rpn_head import RPNHead, flatten_scores

FAN_IN_64 = 64 * 3 * 3  # a 3x3 conv reading 64 channels
FAN_IN_512 = 512 * 3 * 3  # a 3x3 conv reading 512 channels (VGG-16's conv5 block)
PAPER_STD = 0.01


def _initial_rpn_loss(seed: int = 0) -> float:
    """The RPN's classification loss before any training step, measured with the package:
    a head initialised with N(0, 0.01^2) on a feature map of RMS 1, random labels."""
    rng = np.random.default_rng(seed)
    head = RPNHead(64, 64, 9, std=PAPER_STD, rng=rng)
    features = rng.standard_normal((1, 64, 8, 8)).astype(np.float32)
    (scores, _), _ = head.forward(features)
    logits = flatten_scores(scores[0])  # (H * W * A, 2)
    labels = rng.integers(0, 2, len(logits))
    loss, _ = softmax_cross_entropy(logits, labels)
    return float(loss)


EXERCISES = [
    Exercise(
        name="06.he_std",
        verify=number_close_to(
            math.sqrt(2 / FAN_IN_64),
            rtol=0.02,
            mistakes=[
                (
                    math.sqrt(1 / FAN_IN_64),
                    "ReLU zeroes half of its inputs: the variance needs x 2",
                ),
                (math.sqrt(2 / 64), "fan_in counts every input of one output: C * kH * kW"),
                (2 / FAN_IN_64, "that is the variance; the standard deviation is its root"),
            ],
        ),
        solution=lambda: math.sqrt(2 / FAN_IN_64),
        wrong=lambda: math.sqrt(1 / FAN_IN_64),
        explanation="sqrt(2 / 576) = 0.059, six times the paper's 0.01.",
    ),
    Exercise(
        name="06.shrink_512",
        verify=number_close_to(
            PAPER_STD * math.sqrt(FAN_IN_512 / 2),
            rtol=0.03,
            mistakes=[
                (PAPER_STD * math.sqrt(FAN_IN_512), "the ReLU halves the mean square: / 2"),
                (PAPER_STD, "each output sums fan_in products; the factor grows with fan_in"),
                (
                    PAPER_STD**2 * FAN_IN_512 / 2,
                    "that factor is for the mean square; take its root",
                ),
            ],
        ),
        solution=lambda: PAPER_STD * math.sqrt(FAN_IN_512 / 2),
        wrong=lambda: PAPER_STD * math.sqrt(FAN_IN_512),
        explanation="0.48 per layer: 13 such layers would shrink the signal about 14,000-fold.",
    ),
    Exercise(
        name="06.initial_rpn_loss",
        verify=number_close_to(
            math.log(2),
            rtol=0.01,
            mistakes=[
                (0.0, "a zero loss needs confident, right scores; at the start they are near 0"),
                (1.0, "the log loss uses the natural log: -ln p"),
                (0.5, "0.5 is the probability; the loss is -ln 0.5"),
            ],
        ),
        solution=_initial_rpn_loss,
        wrong=lambda: 0.5,
        explanation="tiny weights give scores near 0, p = 0.5 for both classes, loss ln 2.",
    ),
]
