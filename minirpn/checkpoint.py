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
    path if it is not a readable minirpn checkpoint: corrupt, truncated, another kind of
    file (a ``.npy`` array, a foreign ``.npz``), one that would need pickle to load, or one
    whose content is not what :func:`save_checkpoint` writes (a config that fails
    :class:`~minirpn.config.Config`'s checks, a format version or iteration that is not an
    int, ``extra`` or the generator state not a JSON object, parameter or momentum arrays
    that are not real floating point).
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{str(path)!r} is not a readable minirpn checkpoint ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy file holds one bare array
        raise ValueError(
            f"{str(path)!r} is not a minirpn checkpoint: it holds a single "
            f"{type(archive).__name__} (a .npy file?), not an .npz archive"
        )
    try:
        with archive:
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
    version = _int_entry(entries, "format_version", where)
    if version != FORMAT_VERSION and version not in _RENAMED_PREFIXES:
        raise ValueError(
            f"{where} has format version {version}, this minirpn reads version {FORMAT_VERSION}"
        )
    iteration = _int_entry(entries, "iteration", where)
    if iteration < 0:
        raise ValueError(f"{where} has a negative iteration {iteration}")
    config = Config.from_json(_text_entry(entries, "config", where), source=path)
    rng_state = _json_object_entry(entries, "rng_state", where)
    extra = _json_object_entry(entries, "extra", where)

    old, new = _RENAMED_PREFIXES.get(version, ("", ""))
    groups = {_PARAM: {}, _MOMENTUM: {}}
    for key, value in entries.items():
        for prefix, group in groups.items():
            if key.startswith(prefix):
                if value.dtype.kind != "f":  # int, bool, complex, str: not a weight
                    raise ValueError(
                        f"{where}: {key} has dtype {value.dtype}, parameters and momentum "
                        f"must be floating point"
                    )
                name = key[len(prefix) :]
                if old and name.startswith(old):
                    name = new + name[len(old) :]
                group[name] = value
    return Checkpoint(
        config=config,
        params=groups[_PARAM],
        momentum=groups[_MOMENTUM],
        iteration=iteration,
        rng_state=rng_state,
        extra=extra,
    )


def _int_entry(entries: dict, key: str, where: str) -> int:
    """The 0-d integer array ``entries[key]`` as an int, or ValueError naming the value."""
    value = entries[key]
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"{where}: {key} must be an integer, got {value.tolist()!r}")
    return int(value)


def _text_entry(entries: dict, key: str, where: str) -> str:
    value = entries[key]
    if value.shape != () or value.dtype.kind != "U":
        raise ValueError(f"{where}: {key} must be a JSON string, got dtype {value.dtype}")
    return str(value)


def _json_object_entry(entries: dict, key: str, where: str) -> dict:
    """``entries[key]`` decoded from JSON; it must be an object (a dict)."""
    text = _text_entry(entries, key, where)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: {key} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{where}: {key} must be a JSON object, got {type(value).__name__} {value!r:.60}"
        )
    return value
