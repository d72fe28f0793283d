"""A phase of training: one run of the training loop with its own solver and schedule.

Joint training is one phase. Alternating training (F20 (1)) is four, as the original code
runs four solvers one after the other (:mod:`minirpn.schemes.alternating`). The loop
(:mod:`minirpn.train`) runs one phase at a time and knows nothing else about the scheme:
what a phase does at its start, which stages it trains and with which step, is data here.
"""

from __future__ import annotations

from typing import NamedTuple

# The detector's three trainable stages, as its parameter names begin.
STAGES = ("backbone", "rpn", "roi_head")


class Phase(NamedTuple):
    """One phase of a training scheme.

    name: a short name for messages and files ("joint", "1-rpn", ...).
    iterations: how many iterations it runs.
    schedule: the config whose learning-rate fields (``learning_rate``, ``warmup_*``,
        ``lr_steps``, ``lr_gamma``) give its rate, counted from the phase's first iteration.
    trains: the stages it trains; the others are frozen (run forward, no gradient).
    step: the step class (:class:`~minirpn.schemes.ApproximateJoint` or a subclass), built as
        ``step(detector, frozen=..., proposals=...)`` at the phase's start.
    fresh: stages re-initialised at the phase's start, from the weights a
        :class:`~minirpn.model.Detector` seeded with ``seed + seed_offset`` gets.
    seed_offset: see ``fresh``.
    given_proposals: if True, the proposals its RoIs are sampled from are made once, at its
        start, by the network as the previous phase left it (for exactly the images the
        phase trains on), and kept in the run folder so that a resumed run reuses them.
    """

    name: str
    iterations: int
    schedule: object
    trains: tuple[str, ...]
    step: type
    fresh: tuple[str, ...] = ()
    seed_offset: int = 0
    given_proposals: bool = False
