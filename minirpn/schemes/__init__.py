"""Training schemes (F20): how the shared network and its two heads are trained.

A scheme is a plan of :class:`~minirpn.schemes.phase.Phase` s (``Scheme.phases(cfg)``), each
run by the training loop (:mod:`minirpn.train`) with a *step*: the object that samples the
targets (anchor labels, proposals, RoIs), adds the losses and sends the gradients back
through the stages of a :class:`minirpn.model.Detector`. The loop only asks a step for
``forward(batch, rng) -> (losses, tape)``, ``backward(tape)`` and ``parameters()``.

The steps differ only in where the proposals come from and what flows back
(:class:`ApproximateJoint`, whose pieces live in :mod:`minirpn.schemes.steps`).

Schemes, by the name ``minirpn train --scheme`` takes:

* ``approximate-joint`` (:class:`ApproximateJoint`, the default): one network trained end
  to end, the proposals treated as constants; one phase.
* ``non-approximate-joint`` (:class:`NonApproximateJoint`): the same, with the head's
  gradient also flowing through the RoI coordinates into the RPN's deltas; one phase.
* ``alternating`` (:class:`Alternating`): the original code's 4 steps — RPN, detector on
  its proposals, RPN layers on the detector's fixed backbone, head on the new proposals —
  four phases.
"""

from __future__ import annotations

from minirpn.schemes.alternating import Alternating
from minirpn.schemes.approximate_joint import LOSS_NAMES, ApproximateJoint, Tape
from minirpn.schemes.non_approximate_joint import NonApproximateJoint
from minirpn.schemes.phase import STAGES, Phase
from minirpn.schemes.steps import Samples

SCHEMES = {scheme.name: scheme for scheme in (ApproximateJoint, NonApproximateJoint, Alternating)}
DEFAULT_SCHEME = ApproximateJoint.name

__all__ = [
    "DEFAULT_SCHEME",
    "LOSS_NAMES",
    "SCHEMES",
    "STAGES",
    "Alternating",
    "ApproximateJoint",
    "NonApproximateJoint",
    "Phase",
    "Samples",
    "Tape",
    "scheme_phases",
]


def scheme_phases(name: str, cfg) -> list[Phase]:
    """The phases of the scheme called ``name`` (a key of :data:`SCHEMES`) for ``cfg``."""
    if name not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {name!r}")
    return SCHEMES[name].phases(cfg)
