"""Batches for training: which images an iteration sees, and how they are packed together.

The data order is a pure function of ``(seed, iteration)`` (:func:`batch_indices`), so a
resumed run sees exactly the same images without saving any state.

Horizontal flips (``cfg.flip``) double the training set as the paper's code does
(py-faster-rcnn's ``TRAIN.USE_FLIPPED``): an epoch holds every image and its mirror image,
index ``N + i`` of a set of N images being image ``i`` mirrored (:func:`flip_horizontally`),
so the flips too are a pure function of ``(seed, iteration)``.
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


def epoch_size(num_images: int, flip: bool) -> int:
    """Images in one pass over the training set: ``num_images``, twice that with ``flip``."""
    return 2 * num_images if flip else num_images


def flip_horizontally(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirror image of ``image`` (H, W, 3) and its boxes (G, 4).

    Column ``c`` of the mirror is column ``W - 1 - c`` of the image; pixel ``c`` spans
    ``[c, c + 1)``, so the interval ``[x1, x2)`` becomes ``[W - x2, W - x1)``: a box keeps its
    width, its corners swap sides. ``y`` does not change.
    """
    width = image.shape[1]
    boxes = np.asarray(boxes)
    flipped = boxes.copy()
    flipped[:, 0] = width - boxes[:, 2]
    flipped[:, 2] = width - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped


class Batch(NamedTuple):
    """One training batch.

    images: (B, H, W, 3) uint8, padded to the largest image (bottom and right, PAD_VALUE).
    targets: B :class:`~minirpn.ground_truth.GroundTruth` records, one per image.
    indices: (B,) int64, each image's index in the dataset.
    """

    images: np.ndarray
    targets: list[GroundTruth]
    indices: np.ndarray


def load_batch(dataset, indices: np.ndarray, cache: dict | None, flip: bool = False) -> Batch:
    """Pack the images of ``indices`` into the detector's input with their ground truth.

    Images of different sizes are padded to the largest (bottom and right, PAD_VALUE).
    ``cache`` (index → sample), if given, keeps every image drawn so far: each training
    image is seen several times, and drawing it anew each time would add to every step.
    With ``flip``, indices run over :func:`epoch_size` images: ``len(dataset) + i`` is
    image ``i`` mirrored.
    """
    samples = []
    for index in (int(i) for i in indices):
        mirrored = flip and index >= len(dataset)
        index -= len(dataset) if mirrored else 0
        if cache is None:
            sample = dataset[index]
        else:
            if index not in cache:
                cache[index] = dataset[index]
            sample = cache[index]
        image, boxes = sample.image, sample.boxes
        if mirrored:
            image, boxes = flip_horizontally(image, boxes)
        samples.append((image, GroundTruth(boxes, sample.labels)))
    height = max(image.shape[0] for image, _ in samples)
    width = max(image.shape[1] for image, _ in samples)
    images = np.full((len(samples), height, width, 3), PAD_VALUE, dtype=np.uint8)  # (B, H, W, 3)
    for b, (image, _) in enumerate(samples):
        images[b, : image.shape[0], : image.shape[1]] = image
    return Batch(images, [target for _, target in samples], np.asarray(indices, dtype=np.int64))
