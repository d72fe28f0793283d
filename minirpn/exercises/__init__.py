"""Exercise checks for the lessons: ``check(name, answer)`` says how far the learner got.

A lesson's exercise is two cells. The learner's cell binds a placeholder, ``answer = ...``;
the check cell calls ``check("01.conv5_size", answer)``, which prints one of

* ``not done yet`` while the answer is still ``...`` or ``None``;
* ``correct`` (plus a line on what the answer shows) for a right answer;
* ``not yet: <what is wrong>`` for a wrong one, naming the likely mistake where one is known.

Every exercise is an :class:`Exercise`: a verifier that returns ``None`` for a right answer
or a message for a wrong one, a reference solution, and a plausible wrong answer (the
mistake the message is written for). The tests prove, for every exercise, that the
verifier accepts the solution and rejects the wrong answer. Exercises live in one module
per lesson, ``minirpn/exercises/lessonNN.py``, each with a module-level list ``EXERCISES``;
they are found by module name, so adding a lesson's exercises touches no other file.
Names are ``"NN.short_name"``, NN the lesson number.
"""

from __future__ import annotations

import importlib
import numbers
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Exercise", "Verdict", "all_exercises", "check", "evaluate", "solution"]

NOT_DONE = "not done yet"
CORRECT = "correct"
WRONG = "wrong"


@dataclass(frozen=True)
class Exercise:
    """One exercise of a lesson.

    Attributes:
        name: ``"NN.short_name"``, NN the lesson number; what ``check`` is called with.
        verify: ``verify(answer) -> None | str``: None when ``answer`` is right, otherwise a
            message saying what is wrong (written for a learner, not a test report).
        solution: ``solution() -> answer``, the reference answer (a value or a function,
            whatever the learner's cell asks for), computed with the package where it can be.
        wrong: ``wrong() -> answer``, a plausible mistake; the tests check it is rejected.
        explanation: printed after "correct": what the right answer shows.
    """

    name: str
    verify: Callable[[Any], str | None]
    solution: Callable[[], Any]
    wrong: Callable[[], Any]
    explanation: str = ""


@dataclass(frozen=True)
class Verdict:
    """``status``: ``NOT_DONE``, ``CORRECT`` or ``WRONG``; ``message``: what ``check`` prints."""

    status: str
    message: str


def all_exercises() -> dict[str, Exercise]:
    """Every exercise of every ``lessonNN`` module of this package, by name."""
    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("lesson"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for exercise in module.EXERCISES:
            if exercise.name in found:
                raise RuntimeError(f"exercise {exercise.name!r} is defined twice")
            found[exercise.name] = exercise
    return found


def _get(name: str) -> Exercise:
    exercises = all_exercises()
    if name not in exercises:
        raise ValueError(f"no exercise named {name!r}; known: {', '.join(sorted(exercises))}")
    return exercises[name]


def evaluate(name: str, answer) -> Verdict:
    """Judge ``answer`` to exercise ``name`` without printing (what the tests call)."""
    exercise = _get(name)
    if answer is None or answer is Ellipsis:
        return Verdict(NOT_DONE, NOT_DONE)
    try:
        problem = exercise.verify(answer)
    except Exception as error:  # a learner's function that crashes is a wrong answer
        problem = f"your answer raised {type(error).__name__}: {error}"
    if problem is None:
        text = CORRECT + (f": {exercise.explanation}" if exercise.explanation else "")
        return Verdict(CORRECT, text)
    return Verdict(WRONG, f"not yet: {problem}")


def check(name: str, answer) -> None:
    """Print whether ``answer`` solves exercise ``name``: not done yet / correct / what is wrong."""
    print(evaluate(name, answer).message)


def solution(name: str):
    """The reference answer of exercise ``name`` (try first: reading it teaches less)."""
    return _get(name).solution()


def numbers_in(answer, count: int, names: str) -> tuple[np.ndarray | None, str | None]:
    """``(values (count,) float64, None)`` when ``answer`` is ``count`` numbers, else
    ``(None, message)`` for the learner; ``names`` says what they are, e.g. "(x1, y1, x2, y2)"."""
    try:
        values = np.asarray(answer, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None, f"expected {count} numbers {names}"
    if values.shape != (count,):
        return None, f"expected {count} numbers {names}, got {values.size}"
    return values, None


def number_close_to(expected: float, *, rtol: float = 1e-6, mistakes=()) -> Callable:
    """A verifier for a numeric answer within ``rtol`` of ``expected``.

    ``mistakes`` is a sequence of ``(wrong_value, message)``: an answer close to a known
    wrong value gets that message; any other wrong answer is told whether it is too large
    or too small (never the answer itself).
    """

    def verify(answer):
        if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
            return f"expected a number, got {type(answer).__name__}"
        value = float(answer)
        if abs(value - expected) <= rtol * abs(expected):
            return None
        for wrong, message in mistakes:
            if abs(value - wrong) <= rtol * abs(wrong) + 1e-12:
                return message
        return f"{value:g} is too {'large' if value > expected else 'small'}"

    return verify
