"""Run folders and the data they name: opening a split, loading a trained run.

A run folder (``minirpn train --out DIR``) holds ``checkpoint.npz``: the weights, the
config and what the run was trained on (the data folder or None for the toy data, the
class names and their COCO category ids). Wherever a trained run is asked for, the name of
weights minirpn ships (``"toy"``, :mod:`minirpn.shipped`) may stand for one:
:func:`load_run` decides which it is, for every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from minirpn.checkpoint import load_checkpoint
from minirpn.data import ToyShapes, open_folder
from minirpn.model import Detector
from minirpn.shipped import SHIPPED, load_shipped

CHECKPOINT_NAME = "checkpoint.npz"


def open_split(data: str | Path | None, split: str):
    """The "train" or "val" split: the toy data (``data`` None) or that of the folder ``data``.

    A data folder is laid out as ``minirpn make-toy-data --out DIR [--format voc]`` writes
    it: COCO (``DIR/train`` and ``DIR/val``) or Pascal VOC (:func:`minirpn.data.open_folder`).
    """
    return ToyShapes(split) if data is None else open_folder(data, split)


def category_ids(dataset) -> tuple[int, ...]:
    """The COCO category id of each label 1..C (the toy data's ids are the labels)."""
    return getattr(dataset, "category_ids", None) or tuple(range(1, len(dataset.class_names) + 1))


class Run(NamedTuple):
    """A trained run as :func:`load_run` reads it.

    detector: the detector, in eval mode.
    class_names: names of the labels 1..C.
    category_ids: COCO category id of each label 1..C (for results files).
    data: the COCO data folder it was trained on, or None for the toy data.
    """

    detector: Detector
    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    data: str | None


def load_run(run: str | Path) -> Run:
    """The trained detector and what it was trained on: from the run folder ``run``
    (``run/checkpoint.npz``), or the shipped weights when ``run`` is a str naming them
    (``"toy"``: the toy data's detector, :data:`minirpn.shipped.SHIPPED`).

    The name wins over a folder of the same name, so that ``toy`` means the same model in
    every directory (a data folder called ``toy`` is common): write ``./toy`` (or pass a
    ``Path``) for a run folder called toy.
    """
    if isinstance(run, str) and run in SHIPPED:
        shipped = load_shipped(run)
        return Run(shipped.detector, shipped.class_names, shipped.category_ids, None)
    path = Path(run) / CHECKPOINT_NAME
    checkpoint = load_checkpoint(path)
    state = checkpoint.run
    detector = Detector(checkpoint.config, num_classes=len(state.class_names))
    detector.load_params(checkpoint.params, source=f"checkpoint {str(path)!r}")
    return Run(detector.eval(), state.class_names, state.category_ids, state.data)


def read_input_image(path: str | Path, detector):
    """An image file a user gives to a trained detector (``minirpn detect``, ``minirpn show
    --image``), read one way for both: decoded to RGB (:func:`minirpn.image.decode_image`;
    transparent pixels over white), at its own size, checked to be large enough for the
    network and small enough for the memory free.

    Returns the :class:`minirpn.image.DecodedImage` (``rgb``, ``note``); ValueError naming
    the file otherwise.
    """
    from minirpn.image import decode_image
    from minirpn.memory import check_inference_memory

    decoded = decode_image(path)
    height, width = decoded.rgb.shape[:2]
    side = detector.min_image_size
    if min(height, width) < side:
        raise ValueError(
            f"image {str(path)!r} is {width}x{height} pixels; the network needs at least "
            f"{side}x{side}"
        )
    check_inference_memory(detector, height, width, f"image {str(path)!r}")
    return decoded
