"""The second stage: the Fast R-CNN head on the RoIs (F17, F18, F19).

For each RoI ``(batch_index, x1, y1, x2, y2)`` in image pixels:

1. **RoI pooling** (F18, F19): the RoI is projected onto the shared map (spatial scale
   ``1 / cfg.feat_stride``) and max-pooled to a fixed ``cfg.roi_pool_size`` grid
   (:func:`minirpn.ops.roi_pool`), so RoIs of any size give the same number of features.
   With ``cfg.roi_op == "align"`` RoIAlign replaces it (:func:`minirpn.ops.roi_align`:
   each bin the mean of ``cfg.roi_align_sampling_ratio``² bilinear samples, no rounding of
   the coordinates), whose output is also differentiable with respect to the RoI corners —
   :meth:`RoIHead.backward` then returns that gradient on request (``return_drois=True``),
   which non-approximate joint training (F20 (3)) sends on into the RPN;
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

from typing import NamedTuple

import numpy as np

from minirpn.boxes import COORDS_PER_BOX, clip_boxes, decode
from minirpn.config import Config
from minirpn.nn import Container, Linear, ReLU, smooth_l1, softmax, softmax_cross_entropy
from minirpn.ops import batched_nms, roi_align, roi_align_backward, roi_pool, roi_pool_backward
from minirpn.proposal_target import BACKGROUND, ProposalTargets

# bbox_pred starts 10x smaller than the other new layers, as in py-faster-rcnn: early
# regression outputs then stay close to "no change" while the classifier learns.
BBOX_PRED_STD = 0.001


class _PoolCache(NamedTuple):
    rois: np.ndarray  # (R, 5)
    argmax: np.ndarray  # (R, C, ph, pw) from roi_pool
    features_shape: tuple[int, int, int, int]


class _AlignCache(NamedTuple):
    rois: np.ndarray  # (R, 5)
    features: np.ndarray  # (N, C, H, W): RoIAlign's backward interpolates from it
    pooled_shape: tuple[int, int, int, int]  # (R, C, ph, pw)


class RoIHead(Container):
    """RoI pooling (or RoIAlign) + fc6 + fc7 + the two siblings (F17–F19).

    Args:
        in_channels: channels of the shared feature map.
        num_classes: C, the object classes (labels 1..C; 0 is background).
        cfg: uses ``roi_pool_size``, ``fc_channels``, ``feat_stride`` (spatial scale
            ``1 / feat_stride``), ``init_std``, ``roi_op`` (``"pool"`` or ``"align"``) and,
            for RoIAlign, ``roi_align_sampling_ratio`` and ``roi_align_aligned``.
        rng: ``np.random.Generator`` for the initialisation.
        dtype: float32 to train, float64 for gradient checks.

    Parameters: ``fc6.weight`` (fc, in_channels * ph * pw), ``fc7.weight`` (fc, fc),
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
        self.pool_size = cfg.roi_pool_size
        self.spatial_scale = 1.0 / cfg.feat_stride
        self.roi_op = cfg.roi_op
        self.sampling_ratio = cfg.roi_align_sampling_ratio
        self.aligned = cfg.roi_align_aligned
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
                "fc6": self.fc6,
                "relu6": self.relu6,
                "fc7": self.fc7,
                "relu7": self.relu7,
                "cls_score": self.cls_score,
                "bbox_pred": self.bbox_pred,
            }
        )

    def forward(self, features: np.ndarray, rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features (N, C, H, W), rois (R, 5) → cls_logits (R, C + 1), box_deltas (R, 4 (C + 1))."""
        if self.roi_op == "align":
            pooled = roi_align(
                features,
                rois,
                self.pool_size,
                self.spatial_scale,
                self.sampling_ratio,
                self.aligned,
            )
            self._cache = _AlignCache(rois, features, pooled.shape)
        else:
            pooled, argmax = roi_pool(features, rois, self.pool_size, self.spatial_scale)
            self._cache = _PoolCache(rois, argmax, features.shape)
        flat = pooled.reshape(len(rois), -1)  # (R, C * ph * pw)
        hidden = self.relu7.forward(self.fc7.forward(self.relu6.forward(self.fc6.forward(flat))))
        return self.cls_score.forward(hidden), self.bbox_pred.forward(hidden)

    def backward(
        self, dcls_logits: np.ndarray, dbox_deltas: np.ndarray, *, return_drois: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Gradients of the two outputs → d features (N, C, H, W); accumulates into ``grads``.

        RoI pooling sends each bin's gradient to the cell that won its max (F19); RoIAlign
        spreads it over the four cells around each sample with the bilinear weights.

        Args:
            dcls_logits, dbox_deltas: d loss / d the outputs of the last :meth:`forward`.
            return_drois: also return d loss / d the RoIs, (R, 5) in the features' dtype,
                columns ``(0, dx1, dy1, dx2, dy2)`` (the batch index gets none). Only
                RoIAlign has that gradient (``cfg.roi_op == "align"``); RoI pooling rounds
                the corners to cells, so its output is piecewise constant in them and this
                raises ValueError.

        Returns:
            dfeatures, or ``(dfeatures, drois)`` with ``return_drois``.
        """
        if return_drois and self.roi_op != "align":
            raise ValueError(
                f"return_drois needs roi_op 'align' (RoIAlign); this head uses {self.roi_op!r}, "
                "whose output does not change smoothly with the box coordinates"
            )
        cache = self._pop_cache()
        # fc7's output feeds both siblings: its gradient is the sum of theirs.
        dhidden = self.cls_score.backward(dcls_logits) + self.bbox_pred.backward(dbox_deltas)
        dflat = self.fc6.backward(
            self.relu6.backward(self.fc7.backward(self.relu7.backward(dhidden)))
        )
        if isinstance(cache, _AlignCache):
            dfeatures, drois = roi_align_backward(
                dflat.reshape(cache.pooled_shape),  # (R, C, ph, pw)
                cache.features,
                cache.rois,
                self.pool_size,
                self.spatial_scale,
                self.sampling_ratio,
                self.aligned,
            )
            if return_drois:
                return dfeatures, drois.astype(dfeatures.dtype, copy=False)
            return dfeatures
        dpooled = dflat.reshape(cache.argmax.shape)  # (R, C, ph, pw)
        return roi_pool_backward(dpooled, cache.rois, cache.argmax, cache.features_shape)


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
    keep = batched_nms(boxes, scores, labels, cfg.test_nms)[: cfg.test_max_detections]
    return (
        boxes[keep].astype(np.float32),
        scores[keep].astype(np.float32),
        labels[keep].astype(np.int64),
    )
