"""Data folders in either layout: :func:`data_format` tells COCO and Pascal VOC apart,
:func:`open_folder` opens a split of either.
"""

from __future__ import annotations

import os
from pathlib import Path

from minirpn.data.coco import COCO_JSON_NAME, CocoDataset
from minirpn.data.voc import VOC_ANNOTATION_DIR, VOC_IMAGE_DIR, VOC_SPLIT_DIR, VocDataset

DATA_FORMATS = ("coco", "voc")


def data_format(data: str | os.PathLike) -> str:
    """ "voc" or "coco": which layout the data folder ``data`` has (ValueError if neither).

    VOC: ``data/Annotations`` and ``data/ImageSets/Main``. COCO: ``data/train`` and
    ``data/val``, each a folder with ``annotations.json`` (as ``make-toy-data`` writes).
    """
    data = Path(data)
    if not data.exists():
        raise ValueError(f"data folder {str(data)!r} does not exist")
    if not data.is_dir():
        raise ValueError(f"data folder {str(data)!r} is a file, not a folder")
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
    return CocoDataset(Path(data) / split / COCO_JSON_NAME, strict=strict)
