"""Batches for training: which images an iteration sees, and how they are packed together.

The data order is a pure function of ``(seed, iteration)`` (:func:`batch_indices`), so a
resumed run sees exactly the same images without saving any state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.backbone import PIXEL_MEAN, UINT8_MAX
from minirpn.ground_truth import GroundTruth

# Images of different sizes in one batch are padded at the bottom and right with this grey
# (128), which preprocess() maps to about 0; the boxes do not move.
PAD_VALUE = round(PIXEL_MEAN * UINT8_MAX)


def batch_indices(seed: int, iteration: int, batch_size: int, num_images: int) -> np.ndarray:
    """Indices of the training images of ``iteration``: epochs of shuffled passes.

    A pure function of its arguments (each epoch's permutation comes from a generator
    seeded with ``(seed, epoch)``), so a resumed run sees exactly the same images.
    """
    first = iteration * batch_size
    positions = np.arange(first, first + batch_size)
    epochs = positions // num_images
    indices = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        permutation = np.random.default_rng((seed, int(epoch))).permutation(num_images)
        here = epochs == epoch
        indices[here] = permutation[positions[here] % num_images]
    return indices


class Batch(NamedTuple):
    """One training batch.

    images: (B, H, W, 3) uint8, padded to the largest image (bottom and right, PAD_VALUE).
    targets: B :class:`~minirpn.ground_truth.GroundTruth` records, one per image.
    indices: (B,) int64, each image's index in the dataset.
    """

    images: np.ndarray
    targets: list[GroundTruth]
    indices: np.ndarray


def load_batch(dataset, indices: np.ndarray, cache: dict | None) -> Batch:
    """Pack the images of ``indices`` into the detector's input with their ground truth.

    Images of different sizes are padded to the largest (bottom and right, PAD_VALUE).
    ``cache`` (index → sample), if given, keeps every image drawn so far: each training
    image is seen several times, and drawing it anew each time would add to every step.
    """
    if cache is None:
        samples = [dataset[int(i)] for i in indices]
    else:
        for i in indices:
            if int(i) not in cache:
                cache[int(i)] = dataset[int(i)]
        samples = [cache[int(i)] for i in indices]
    height = max(s.image.shape[0] for s in samples)
    width = max(s.image.shape[1] for s in samples)
    images = np.full((len(samples), height, width, 3), PAD_VALUE, dtype=np.uint8)  # (B, H, W, 3)
    for b, s in enumerate(samples):
        images[b, : s.image.shape[0], : s.image.shape[1]] = s.image
    targets = [GroundTruth(s.boxes, s.labels) for s in samples]
    return Batch(images, targets, np.asarray(indices, dtype=np.int64))
