"""Checking data before the first iteration: every annotation, every image, all problems at once.

A bad box or a corrupt image found only when training first samples it kills the run after
minutes, without a checkpoint and with a message that names neither the file nor the
annotation. :func:`check_dataset` instead reads every annotation and decodes every image
(as training will read it, :func:`minirpn.image.decode_image`: a truncated JPEG, a float
TIFF or a decompression bomb is found here) before training starts, and reports everything
it found in one message:

errors (training refuses to start)
    an annotation that cannot be read or has an empty / inverted / non-finite box or an
    unknown class (found by the readers in :mod:`minirpn.data`), a missing, unreadable,
    corrupt, float or too large image, a box lying entirely outside its image, a split
    without images;
warnings (training goes on)
    a box reaching partly outside its image (clipped to the image, as every sample is),
    an image whose size differs from the one its annotation file declares, a class with
    no training box (the detector cannot learn it; its AP will be 0 or undefined), an image
    whose pixels were converted (16 bits scaled to 8, transparent pixels).

Each problem names the file, the annotation (COCO id, or ``object N (name)`` in a VOC file)
and the value; a long list is cut after :data:`MAX_REPORTED` lines plus a count. A progress
bar appears when the check takes longer than :data:`PROGRESS_DELAY` seconds.

The cheap per-iteration counterpart, the shapes of one training batch, is
:func:`minirpn.ground_truth.check_batch`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from minirpn.data import DataError, Problem, clip_to_image, open_folder
from minirpn.image import decode_image

MAX_REPORTED = 20  # problems listed in one message; the rest are counted
PROGRESS_DELAY = 1.0  # seconds before the progress bar of a check shows up


class DataReport(NamedTuple):
    """The result of :func:`check_dataset`.

    errors, warnings: the :class:`minirpn.data.Problem` s found.
    max_image_size:   (height, width), the largest height and width over the readable
                      images (what a padded batch can reach; for the memory estimate).
    boxes_per_class:  class name -> number of training (not difficult) boxes.
    """

    errors: list[Problem]
    warnings: list[Problem]
    max_image_size: tuple[int, int]
    boxes_per_class: dict[str, int]


def check_dataset(dataset, *, training: bool = True, progress: bool = True) -> DataReport:
    """Check every annotation and image of a dataset read with ``strict=False`` (see module doc).

    dataset:  a :class:`minirpn.data.CocoDataset` or :class:`minirpn.data.VocDataset`.
    training: warn about classes without training boxes (pointless for a validation split,
              where a missing class only leaves its AP undefined).
    progress: show a tqdm bar if the check takes more than :data:`PROGRESS_DELAY` seconds.
    """
    errors = list(dataset.problems)
    warnings = list(dataset.warnings)  # e.g. a VOC folder's classes taken from its objects
    if len(dataset) == 0:
        errors.append(Problem(dataset.location, None, "has no images"))
    missing = {problem.file for problem in errors if problem.annotation is None}
    max_height = max_width = 0
    records = tqdm(
        dataset.records,
        desc=f"checking {dataset.location}",
        unit="image",
        disable=not progress or not sys.stderr.isatty(),  # no carriage returns in a log
        delay=PROGRESS_DELAY,
        leave=False,
    )
    for record in records:
        if str(record.path) in missing:
            continue
        try:  # decoded in full, as training will: a truncated JPEG passes any lighter test
            rgb, note = decode_image(record.path)
        except ValueError as error:
            errors.append(Problem(str(record.path), None, str(error)))
            continue
        if note is not None:
            warnings.append(Problem(str(record.path), None, note))
        height, width = rgb.shape[:2]
        max_height, max_width = max(max_height, height), max(max_width, width)
        if record.size is not None and record.size != (height, width):
            warnings.append(
                Problem(
                    record.source,
                    None,
                    f"declares {record.path.name} as {record.size[1]}x{record.size[0]} "
                    f"(width x height), the image is {width}x{height}; the image counts",
                )
            )
        _check_boxes(record, height, width, errors, warnings, dataset.file_box_text)

    counts = dict.fromkeys(dataset.class_names, 0)
    for record in dataset.records:
        for label in record.labels[~record.difficult]:
            counts[dataset.class_names[label - 1]] += 1
    if training:
        warnings += [
            Problem(dataset.location, None, f"class {name!r} has no training box")
            for name, count in counts.items()
            if count == 0
        ]
    return DataReport(errors, warnings, (max_height, max_width), counts)


def _check_boxes(record, height: int, width: int, errors: list, warnings: list, box_text) -> None:
    """Boxes of one image against its size: entirely outside is an error, partly a warning.

    ``box_text`` writes a box as its annotation file does (``dataset.file_box_text``)."""
    clipped = clip_to_image(record.boxes, height, width)  # (K, 4)
    outside = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])  # (K,)
    reaching = (clipped != record.boxes).any(axis=1) & ~outside  # (K,)
    for k in np.flatnonzero(outside | reaching):
        box = box_text(record.boxes[k])
        if outside[k]:
            message = f"{box} lies entirely outside the {width}x{height} image"
            errors.append(Problem(record.source, record.annotation_ids[k], message))
        else:
            message = (
                f"{box} reaches outside the {width}x{height} image; "
                f"clipped to {box_text(clipped[k])}"
            )
            warnings.append(Problem(record.source, record.annotation_ids[k], message))


def check_data_folder(
    data: str | os.PathLike, splits=("train", "val"), *, progress: bool = True
) -> dict[str, DataReport]:
    """Check the ``splits`` of a COCO or VOC data folder; return each split's report.

    Raises :class:`minirpn.data.DataError` listing every error of every split (the first
    :data:`MAX_REPORTED` and a count; the warnings in its ``warnings``), or if the splits'
    class names differ. Warnings are only returned: the caller decides how to show them
    (:func:`format_problems`).
    """
    reports, errors, warnings, class_names = {}, [], [], {}
    for split in splits:
        dataset = open_folder(Path(data), split, strict=False)
        report = check_dataset(dataset, training=split == "train", progress=progress)
        reports[split] = report
        errors += report.errors
        warnings += [w for w in report.warnings if w not in warnings]  # one per folder
        class_names[split] = tuple(dataset.class_names)
    if errors:
        raise DataError(f"data folder {str(data)!r} cannot be used", errors, MAX_REPORTED, warnings)
    if len(set(class_names.values())) > 1:
        shown = "; ".join(f"{split} has {list(names)}" for split, names in class_names.items())
        raise DataError(
            f"data folder {str(data)!r} cannot be used",
            [Problem(str(data), None, f"the splits' classes differ: {shown}")],
        )
    return reports


def format_problems(problems: list[Problem], limit: int = MAX_REPORTED) -> list[str]:
    """One line per problem, the first ``limit`` of them, then a count of the rest."""
    lines = [str(problem) for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return lines
