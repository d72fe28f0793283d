"""Training schemes (F20): how the shared network and its two heads are trained.

A scheme owns everything a training step needs beyond the weights: it samples the
targets (anchor labels, proposals, RoIs), adds the losses, and sends the gradients back
through the stages of a :class:`minirpn.model.Detector`. The training loop
(:mod:`minirpn.train`) only asks it for a step and hands its trainable parameters to SGD.

The pieces every scheme composes — sampling the RPN's anchor targets, proposing, sampling
the head's RoIs, the two losses — live in :mod:`minirpn.schemes.steps`; a scheme decides
their order and which stages are frozen (no backward into them, their gradients untouched).

Schemes, by the name ``minirpn train --scheme`` takes:

* ``approximate-joint`` (:class:`ApproximateJoint`, the default): one network trained end
  to end, the proposals treated as constants.
* ``non-approximate-joint`` (:class:`NonApproximateJoint`): the same, with the head's
  gradient also flowing through the RoI coordinates into the RPN's deltas (RoIAlign).
* ``alternating`` (:class:`Alternating`): the original code's 4 steps — RPN, detector on
  its proposals, RPN layers on the detector's fixed backbone, head on the new proposals.
  It runs in steps (:data:`STAGED_SCHEMES`), each with its own solver.
"""

from __future__ import annotations

from minirpn.schemes.alternating import Alternating
from minirpn.schemes.approximate_joint import ApproximateJoint
from minirpn.schemes.non_approximate_joint import NonApproximateJoint
from minirpn.schemes.steps import LOSS_NAMES, Targets

SCHEMES = {scheme.name: scheme for scheme in (ApproximateJoint, NonApproximateJoint, Alternating)}
# Schemes that run in steps: the loop calls their begin_iteration() and schedule().
STAGED_SCHEMES = frozenset({Alternating.name})

__all__ = [
    "LOSS_NAMES",
    "SCHEMES",
    "STAGED_SCHEMES",
    "Alternating",
    "ApproximateJoint",
    "NonApproximateJoint",
    "Targets",
    "make_scheme",
]


def make_scheme(name: str, detector, **options):
    """The scheme called ``name`` (a key of :data:`SCHEMES`) for ``detector``."""
    if name not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {name!r}")
    return SCHEMES[name](detector, **options)
