"""The second stage: the Fast R-CNN head on the RoIs (F17, F18, F19).

For each RoI ``(batch_index, x1, y1, x2, y2)`` in image pixels:

1. **the RoI layer** (F18, F19): the RoI is projected onto the shared map (spatial scale
   ``1 / cfg.feat_stride``) and pooled to a fixed ``cfg.roi_pool_size`` grid, so RoIs of any
   size give the same number of features. Which layer is ``cfg.roi_op``, a name of
   :data:`minirpn.roi_ops.ROI_OPS`: RoI max pooling (the paper's, F19) or RoIAlign (bilinear
   samples, no rounding). A layer that is differentiable in the box coordinates
   (``box_differentiable``, RoIAlign) also gives that gradient on request
   (``need_drois=True``), which non-approximate joint training (F20 (3)) sends on into the RPN;
2. **fc6 → ReLU → fc7 → ReLU** (``cfg.fc_channels`` each);
3. two siblings: ``cls_score``, C + 1 logits (background and the C classes, softmax), and
   ``bbox_pred``, 4 (C + 1) class-specific deltas (F10, normalised by
   ``cfg.bbox_normalize_stds``).

:func:`roi_head_loss` is the head's loss (softmax log loss + smooth L1, both averaged
over the RoIs) and :func:`postprocess` turns the outputs on test proposals into
detections (class-specific decoding, per-class NMS, score threshold).

Initialisation (F14): fc6 and fc7 play the part of the paper's pre-trained VGG-16 fc
layers; no pre-trained weights exist for this tiny network, so they start from He
initialisation. The new layers use the paper's Gaussian: ``cls_score`` std
``cfg.init_std`` (0.01) and ``bbox_pred`` std 0.001, as the original code does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from minirpn.boxes import COORDS_PER_BOX, clip_boxes, decode
from minirpn.config import Config
from minirpn.nn import Container, Linear, ReLU, smooth_l1, softmax, softmax_cross_entropy
from minirpn.ops import batched_nms
from minirpn.proposal_target import BACKGROUND, ProposalTargets
from minirpn.roi_ops import make_roi_op

# bbox_pred starts 10x smaller than the other new layers, as in py-faster-rcnn: early
# regression outputs then stay close to "no change" while the classifier learns.
BBOX_PRED_STD = 0.001


class RoIHeadCache(NamedTuple):
    """The tape of one :meth:`RoIHead.forward`: the RoI layer's cache and each fc layer's."""

    roi_op: object
    pooled_shape: tuple[int, int, int, int]  # (R, C, ph, pw)
    fc6: object
    relu6: object
    fc7: object
    relu7: object
    cls_score: object
    bbox_pred: object


class HeadGradients(NamedTuple):
    """What :meth:`RoIHead.backward` returns.

    dfeatures: (N, C, H, W) d loss / d the feature map.
    drois: (R, 5) d loss / d ``(batch_index, x1, y1, x2, y2)`` (column 0 is 0), or None
        unless asked for with ``need_drois``.
    """

    dfeatures: np.ndarray
    drois: np.ndarray | None


class RoIHead(Container):
    """RoI pooling (or RoIAlign) + fc6 + fc7 + the two siblings (F17–F19).

    Args:
        in_channels: channels of the shared feature map.
        num_classes: C, the object classes (labels 1..C; 0 is background).
        cfg: uses ``roi_pool_size``, ``fc_channels``, ``init_std`` and ``roi_op`` with its
            settings (:func:`minirpn.roi_ops.make_roi_op`).
        rng: ``np.random.Generator`` for the initialisation.
        dtype: float32 to train, float64 for gradient checks.

    Attributes: ``roi_op``, the RoI layer. Parameters: ``fc6.weight`` (fc, in_channels * ph *
    pw), ``fc7.weight`` (fc, fc),
    ``cls_score.weight`` (C + 1, fc), ``bbox_pred.weight`` (4 (C + 1), fc) and the
    matching ``.bias`` entries.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        cfg: Config,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.roi_op = make_roi_op(cfg)
        rng = np.random.default_rng() if rng is None else rng
        pooled = in_channels * cfg.roi_pool_size * cfg.roi_pool_size
        outputs = self.num_classes + 1  # background + C
        new = dict(init="gaussian", rng=rng, dtype=dtype)
        self.fc6 = Linear(pooled, cfg.fc_channels, init="he", rng=rng, dtype=dtype)
        self.fc7 = Linear(cfg.fc_channels, cfg.fc_channels, init="he", rng=rng, dtype=dtype)
        self.cls_score = Linear(cfg.fc_channels, outputs, std=cfg.init_std, **new)
        self.bbox_pred = Linear(cfg.fc_channels, COORDS_PER_BOX * outputs, std=BBOX_PRED_STD, **new)
        self.relu6, self.relu7 = ReLU(), ReLU()
        super().__init__(
            {
                "roi_op": self.roi_op,
                "fc6": self.fc6,
                "relu6": self.relu6,
                "fc7": self.fc7,
                "relu7": self.relu7,
                "cls_score": self.cls_score,
                "bbox_pred": self.bbox_pred,
            }
        )

    def forward(self, features: np.ndarray, rois: np.ndarray):
        """features (N, C, H, W), rois (R, 5) -> ``((cls_logits (R, C + 1), box_deltas
        (R, 4 (C + 1))), cache)``. R may be 0 (an image with no proposal): empty outputs."""
        pooled, roi_cache = self.roi_op.forward(features, rois)  # (R, C, ph, pw)
        flat = pooled.reshape(len(pooled), math.prod(pooled.shape[1:]))  # (R, C * ph * pw)
        hidden, fc6 = self.fc6.forward(flat)
        hidden, relu6 = self.relu6.forward(hidden)
        hidden, fc7 = self.fc7.forward(hidden)
        hidden, relu7 = self.relu7.forward(hidden)
        cls_logits, cls_cache = self.cls_score.forward(hidden)
        box_deltas, box_cache = self.bbox_pred.forward(hidden)
        cache = RoIHeadCache(roi_cache, pooled.shape, fc6, relu6, fc7, relu7, cls_cache, box_cache)
        return (cls_logits, box_deltas), cache

    def backward(
        self, dout: tuple[np.ndarray, np.ndarray], cache: RoIHeadCache, need_drois: bool = False
    ) -> HeadGradients:
        """``(dcls_logits, dbox_deltas)`` and the forward's cache -> :class:`HeadGradients`.

        Accumulates the parameter gradients. RoI pooling sends each bin's gradient to the
        cell that won its max (F19); RoIAlign spreads it over the four cells around each
        sample with the bilinear weights. ``need_drois`` also asks for d loss / d the RoIs,
        which only a ``box_differentiable`` RoI layer has (others raise ValueError).
        """
        dcls_logits, dbox_deltas = dout
        # fc7's output feeds both siblings: its gradient is the sum of theirs.
        dhidden = self.cls_score.backward(dcls_logits, cache.cls_score) + self.bbox_pred.backward(
            dbox_deltas, cache.bbox_pred
        )
        dhidden = self.fc7.backward(self.relu7.backward(dhidden, cache.relu7), cache.fc7)
        dflat = self.fc6.backward(self.relu6.backward(dhidden, cache.relu6), cache.fc6)
        dfeatures, drois = self.roi_op.backward(
            dflat.reshape(cache.pooled_shape), cache.roi_op, need_drois=need_drois
        )
        return HeadGradients(dfeatures, drois)


