"""Anchor targets: which anchors the RPN learns from, and what they should predict (F8, F13).

For one image, every anchor gets a label and (if positive) a regression target:

* labels (F8), applied in this order — the order of py-faster-rcnn's
  ``anchor_target_layer`` with its default ``RPN_CLOBBER_POSITIVES = False``:

  0. anchors that cross the image border by more than ``cfg.rpn_allowed_border`` pixels
     are IGNORE and take no further part (F8 e): the paper found they add large,
     hard-to-correct error terms and training does not converge with them. For its ~1000 x 600
     images it reports ~6,000 of ~20,000 anchors left (F7); for exactly 600 x 1000 and the
     9 default anchors it is 8,151 of 21,546 (``benchmarks/rpn.py``);
  1. every remaining anchor starts as IGNORE ("neither", F8 d);
  2. NEGATIVE if its IoU with every ground truth is below ``cfg.rpn_negative_overlap``
     (0.3, F8 c);
  3. POSITIVE for the anchor(s) with the highest IoU of each ground truth (F8 a) — every
     anchor tied for that highest IoU, as the original does, but only where that IoU is
     above 0 (the original would otherwise make *every* anchor positive for a ground truth
     that no anchor touches). Coming after step 2, this overrides it: a ground truth whose
     best IoU is below 0.3 still gets its best anchor;
  4. POSITIVE if its IoU with some ground truth is at least ``cfg.rpn_positive_overlap``
     (0.7; the paper says "higher than 0.7", the code ``>=``; we follow the code, F8 b).

* a minibatch (F13): at most ``round(cfg.rpn_fg_fraction * cfg.rpn_batch_size)`` positives
  (128 of 256) chosen at random, then negatives at random to fill the batch; the anchors
  left out become IGNORE. With few positives the batch is mostly negatives.

Steps 2–4 and the minibatch are the shared rules of :mod:`minirpn.matching`; this module
adds the border rule and the RPN's numbers.
* regression targets (F10): each positive anchor regresses to the ground truth it overlaps
  most (F8, last sentence), un-normalised (the original RPN does not normalise them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.boxes import check_boxes, check_image_size, encode
from minirpn.config import Config
from minirpn.matching import (
    IGNORE,
    NO_MATCH,
    POSITIVE,
    best_for_each_gt,
    match,
    max_positive,
    sample_balanced,
    threshold_labels,
)
from minirpn.ops import box_iou


class AnchorTargets(NamedTuple):
    """Targets of all anchors of one image, in the order of :func:`minirpn.anchors.grid_anchors`.

    Attributes:
        labels: (A,) int64, POSITIVE / NEGATIVE / IGNORE (:mod:`minirpn.matching`) after
            subsampling (F13).
        bbox_targets: (A, 4) float, ``encode(anchor, its best ground truth)`` for positive
            anchors, 0 elsewhere.
        inside_weights: (A, 4) float, 1 for positive anchors, 0 elsewhere: the mask
            ``p_i*`` of F11 that restricts the regression loss to positives.
        matched_gt: (A,) int64, index of the ground truth each anchor inside the image
            overlaps most; NO_MATCH (-1) for anchors across the border or without ground truth.
        max_iou: (A,) float64, IoU with ``matched_gt`` (0 where there is none).
    """

    labels: np.ndarray
    bbox_targets: np.ndarray
    inside_weights: np.ndarray
    matched_gt: np.ndarray
    max_iou: np.ndarray


def inside_image(
    anchors: np.ndarray, image_size: tuple[int, int], allowed_border: float
) -> np.ndarray:
    """Mask of the anchors that stay within ``allowed_border`` pixels of the image (F8 e).

    Args:
        anchors: (A, 4) boxes.
        image_size: ``(height, width)``.
        allowed_border: how far (pixels) an anchor may reach outside ``[0, w] x [0, h]``.

    Returns:
        (A,) bool mask.
    """
    height, width = check_image_size(image_size)
    return (
        (anchors[:, 0] >= -allowed_border)
        & (anchors[:, 1] >= -allowed_border)
        & (anchors[:, 2] <= width + allowed_border)
        & (anchors[:, 3] <= height + allowed_border)
    )


def label_anchors(iou: np.ndarray, cfg: Config) -> np.ndarray:
    """Rules 2–4 of the module docstring (F8 a–c) for the anchors inside the image.

    Args:
        iou: (M, G) IoU of M anchors with G ground-truth boxes (G may be 0: then every
            anchor is NEGATIVE, there is nothing to find).
        cfg: uses ``rpn_positive_overlap`` (0.7) and ``rpn_negative_overlap`` (0.3).

    Returns:
        (M,) int64 labels before subsampling.
    """
    _, max_iou = match(iou)
    labels = threshold_labels(max_iou, cfg.rpn_positive_overlap, (0.0, cfg.rpn_negative_overlap))
    labels[best_for_each_gt(iou)] = POSITIVE  # overrides NEGATIVE (F8 a)
    return labels


def anchor_targets(
    anchors: np.ndarray,
    gt_boxes: np.ndarray,
    image_size: tuple[int, int],
    cfg: Config,
    rng: np.random.Generator,
) -> AnchorTargets:
    """Labels and regression targets of every anchor of one image (F8, F10, F13).

    Args:
        anchors: (A, 4) float, all anchors of the image (:func:`minirpn.anchors.grid_anchors`).
        gt_boxes: (G, 4) float ground-truth boxes in image pixels (G may be 0), each finite,
            with x2 > x1, y2 > y1, inside ``[0, w] x [0, h]``.
        image_size: ``(height, width)`` of the (rescaled) input image.
        cfg: uses ``rpn_allowed_border``, ``rpn_positive_overlap``, ``rpn_negative_overlap``,
            ``rpn_batch_size``, ``rpn_fg_fraction``.
        rng: a ``np.random.Generator``; the subsampling is reproducible given its state.

    Returns:
        :class:`AnchorTargets` for all A anchors. With no ground truth the labels are only
        NEGATIVE and IGNORE, and the targets and weights are all zero.

    Raises:
        ValueError naming the ground-truth box that is non-finite, inverted or outside the image.
    """
    anchors = np.asarray(anchors)
    if anchors.ndim != 2 or anchors.shape[1] != 4:
        raise ValueError(f"anchors must have shape (A, 4), got {anchors.shape}")
    if not np.isfinite(anchors).all():
        row = int(np.flatnonzero(~np.isfinite(anchors).all(axis=1))[0])
        raise ValueError(f"anchors[{row}] = {anchors[row].tolist()} has non-finite coordinates")
    gt_boxes = check_boxes(gt_boxes, "gt_boxes", image_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    num_anchors = anchors.shape[0]

    inside = np.flatnonzero(inside_image(anchors, image_size, cfg.rpn_allowed_border))
    iou = box_iou(anchors[inside], gt_boxes)  # (M, G)
    labels = np.full(num_anchors, IGNORE, dtype=np.int64)
    labels[inside] = label_anchors(iou, cfg)
    labels = sample_balanced(
        labels, cfg.rpn_batch_size, max_positive(cfg.rpn_fg_fraction, cfg.rpn_batch_size), rng
    )
    matched_gt = np.full(num_anchors, NO_MATCH, dtype=np.int64)
    max_iou = np.zeros(num_anchors)
    matched_gt[inside], max_iou[inside] = match(iou)

    dtype = np.result_type(anchors, gt_boxes)
    bbox_targets = np.zeros((num_anchors, 4), dtype=dtype)
    inside_weights = np.zeros((num_anchors, 4), dtype=dtype)
    positive = np.flatnonzero(labels == POSITIVE)
    bbox_targets[positive] = encode(anchors[positive], gt_boxes[matched_gt[positive]])
    inside_weights[positive] = 1.0
    return AnchorTargets(labels, bbox_targets, inside_weights, matched_gt, max_iou)
