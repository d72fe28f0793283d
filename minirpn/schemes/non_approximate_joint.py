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
gradient check verifies. On the toy data that exact path is many times the RPN loss's own
gradient on ``rpn.bbox_pred`` (lesson 10 prints the ratio for one batch), most of it from
the classification loss of the foreground RoIs (the head prefers RoIs where it is sure of
the class, not tight ones), so at the tiny preset's learning rate it would drive the RPN
rather than the RPN's own loss. ``Config.tiny()`` weighs the path 0.1, which trains as well
as approximate joint training with RoIAlign (``benchmarks/schemes.py``, the "schemes"
table of ``docs/paper_claims.md``). The head's regression targets stay constants as above:
they are not re-encoded from the moved RoIs.

The head's RoI layer must be differentiable in the box coordinates (``box_differentiable``
in :data:`minirpn.roi_ops.ROI_OPS`: RoIAlign). :class:`NonApproximateJoint` is
:class:`~minirpn.schemes.approximate_joint.ApproximateJoint` with the RoIs recomputed from
the current deltas and this extra backward path; ``frozen`` works the same way (a frozen
RPN gets no gradient from either path).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from minirpn.rpn import RPNOutput
from minirpn.schemes.approximate_joint import ApproximateJoint, Tape
from minirpn.schemes.steps import Samples, roi_boxes, roi_boxes_backward


class NonApproximateJoint(ApproximateJoint):
    """Joint training with the gradient through the proposal coordinates (F20 (3)).

    Args:
        detector: a :class:`minirpn.model.Detector` whose RoI layer is box-differentiable.
        frozen: stages that do not train, as for :class:`ApproximateJoint`.

    Same use as :class:`ApproximateJoint`; ``forward(batch, rng, samples=...)`` recomputes
    the RoIs from the current deltas with the samples' selections (``roi_anchors``), which is
    what the gradient check perturbs.
    """

    name = "non-approximate-joint"
    needs_box_gradient = True

    def __init__(self, detector, *, frozen: Collection[str] = (), proposals=None):
        op = detector.roi_head.roi_op
        if not op.box_differentiable:
            raise ValueError(
                "non-approximate joint training needs the RoI layer's gradient with respect "
                f"to the box coordinates; cfg.roi_op {op.name!r} has none (use 'align')"
            )
        if proposals is not None:
            raise ValueError("non-approximate joint training differentiates its own proposals")
        super().__init__(detector, frozen=frozen)

    def head_rois(self, samples: Samples, rpn_out: RPNOutput, image_size) -> np.ndarray:
        """The sampled RoIs recomputed from the current deltas, selections fixed (F20 (3))."""
        if samples.roi_anchors is None:
            raise ValueError("samples must come from NonApproximateJoint.sample (need roi_anchors)")
        return roi_boxes(samples.rois, samples.roi_anchors, rpn_out, image_size)

    def rpn_deltas_gradient(self, tape: Tape, drois) -> list[np.ndarray]:
        """The RPN loss's gradient plus the head's, through the RoI corners, the clip and
        the box decoding, weighted by ``cfg.roi_coord_grad_weight`` (F20 (3))."""
        through_boxes = roi_boxes_backward(
            drois * self.detector.cfg.roi_coord_grad_weight,
            tape.rois,
            tape.samples.roi_anchors,
            tape.rpn_out,
            tape.image_size,
        )
        return [a + b for a, b in zip(tape.rpn_loss.ddeltas, through_boxes, strict=True)]
