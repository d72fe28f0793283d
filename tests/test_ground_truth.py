"""One ground-truth record per image, and the check of a training batch before it runs."""

import numpy as np
import pytest

from minirpn import Config
from minirpn.batching import Batch
from minirpn.ground_truth import GroundTruth, check_batch
from minirpn.model import Detector
from minirpn.schemes import ApproximateJoint

IMAGES = np.zeros((2, 16, 16, 3), np.uint8)
TARGETS = [
    GroundTruth(np.array([[1, 1, 5, 5.0]]), np.array([1])),
    GroundTruth(np.zeros((0, 4)), np.zeros(0, np.int64)),
]
EMPTY = TARGETS[1]


@pytest.mark.parametrize(
    "images, targets, error, message",
    [
        (IMAGES[0], TARGETS[:1], ValueError, r"shape \(16, 16, 3\).*images\[None\]"),
        (IMAGES.astype(np.int32), TARGETS, TypeError, "dtype int32"),
        (IMAGES, TARGETS[:1], ValueError, r"one GroundTruth per image .*\(2\), got 1"),
        (IMAGES, np.zeros((2, 1, 4)), TypeError, "targets must be a list of one GroundTruth"),
        (IMAGES[:1], TARGETS[0], TypeError, "targets must be a list .* got GroundTruth"),
        (IMAGES, [tuple(TARGETS[0]), EMPTY], TypeError, r"targets\[0\] must be a GroundTruth"),
        (
            IMAGES,
            [GroundTruth(np.array([[1, 1, np.nan, 5]]), np.array([1])), EMPTY],
            ValueError,
            r"targets\[0\].boxes has a non-finite",
        ),
        (
            IMAGES,
            [GroundTruth(np.array([1, 1, 5, 5]), np.array([1])), EMPTY],
            ValueError,
            r"targets\[0\].boxes must be a \(G, 4\) .*\(4,\)",
        ),
        (
            IMAGES,
            [TARGETS[0]._replace(labels=np.array([1, 2])), EMPTY],
            ValueError,
            r"targets\[0\].labels must be 1 ints",
        ),
        (
            IMAGES,
            [TARGETS[0]._replace(labels=np.array([1.0])), EMPTY],
            ValueError,
            r"targets\[0\].labels .* dtype float64",
        ),
    ],
)
def test_check_batch_names_the_argument_and_the_value(images, targets, error, message):
    with pytest.raises(error, match=message):
        check_batch(images, targets)
    check_batch(IMAGES, TARGETS)  # the good batch passes


def test_the_training_step_checks_its_batch():
    step = ApproximateJoint(Detector(Config.tiny(), num_classes=2))
    indices = np.arange(2)
    with pytest.raises(ValueError, match="one GroundTruth per image of the batch"):
        step.forward(Batch(IMAGES, TARGETS[:1], indices), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"images\[None\]"):
        step.forward(Batch(IMAGES[0], TARGETS, indices), np.random.default_rng(0))
