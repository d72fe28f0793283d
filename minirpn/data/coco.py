"""COCO detection files: :func:`write_coco` writes a dataset as PNG files plus one COCO
JSON file, :class:`CocoDataset` reads such a file (the toy data's or your own) and collects
every bad annotation as a :class:`~minirpn.data.base.Problem`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from minirpn.data.base import (
    ImageRecord,
    Problem,
    _AnnotatedFiles,
    _box_array,
    _declared_size,
    file_in,
)
from minirpn.fileio import atomic_write, regular_file

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
        try:
            regular_file(json_path, "COCO annotation file")
        except FileNotFoundError:
            raise ValueError(f"COCO annotation file not found: {str(json_path)!r}") from None
        try:
            coco = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:  # JSONDecodeError, UnicodeDecodeError too
            raise ValueError(f"cannot read COCO file {str(json_path)!r}: {error}") from None
        except RecursionError:
            raise ValueError(
                f"cannot read COCO file {str(json_path)!r}: its JSON is nested too deeply"
            ) from None
        if image_dir is None:
            image_dir = json_path.parent / COCO_IMAGE_DIR
            if not image_dir.is_dir():
                image_dir = json_path.parent
        self.json_path = json_path
        self.image_dir = Path(image_dir)
        self.problems, self.warnings = [], []
        self._parse(coco)
        self._finish(f"COCO file {str(json_path)!r}", strict)

    @staticmethod
    def file_box_text(box: np.ndarray) -> str:
        """Corners (4,) as the COCO file's ``bbox [x, y, w, h]``."""
        x1, y1, x2, y2 = (float(v) for v in box)
        return f"bbox [{x1:g}, {y1:g}, {x2 - x1:g}, {y2 - y1:g}]"

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
            categories = coco["categories"]
            ids = [_category_id(c["id"]) for c in categories]
            order = sorted(range(len(ids)), key=ids.__getitem__)  # labels in id order
            self.category_ids = tuple(ids[i] for i in order)
            self.class_names = tuple(str(categories[i]["name"]) for i in order)
            label_of = {cid: label for label, cid in enumerate(self.category_ids, start=1)}
            if len(label_of) != len(categories):
                raise ValueError(f"duplicate category ids {self.category_ids}")
            images = sorted(coco["images"], key=lambda im: im["id"])
            file_names = [str(im["file_name"]) for im in images]
            sizes = [_declared_size(im.get("height"), im.get("width")) for im in images]
            row_of = {im["id"]: row for row, im in enumerate(images)}
            if len(row_of) != len(images):
                ids = [im["id"] for im in images]
                twice = sorted({i for i in ids if ids.count(i) > 1})
                raise ValueError(f"duplicate image ids {twice!r:.200}")
        except (KeyError, TypeError, ValueError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"{where}: {detail}") from None

        source = str(self.json_path)
        paths = []
        for image, name in zip(images, file_names, strict=True):
            try:
                paths.append(file_in(self.image_dir, name, "file name"))
            except ValueError as error:
                paths.append(None)
                self.problems.append(Problem(source, f"image {image['id']!r:.40}", str(error)))
        per_image = [([], [], []) for _ in images]  # boxes, labels, annotation ids
        for ann in coco["annotations"]:
            ann_id = ann.get("id") if isinstance(ann, dict) else None
            try:
                if not isinstance(ann, dict):
                    raise ValueError(f"is not a JSON object: {ann!r:.60}")
                crowd = ann.get("iscrowd", 0)
                if crowd not in (0, 1):  # "0" (a string) is not 0: no guessing
                    raise ValueError(f"has iscrowd {crowd!r:.40}, expected 0 or 1")
                if crowd:
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
                path=path,
                source=source,
                boxes=_box_array(boxes),
                labels=np.array(labels, dtype=np.int64),
                difficult=np.zeros(len(labels), dtype=bool),
                annotation_ids=tuple(ids),
                size=size,
            )
            for path, size, (boxes, labels, ids) in zip(paths, sizes, per_image, strict=True)
            if path is not None  # a name leading outside the image folder: a problem above
        ]


def _coco_box(ann: dict, label_of: dict, row_of: dict) -> tuple[list[float], int]:
    """An annotation's box as corners and the row of its image; ValueError says what is wrong."""
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"has bbox {bbox!r}, expected [x, y, w, h]")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
        raise ValueError(f"has bbox {bbox!r}, expected 4 numbers")
    try:
        x, y, w, h = (float(v) for v in bbox)
    except OverflowError:  # an integer of 400 digits
        raise ValueError(f"has bbox {bbox!r:.80}, a number beyond floating point") from None
    if not (math.isfinite(x + y + w + h) and w > 0 and h > 0):
        raise ValueError(f"has a degenerate bbox {bbox} (need finite x, y and w, h > 0)")
    if ann["category_id"] not in label_of:
        raise ValueError(f"has unknown category_id {ann['category_id']!r:.40}")
    if ann["image_id"] not in row_of:
        raise ValueError(f"has unknown image_id {ann['image_id']!r:.40}")
    return [x, y, x + w, y + h], row_of[ann["image_id"]]


def _category_id(value) -> int:
    """A category id as an int: JSON integers (or whole floats) that fit in 64 bits, the
    ids results files are written with; ValueError for anything else (1e999, "3", 2.5)."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not -(2**63) <= value < 2**63:
        raise ValueError(f"category id {value!r:.40} is not a 64-bit integer")
    return int(value)
