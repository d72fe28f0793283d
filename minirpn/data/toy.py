"""The built-in toy data: circles, squares, triangles and bars drawn with Pillow.

The toy data (:class:`ToyShapes`) is drawn on the fly, deterministically from
``(seed, split, index)``, so nothing is downloaded. Its four classes differ in outline *and*
in aspect ratio -- circles and squares are 1:1, triangles about 1.15:1, bars 2.5:1 to
3:1, lying or standing -- and their sizes (14 to 72 pixels on a 128-pixel image) span the
tiny detector's anchor scales, so both the anchors' scales and their ratios (F7) matter.
:func:`make_toy_data` writes a split to disk as a COCO or Pascal VOC folder.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from minirpn.data.base import Sample, _check_index, _check_int
from minirpn.data.coco import write_coco
from minirpn.data.folders import DATA_FORMATS
from minirpn.data.voc import write_voc
from minirpn.ops import box_iou

TOY_CLASS_NAMES = ("circle", "square", "triangle", "bar")
CIRCLE, SQUARE, TRIANGLE, BAR = 1, 2, 3, 4

TOY_IMAGE_SIZE = 128  # side of the toy images by default
#: Images per split when ``num_images`` is not given.
TOY_SPLIT_SIZES = {"train": 2000, "val": 200}
# Each split seeds its own stream: seed sequences built from different entropy words
# give independent generators, so no two splits (or indices) share an image.
_SPLIT_STREAMS = {"train": 0, "val": 1}

MIN_OBJECTS, MAX_OBJECTS = 1, 4
# Side of circles / squares, base of triangles, long side of bars, in pixels. The tiny
# detector's anchors are 16, 32 and 64 pixels wide (stride 8): sizes are drawn
# log-uniformly so that every anchor scale sees about the same number of objects.
MIN_SIZE, MAX_SIZE = 14, 72
# Bars are 2.5:1 to 3:1, beyond the anchors' 2:1, so the box regression has to stretch
# them. Thinner bars (up to 4:1, 7 pixels thick) were the one class a short CPU training
# learnt badly (AP@0.5 ~0.73, the others >= 0.92): on the tiny detector's anchor grid a
# third of them had no anchor with IoU >= 0.5 (a fifth now), and at 7 pixels thick a
# 1-pixel error costs ~15 % of the IoU.
MIN_BAR_LENGTH = 32  # so a bar's short side is >= floor(32 / MAX_BAR_ASPECT) = 10 pixels
MIN_BAR_ASPECT, MAX_BAR_ASPECT = 2.5, 3.0
# Objects never touch: their masks stay this many pixels apart, so every object is
# fully visible and its box is exactly the extent of what is drawn. Their *boxes* may
# still overlap (a circle's empty corner over a triangle's), up to this IoU.
MIN_GAP = 2
MAX_BOX_IOU = 0.3
PLACEMENT_TRIES = 30
# Background: a gentle two-colour gradient, Gaussian noise and a few faint lines, so the
# detector has to look for outlines rather than for "anything that is not flat".
GRADIENT_SPREAD = 60
BACKGROUND_NOISE_STD = 8.0
MIN_LINES, MAX_LINES = 3, 8
LINE_SHADE = 25
# An object's colour differs from the mean background under it by at least this much
# luminance (0..255), so every shape stands out.
MIN_CONTRAST = 70.0
COLOR_TRIES = 20
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luminance weights


class ToyRendering(NamedTuple):
    """A toy sample with what it was drawn from (for tests and lessons).

    sample: the :class:`Sample`.
    masks:  (K, H, W) bool, the pixels of each object (disjoint).
    colors: (K, 3) uint8, each object's flat RGB colour.
    """

    sample: Sample
    masks: np.ndarray
    colors: np.ndarray


class ToyShapes:
    """Procedurally drawn shapes: circles, squares, triangles and bars on noisy backgrounds.

    ``ds[i]`` draws image ``i`` of the split; the result depends only on
    ``(seed, split, i)`` and ``image_size``. Each image holds 1 to 4 objects of random
    colour, fully visible (their pixels never touch; their boxes may overlap up to IoU 0.3).

    split:      "train" (2000 images by default) or "val" (200 by default).
    num_images: number of images, or None for the split's default.
    image_size: side of the square images in pixels, larger than the largest shape (72);
                shapes keep their pixel sizes, 128 is the size they were chosen for.
    seed:       non-negative int selecting the whole data set.
    """

    class_names = TOY_CLASS_NAMES

    def __init__(
        self,
        split: str = "train",
        num_images: int | None = None,
        image_size: int = TOY_IMAGE_SIZE,
        seed: int = 0,
    ):
        if split not in _SPLIT_STREAMS:
            raise ValueError(f"split must be one of {sorted(_SPLIT_STREAMS)}, got {split!r}")
        if num_images is None:
            num_images = TOY_SPLIT_SIZES[split]
        _check_int("num_images", num_images, minimum=0)
        _check_int("image_size", image_size, minimum=MAX_SIZE + 1)
        _check_int("seed", seed, minimum=0)
        self.split = split
        self.num_images = int(num_images)
        self.image_size = int(image_size)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> Sample:
        return self.render(index).sample

    def render(self, index: int) -> ToyRendering:
        """Draw image ``index`` and return it with the masks and colours of its objects."""
        index = _check_index(index, self.num_images)
        rng = np.random.default_rng([self.seed, _SPLIT_STREAMS[self.split], index])
        size = self.image_size

        background = _draw_background(rng, size)
        canvas = Image.fromarray(background)
        masks, boxes, labels, colors = [], [], [], []
        forbidden = np.zeros((size, size), dtype=bool)  # existing masks grown by MIN_GAP
        for _ in range(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1)):
            label = int(rng.integers(1, len(TOY_CLASS_NAMES) + 1))
            placed = _place_shape(rng, label, size, forbidden, np.array(boxes, np.float32))
            if placed is None:  # no room left for this shape: the image keeps fewer objects
                continue
            mask, box = placed
            color = _contrasting_color(rng, background[mask])
            canvas.paste(tuple(int(c) for c in color), mask=Image.fromarray(mask))
            forbidden |= _dilate(mask, MIN_GAP)
            masks.append(mask)
            boxes.append(box)
            labels.append(label)
            colors.append(color)

        sample = Sample(
            image=np.asarray(canvas, dtype=np.uint8).copy(),
            boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.array(labels, dtype=np.int64),
            file_name=f"{self.split}_{index:05d}.png",
        )
        return ToyRendering(
            sample,
            np.array(masks, dtype=bool).reshape(-1, size, size),
            np.array(colors, dtype=np.uint8).reshape(-1, 3),
        )


def _draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8: a two-colour linear gradient plus noise and faint lines."""
    start = rng.uniform(0, 255, size=3)
    end = np.clip(start + rng.uniform(-GRADIENT_SPREAD, GRADIENT_SPREAD, size=3), 0, 255)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    t = (xs * math.cos(angle) + ys * math.sin(angle)) / size  # in [-sqrt2, sqrt2]
    t = (t - t.min()) / (t.max() - t.min())  # (H, W) in [0, 1]
    image = start + t[..., None] * (end - start)  # (H, W, 3)
    image += rng.normal(0.0, BACKGROUND_NOISE_STD, size=image.shape)
    image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))

    draw = ImageDraw.Draw(image)
    mean = (start + end) / 2
    for _ in range(rng.integers(MIN_LINES, MAX_LINES + 1)):
        x0, y0, x1, y1 = rng.uniform(0, size, size=4)
        shade = np.clip(mean + rng.uniform(-LINE_SHADE, LINE_SHADE, size=3), 0, 255)
        draw.line([(x0, y0), (x1, y1)], fill=tuple(int(c) for c in shade), width=1)
    return np.asarray(image, dtype=np.uint8).copy()


