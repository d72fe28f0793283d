"""Exercises of lesson 06, initialisation (F14)."""

from __future__ import annotations

import math

from minirpn.exercises import Exercise, number_close_to

FAN_IN_64 = 64 * 3 * 3  # a 3x3 conv reading 64 channels
FAN_IN_512 = 512 * 3 * 3  # a 3x3 conv reading 512 channels (VGG-16's conv5 block)
FAN_IN_CLS = 512  # the RPN's 1x1 cls sibling reading the 512-channel 3x3 layer
PAPER_STD = 0.01


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
        name="06.cls_layer_gain",
        verify=number_close_to(
            PAPER_STD * math.sqrt(FAN_IN_CLS),
            rtol=0.02,
            mistakes=[
                (PAPER_STD * math.sqrt(FAN_IN_CLS / 2), "no ReLU follows it: nothing halves it"),
                (
                    PAPER_STD * math.sqrt(FAN_IN_CLS * 9),
                    "a 1x1 kernel reads 512 inputs, not 512 x 9",
                ),
                (PAPER_STD**2 * FAN_IN_CLS, "that factor is for the mean square; take its root"),
                (math.sqrt(1 / FAN_IN_CLS), "that sigma would keep the RMS; the weights have 0.01"),
            ],
        ),
        solution=lambda: PAPER_STD * math.sqrt(FAN_IN_CLS),
        wrong=lambda: PAPER_STD * math.sqrt(FAN_IN_CLS / 2),
        explanation=(
            "0.01 x sqrt(512) = 0.226: no ReLU, so no halving. With exercise 2's 0.48 for the "
            "3x3 layer, 0.48 x 0.226 = 0.11, the RMS of the scores the lesson printed."
        ),
    ),
]
