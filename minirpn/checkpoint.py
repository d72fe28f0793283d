"""Checkpoints: everything a training run needs to continue, in one ``.npz`` file.

A checkpoint holds

* the :class:`~minirpn.config.Config` as a JSON string,
* every parameter by name (``"param/backbone.0.weight"``, ...),
* the optimiser's momentum buffers by the same names (``"momentum/..."``),
* the iteration count and the state of the run's random generator (as JSON), and
* a small JSON dictionary of extra run state (e.g. the loss history for the curve).

Two safety rules:

* **No pickle.** Every entry is a plain numeric or string array, and the file is read
  with ``np.load(..., allow_pickle=False)``: opening a checkpoint can never execute code.
  A file carrying an object array is refused with a ``ValueError``.
* **Atomic writes.** The archive is written to a temporary file in the same folder and
  then renamed over the old one (``os.replace`` is atomic on one file system), so a save
  interrupted by Ctrl-C, a full disk or a crash leaves the last good checkpoint intact.
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

FORMAT_VERSION = 2
# Version 1 (before the stages became objects of their own) named the second stage's
# parameters "head.*"; they are "roi_head.*" now. Such checkpoints are converted on load.
_RENAMED_PREFIXES = {1: ("head.", "roi_head.")}
_PARAM = "param/"
_MOMENTUM = "momentum/"


class Checkpoint(NamedTuple):
    """The content of a checkpoint file.

    config: the run's configuration.
    params: name → parameter array (float32 for a training run).
    momentum: name → SGD momentum buffer (same names and shapes as ``params``; may be empty).
    iteration: number of finished training iterations.
    rng_state: ``np.random.Generator.bit_generator.state`` of the run's generator (a dict).
    extra: any JSON-serialisable run state (seed, loss history, ...).
    """

    config: Config
    params: dict[str, np.ndarray]
    momentum: dict[str, np.ndarray]
    iteration: int
    rng_state: dict
    extra: dict


def _json_array(value) -> np.ndarray:
    """A 0-d unicode array holding ``value`` as JSON (loads without pickle)."""
    return np.array(json.dumps(value, sort_keys=True))


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file in the same folder, then rename).

    If anything fails while writing (a Ctrl-C included), the temporary file is removed and
    a checkpoint that already existed at ``path`` is left untouched
    (:func:`minirpn.fileio.atomic_write`).
    """
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "config": np.array(checkpoint.config.to_json()),
        "iteration": np.array(checkpoint.iteration, dtype=np.int64),
        "rng_state": _json_array(checkpoint.rng_state),
        "extra": _json_array(checkpoint.extra),
    }
    for prefix, group in ((_PARAM, checkpoint.params), (_MOMENTUM, checkpoint.momentum)):
        for name, value in group.items():
            arrays[prefix + name] = value

    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (this version or version 1).

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError`` naming the
    path if it is not a readable minirpn checkpoint (corrupt, truncated, another kind of
    file, or one that would need pickle to load).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{str(path)!r} is not a readable minirpn checkpoint ({error})") from None

    missing = [
        k
        for k in ("format_version", "config", "iteration", "rng_state", "extra")
        if k not in entries
    ]
    if missing:
        raise ValueError(f"{str(path)!r} is not a minirpn checkpoint (missing entries {missing})")
    version = int(entries["format_version"])
    if version != FORMAT_VERSION and version not in _RENAMED_PREFIXES:
        raise ValueError(
            f"checkpoint {str(path)!r} has format version {version}, "
            f"this minirpn reads version {FORMAT_VERSION}"
        )
    try:
        config = Config.from_json(str(entries["config"]))
        rng_state = json.loads(str(entries["rng_state"]))
        extra = json.loads(str(entries["extra"]))
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"checkpoint {str(path)!r} has an unreadable config or state ({error})"
        ) from None

    old, new = _RENAMED_PREFIXES.get(version, ("", ""))

    def name_of(key: str, prefix: str) -> str:
        name = key[len(prefix) :]
        return new + name[len(old) :] if old and name.startswith(old) else name

    params = {name_of(k, _PARAM): v for k, v in entries.items() if k.startswith(_PARAM)}
    momentum = {name_of(k, _MOMENTUM): v for k, v in entries.items() if k.startswith(_MOMENTUM)}
    return Checkpoint(
        config=config,
        params=params,
        momentum=momentum,
        iteration=int(entries["iteration"]),
        rng_state=rng_state,
        extra=extra,
    )
