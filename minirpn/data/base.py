"""What every dataset shares: the :class:`Sample` it hands out, and for the datasets read
from disk the :class:`ImageRecord` of each image, the :class:`Problem` s found in their
files and the :class:`DataError` that lists them.

A sample's boxes are continuous corners ``(x1, y1, x2, y2)`` where pixel ``i`` spans
``[i, i + 1)`` (so a shape covering pixel columns 3..9 has ``x1 = 3, x2 = 10``). Labels run
``1 .. C``; ``0`` is kept for the background class of the detector's second stage (F17).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

import numpy as np

from minirpn.fileio import kind_of
from minirpn.image import read_image

# Image sides an annotation file may declare: beyond any image that can be decoded
# (minirpn.image.MAX_PIXELS); a larger value is treated as not declared.
MAX_SIDE = 2**20


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
    ``problems`` found while parsing, ``warnings`` (what was read but deserves a word),
    ``class_names``; ``ds[i]`` reads image ``i``.

    A strict dataset (the default) raises one :class:`DataError` listing every annotation
    problem; a lenient one (``strict=False``, what :func:`minirpn.datacheck.check_dataset`
    uses to report them together with the image problems) keeps them in ``problems`` and
    leaves the bad annotations out.
    """

    class_names: tuple[str, ...]
    records: list[ImageRecord]
    problems: list[Problem]
    warnings: list[Problem]
    location: str  # "COCO file '...'" or "VOC folder '...' (split 'train')", for messages

    def _finish(self, where: str, strict: bool) -> None:
        self.location = where
        self.file_names = [record.path.name for record in self.records]
        for record in self.records:
            try:
                mode = os.stat(record.path).st_mode
            except FileNotFoundError:
                message = "image file does not exist"
            except OSError as error:  # a name the system refuses: too long, no permission
                message = f"cannot open the image file ({error.strerror})"
            else:
                if stat.S_ISREG(mode):
                    continue
                message = f"the image file is {kind_of(mode)}, not a file"
            self.problems.append(Problem(str(record.path), None, message))
        if strict and self.problems:
            raise DataError(f"{where} has bad annotations or missing images", self.problems)

    @staticmethod
    def file_box_text(box: np.ndarray) -> str:
        """A box (4,) in our corners written as the annotation file writes it (messages show
        the values a user finds in the file, not our conversion of them)."""
        return "(x1, y1, x2, y2) = (" + ", ".join(f"{float(v):g}" for v in box) + ")"

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


def _declared_size(height, width) -> tuple[int, int] | None:
    """(height, width) if the annotation file gives both as positive ints, else None."""
    try:
        height, width = int(height), int(width)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is inf in JSON
        return None
    return (height, width) if 0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE else None


def file_in(folder: Path, name: str, what: str) -> Path:
    """``folder / name``, or ValueError if ``name`` (an annotation's file name or id) would
    lead outside ``folder``: an absolute path (``/etc/passwd``) or one with ``..`` in it."""
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"{what} {name!r:.200} leads outside {str(folder)!r}")
    return folder / name


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
