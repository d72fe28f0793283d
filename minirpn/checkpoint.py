"""Checkpoints: everything a training run needs to continue, in one ``.npz`` file.

A checkpoint holds

* the :class:`~minirpn.config.Config` as a JSON string,
* every parameter by name (``"param/backbone.0.weight"``, ...),
* the optimiser's momentum buffers by the same names (``"momentum/..."``),
* the iteration count and the state of the run's random generator (as JSON), and
* the run state (:class:`minirpn.run_state.RunState`: seed, scheme, data, classes, the loss
  history by name, ...) as JSON.

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
from minirpn.run_state import RunState, check_rng_state

FORMAT_VERSION = 3
# Version 1 (before the stages became objects of their own) named the second stage's
# parameters "head.*"; they are "roi_head.*" now. Such checkpoints are converted on load.
_RENAMED_PREFIXES = {1: ("head.", "roi_head.")}
# Versions 1 and 2 kept the run state as a free-form "extra" object, with the four losses of
# a two-stage step in this order and no phase; they are converted on load.
_OLD_VERSIONS = (1, 2)
_OLD_LOSS_NAMES = ("rpn_cls", "rpn_reg", "cls", "reg")
_PARAM = "param/"
_MOMENTUM = "momentum/"


class Checkpoint(NamedTuple):
    """The content of a checkpoint file.

    config: the run's configuration.
    params: name → parameter array (float32 for a training run).
    momentum: name → SGD momentum buffer (same names and shapes as ``params``; may be empty).
    iteration: number of finished training iterations.
    rng_state: ``np.random.Generator.bit_generator.state`` of the run's generator (a dict).
    run: the :class:`~minirpn.run_state.RunState` (seed, scheme, classes, loss history, ...).
    """

    config: Config
    params: dict[str, np.ndarray]
    momentum: dict[str, np.ndarray]
    iteration: int
    rng_state: dict
    run: RunState


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
        "run_state": _json_array(checkpoint.run.to_dict()),
    }
    for prefix, group in ((_PARAM, checkpoint.params), (_MOMENTUM, checkpoint.momentum)):
        for name, value in group.items():
            arrays[prefix + name] = value

    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (this format version or an older one).

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError`` naming the
    path if it is not a readable minirpn checkpoint: corrupt, truncated, another kind of
    file (a ``.npy`` array, a foreign ``.npz``), one that would need pickle to load, or one
    whose content is not what :func:`save_checkpoint` writes (a config that fails
    :class:`~minirpn.config.Config`'s checks, a format version or iteration that is not an
    int, a run state or generator state that is not what :func:`save_checkpoint` writes
    (each field is named), parameters that are not finite floating point, momentum that
    does not match them).
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
        k for k in ("format_version", "config", "iteration", "rng_state") if k not in entries
    ]
    if missing:
        raise ValueError(f"{str(path)!r} is not a minirpn checkpoint (missing entries {missing})")
    version = _int_entry(entries, "format_version", where)
    if version != FORMAT_VERSION and version not in _OLD_VERSIONS:
        raise ValueError(
            f"{where} has format version {version}, this minirpn reads version {FORMAT_VERSION}"
        )
    iteration = _int_entry(entries, "iteration", where)
    if iteration < 0:
        raise ValueError(f"{where} has a negative iteration {iteration}")
    config = Config.from_json(_text_entry(entries, "config", where), source=path)
    rng_state = check_rng_state(_json_object_entry(entries, "rng_state", where), where)
    run = _run_state(entries, version, where)

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
    _check_weights(groups[_PARAM], groups[_MOMENTUM], where)
    return Checkpoint(
        config=config,
        params=groups[_PARAM],
        momentum=groups[_MOMENTUM],
        iteration=iteration,
        rng_state=rng_state,
        run=run,
    )


def _run_state(entries: dict, version: int, where: str) -> RunState:
    """The run state of this format version (older ones converted), every field checked."""
    if version not in _OLD_VERSIONS:
        if "run_state" not in entries:
            raise ValueError(f"{where} is not a minirpn checkpoint (missing entries ['run_state'])")
        return RunState.from_dict(_json_object_entry(entries, "run_state", where), where)
    if "extra" not in entries:
        raise ValueError(f"{where} is not a minirpn checkpoint (missing entries ['extra'])")
    extra = _json_object_entry(entries, "extra", where)
    names = extra.get("class_names")
    ids = extra.get("category_ids")
    if ids is None and isinstance(names, list):
        ids = list(range(1, len(names) + 1))  # the toy data's: the labels themselves
    raw = {
        "seed": extra.get("seed"),
        "scheme": extra.get("scheme", "approximate-joint"),
        "data": extra.get("data"),
        "class_names": names,
        "category_ids": ids,
        "loss_names": list(_OLD_LOSS_NAMES),
        "loss_history": extra.get("loss_history", []),
        "train_seconds": extra.get("train_seconds", 0.0),
        "phase": 0,
    }
    return RunState.from_dict(raw, where)


def _check_weights(params: dict, momentum: dict, where: str) -> None:
    """Finite parameters; momentum (of the parameters that train, or of none: a new solver)
    only for parameters that exist, finite and of their shape."""
    for name, value in params.items():
        if not np.isfinite(value).all():
            raise ValueError(f"{where}: parameter {name} has non-finite values (NaN or inf)")
    unknown = sorted(momentum.keys() - params.keys())
    if unknown:
        raise ValueError(f"{where}: momentum for parameters that do not exist: {unknown[:3]}")
    for name, value in momentum.items():
        if value.shape != params[name].shape or not np.isfinite(value).all():
            raise ValueError(
                f"{where}: momentum/{name} must be finite with the parameter's shape "
                f"{params[name].shape}, got shape {value.shape}"
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
