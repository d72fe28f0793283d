"""Detection data: the built-in toy shapes, and COCO or Pascal VOC folders on disk.

Both datasets hand out the same :class:`Sample`: an RGB image and its boxes in the
project's convention, continuous corners ``(x1, y1, x2, y2)`` where pixel ``i`` spans
``[i, i + 1)`` (so a shape covering pixel columns 3..9 has ``x1 = 3, x2 = 10``). Labels run
``1 .. C``; ``0`` is kept for the background class of the detector's second stage (F17).

The toy data (:class:`ToyShapes`) is drawn on the fly with Pillow, deterministically from
``(seed, split, index)``, so nothing is downloaded. Its four classes differ in outline *and*
in aspect ratio -- circles and squares are 1:1, triangles about 1.15:1, bars 2.5:1 to
3:1, lying or standing -- and their sizes (14 to 72 pixels on a 128-pixel image) span the
tiny detector's anchor scales, so both the anchors' scales and their ratios (F7) matter.

:func:`write_coco` / :func:`write_voc` / :func:`make_toy_data` write a dataset as PNG files
plus one COCO JSON file or VOC XML files, and :class:`CocoDataset` / :class:`VocDataset`
read such folders -- the toy data or your own (:func:`open_folder` tells the two apart).
Both readers collect every bad annotation as a :class:`Problem` (file, annotation, what is
wrong); :mod:`minirpn.datacheck` adds the checks that need the images.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import numpy as np
from PIL import Image, ImageDraw

from minirpn.fileio import atomic_write
from minirpn.image import read_image
from minirpn.ops import box_iou

# --------------------------------------------------------------------------- samples


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# Shared defaults of Sample's difficult boxes: read-only, so no one can fill them in place.
NO_BOXES = _read_only(np.zeros((0, 4), dtype=np.float32))
NO_LABELS = _read_only(np.zeros(0, dtype=np.int64))


class Sample(NamedTuple):
    """One annotated image.

    image:     (H, W, 3) uint8, RGB.
    boxes:     (K, 4) float32, continuous corners (x1, y1, x2, y2); pixel i spans [i, i+1).
    labels:    (K,) int64, class labels in 1..C (0 is the background, never a label here).
    file_name: the image's file name (as written in / read from a COCO file).
    difficult_boxes:  (M, 4) float32, objects marked ``difficult`` (Pascal VOC) -- not
                      in ``boxes``, so training never sees them; evaluation ignores
                      detections on them (:func:`minirpn.evaluation.ground_truth`).
    difficult_labels: (M,) int64, their labels.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    file_name: str
    difficult_boxes: np.ndarray = NO_BOXES
    difficult_labels: np.ndarray = NO_LABELS


# --------------------------------------------------------------------------- toy shapes

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


# --------------------------------------------------------------------------- COCO files

COCO_JSON_NAME = "annotations.json"
COCO_IMAGE_DIR = "images"


