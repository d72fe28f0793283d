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

import contextlib
import json
import math
import os
import zipfile
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from minirpn.config import Config
from minirpn.fileio import atomic_write, regular_file
from minirpn.model import Detector
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
    path if it is not a readable minirpn checkpoint: not a regular file (a directory),
    corrupt, truncated, another kind of file (a ``.npy`` array, a foreign ``.npz``), one
    that would need pickle to load, one whose entries claim more data than they may hold
    (:func:`_read_entry`), or one whose content is not what :func:`save_checkpoint` writes
    (a config that fails :class:`~minirpn.config.Config`'s checks, a format version or
    iteration that is not an int, a run state or generator state that is not what
    :func:`save_checkpoint` writes (each field is named), parameter or momentum arrays that
    are not finite floating point or whose shapes are not those of the config's model).
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    with _open_archive(path, where) as archive:
        entries = {
            key: _read_entry(archive, key, where, _text_limit)
            for key in (*_SMALL, *_RUN_STATE)
            if key in archive
        }
        missing = [k for k in _SMALL if k not in entries]
        if missing:
            raise ValueError(
                f"{str(path)!r} is not a minirpn checkpoint (missing entries {missing})"
            )
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
        shapes = parameter_shapes(config, len(run.class_names), where)
        groups = {_PARAM: {}, _MOMENTUM: {}}
        for key in archive:
            for prefix, group in groups.items():
                if key.startswith(prefix):
                    name = key[len(prefix) :]
                    if old and name.startswith(old):
                        name = new + name[len(old) :]
                    check = partial(_parameter_header, key=key, expected=shapes.get(name))
                    group[name] = _read_entry(archive, key, where, check)
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
    key = "extra" if version in _OLD_VERSIONS else "run_state"
    if key not in entries:
        raise ValueError(f"{where} is not a minirpn checkpoint (missing entries [{key!r}])")
    if key == "run_state":
        return RunState.from_dict(_json_object_entry(entries, key, where), where)
    extra = _json_object_entry(entries, key, where)
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
    """Finite parameters, finite momentum (of the parameters that train, or of none: a new
    solver); the shapes were checked against the config's model as they were read."""
    for group, arrays in (("parameter", params), ("momentum", momentum)):
        for name, value in arrays.items():
            if not np.isfinite(value).all():
                raise ValueError(f"{where}: {group} {name} has non-finite values (NaN or inf)")


# --- reading the archive: only known entries, each header checked before its data -----

# The entries read before the parameters; any other entry is never decompressed.
_SMALL = ("format_version", "config", "iteration", "rng_state")
_RUN_STATE = ("run_state", "extra")  # the run state of format 3; of formats 1 and 2
# The JSON text of config, rng_state or the run state (and the two integers): 256 MB, room for the
# loss history of millions of iterations, not for a zip bomb.
MAX_TEXT_BYTES = 2**28
# The class count a checkpoint may name: LVIS has 1203 classes. With the largest fc layer
# (minirpn.config.MAX_FC_CHANNELS) the head's box layer then holds 33 M weights.
MAX_CLASSES = 2000


@contextlib.contextmanager
def _open_archive(path: Path, where: str):
    """Yield ``{entry name: zipfile.ZipInfo}`` of the archive at ``path``, open for reading.

    FileNotFoundError if nothing is there; ValueError naming ``path`` for a directory, a
    FIFO, random bytes, a ``.npy`` file or a damaged archive.
    """
    regular_file(path, "checkpoint")
    with open(path, "rb") as f:
        if f.read(6) == b"\x93NUMPY":  # a .npy file holds one bare array
            raise ValueError(
                f"{str(path)!r} is not a minirpn checkpoint: it holds a single array "
                "(a .npy file?), not an .npz archive"
            )
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            yield _Archive(archive, members)
    except (OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
        raise ValueError(f"{str(path)!r} is not a readable minirpn checkpoint ({error})") from None


class _Archive(dict):
    """The members of an open ``.npz`` by entry name (``"param/x"`` for ``"param/x.npy"``)."""

    def __init__(self, archive: zipfile.ZipFile, members: dict):
        super().__init__(members)
        self.zip = archive


def _read_entry(archive: _Archive, key: str, where: str, check) -> np.ndarray:
    """The array of entry ``key``, read only after ``check(where, dtype, shape)`` accepted
    its ``.npy`` header: the data is never decompressed beyond what the header announces,
    so neither a header claiming 2**40 floats nor a zip bomb allocates anything.

    ValueError naming ``where`` and ``key`` for a header that fails the check, an object
    array (reading it would unpickle), an entry shorter or longer than its header says.
    """
    try:
        with archive.zip.open(archive[key]) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version} is not supported")
            reader = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
            shape, fortran_order, dtype = reader(f)
            if dtype.hasobject:  # an object array is a pickle: reading it could run code
                raise ValueError(f"holds Python objects (dtype {dtype}), which need pickle")
            check(where, dtype, shape)
            data = _read_exactly(f, math.prod(shape) * dtype.itemsize)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        message = str(error)
        if message.startswith(where):
            raise
        raise ValueError(f"{where}: entry {key}: {message}") from None
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_exactly(f, size: int) -> np.ndarray:
    """``size`` bytes of ``f`` into a new uint8 array; the entry must end right there."""
    data = np.empty(size, dtype=np.uint8)
    view, done = memoryview(data), 0
    while done < size:
        count = f.readinto(view[done:])
        if not count:
            raise ValueError(f"ends after {done} of the {size} bytes its header announces")
        done += count
    if f.read(1):  # reading to the end also checks the entry's CRC
        raise ValueError(f"holds more than the {size} bytes its header announces")
    return data


def _text_limit(where: str, dtype: np.dtype, shape: tuple) -> None:
    """The small entries (JSON text, integers) hold at most :data:`MAX_TEXT_BYTES`."""
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"announces {size} bytes, more than the {MAX_TEXT_BYTES} allowed")


def _parameter_header(where: str, dtype: np.dtype, shape: tuple, *, key: str, expected) -> None:
    """A parameter or momentum entry: floating point, of its parameter's shape."""
    if dtype.kind != "f":  # int, bool, complex, str: not a weight
        raise ValueError(
            f"{where}: {key} has dtype {dtype}, parameters and momentum must be floating point"
        )
    if expected is None:
        raise ValueError(f"{where}: {key} is not a parameter of the model its config describes")
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"{where}: {key} has shape {tuple(shape)}, the model its config describes "
            f"needs {tuple(expected)}"
        )


def parameter_shapes(config: Config, num_classes: int, where: str) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter of the detector ``config`` describes for
    ``num_classes`` classes; ValueError naming ``where`` otherwise."""
    if not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(
            f"{where}: the run state must name 1 to {MAX_CLASSES} classes, got {num_classes}"
        )
    try:
        detector = Detector(config, num_classes=num_classes)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return {name: param.shape for name, param in detector.params.items()}


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
