"""Approximate joint training (F20 (2)): one network, the proposals treated as constants.

One step on a batch::

    images ─► backbone ─► features ─┬─► RPN head ─► scores, deltas ─► RPN loss (F11)
                                    │                     │
                                    │            proposal layer (F15, F16)  (no gradient)
                                    │                     ▼
                                    └──────► RoI head ◄── sampled RoIs (F17)  ─► head loss

The loss ``rpn_cls + rpn_reg + cls + reg`` reaches the shared map along two paths — through
the RPN head and through RoI pooling — and the two gradients are added there before they
flow into the backbone. The gradient with respect to the proposal *coordinates* is
ignored: that is what makes it "approximate". The paper reports about the same accuracy
as alternating training in 25–50% less time.

:class:`ApproximateJoint` is also the step every other scheme is made of. The schemes differ
only in where the proposals come from (:meth:`ApproximateJoint.proposals`: the RPN's own, or
boxes made beforehand, as alternating training's detector phases use) and in what flows
back (:class:`~minirpn.schemes.non_approximate_joint.NonApproximateJoint` adds the path
through the RoI coordinates). A stage named in ``frozen`` ("backbone", "rpn", "roi_head") is
still run forward and its loss still reported, but no gradient flows into it or through it,
its ``grads`` stay untouched and :meth:`ApproximateJoint.parameters` leaves it out of the
optimiser.

The step keeps nothing between calls: :meth:`~ApproximateJoint.forward` returns the losses
and a :class:`Tape`, and :meth:`~ApproximateJoint.backward` takes that tape.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

import numpy as np

from minirpn.backbone import check_images
from minirpn.batching import Batch
from minirpn.ground_truth import check_batch
from minirpn.roi_head import roi_head_loss
from minirpn.rpn import Proposals, RPNLossResult, RPNOutput
from minirpn.schemes.phase import STAGES, Phase
from minirpn.schemes.steps import Samples, roi_anchors, sample_rois

# The four losses of a two-stage step, in the order the history and the progress bar use.
LOSS_NAMES = ("rpn_cls", "rpn_reg", "cls", "reg")


class Tape(NamedTuple):
    """What one step's :meth:`~ApproximateJoint.backward` needs of its forward.

    features_cache, rpn_cache, head_cache: the caches of the backbone, the RPN and the head.
    rpn_out: the RPN's output; rpn_loss: its loss and gradients (F11).
    rois: (R, 5) the RoIs the head ran on; dhead: d loss / d the head's two outputs.
    samples: the :class:`~minirpn.schemes.steps.Samples` the loss used (reuse them to make
        the loss a smooth function of the weights, as a gradient check needs).
    image_size: ``(height, width)`` of the batch.
    """

    features_cache: object
    rpn_out: RPNOutput
    rpn_cache: object
    rpn_loss: RPNLossResult
    rois: np.ndarray
    head_cache: object
    dhead: tuple[np.ndarray, np.ndarray]
    samples: Samples
    image_size: tuple[int, int]


class ApproximateJoint:
    """The default training scheme (F20 (2)) for a :class:`minirpn.model.Detector`.

    Args:
        detector: the model whose stages are trained.
        frozen: names of stages that do not train (see the module docstring).
        proposals: None: the RPN's own proposals of each batch (joint training); else a
            mapping from a dataset index to that image's (P, 4) proposals, made beforehand.

    Use::

        step = ApproximateJoint(detector)
        detector.zero_grad()
        losses, tape = step.forward(batch, rng)      # the four losses, by name
        step.backward(tape)                          # fills detector.grads
    """

    name = "approximate-joint"
    needs_box_gradient = False  # whether the RoI layer must be box-differentiable

    def __init__(
        self,
        detector,
        *,
        frozen: Collection[str] = (),
        proposals: Mapping[int, np.ndarray] | None = None,
    ):
        unknown = sorted(set(frozen) - set(STAGES))
        if unknown:
            raise ValueError(f"frozen must name stages among {STAGES}, got {unknown}")
        self.detector = detector
        self.frozen = frozenset(frozen)
        self.given_proposals = proposals

    @classmethod
    def phases(cls, cfg) -> list[Phase]:
        """A joint scheme trains in one phase: every stage, ``cfg.max_iters`` iterations."""
        return [Phase("joint", cfg.max_iters, cfg, trains=STAGES, step=cls)]

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, param, grad)`` of every parameter of the stages that train."""
        return [
            (name, param, grad)
            for name, param, grad in self.detector.named_parameters()
            if name.split(".", 1)[0] not in self.frozen
        ]

    def proposals(self, rpn_out: RPNOutput, batch: Batch, image_size) -> list[Proposals]:
        """Where the head's RoIs come from: per image, the RPN's proposals (F15, F16), or the
        boxes made beforehand for its dataset index (their scores and anchors unknown)."""
        if self.given_proposals is None:
            return self.detector.rpn.propose(rpn_out, image_size, train=True)
        missing = [int(i) for i in batch.indices if int(i) not in self.given_proposals]
        if missing:
            raise ValueError(f"no proposals were made for the dataset images {missing}")
        dtype = self.detector.dtype
        return [
            Proposals(self.given_proposals[int(i)].astype(dtype, copy=False), None, None)
            for i in batch.indices
        ]

    def sample(self, rpn_out: RPNOutput, batch: Batch, image_size, rng) -> Samples:
        """Anchor targets, proposals and RoI sampling of a batch (all constants, F20)."""
        det = self.detector
        anchor_targets = det.rpn.anchor_targets(
            rpn_out, [t.boxes for t in batch.targets], image_size, rng
        )
        proposals = self.proposals(rpn_out, batch, image_size)
        rois, roi_targets = sample_rois(
            [p.boxes for p in proposals], batch.targets, det.num_classes, det.cfg, rng, det.dtype
        )
        anchor_rows = [p.anchor_rows for p in proposals]
        if any(rows is None for rows in anchor_rows):  # given boxes: no anchor to trace back
            return Samples(anchor_targets, rois, roi_targets)
        return Samples(
            anchor_targets,
            rois,
            roi_targets,
            roi_anchors(rois, roi_targets.candidates, anchor_rows),
        )

    def forward(self, batch: Batch, rng, samples: Samples | None = None):
        """Forward pass and losses of one batch: ``(losses, tape)``.

        Args:
            batch: the images (B, H, W, 3) (uint8, or float in [0, 1]) and their ground truth.
            rng: generator for the random sampling of anchors and RoIs (unused when
                ``samples`` is given).
            samples: sampled targets to reuse (from a tape's ``samples``); None samples new
                ones. Fixing them makes the loss a smooth function of the weights, which is
                what the gradient check needs.

        Returns:
            the four losses (:data:`LOSS_NAMES`) by name, and the :class:`Tape` for
            :meth:`backward`. The RPN terms are averaged over the images, the head terms over
            the RoIs of the batch. If the features or the RPN's outputs are not finite (a
            diverging run) all four are NaN, no later stage runs and the tape is None.
        """
        det = self.detector
        check_batch(batch.images, batch.targets)
        check_images(batch.images)
        image_size = batch.images.shape[1:3]
        features, features_cache = det.features(batch.images)  # [(B, C, h, w)]
        rpn_out, rpn_cache = det.rpn.forward(features)
        # A diverging run: stop before the RoI layer, which refuses non-finite features.
        if not all(np.isfinite(a).all() for a in features + rpn_out.scores + rpn_out.deltas):
            return dict.fromkeys(LOSS_NAMES, float("nan")), None
        if samples is None:
            samples = self.sample(rpn_out, batch, image_size, rng)
        rpn_loss = det.rpn.loss(rpn_out, samples.anchor_targets)
        rois = self.head_rois(samples, rpn_out, image_size)
        (cls_logits, box_deltas), head_cache = det.roi_head.forward(features[0], rois)
        head = roi_head_loss(cls_logits, box_deltas, samples.roi_targets, det.cfg)
        tape = Tape(
            features_cache,
            rpn_out,
            rpn_cache,
            rpn_loss,
            rois,
            head_cache,
            (head.dcls_logits, head.dbox_deltas),
            samples,
            image_size,
        )
        return {**rpn_loss.losses, "cls": head.loss_cls, "reg": head.loss_reg}, tape

    def head_rois(self, samples: Samples, rpn_out: RPNOutput, image_size) -> np.ndarray:
        """The RoIs the head runs on: here the sampled ones, constants (F20 (2))."""
        return samples.rois

    def backward(self, tape: Tape) -> None:
        """Backpropagate the total loss of the forward that made ``tape`` into the grads.

        The shared map gets two gradients — from the RPN head and, through the RoI layer,
        from the second stage — which are added before the backbone's backward (F20).
        """
        if tape is None:
            raise RuntimeError("backward() needs the tape of a successful forward()")
        det = self.detector
        dfeatures = None
        rpn_ddeltas = tape.rpn_loss.ddeltas
        if "roi_head" not in self.frozen:
            grads = det.roi_head.backward(
                tape.dhead, tape.head_cache, need_drois=self.needs_box_gradient
            )
            dfeatures = [grads.dfeatures]
            rpn_ddeltas = self.rpn_deltas_gradient(tape, grads.drois)
        if "rpn" not in self.frozen:
            drpn = det.rpn.backward(tape.rpn_loss.dscores, rpn_ddeltas, tape.rpn_cache)
            if dfeatures is None:
                dfeatures = drpn
            else:
                dfeatures = [a + b for a, b in zip(dfeatures, drpn, strict=True)]
        if "backbone" not in self.frozen and dfeatures is not None:
            det.features_backward(dfeatures, tape.features_cache)

    def rpn_deltas_gradient(self, tape: Tape, drois) -> list[np.ndarray]:
        """What reaches the RPN's deltas: here only the RPN loss's gradient. The proposals
        are constants, so nothing flows back through their coordinates (``drois`` is None)."""
        return tape.rpn_loss.ddeltas