def _shape_extent(rng: np.random.Generator, label: int) -> tuple[int, int]:
    """(width, height) in whole pixels of the shape's nominal frame."""
    if label == BAR:
        length = _log_uniform(rng, MIN_BAR_LENGTH, MAX_SIZE)
        # floor keeps length / thickness >= the drawn aspect >= MIN_BAR_ASPECT
        thickness = math.floor(length / rng.uniform(MIN_BAR_ASPECT, MAX_BAR_ASPECT))
        return (length, thickness) if rng.random() < 0.5 else (thickness, length)
    side = _log_uniform(rng, MIN_SIZE, MAX_SIZE)
    if label == TRIANGLE:  # equilateral: height = base * sqrt(3) / 2
        return side, max(1, round(side * math.sqrt(3) / 2))
    return side, side


def _log_uniform(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def _shape_mask(
    label: int, x0: int, y0: int, width: int, height: int, size: int, pointing_up: bool
) -> np.ndarray:
    """(size, size) bool mask of a shape drawn in the frame [x0, x0 + width) x [y0, y0 + height)."""
    mask = Image.new("1", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    # Pillow's corner coordinates are inclusive pixel indices, hence the "- 1".
    x1, y1 = x0 + width - 1, y0 + height - 1
    if label == CIRCLE:
        draw.ellipse([x0, y0, x1, y1], fill=1)
    elif label in (SQUARE, BAR):
        draw.rectangle([x0, y0, x1, y1], fill=1)
    elif label == TRIANGLE:
        apex_y, base_y = (y0, y1) if pointing_up else (y1, y0)
        draw.polygon([(x0, base_y), (x1, base_y), ((x0 + x1) / 2, apex_y)], fill=1)
    else:
        raise ValueError(f"label must be in 1..{len(TOY_CLASS_NAMES)}, got {label}")
    return np.asarray(mask, dtype=bool).copy()


def _place_shape(
    rng: np.random.Generator, label: int, size: int, forbidden: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Draw a shape of class ``label`` at random sizes / positions until one fits.

    forbidden: (size, size) bool, the pixels of the shapes already placed, grown by MIN_GAP.
    boxes:     (M, 4) float32, their boxes.
    Returns (mask (size, size) bool, box (4,) float32) of the first try whose pixels avoid
    ``forbidden`` and whose box overlaps no box by more than MAX_BOX_IOU; None if all
    PLACEMENT_TRIES fail.
    """
    for _ in range(PLACEMENT_TRIES):
        width, height = _shape_extent(rng, label)
        x0 = int(rng.integers(0, size - width + 1))
        y0 = int(rng.integers(0, size - height + 1))
        mask = _shape_mask(label, x0, y0, width, height, size, pointing_up=rng.random() < 0.5)
        if (mask & forbidden).any():
            continue
        box = mask_to_box(mask)
        if len(boxes) and box_iou(box[None], boxes).max() > MAX_BOX_IOU:
            continue
        return mask, box
    return None


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """Tight box of a non-empty (H, W) bool mask: (4,) float32 (x1, y1, x2, y2).

    Pixel i spans [i, i + 1), so the box ends one past the last set row / column.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("mask must have at least one set pixel, got an empty mask")
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a (H, W) bool mask by ``radius`` pixels in every direction (square neighbourhood)."""
    height, width = mask.shape
    padded = np.pad(mask, radius)
    grown = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            grown |= padded[dy : dy + height, dx : dx + width]
    return grown


def _contrasting_color(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random (3,) uint8 colour whose luminance differs from the pixels ``under`` (M, 3)."""
    background_luma = float(under.mean(axis=0) @ _LUMA)
    for _ in range(COLOR_TRIES):
        color = rng.integers(0, 256, size=3)
        if abs(color @ _LUMA - background_luma) >= MIN_CONTRAST:
            return color.astype(np.uint8)
    # Unlucky draws: black or white, whichever is farther from the background.
    return np.full(3, 0 if background_luma > 127.5 else 255, dtype=np.uint8)


def make_toy_data(
    out_dir: str | os.PathLike,
    split: str = "train",
    num_images: int | None = None,
    seed: int = 0,
    image_size: int = 128,
    format: str = "coco",
) -> Path:
    """Write one split of :class:`ToyShapes` to ``out_dir``; return the annotation path.

    format "coco": ``out_dir`` becomes a COCO folder (:func:`write_coco`, returns the JSON
    path), read back by ``CocoDataset(out_dir)``. format "voc": the split is added to the
    VOC folder ``out_dir`` (:func:`write_voc`, returns the image list), read back by
    ``VocDataset(out_dir, split)``. Either reads back sample for sample.
    """
    if format not in DATA_FORMATS:
        raise ValueError(f"format must be one of {list(DATA_FORMATS)}, got {format!r}")
    toy = ToyShapes(split, num_images, image_size=image_size, seed=seed)
    return write_coco(toy, out_dir) if format == "coco" else write_voc(toy, out_dir, split)
