"""Proposal targets: the RoIs the second stage trains on, with their labels and targets (F17).

For one image (py-faster-rcnn's ``proposal_target_layer``):

1. candidates = the proposals plus the ground-truth boxes themselves (so that early in
   training, when the proposals are poor, there is always some foreground);
2. each candidate is matched to the ground truth it overlaps most (IoU, F9);
3. foreground: IoU >= ``cfg.roi_fg_thresh`` (0.5), at most
   ``round(cfg.roi_fg_fraction * cfg.roi_batch_size)`` (32 of 128) chosen at random,
   labelled with the class of their ground truth (label 0 is BACKGROUND, the classes are
   1..C, so the head has C + 1 outputs);
4. background: IoU in ``[cfg.roi_bg_thresh_lo, cfg.roi_bg_thresh_hi)`` ([0.1, 0.5)), chosen
   at random to fill the batch, label 0. The lower bound 0.1 keeps only background that
   touches an object (a crude hard-negative mining); 0.0 admits every proposal. An image
   without ground truth has nothing to touch: there every proposal is background.
   Too few candidates give fewer RoIs, never an error;
5. regression targets (F10, F17): class-specific — a row has 4 columns per class and only
   the 4 of the RoI's own class are set (and have inside / outside weight 1), normalised
   as ``(t - cfg.bbox_normalize_means) / cfg.bbox_normalize_stds``.

Steps 2–4 are the shared rules of :mod:`minirpn.matching` with the second stage's numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.boxes import COORDS_PER_BOX, check_boxes, encode
from minirpn.config import Config
from minirpn.matching import (
    NEGATIVE,
    POSITIVE,
    match,
    max_positive,
    sample_balanced,
    threshold_labels,
)
from minirpn.ops import box_iou

BACKGROUND = 0  # the class id of "no object"; the object classes are 1..C


class ProposalTargets(NamedTuple):
    """Sampled RoIs of one image, foreground first (R <= cfg.roi_batch_size).

    Attributes:
        rois: (R, 4) boxes ``(x1, y1, x2, y2)`` in image pixels.
        labels: (R,) int64 class ids, 0 = background.
        bbox_targets: (R, 4 (C + 1)); row r holds normalised deltas in columns
            ``4 * labels[r] : 4 * labels[r] + 4`` if r is foreground, zeros elsewhere.
        inside_weights: (R, 4 (C + 1)), 1 where ``bbox_targets`` is set, else 0.
        outside_weights: (R, 4 (C + 1)), equal to ``inside_weights`` (the original's
            choice; the head's loss divides by the number of RoIs itself).
        matched_gt: (R,) int64 index of the ground truth each RoI overlaps most (NO_MATCH if
            the image has none).
        max_iou: (R,) float64 that IoU.
        candidates: (R,) int64 row of each RoI among the candidates ``[proposals;
            gt_boxes]``: ``i < P`` is proposal i, ``P + g`` is ground-truth box g. It lets
            non-approximate joint training (F20 (3)) trace a RoI back to its anchor.
    """

    rois: np.ndarray
    labels: np.ndarray
    bbox_targets: np.ndarray
    inside_weights: np.ndarray
    outside_weights: np.ndarray
    matched_gt: np.ndarray
    max_iou: np.ndarray
    candidates: np.ndarray


def proposal_targets(
    proposals: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    num_classes: int,
    cfg: Config,
    rng: np.random.Generator,
) -> ProposalTargets:
    """Sample the second stage's RoIs of one image and compute their targets (F17).

    Args:
        proposals: (P, 4) float, output of :func:`minirpn.proposal.proposal_layer` (P may be 0).
        gt_boxes: (G, 4) float ground-truth boxes (G may be 0), finite, x2 > x1, y2 > y1.
        gt_labels: (G,) int class ids in ``1 .. num_classes``.
        num_classes: C, the number of object classes, background excluded (20 for PASCAL VOC).
        cfg: uses ``roi_batch_size``, ``roi_fg_fraction``, ``roi_fg_thresh``,
            ``roi_bg_thresh_hi``, ``roi_bg_thresh_lo``, ``bbox_normalize_means``,
            ``bbox_normalize_stds``.
        rng: ``np.random.Generator`` that picks the RoIs.

    Returns:
        :class:`ProposalTargets`; rows are the sampled foreground RoIs, then the background ones.
    """
    proposals = np.asarray(proposals)
    if proposals.ndim != 2 or proposals.shape[1] != COORDS_PER_BOX:
        raise ValueError(f"proposals must have shape (P, 4), got {proposals.shape}")
    if not np.isfinite(proposals).all():
        row = int(np.flatnonzero(~np.isfinite(proposals).all(axis=1))[0])
        raise ValueError(f"proposals[{row}] = {proposals[row].tolist()} has non-finite coordinates")
    gt_boxes = check_boxes(gt_boxes, "gt_boxes")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(
            f"num_classes must be a positive int (C, the object classes), got {num_classes!r}"
        )
    gt_labels = np.asarray(gt_labels)
    if gt_labels.shape != (gt_boxes.shape[0],) or (
        gt_labels.size and not np.issubdtype(gt_labels.dtype, np.integer)
    ):
        raise ValueError(
            f"gt_labels must be {gt_boxes.shape[0]} integers, one per gt box, got {gt_labels!r}"
        )
    bad = np.flatnonzero((gt_labels < 1) | (gt_labels > num_classes))
    if bad.size:
        raise ValueError(
            f"gt_labels[{bad[0]}] = {gt_labels[bad[0]]} is not a class id in 1..{num_classes}"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")

    dtype = np.result_type(proposals, gt_boxes)
    candidates = np.concatenate([proposals, gt_boxes]).astype(dtype, copy=False)  # (P+G, 4)
    matched_gt, max_iou = match(box_iou(candidates, gt_boxes))  # (P+G,) each
    if gt_boxes.shape[0] > 0:
        kind = threshold_labels(
            max_iou, cfg.roi_fg_thresh, (cfg.roi_bg_thresh_lo, cfg.roi_bg_thresh_hi)
        )
    else:  # nothing to touch: every proposal is background
        kind = np.full(candidates.shape[0], NEGATIVE, dtype=np.int64)
    fg_quota = max_positive(cfg.roi_fg_fraction, cfg.roi_batch_size)
    kind = sample_balanced(kind, cfg.roi_batch_size, fg_quota, rng)
    fg, bg = np.flatnonzero(kind == POSITIVE), np.flatnonzero(kind == NEGATIVE)
    num_fg = fg.size
    keep = np.concatenate([fg, bg])  # (R,) foreground first
    rois = candidates[keep]
    labels = np.zeros(keep.size, dtype=np.int64)
    labels[:num_fg] = gt_labels[matched_gt[fg]]
    bbox_targets = np.zeros((keep.size, COORDS_PER_BOX * (num_classes + 1)), dtype=dtype)
    inside_weights = np.zeros_like(bbox_targets)
    if num_fg > 0:
        deltas = encode(
            rois[:num_fg],
            gt_boxes[matched_gt[fg]],
            cfg.bbox_normalize_means,
            cfg.bbox_normalize_stds,
        )  # (F, 4)
        # Column block of each RoI's own class: (F, 4) indices 4*label .. 4*label + 3.
        columns = COORDS_PER_BOX * labels[:num_fg, None] + np.arange(COORDS_PER_BOX)[None, :]
        rows = np.arange(num_fg)[:, None]
        bbox_targets[rows, columns] = deltas
        inside_weights[rows, columns] = 1.0
    return ProposalTargets(
        rois,
        labels,
        bbox_targets,
        inside_weights,
        inside_weights.copy(),
        matched_gt[keep],
        max_iou[keep],
        keep.astype(np.int64),
    )