class HeadLoss(NamedTuple):
    """What :func:`roi_head_loss` returns: both terms and the gradients of their sum."""

    loss_cls: float
    loss_reg: float
    dcls_logits: np.ndarray  # (R, C + 1)
    dbox_deltas: np.ndarray  # (R, 4 (C + 1))


def roi_head_loss(
    cls_logits: np.ndarray, box_deltas: np.ndarray, targets: ProposalTargets, cfg: Config
) -> HeadLoss:
    """The second stage's loss (F17): softmax log loss + smooth L1, each averaged over the RoIs.

    Args:
        cls_logits: (R, C + 1) float, :meth:`RoIHead.forward`'s first output.
        box_deltas: (R, 4 (C + 1)) float, its second output.
        targets: the sampled RoIs' :class:`minirpn.proposal_target.ProposalTargets` (labels,
            class-specific normalised targets and weights), rows matching the outputs.
        cfg: uses ``head_sigma`` (smooth-L1 sigma, 1 as in the original).

    Returns:
        :class:`HeadLoss`. The regression term sums smooth L1 over the 4 coordinates of each
        foreground RoI's own class and divides by the number of RoIs R (background RoIs
        count in R but add nothing), as the original does.
    """
    num_rois = len(cls_logits)
    if targets.labels.shape != (num_rois,) or targets.bbox_targets.shape != box_deltas.shape:
        raise ValueError(
            f"targets are for {targets.labels.shape[0]} RoIs with box targets "
            f"{targets.bbox_targets.shape}, the head's outputs are {cls_logits.shape} and "
            f"{box_deltas.shape}"
        )
    loss_cls, dcls = softmax_cross_entropy(cls_logits, targets.labels)
    reg_sum, dreg = smooth_l1(
        box_deltas,
        targets.bbox_targets.astype(box_deltas.dtype, copy=False),
        sigma=cfg.head_sigma,
        inside_weights=targets.inside_weights,
        outside_weights=targets.outside_weights,
    )
    scale = 1.0 / max(num_rois, 1)  # no RoI: the sum is 0 and stays 0
    return HeadLoss(loss_cls, reg_sum * scale, dcls, dreg * box_deltas.dtype.type(scale))


