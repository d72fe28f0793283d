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

A stage named in ``frozen`` ("backbone", "rpn", "roi_head") is still run forward and its
loss is still reported, but no gradient flows into it or through it, its ``grads`` stay
untouched and :meth:`ApproximateJoint.parameters` leaves it out of the optimiser.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np

from minirpn.backbone import check_images, preprocess
from minirpn.datacheck import check_batch
from minirpn.roi_head import roi_head_loss
from minirpn.schemes.steps import (
    LOSS_NAMES,
    Targets,
    propose,
    rpn_batch_loss,
    sample_anchor_targets,
    sample_rois,
)

STAGES = ("backbone", "rpn", "roi_head")


class _Cache(NamedTuple):
    rpn_dscores: np.ndarray  # (B, 2A, h, w) d loss / d RPN scores
    rpn_ddeltas: np.ndarray  # (B, 4A, h, w)
    dcls: np.ndarray  # (R, C + 1) d loss / d class logits
    dreg: np.ndarray  # (R, 4 (C + 1)) d loss / d box deltas


class ApproximateJoint:
    """The default training scheme (F20 (2)) for a :class:`minirpn.model.Detector`.

    Args:
        detector: the model whose stages are trained.
        frozen: names of stages that do not train (see the module docstring).

    Use::

        scheme = ApproximateJoint(detector)
        detector.zero_grad()
        losses = scheme.forward(images, gt_boxes, gt_labels, rng)   # the four losses
        scheme.backward()                                           # fills detector.grads
    """

    name = "approximate-joint"

    def __init__(self, detector, *, frozen: Collection[str] = ()):
        unknown = sorted(set(frozen) - set(STAGES))
        if unknown:
            raise ValueError(f"frozen must name stages among {STAGES}, got {unknown}")
        self.detector = detector
        self.frozen = frozenset(frozen)
        self.last_targets: Targets | None = None  # the samples of the last forward
        self._cache: _Cache | None = None

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``(name, param, grad)`` of every parameter of the stages that train."""
        return [
            (name, param, grad)
            for name, param, grad in self.detector.named_parameters()
            if name.split(".", 1)[0] not in self.frozen
        ]

    def sample(self, scores, deltas, gt_boxes, gt_labels, image_size, rng) -> Targets:
        """Anchor targets, proposals and RoI sampling of a batch (all constants, F20)."""
        det = self.detector
        anchors = det.anchors(*scores.shape[2:])
        anchor_targets = sample_anchor_targets(anchors, gt_boxes, image_size, det.cfg, rng)
        proposals = propose(scores, deltas, anchors, image_size, det.cfg, train=True)
        rois, roi_targets = sample_rois(
            proposals, gt_boxes, gt_labels, det.num_classes, det.cfg, rng, det.dtype
        )
        return Targets(anchor_targets, rois, roi_targets)

    def forward(
        self, images, gt_boxes, gt_labels, rng, targets: Targets | None = None
    ) -> dict[str, float]:
        """Forward pass and losses of one batch; keeps what :meth:`backward` needs.

        Args:
            images: (B, H, W, 3) uint8 (or float in [0, 1]) RGB images of one size.
            gt_boxes: B arrays (G_b, 4) of ground-truth boxes ``(x1, y1, x2, y2)``.
            gt_labels: B int arrays (G_b,) of labels in 1..C.
            rng: generator for the random sampling of anchors and RoIs (unused when
                ``targets`` is given).
            targets: sampled targets to reuse (from :attr:`last_targets`); None samples new
                ones. Fixing them makes the loss a smooth function of the weights, which is
                what the gradient check needs.

        Returns:
            the four losses (:data:`LOSS_NAMES`) as floats. The RPN terms are averaged over
            the images, the head terms over the RoIs of the batch. If the RPN's outputs are
            not finite (a diverging run) all four are NaN and no later stage runs.
        """
        det = self.detector
        check_batch(images, gt_boxes, gt_labels)
        check_images(images)
        batch, height, width, _ = images.shape
        self._cache = None
        features = det.backbone.forward(preprocess(images, det.dtype))  # (B, C, h, w)
        scores, deltas = det.rpn.forward(features)  # (B, 2A, h, w), (B, 4A, h, w)
        if not (np.isfinite(scores).all() and np.isfinite(deltas).all()):
            return dict.fromkeys(LOSS_NAMES, float("nan"))
        if targets is None:
            targets = self.sample(scores, deltas, gt_boxes, gt_labels, (height, width), rng)
        self.last_targets = targets
        rpn_cls, rpn_reg, dscores, ddeltas = rpn_batch_loss(
            scores, deltas, targets.anchor_targets, det.cfg
        )
        rois = self._head_rois(targets, deltas, (height, width))
        cls_logits, box_deltas = det.roi_head.forward(features, rois)
        head = roi_head_loss(cls_logits, box_deltas, targets.roi_targets, det.cfg)
        self._cache = _Cache(dscores, ddeltas, head.dcls_logits, head.dbox_deltas)
        return {"rpn_cls": rpn_cls, "rpn_reg": rpn_reg, "cls": head.loss_cls, "reg": head.loss_reg}

    def _head_rois(self, targets: Targets, deltas, image_size) -> np.ndarray:
        """The RoIs the head runs on: here the sampled ones, constants (F20 (2))."""
        return targets.rois

    def backward(self) -> None:
        """Backpropagate the last :meth:`forward`'s total loss; accumulate into the grads.

        The shared map gets two gradients — from the RPN head and, through RoI pooling,
        from the second stage — which are added before the backbone's backward (F20).
        """
        cache, self._cache = self._cache, None
        if cache is None:
            raise RuntimeError("backward() needs a successful forward() first")
        det = self.detector
        dfeatures = 0.0
        if "roi_head" not in self.frozen:
            dfeatures = dfeatures + det.roi_head.backward(cache.dcls, cache.dreg)
        if "rpn" not in self.frozen:
            dfeatures = dfeatures + det.rpn.backward(cache.rpn_dscores, cache.rpn_ddeltas)
        if "backbone" not in self.frozen and not np.isscalar(dfeatures):
            det.backbone.backward(dfeatures)
