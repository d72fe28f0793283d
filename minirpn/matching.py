"""Matching boxes to ground truth and sampling a balanced minibatch: the rules both stages share.

The RPN's anchor targets (F8, F13) and the second stage's RoI targets (F17) follow the
same recipe, with different numbers:

1. :func:`match` — the IoU matrix (F9) of the candidates with the ground truth gives each
   candidate the ground truth it overlaps most, and that IoU;
2. :func:`threshold_labels` — POSITIVE at or above one threshold, NEGATIVE inside a
   background range, IGNORE in between (anchors: >= 0.7 / [0, 0.3); RoIs: >= 0.5 /
   [0.1, 0.5));
3. :func:`best_for_each_gt` — the RPN's extra rule (F8 a): each ground truth's best
   anchors are positive even when their IoU is below the threshold;
4. :func:`sample_balanced` — keep at most ``max_positive`` positives at random, then fill
   the batch with negatives at random; the rest become IGNORE (F13: 256 anchors, up to
   half positive; F17: 128 RoIs, up to a quarter foreground).
"""

from __future__ import annotations

import numpy as np

POSITIVE = 1
NEGATIVE = 0
IGNORE = -1
NO_MATCH = -1  # matched index of a candidate when there is no ground truth


def match(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's best ground truth (F8, last sentence; F17).

    Args:
        iou: (M, G) IoU of M candidates with G ground-truth boxes (G may be 0).

    Returns:
        matched (M,) int64, the index of the ground truth with the highest IoU (the first
        on ties; NO_MATCH if G = 0), and max_iou (M,) float64, that IoU (0 if G = 0).
    """
    num_candidates, num_gt = iou.shape
    if num_gt == 0:
        return np.full(num_candidates, NO_MATCH, dtype=np.int64), np.zeros(num_candidates)
    matched = iou.argmax(axis=1)  # (M,)
    return matched.astype(np.int64), iou[np.arange(num_candidates), matched].astype(np.float64)


def threshold_labels(
    max_iou: np.ndarray, positive_iou: float, negative_range: tuple[float, float]
) -> np.ndarray:
    """Labels from each candidate's best IoU: POSITIVE, NEGATIVE or IGNORE.

    Args:
        max_iou: (M,) best IoU of each candidate with any ground truth.
        positive_iou: POSITIVE where ``max_iou >= positive_iou`` (the original code's ``>=``;
            the paper writes "higher than 0.7").
        negative_range: ``(lo, hi)``: NEGATIVE where ``lo <= max_iou < hi``.

    Returns:
        (M,) int64 labels; POSITIVE wins where the two rules overlap.
    """
    lo, hi = negative_range
    labels = np.full(max_iou.shape, IGNORE, dtype=np.int64)
    labels[(max_iou >= lo) & (max_iou < hi)] = NEGATIVE
    labels[max_iou >= positive_iou] = POSITIVE
    return labels


def best_for_each_gt(iou: np.ndarray) -> np.ndarray:
    """Mask of the candidates that have the highest IoU of some ground truth (F8 a).

    Every candidate tied for that highest IoU counts, as in the original, but only where
    the IoU is above 0: the original would make *every* anchor positive for a ground truth
    that no anchor touches.

    Args:
        iou: (M, G) IoU matrix (G may be 0).

    Returns:
        (M,) bool mask.
    """
    if iou.size == 0:
        return np.zeros(iou.shape[0], dtype=bool)
    gt_best = iou.max(axis=0)  # (G,)
    # (M, G): exact equality, as the original; ties come from symmetric placements.
    return ((iou == gt_best[None, :]) & (gt_best[None, :] > 0)).any(axis=1)


def sample_balanced(
    labels: np.ndarray, batch_size: int, max_positive: int, rng: np.random.Generator
) -> np.ndarray:
    """A minibatch of at most ``max_positive`` positives, filled up with negatives (F13, F17).

    Args:
        labels: (M,) int64 POSITIVE / NEGATIVE / IGNORE.
        batch_size: size of the minibatch (256 anchors, 128 RoIs).
        max_positive: most positives kept (``round(fraction * batch_size)``).
        rng: the generator that picks which candidates stay; drawn from only when there
            are more candidates of a kind than places for them.

    Returns:
        a new (M,) labels array: the candidates left out are IGNORE. With few positives the
        batch is mostly negatives; with few candidates it is smaller than ``batch_size``.
    """
    labels = labels.copy()
    positive = np.flatnonzero(labels == POSITIVE)
    if positive.size > max_positive:
        labels[rng.choice(positive, size=positive.size - max_positive, replace=False)] = IGNORE
    max_negative = batch_size - min(positive.size, max_positive)
    negative = np.flatnonzero(labels == NEGATIVE)
    if negative.size > max_negative:
        labels[rng.choice(negative, size=negative.size - max_negative, replace=False)] = IGNORE
    return labels


def max_positive(fraction: float, batch_size: int) -> int:
    """``round(fraction * batch_size)``: the most positives a minibatch may hold."""
    return int(np.round(fraction * batch_size))