def write_coco(dataset, out_dir: str | os.PathLike) -> Path:
    """Write every sample of ``dataset`` as PNG + one COCO detection JSON; return the JSON path.

    Layout: ``out_dir/images/<file_name>`` and ``out_dir/annotations.json``. COCO boxes are
    ``[x, y, w, h]`` with (x, y) the top-left corner, in the same continuous coordinates as
    ours (``w = x2 - x1``). Category ids are the labels (1..C), names from
    ``dataset.class_names``; a dataset with a ``category_ids`` attribute (a
    :class:`CocoDataset`) keeps its original ids. Every file is written atomically.
    """
    out_dir = Path(out_dir)
    category_ids = getattr(dataset, "category_ids", None) or tuple(
        range(1, len(dataset.class_names) + 1)
    )
    images, annotations = [], []
    for index in range(len(dataset)):
        sample = dataset[index]
        height, width = sample.image.shape[:2]
        image_id = index + 1
        if sample.labels.size and not (
            1 <= sample.labels.min() and sample.labels.max() <= len(category_ids)
        ):
            raise ValueError(
                f"labels of sample {index} ({sample.file_name!r}) must be in "
                f"1..{len(category_ids)}, got {sample.labels.tolist()}"
            )
        images.append(
            {
                "id": image_id,
                "file_name": sample.file_name,
                "width": int(width),
                "height": int(height),
            }
        )
        for box, label in zip(sample.boxes.tolist(), sample.labels.tolist(), strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(category_ids[label - 1]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        with atomic_write(out_dir / COCO_IMAGE_DIR / sample.file_name) as f:
            Image.fromarray(sample.image).save(f, format="PNG")

    coco = {
        "info": {"description": f"written by minirpn from {type(dataset).__name__}"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": int(cid), "name": name, "supercategory": "shape"}
            for cid, name in zip(category_ids, dataset.class_names, strict=True)
        ],
    }
    json_path = out_dir / COCO_JSON_NAME
    with atomic_write(json_path) as f:
        f.write(json.dumps(coco, indent=1).encode("utf-8"))
    return json_path


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


class Problem(NamedTuple):
    """One thing wrong (or worth a warning) in a dataset on disk.

    file:       the file it is in: the annotation file (COCO JSON, VOC XML) or the image.
    annotation: which annotation: the COCO annotation id, ``"object 2 (dog)"`` in a VOC
                file; None for a problem of the whole image or file.
    message:    what is wrong, with the offending value.
    """

    file: str
    annotation: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.annotation is None else f"{self.file}: {self.annotation}"
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Bad training or evaluation data; the message lists the problems (file, annotation, what).

    ``problems`` holds every error; ``warnings`` the warnings found along with them (not in
    the message: the caller shows them as it shows warnings).
    """

    def __init__(self, summary: str, problems: list[Problem], limit: int = 20, warnings=()):
        self.warnings = list(warnings)
        lines = [f"{summary}: {len(problems)} problem(s)"]
        lines += [f"  {problem}" for problem in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more")
        super().__init__("\n".join(lines))
        self.problems = problems


class ImageRecord(NamedTuple):
    """What an annotation file says about one image (nothing read from the image yet).

    path:           the image file.
    source:         the annotation file it is described in (COCO JSON or VOC XML).
    boxes:          (K, 4) float32, continuous corners (x1, y1, x2, y2), as annotated.
    labels:         (K,) int64 in 1..C.
    difficult:      (K,) bool, VOC's ``difficult`` flag (all False for COCO).
    annotation_ids: K names of the annotations, for messages (see :class:`Problem`).
    size:           (height, width) declared in the annotation file, or None.
    """

    path: Path
    source: str
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray
    annotation_ids: tuple[str, ...]
    size: tuple[int, int] | None


class _AnnotatedFiles:
    """Base of the datasets read from disk: ``records`` (one :class:`ImageRecord` per image),
    ``problems`` found while parsing, ``class_names``; ``ds[i]`` reads image ``i``.

    A strict dataset (the default) raises one :class:`DataError` listing every annotation
    problem; a lenient one (``strict=False``, what :func:`minirpn.datacheck.check_dataset`
    uses to report them together with the image problems) keeps them in ``problems`` and
    leaves the bad annotations out.
    """

    class_names: tuple[str, ...]
    records: list[ImageRecord]
    problems: list[Problem]
    location: str  # "COCO file '...'" or "VOC folder '...' (split 'train')", for messages

    def _finish(self, where: str, strict: bool) -> None:
        self.location = where
        self.file_names = [record.path.name for record in self.records]
        missing = [r for r in self.records if not r.path.is_file()]
        self.problems += [Problem(str(r.path), None, "image file does not exist") for r in missing]
        if strict and self.problems:
            raise DataError(f"{where} has bad annotations or missing images", self.problems)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        """Image ``index`` with its boxes clipped to the image (boxes left empty dropped).

        :func:`minirpn.datacheck.check_dataset` warns about every box it clips and refuses
        boxes that would be dropped, before training starts.
        """
        record = self.records[_check_index(index, len(self))]
        rgb = read_image(record.path)
        height, width = rgb.shape[:2]
        boxes = clip_to_image(record.boxes, height, width)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        easy, hard = keep & ~record.difficult, keep & record.difficult
        return Sample(
            rgb,
            boxes[easy],
            record.labels[easy].copy(),
            record.path.name,
            boxes[hard],
            record.labels[hard].copy(),
        )


def clip_to_image(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(K, 4) boxes clipped to the image ``[0, width] x [0, height]`` (a new float32 array)."""
    limits = np.array([width, height, width, height], dtype=np.float32)
    return np.clip(boxes, 0, limits).astype(np.float32)


def _box_array(rows: list) -> np.ndarray:
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


class CocoDataset(_AnnotatedFiles):
    """A COCO detection file and its images, as :class:`Sample` s.

    path:      a folder holding ``annotations.json`` (as written by :func:`write_coco`), or
               the path of any COCO detection JSON file.
    image_dir: where the image files are; by default the ``images`` folder next to the
               JSON file if there is one, else the JSON file's own folder.
    strict:    raise a :class:`DataError` listing every bad annotation (default), or keep
               them in ``problems`` (see :class:`_AnnotatedFiles`).

    Category ids (arbitrary integers in COCO) become contiguous labels 1..C in increasing
    id order; ``category_ids[label - 1]`` gives the id back, for writing results.
    Crowd annotations (``iscrowd`` = 1) are left out: they mark regions, not objects.
    Images are converted to RGB (grayscale and RGBA files are fine).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        image_dir: str | os.PathLike | None = None,
        *,
        strict: bool = True,
    ):
        path = Path(path)
        json_path = path / COCO_JSON_NAME if path.is_dir() else path
        if not json_path.is_file():
            raise ValueError(f"COCO annotation file not found: {str(json_path)!r}")
        try:
            coco = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read COCO file {str(json_path)!r}: {error}") from None
        if image_dir is None:
            image_dir = json_path.parent / COCO_IMAGE_DIR
            if not image_dir.is_dir():
                image_dir = json_path.parent
        self.json_path = json_path
        self.image_dir = Path(image_dir)
        self.problems = []
        self._parse(coco)
        self._finish(f"COCO file {str(json_path)!r}", strict)

    def _parse(self, coco) -> None:
        where = f"COCO file {str(self.json_path)!r}"
        if not isinstance(coco, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(coco).__name__}")
        for key in ("images", "annotations", "categories"):
            if not isinstance(coco.get(key), list):
                raise ValueError(f"{where}: missing or non-list field {key!r}")
        # Categories and images are the frame every annotation refers to: an error there
        # stops the reading at once. Annotations are checked one by one, all reported.
        try:
            categories = sorted(coco["categories"], key=lambda c: c["id"])
            self.category_ids = tuple(int(c["id"]) for c in categories)
            self.class_names = tuple(str(c["name"]) for c in categories)
            label_of = {cid: label for label, cid in enumerate(self.category_ids, start=1)}
            if len(label_of) != len(categories):
                raise ValueError(f"duplicate category ids {self.category_ids}")
            images = sorted(coco["images"], key=lambda im: im["id"])
            file_names = [str(im["file_name"]) for im in images]
            sizes = [_declared_size(im.get("height"), im.get("width")) for im in images]
            row_of = {im["id"]: row for row, im in enumerate(images)}
            if len(row_of) != len(images):
                raise ValueError("duplicate image ids")
        except (KeyError, TypeError, ValueError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"{where}: {detail}") from None

        source = str(self.json_path)
        per_image = [([], [], []) for _ in images]  # boxes, labels, annotation ids
        for ann in coco["annotations"]:
            ann_id = ann.get("id") if isinstance(ann, dict) else None
            try:
                if not isinstance(ann, dict):
                    raise ValueError(f"is not a JSON object: {ann!r:.60}")
                if ann.get("iscrowd", 0):
                    continue
                box, row = _coco_box(ann, label_of, row_of)
            except KeyError as error:
                self.problems.append(
                    Problem(source, f"annotation {ann_id}", f"missing field {error}")
                )
                continue
            except (TypeError, ValueError) as error:
                self.problems.append(Problem(source, f"annotation {ann_id}", str(error)))
                continue
            boxes, labels, ids = per_image[row]
            boxes.append(box)
            labels.append(label_of[ann["category_id"]])
            ids.append(f"annotation {ann_id}")
        self.records = [
            ImageRecord(
                path=self.image_dir / name,
                source=source,
                boxes=_box_array(boxes),
                labels=np.array(labels, dtype=np.int64),
                difficult=np.zeros(len(labels), dtype=bool),
                annotation_ids=tuple(ids),
                size=size,
            )
            for name, size, (boxes, labels, ids) in zip(file_names, sizes, per_image, strict=True)
        ]


def _coco_box(ann: dict, label_of: dict, row_of: dict) -> tuple[list[float], int]:
    """An annotation's box as corners and the row of its image; ValueError says what is wrong."""
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"has bbox {bbox!r}, expected [x, y, w, h]")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        raise ValueError(f"has bbox {bbox!r}, expected 4 numbers")
    x, y, w, h = (float(v) for v in bbox)
    if not (math.isfinite(x + y + w + h) and w > 0 and h > 0):
        raise ValueError(f"has a degenerate bbox {bbox} (need finite x, y and w, h > 0)")
    if ann["category_id"] not in label_of:
        raise ValueError(f"has unknown category_id {ann['category_id']!r}")
    if ann["image_id"] not in row_of:
        raise ValueError(f"has unknown image_id {ann['image_id']!r}")
    return [x, y, x + w, y + h], row_of[ann["image_id"]]


def _declared_size(height, width) -> tuple[int, int] | None:
    """(height, width) if the annotation file gives both as positive ints, else None."""
    try:
        height, width = int(height), int(width)
    except (TypeError, ValueError):
        return None
    return (height, width) if height > 0 and width > 0 else None


# --------------------------------------------------------------------------- Pascal VOC

VOC_ANNOTATION_DIR = "Annotations"
VOC_IMAGE_DIR = "JPEGImages"
VOC_SPLIT_DIR = Path("ImageSets") / "Main"
# Not part of VOC: the class order minirpn writes (labels 1..C). Without it the names found
# in the annotations are sorted, which for VOC itself is the usual order (aeroplane, ...).
VOC_CLASSES_NAME = "classes.txt"


class VocDataset(_AnnotatedFiles):
    """A Pascal VOC folder: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/*.txt``.

    root:        the folder holding those three (e.g. ``VOCdevkit/VOC2007``).
    split:       the image list ``ImageSets/Main/<split>.txt`` to read ("train", "val", ...).
    class_names: the classes in label order 1..C; by default ``classes.txt`` in ``root``
                 if there is one (:func:`write_voc` writes it), else every object name of
                 the ``train`` and ``val`` lists (and ``split``'s), sorted.
    strict:      as for :class:`CocoDataset`.

    Coordinates: VOC counts pixels from 1 and its ``xmax``/``ymax`` name the last pixel
    *inside* the box, so ``xmin=1, xmax=10`` covers the first ten columns. In our continuous
    corners (pixel i spans [i, i + 1)) that is ``x1 = xmin - 1 = 0, x2 = xmax = 10``:
    ``(x1, y1, x2, y2) = (xmin - 1, ymin - 1, xmax, ymax)``.

    Objects marked ``<difficult>1</difficult>`` are kept out of training and ignored in
    evaluation, as VOC does (:attr:`Sample.difficult_boxes`).
    """

    category_ids = None  # labels are the ids

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        class_names=None,
        *,
        strict: bool = True,
    ):
        self.root = Path(root)
        self.split = split
        list_file = self.root / VOC_SPLIT_DIR / f"{split}.txt"
        ids = _read_image_list(list_file)
        self.problems = []
        parsed = [self._parse_xml(image_id) for image_id in ids]
        if class_names is None:
            class_names = self._find_class_names(parsed)
        self.class_names = tuple(str(name) for name in class_names)
        label_of = {name: label for label, name in enumerate(self.class_names, start=1)}
        self.records = []
        for xml_path, file_name, size, objects in parsed:
            boxes, labels, difficult, names = [], [], [], []
            for object_id, name, box, hard in objects:
                if name not in label_of:
                    self.problems.append(
                        Problem(
                            str(xml_path),
                            object_id,
                            f"class {name!r} is not one of {list(self.class_names)}",
                        )
                    )
                    continue
                boxes.append(box)
                labels.append(label_of[name])
                difficult.append(hard)
                names.append(object_id)
            self.records.append(
                ImageRecord(
                    self.root / VOC_IMAGE_DIR / file_name,
                    str(xml_path),
                    _box_array(boxes),
                    np.array(labels, dtype=np.int64),
                    np.array(difficult, dtype=bool),
                    tuple(names),
                    size,
                )
            )
        self._finish(f"VOC folder {str(self.root)!r} (split {split!r})", strict)

    def _parse_xml(self, image_id: str):
        """-> (xml path, image file name, declared size, [(object id, name, box, difficult)])."""
        xml_path = self.root / VOC_ANNOTATION_DIR / f"{image_id}.xml"
        default_name = f"{image_id}.jpg"
        try:
            tree = ElementTree.parse(xml_path)
        except (OSError, ElementTree.ParseError) as error:
            reason = "does not exist" if not xml_path.is_file() else f"cannot be read ({error})"
            self.problems.append(Problem(str(xml_path), None, f"annotation file {reason}"))
            return xml_path, default_name, None, []
        root = tree.getroot()
        file_name = (root.findtext("filename") or "").strip() or default_name
        size = _declared_size(root.findtext("size/height"), root.findtext("size/width"))
        objects = []
        for number, obj in enumerate(root.iter("object"), start=1):
            name = (obj.findtext("name") or "").strip()
            object_id = f"object {number} ({name or 'no name'})"
            try:
                box = _voc_box(obj)
                hard = (obj.findtext("difficult") or "0").strip()
                if hard not in ("0", "1"):
                    raise ValueError(f"has difficult {hard!r}, expected 0 or 1")
                if not name:
                    raise ValueError("has no <name>")
            except ValueError as error:
                self.problems.append(Problem(str(xml_path), object_id, str(error)))
                continue
            objects.append((object_id, name, box, hard == "1"))
        return xml_path, file_name, size, objects

    def _find_class_names(self, parsed) -> list[str]:
        classes_file = self.root / VOC_CLASSES_NAME
        if classes_file.is_file():
            return [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
        names = {name for *_, objects in parsed for _, name, _, _ in objects}
        for other in ("train", "val"):  # the same classes (and labels) for every split
            if other != self.split and (self.root / VOC_SPLIT_DIR / f"{other}.txt").is_file():
                for image_id in _read_image_list(self.root / VOC_SPLIT_DIR / f"{other}.txt"):
                    xml_path = self.root / VOC_ANNOTATION_DIR / f"{image_id}.xml"
                    with contextlib.suppress(OSError, ElementTree.ParseError):
                        tree = ElementTree.parse(xml_path)
                        names.update((n.text or "").strip() for n in tree.iterfind("object/name"))
        names.discard("")
        if not names:
            raise ValueError(f"VOC folder {str(self.root)!r}: no object names in its annotations")
        return sorted(names)


def _read_image_list(list_file: Path) -> list[str]:
    """The image ids of an ``ImageSets/Main/<split>.txt`` file, one per line."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the VOC image list {str(list_file)!r}: {error}") from None
    # Per-class lists ("000005 -1") carry a flag after the id; plain lists only the id.
    return [line.split()[0] for line in lines if line.strip()]


def _voc_box(obj) -> list[float]:
    """The <bndbox> of a VOC <object> as our continuous corners; ValueError says what is wrong."""
    values = {}
    for key in ("xmin", "ymin", "xmax", "ymax"):
        text = obj.findtext(f"bndbox/{key}")
        if text is None:
            raise ValueError(f"has no bndbox/{key}")
        try:
            values[key] = float(text)
        except ValueError:
            raise ValueError(f"has bndbox/{key} {text.strip()!r}, expected a number") from None
    box = [values["xmin"] - 1, values["ymin"] - 1, values["xmax"], values["ymax"]]
    if not (all(math.isfinite(v) for v in box) and box[2] > box[0] and box[3] > box[1]):
        shown = ", ".join(f"{k}={v:g}" for k, v in values.items())
        raise ValueError(f"has an empty or inverted box ({shown}; need xmin <= xmax)")
    return box


def write_voc(dataset, out_dir: str | os.PathLike, split: str = "train") -> Path:
    """Write ``dataset`` as a Pascal VOC folder (images as PNG); return the image list's path.

    Writes ``out_dir/JPEGImages/<file_name>`` (PNG files under VOC's folder name: lossless,
    so the COCO and VOC forms of the toy data hold the same pixels), one
    ``out_dir/Annotations/<stem>.xml`` per image with 1-based inclusive coordinates
    (``xmin = x1 + 1``, ``xmax = x2``, see :class:`VocDataset`), the image list
    ``out_dir/ImageSets/Main/<split>.txt`` and the class order in ``out_dir/classes.txt``.
    Difficult boxes of the samples are written with ``<difficult>1</difficult>``. Calling it
    once per split fills one folder, as VOC is laid out.
    """
    out_dir = Path(out_dir)
    names = list(dataset.class_names)
    ids = []
    for index in range(len(dataset)):
        sample = dataset[index]
        image_id = Path(sample.file_name).stem
        ids.append(image_id)
        height, width = sample.image.shape[:2]
        annotation = ElementTree.Element("annotation")
        ElementTree.SubElement(annotation, "folder").text = out_dir.name
        ElementTree.SubElement(annotation, "filename").text = sample.file_name
        size = ElementTree.SubElement(annotation, "size")
        for tag, value in (("width", width), ("height", height), ("depth", 3)):
            ElementTree.SubElement(size, tag).text = str(value)
        objects = [(b, lab, 0) for b, lab in zip(sample.boxes, sample.labels, strict=True)]
        objects += [
            (b, lab, 1)
            for b, lab in zip(sample.difficult_boxes, sample.difficult_labels, strict=True)
        ]
        for box, label, difficult in objects:
            if not 1 <= label <= len(names):
                raise ValueError(
                    f"labels of sample {index} ({sample.file_name!r}) must be in "
                    f"1..{len(names)}, got {int(label)}"
                )
            obj = ElementTree.SubElement(annotation, "object")
            ElementTree.SubElement(obj, "name").text = names[label - 1]
            ElementTree.SubElement(obj, "truncated").text = "0"
            ElementTree.SubElement(obj, "difficult").text = str(difficult)
            bndbox = ElementTree.SubElement(obj, "bndbox")
            x1, y1, x2, y2 = (float(v) for v in box)
            for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
                ElementTree.SubElement(bndbox, tag).text = _number_text(value)
        ElementTree.indent(annotation)
        with atomic_write(out_dir / VOC_ANNOTATION_DIR / f"{image_id}.xml") as f:
            ElementTree.ElementTree(annotation).write(f, encoding="utf-8", xml_declaration=False)
        with atomic_write(out_dir / VOC_IMAGE_DIR / sample.file_name) as f:
            Image.fromarray(sample.image).save(f, format="PNG")
    list_path = out_dir / VOC_SPLIT_DIR / f"{split}.txt"
    with atomic_write(list_path) as f:
        f.write("".join(f"{image_id}\n" for image_id in ids).encode("utf-8"))
    with atomic_write(out_dir / VOC_CLASSES_NAME) as f:
        f.write("".join(f"{name}\n" for name in names).encode("utf-8"))
    return list_path


def _number_text(value: float) -> str:
    """A coordinate as text: whole numbers without a decimal point (as VOC writes them)."""
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------- data folders

DATA_FORMATS = ("coco", "voc")


def data_format(data: str | os.PathLike) -> str:
    """ "voc" or "coco": which layout the data folder ``data`` has (ValueError if neither).

    VOC: ``data/Annotations`` and ``data/ImageSets/Main``. COCO: ``data/train`` and
    ``data/val``, each a folder with ``annotations.json`` (as ``make-toy-data`` writes).
    """
    data = Path(data)
    if (data / VOC_ANNOTATION_DIR).is_dir() and (data / VOC_SPLIT_DIR).is_dir():
        return "voc"
    if any((data / split).is_dir() for split in ("train", "val")):
        return "coco"
    raise ValueError(
        f"data folder {str(data)!r} is neither a COCO folder ({data}/train/{COCO_JSON_NAME}, "
        f"{data}/val/{COCO_JSON_NAME}) nor a Pascal VOC folder ({data}/{VOC_ANNOTATION_DIR}, "
        f"{data}/{VOC_IMAGE_DIR}, {data}/{VOC_SPLIT_DIR}/{{train,val}}.txt)"
    )


def open_folder(data: str | os.PathLike, split: str, *, strict: bool = True):
    """The ``split`` ("train" or "val") of a data folder in either layout (:func:`data_format`)."""
    if data_format(data) == "voc":
        return VocDataset(data, split, strict=strict)
    return CocoDataset(Path(data) / split, strict=strict)


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_index(index, length: int) -> int:
    """Sequence-style index: negative counts from the end; IndexError past either end."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an int, got {type(index).__name__} {index!r}")
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} images")
    return int(index) % length
