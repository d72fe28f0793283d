"""What training knows about an image: one ground-truth record per image.

A training step receives one :class:`GroundTruth` per image of its batch, never positional
lists of boxes and labels: a new head that needs more of the annotation (difficult flags,
masks) reads a new field, and nothing in between changes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class GroundTruth(NamedTuple):
    """The annotation of one training image.

    boxes: (G, 4) float, continuous corners ``(x1, y1, x2, y2)``, pixel i spans [i, i + 1).
    labels: (G,) int, class labels in 1..C (0 is the background, never a label here).
    difficult: (G,) bool or None, boxes marked difficult (Pascal VOC); None: none are.
    masks: (G, H, W) bool or None, an instance mask per box (no head uses them yet).
    """

    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray | None = None
    masks: np.ndarray | None = None


def check_batch(images, targets) -> None:
    """Check one training batch before it goes into the detector; ValueError / TypeError.

    images:  (B, H, W, 3) uint8, or float in [0, 1]. (Pixel values are not checked here:
             NaN pixels give NaN losses, which the training loop reports.)
    targets: B :class:`GroundTruth` records with finite (G_b, 4) boxes and (G_b,) int labels.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a NumPy array (B, H, W, 3), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[3] != 3:
        hint = " (one image? add the batch axis: images[None])" if images.ndim == 3 else ""
        raise ValueError(f"images must have shape (B, H, W, 3), got shape {images.shape}{hint}")
    if not (images.dtype == np.uint8 or np.issubdtype(images.dtype, np.floating)):
        raise TypeError(f"images must be uint8 or float, got dtype {images.dtype}")
    if isinstance(targets, (np.ndarray, GroundTruth)) or not hasattr(targets, "__len__"):
        raise TypeError(
            f"targets must be a list of one GroundTruth per image, got {type(targets).__name__}"
        )
    if len(targets) != len(images):
        raise ValueError(
            f"targets must hold one GroundTruth per image of the batch ({len(images)}), "
            f"got {len(targets)}"
        )
    for b, target in enumerate(targets):
        if not isinstance(target, GroundTruth):
            raise TypeError(f"targets[{b}] must be a GroundTruth, got {type(target).__name__}")
        _check_record(target, b)


def _check_record(target: GroundTruth, b: int) -> None:
    boxes, labels = np.asarray(target.boxes), np.asarray(target.labels)
    if boxes.size == 0 and labels.size == 0:
        return
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.dtype.kind not in "iuf":
        raise ValueError(
            f"targets[{b}].boxes must be a (G, 4) array of numbers, "
            f"got shape {boxes.shape} dtype {boxes.dtype}"
        )
    if not np.isfinite(boxes).all():
        raise ValueError(f"targets[{b}].boxes has a non-finite coordinate: {boxes.tolist()}")
    if labels.shape != (len(boxes),) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"targets[{b}].labels must be {len(boxes)} ints (one per box), "
            f"got shape {labels.shape} dtype {labels.dtype}"
        )
