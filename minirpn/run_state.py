"""What a training run is besides its weights: the typed run state a checkpoint carries.

A checkpoint (:mod:`minirpn.checkpoint`) stores the weights, the momentum, the iteration and
the random generator's state as arrays, and one :class:`RunState` as JSON. It is written and
read here only, and every field is checked on the way in, so a hand-edited or hostile
checkpoint is refused with a message naming the file and the field, never a traceback deep
in training.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunState:
    """The run's identity and progress.

    seed: seeds the weights, the sampling generator and the data order.
    scheme: the training scheme's name (:data:`minirpn.schemes.SCHEMES`).
    data: the data folder trained on, or None for the built-in toy data.
    class_names: names of the labels 1..C.
    category_ids: the COCO category id of each label 1..C.
    loss_names: the losses of each iteration, in the order of ``loss_history``'s columns.
    loss_history: one row of losses per finished iteration.
    train_seconds: wall time spent in training iterations, over every session of the run.
    phase: index of the phase (:class:`minirpn.schemes.Phase`) the next iteration belongs to;
        equal to the number of phases once the run is complete.
    """

    seed: int
    scheme: str
    data: str | None
    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    loss_names: tuple[str, ...] = ()
    loss_history: tuple[tuple[float, ...], ...] = ()
    train_seconds: float = 0.0
    phase: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw, where: str) -> RunState:
        """The run state of a JSON object, each field checked; ValueError naming ``where``."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: the run state must be a JSON object, got {raw!r:.60}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = sorted(set(raw) - known), sorted(known - set(raw))
        if unknown or missing:
            raise ValueError(f"{where}: run state has unknown fields {unknown}, missing {missing}")
        names = _strings(raw["class_names"], "class_names", where)
        if not names:
            raise ValueError(f"{where}: run state field class_names is empty")
        ids = _ints(raw["category_ids"], "category_ids", where)
        if len(ids) != len(names) or len(set(ids)) != len(ids):
            raise ValueError(
                f"{where}: run state field category_ids must be {len(names)} distinct ints "
                f"(one per class), got {list(ids)!r:.80}"
            )
        loss_names = _strings(raw["loss_names"], "loss_names", where)
        return cls(
            seed=_int(raw["seed"], "seed", where),
            scheme=_string(raw["scheme"], "scheme", where),
            data=None if raw["data"] is None else _string(raw["data"], "data", where),
            class_names=names,
            category_ids=ids,
            loss_names=loss_names,
            loss_history=_rows(raw["loss_history"], len(loss_names), where),
            train_seconds=_seconds(raw["train_seconds"], where),
            phase=_int(raw["phase"], "phase", where),
        )


def _field(name: str, where: str, expected: str, value) -> ValueError:
    return ValueError(f"{where}: run state field {name} must be {expected}, got {value!r:.80}")


def _int(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _field(name, where, "a non-negative int", value)
    return value


def _string(value, name: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _field(name, where, "a non-empty string", value)
    return value


def _strings(value, name: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise _field(name, where, "a list of non-empty strings", value)
    return tuple(value)


def _ints(value, name: str, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise _field(name, where, "a list of ints", value)
    return tuple(value)


def _seconds(value, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value >= 0)
    ):
        raise _field("train_seconds", where, "a finite number >= 0", value)
    return float(value)


def _rows(value, width: int, where: str) -> tuple[tuple[float, ...], ...]:
    """Rows of ``width`` numbers each (NaN and inf are fine: a diverged run's last row)."""
    expected = f"a list of rows of {width} numbers (one per loss name)"
    if not isinstance(value, (list, tuple)):
        raise _field("loss_history", where, expected, value)
    for i, row in enumerate(value):
        if (
            not isinstance(row, (list, tuple))
            or len(row) != width
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)
        ):
            raise _field(f"loss_history[{i}]", where, f"a row of {width} numbers", row)
    return tuple(tuple(float(v) for v in row) for row in value)


def check_rng_state(state, where: str) -> dict:
    """``state`` if a NumPy generator accepts it as its bit generator's state, else ValueError."""
    try:
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(f"{where}: rng_state is not a generator state ({error})") from None
    return state
