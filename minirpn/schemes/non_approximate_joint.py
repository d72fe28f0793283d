"""Non-approximate joint training (F20 (3)): the proposal boxes are functions of the RPN.

The paper (section 3.2, "Non-approximate joint training"): the RoI layer's input includes
the predicted boxes, so in theory a valid backpropagation solver should also involve
gradients with respect to the box coordinates; approximate joint training ignores them.
That needs an RoI layer differentiable with respect to the boxes — the paper points to an
"RoI warping" layer — and leaves the topic out of scope. Here the layer is RoIAlign
(:func:`minirpn.ops.roi_align_backward` returns d loss / d corners), so the head's loss
reaches the RPN's regression outputs through the RoI coordinates::

    images ─► backbone ─► features ─┬─► RPN head ─► scores, deltas ──────────► RPN loss (F11)
                ▲                   │                     │  ▲
                │                   │     decode + clip   │  │ decode_backward (F10)
                │                   │     (F10, F15)      ▼  │ (clipped corner: 0)
                │                   │               proposal boxes
                │                   │   selection fixed:  │  ▲ d loss / d corners
                │                   │   top-N, NMS, RoI   ▼  │
                │                   └──► RoIAlign ◄─── sampled RoIs ─► fc6 ... ─► head loss
                └─── d features: RPN path + RoIAlign path (both added) ◄─┘

What is differentiated and what is held constant:

* **differentiated**: each sampled RoI that came from a proposal is ``clip(decode(anchor,
  deltas[anchor]))`` (:func:`minirpn.schemes.steps.roi_boxes`), so RoIAlign's corner
  gradient goes back through the clip (a clipped corner gets none) and the decoding
  (:func:`minirpn.boxes.decode_backward`) into the deltas of that RoI's anchor, and from
  there through the RPN head into the backbone, on top of the RPN loss's own gradient;
* **constants** (chosen by the forward pass, not differentiated — they change in jumps):
  which anchors survive the small-box filter, the top-N and NMS selections (F15, F16); the
  RoI sampling (which candidates, foreground or background, F17); the ground-truth boxes
  appended as RoIs (they depend on no weight and carry no gradient); the anchor labels and
  the regression targets of both stages (the head's targets are computed from the RoIs as
  sampled and are not recomputed as the RoIs move).

How much of the head's gradient reaches the RPN this way is ``cfg.roi_coord_grad_weight``.
1 (``Config``'s default) is the exact gradient of the summed loss, which the whole-model
gradient check verifies. On the toy data that exact path is 5 to 20 times the RPN loss's
own gradient on ``rpn.bbox_pred`` and ``rpn.conv``, most of it from the classification loss
of the foreground RoIs (the head prefers RoIs where it is sure of the class, not tight
ones). At the tiny preset's learning rate it swamps the RPN: its objectness loss stays near
0.1 instead of falling to 0.01, and mAP@0.5 ends at 0.71. ``Config.tiny()`` weighs the path
0.1, which trains as well as approximate joint training with RoIAlign
(``benchmarks/schemes.py``). Re-encoding the head's regression targets from the moved RoIs
(and differentiating that too) was tried and changed nothing measurable, so the targets
stay constants as above.

The head must use RoIAlign (``cfg.roi_op == "align"``). :class:`NonApproximateJoint` is
:class:`~minirpn.schemes.approximate_joint.ApproximateJoint` with the RoIs recomputed from
the current deltas and this extra backward path; ``frozen`` works the same way (a frozen
RPN gets no gradient from either path).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np

from minirpn.schemes.approximate_joint import ApproximateJoint
from minirpn.schemes.steps import (
    Targets,
    propose,
    roi_anchors,
    roi_boxes,
    roi_boxes_backward,
    sample_anchor_targets,
    sample_rois,
)


class _Coords(NamedTuple):
    rois: np.ndarray  # (R, 5) the RoIs the head ran on
    anchor_rows: np.ndarray  # (R,) their anchors (GROUND_TRUTH for gt boxes)
    deltas: np.ndarray  # (B, 4A, h, w) the RPN's deltas they were decoded with
    anchors: np.ndarray  # (h * w * A, 4)
    image_size: tuple[int, int]


class NonApproximateJoint(ApproximateJoint):
    """Joint training with the gradient through the proposal coordinates (F20 (3)).

    Args:
        detector: a :class:`minirpn.model.Detector` whose config has ``roi_op == "align"``.
        frozen: stages that do not train, as for :class:`ApproximateJoint`.

    Same use as :class:`ApproximateJoint`; :attr:`last_targets` also holds
    ``roi_anchors``, and ``forward(..., targets=...)`` recomputes the RoIs from the current
    deltas with those selections (what the gradient check perturbs).
    """

    name = "non-approximate-joint"

    def __init__(self, detector, *, frozen: Collection[str] = ()):
        if detector.cfg.roi_op != "align":
            raise ValueError(
                "non-approximate joint training needs the RoI layer's gradient with respect "
                f"to the box coordinates, i.e. cfg.roi_op 'align'; got {detector.cfg.roi_op!r}"
            )
        super().__init__(detector, frozen=frozen)
        self._coords: _Coords | None = None

    def sample(self, scores, deltas, gt_boxes, gt_labels, image_size, rng) -> Targets:
        """As :meth:`ApproximateJoint.sample`, plus the anchor of every sampled RoI."""
        det = self.detector
        anchors = det.anchors(*scores.shape[2:])
        anchor_targets = sample_anchor_targets(anchors, gt_boxes, image_size, det.cfg, rng)
        proposed = propose(
            scores, deltas, anchors, image_size, det.cfg, train=True, return_indices=True
        )
        rois, roi_targets = sample_rois(
            [boxes for boxes, _ in proposed],
            gt_boxes,
            gt_labels,
            det.num_classes,
            det.cfg,
            rng,
            det.dtype,
        )
        anchor_rows = roi_anchors(rois, roi_targets.candidates, [index for _, index in proposed])
        return Targets(anchor_targets, rois, roi_targets, anchor_rows)

    def _head_rois(self, targets: Targets, deltas, image_size) -> np.ndarray:
        if targets.roi_anchors is None:
            raise ValueError(
                "targets must come from NonApproximateJoint.sample (they need roi_anchors)"
            )
        anchors = self.detector.anchors(*deltas.shape[2:])
        rois = roi_boxes(targets.rois, targets.roi_anchors, deltas, anchors, image_size)
        self._coords = _Coords(rois, targets.roi_anchors, deltas, anchors, image_size)
        return rois

    def backward(self) -> None:
        """Backpropagate the total loss, the RoI-coordinate path included (F20 (3))."""
        cache, self._cache = self._cache, None
        coords, self._coords = self._coords, None
        if cache is None or coords is None:
            raise RuntimeError("backward() needs a successful forward() first")
        det = self.detector
        dfeatures = 0.0
        rpn_ddeltas = cache.rpn_ddeltas
        if "roi_head" not in self.frozen:
            dhead, drois = det.roi_head.backward(cache.dcls, cache.dreg, return_drois=True)
            dfeatures = dfeatures + dhead
            # RoI corners → proposal boxes → the deltas of their anchors (weighted).
            rpn_ddeltas = rpn_ddeltas + roi_boxes_backward(
                drois * det.cfg.roi_coord_grad_weight,
                coords.rois,
                coords.anchor_rows,
                coords.deltas,
                coords.anchors,
                coords.image_size,
            )
        if "rpn" not in self.frozen:
            dfeatures = dfeatures + det.rpn.backward(cache.rpn_dscores, rpn_ddeltas)
        if "backbone" not in self.frozen and not np.isscalar(dfeatures):
            det.backbone.backward(dfeatures)