def postprocess(
    proposals: np.ndarray,
    cls_logits: np.ndarray,
    box_deltas: np.ndarray,
    image_size: tuple[int, int],
    cfg: Config,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections of one image from the head's outputs on its test proposals (F17).

    Each proposal is decoded with the deltas of every class (class-specific regression),
    clipped to the image, scored by that class's softmax probability; boxes scoring at most
    ``cfg.test_score_thresh`` are dropped, then NMS at ``cfg.test_nms`` runs per class and
    the best ``cfg.test_max_detections`` are kept.

    Args:
        proposals: (P, 4) boxes ``(x1, y1, x2, y2)`` in image pixels.
        cls_logits: (P, C + 1), box_deltas: (P, 4 (C + 1)): the head's outputs on them.
        image_size: ``(height, width)``.
        cfg: uses ``bbox_normalize_means``/``stds``, ``test_score_thresh``, ``test_nms``,
            ``test_max_detections``.

    Returns:
        boxes (D, 4) float32, scores (D,) float32 in decreasing order, labels (D,) int64 in 1..C.
    """
    num_props, num_outputs = cls_logits.shape
    num_cls = num_outputs - 1
    # Column BACKGROUND (0) is "no object", columns 1..C are the classes.
    probs = softmax(cls_logits)[:, BACKGROUND + 1 :]  # (P, C)
    per_class = box_deltas.reshape(num_props, num_outputs, COORDS_PER_BOX)[:, BACKGROUND + 1 :]
    boxes = decode(
        np.repeat(proposals, num_cls, axis=0),
        per_class.reshape(-1, COORDS_PER_BOX),
        cfg.bbox_normalize_means,
        cfg.bbox_normalize_stds,
    )  # (P * C, 4)
    boxes = clip_boxes(boxes, image_size)
    scores = probs.reshape(-1)  # (P * C,), same order as boxes
    labels = np.tile(np.arange(1, num_cls + 1), num_props)  # (P * C,)
    keep = np.flatnonzero(scores > cfg.test_score_thresh)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, cfg.test_nms, max_output=cfg.test_max_detections)
    return (
        boxes[keep].astype(np.float32),
        scores[keep].astype(np.float32),
        labels[keep].astype(np.int64),
    )
