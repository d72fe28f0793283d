"""Trained weights that ship with minirpn: a detector that works at once, the same everywhere.

``minirpn.pretrained("toy")`` is the tiny detector trained by the main job
(``minirpn train``: ``Config.tiny()``, seed 0, approximate joint training, RoI pooling),
made by ``python benchmarks/toy_weights.py``. The lessons, the pictures, the tests that
need a trained model and the command line (``--run toy``, ``--checkpoint toy``) use it.

Why ship weights when training takes minutes? A float32 training run depends on the last
bit of every matrix product, and NumPy's OpenBLAS picks its kernel by CPU
(:mod:`minirpn.blas`): two machines train two different detectors from the same seed.
Inference is far less sensitive, so one shipped model gives the same detections on every
machine, and what a lesson says about it stays true.

A weights file is an ``.npz`` archive read without pickle: ``param/NAME`` float16 arrays
(half the size of float32; the detector is rebuilt in float32), and JSON strings
``config``, ``class_names``, ``category_ids`` and ``made`` (how it was made: the command,
seed, iterations, BLAS kernel, ...).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from minirpn.config import Config
from minirpn.fileio import atomic_write
from minirpn.model import Detector

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = {"toy": WEIGHTS_DIR / "toy.npz"}  # name -> file
_PARAM = "param/"
_NOTES = ("class_names", "category_ids", "made")  # JSON entries besides the config


class Weights(NamedTuple):
    """A weights file as :func:`read_weights` reads it.

    detector: float32, in eval mode.
    class_names: names of the labels 1..C.
    category_ids: COCO category id of each label 1..C.
    made: how the weights were made (JSON object: command, seed, iterations, ...).
    """

    detector: Detector
    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    made: dict


def load_shipped(name: str) -> Weights:
    """The shipped weights called ``name`` (a key of :data:`SHIPPED`); ValueError listing
    the known names for any other."""
    if not isinstance(name, str) or name not in SHIPPED:
        raise ValueError(f"no shipped weights called {name!r}; known: {', '.join(SHIPPED)}")
    return read_weights(SHIPPED[name])


def save_weights(
    path: str | os.PathLike,
    detector: Detector,
    class_names,
    category_ids,
    made: dict,
) -> None:
    """Write ``detector``'s parameters as float16 with its config, names and ``made`` note
    (atomically, :func:`minirpn.fileio.atomic_write`). ValueError if a parameter does not
    fit in float16 (NaN, infinite or beyond +-65504)."""
    arrays = {
        "config": detector.cfg.to_json(),
        "class_names": json.dumps(list(class_names)),
        "category_ids": json.dumps([int(i) for i in category_ids]),
        "made": json.dumps(made, sort_keys=True),
    }
    arrays = {key: np.array(text) for key, text in arrays.items()}
    for name, param in detector.params.items():
        if not (np.abs(param) <= np.finfo(np.float16).max).all():  # NaN fails as well
            raise ValueError(f"{name} has values that float16 cannot hold (NaN, inf or > 65504)")
        arrays[_PARAM + name] = param.astype(np.float16)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def read_weights(path: str | os.PathLike) -> Weights:
    """The detector (float32, eval mode) and notes of the weights file ``path``.

    Raises ValueError naming ``path`` if it is not a weights file :func:`save_weights` wrote.
    """
    path = Path(path)
    where = f"weights file {str(path)!r}"
    try:
        with np.load(path, allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
        notes = {key: json.loads(str(entries[key])) for key in _NOTES}
        config = Config.from_json(str(entries["config"]), source=path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{where} cannot be read ({error})") from None
    params = {k[len(_PARAM) :]: v for k, v in entries.items() if k.startswith(_PARAM)}
    detector = Detector(config, num_classes=len(notes["class_names"]))
    detector.load_params(params, source=where)
    return Weights(
        detector.eval(),
        tuple(notes["class_names"]),
        tuple(notes["category_ids"]),
        notes["made"],
    )
