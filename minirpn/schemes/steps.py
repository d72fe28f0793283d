"""The pieces a training scheme is made of: sampling targets, proposing, the two losses.

Each function does one stage's training-time job for a batch and returns plain arrays, so
a scheme can run them in any order, on any subset of the stages:

* :func:`sample_anchor_targets` — labels and regression targets of every anchor (F8, F13);
* :func:`propose` — the proposal layer on each image (F15, F16);
* :func:`sample_rois` — the RoIs the head trains on, with their targets (F17);
* :func:`rpn_batch_loss` — the RPN loss (F11), averaged over the images of the batch;
* :func:`roi_anchors`, :func:`roi_boxes` and :func:`roi_boxes_backward` — for
  non-approximate joint training (F20 (3)): which anchor each sampled RoI was decoded
  from, the RoIs recomputed from the current deltas with that selection fixed, and the
  gradient from the RoI corners back to the deltas.

The head's loss is :func:`minirpn.roi_head.roi_head_loss`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets, anchor_targets
from minirpn.boxes import as_boxes, clip_boxes, decode, decode_backward
from minirpn.config import Config
from minirpn.proposal import proposal_layer
from minirpn.proposal_target import ProposalTargets, proposal_targets
from minirpn.rpn import flatten_deltas, rpn_loss, unflatten_deltas

GROUND_TRUTH = -1  # roi_anchors' entry for a RoI that is a ground-truth box, not a proposal

# The four losses of a two-stage step, in the order the history and the progress bar use.
LOSS_NAMES = ("rpn_cls", "rpn_reg", "cls", "reg")


class Targets(NamedTuple):
    """The sampled targets of one training batch: constants of the loss (F20).

    anchor_targets: one :class:`minirpn.anchor_target.AnchorTargets` per image (F8, F13).
    rois: (R, 5) float, ``(batch_index, x1, y1, x2, y2)`` of the sampled RoIs of all images.
    roi_targets: their :class:`minirpn.proposal_target.ProposalTargets`, concatenated (F17).
    roi_anchors: (R,) int64 row, in its image's anchors, of the anchor each RoI was
        decoded from (:data:`GROUND_TRUTH` for a ground-truth box), or None when the scheme
        does not need it (:func:`roi_anchors`).
    """

    anchor_targets: list[AnchorTargets]
    rois: np.ndarray
    roi_targets: ProposalTargets
    roi_anchors: np.ndarray | None = None


def sample_anchor_targets(
    anchors: np.ndarray, gt_boxes, image_size: tuple[int, int], cfg: Config, rng
) -> list[AnchorTargets]:
    """Anchor targets of every image of a batch (F8, F13): one minibatch per image."""
    return [
        anchor_targets(anchors, as_boxes(b, "gt_boxes"), image_size, cfg, rng) for b in gt_boxes
    ]


def propose(
    scores: np.ndarray,
    deltas: np.ndarray,
    anchors: np.ndarray,
    image_size,
    cfg: Config,
    *,
    train,
    return_indices: bool = False,
) -> list:
    """The proposal layer (F15, F16) on each image: a list of (P_b, 4) boxes.

    With ``return_indices`` each item is ``(boxes (P_b, 4), anchor_indices (P_b,))``, the
    row of each proposal's anchor (:func:`minirpn.proposal.proposal_layer`).
    """
    out = []
    for b in range(len(scores)):
        boxes, _, index = proposal_layer(
            scores[b : b + 1],
            deltas[b : b + 1],
            anchors,
            image_size,
            cfg,
            train=train,
            return_indices=True,
        )
        out.append((boxes, index) if return_indices else boxes)
    return out


def sample_rois(
    proposals: list[np.ndarray], gt_boxes, gt_labels, num_classes: int, cfg: Config, rng, dtype
) -> tuple[np.ndarray, ProposalTargets]:
    """The head's RoIs of a batch (F17): sampled per image, then stacked.

    Returns:
        rois (R, 5) ``(batch_index, x1, y1, x2, y2)`` in ``dtype``, and the RoIs'
        :class:`ProposalTargets` concatenated in the same order.
    """
    rois, targets = [], []
    for b, (boxes, boxes_gt, labels) in enumerate(zip(proposals, gt_boxes, gt_labels, strict=True)):
        sampled = proposal_targets(
            boxes, as_boxes(boxes_gt, "gt_boxes"), np.asarray(labels), num_classes, cfg, rng
        )
        batch_column = np.full((len(sampled.rois), 1), b, dtype=dtype)
        rois.append(np.hstack([batch_column, sampled.rois.astype(dtype)]))
        targets.append(sampled)
    merged = ProposalTargets(*(np.concatenate(parts) for parts in zip(*targets, strict=True)))
    return np.concatenate(rois), merged


def roi_anchors(rois: np.ndarray, candidates: np.ndarray, anchor_indices) -> np.ndarray:
    """The anchor each sampled RoI was decoded from (F20 (3)).

    Args:
        rois: (R, 5) sampled RoIs; column 0 is the image of the batch.
        candidates: (R,) their ``ProposalTargets.candidates`` (row among that image's
            proposals, then its ground-truth boxes).
        anchor_indices: per image, the (P_b,) anchor rows of its proposals (:func:`propose`
            with ``return_indices``).

    Returns:
        (R,) int64: the anchor row, or :data:`GROUND_TRUTH` for a ground-truth box.
    """
    out = np.full(len(rois), GROUND_TRUTH, dtype=np.int64)
    for r, (b, c) in enumerate(zip(rois[:, 0].astype(np.int64), candidates, strict=True)):
        if c < len(anchor_indices[b]):
            out[r] = anchor_indices[b][c]
    return out


def roi_boxes(rois, anchor_rows, deltas, anchors, image_size) -> np.ndarray:
    """The RoIs recomputed from the RPN's current deltas, the selections held fixed (F20 (3)).

    A RoI that came from a proposal is its anchor decoded with that anchor's deltas and
    clipped to the image, as the proposal layer computes it (F10, F15): bit for bit the same
    box while the deltas are those it was sampled with. Ground-truth RoIs stay as they are.

    Args:
        rois: (R, 5) the sampled RoIs; anchor_rows: (R,) from :func:`roi_anchors`.
        deltas: (B, 4A, h, w) the RPN's regression output; anchors: (h * w * A, 4).
        image_size: ``(height, width)`` the proposals were clipped to.

    Returns:
        a new (R, 5) array in the dtype of ``rois``.
    """
    out = rois.copy()
    for b, rows, anchor_rows_b in _proposal_rows(rois, anchor_rows):
        flat = flatten_deltas(deltas[b])[anchor_rows_b]  # (n, 4)
        boxes = decode(anchors[anchor_rows_b].astype(deltas.dtype, copy=False), flat)
        out[rows, 1:] = clip_boxes(boxes, image_size)
    return out


def roi_boxes_backward(drois, rois, anchor_rows, deltas, anchors, image_size) -> np.ndarray:
    """Backward of :func:`roi_boxes`: d loss / d RoI corners → d loss / d deltas (F20 (3)).

    Each proposal RoI's corner gradient goes back through the clip (a clipped corner gets
    none) and the decoding (:func:`minirpn.boxes.decode_backward`) into the deltas of its
    own anchor; ground-truth RoIs send nothing.

    Args:
        drois: (R, 5) d loss / d ``(batch, x1, y1, x2, y2)``; column 0 is ignored.
        rois, anchor_rows, deltas, anchors, image_size: as given to :func:`roi_boxes`.

    Returns:
        (B, 4A, h, w) d loss / d deltas, zero for every anchor no RoI came from.
    """
    out = np.zeros_like(deltas)
    _, _, feat_h, feat_w = deltas.shape
    for b, rows, anchor_rows_b in _proposal_rows(rois, anchor_rows):
        flat = flatten_deltas(deltas[b])[anchor_rows_b]
        dflat_rows = decode_backward(
            anchors[anchor_rows_b].astype(deltas.dtype, copy=False),
            flat,
            drois[rows, 1:],
            image_size=image_size,
        )
        dflat = np.zeros((len(anchors), 4), dtype=deltas.dtype)
        np.add.at(dflat, anchor_rows_b, dflat_rows)
        out[b] = unflatten_deltas(dflat, feat_h, feat_w)
    return out


def _proposal_rows(rois, anchor_rows):
    """``(b, rows, anchor rows)`` of each image's RoIs that came from proposals."""
    batch = rois[:, 0].astype(np.int64)
    for b in np.unique(batch[anchor_rows != GROUND_TRUTH]):
        rows = np.flatnonzero((batch == b) & (anchor_rows != GROUND_TRUTH))
        yield int(b), rows, anchor_rows[rows]


def rpn_batch_loss(scores, deltas, targets: list[AnchorTargets], cfg: Config):
    """The RPN loss (F11) of a batch: each image's loss, averaged over the images.

    Returns:
        ``(loss_cls, loss_reg, dscores (B, 2A, h, w), ddeltas (B, 4A, h, w))``.
    """
    batch = len(scores)
    loss_cls = loss_reg = 0.0
    dscores, ddeltas = np.empty_like(scores), np.empty_like(deltas)
    for b in range(batch):
        loss = rpn_loss(scores[b : b + 1], deltas[b : b + 1], targets[b], cfg)
        loss_cls += loss.loss_cls / batch
        loss_reg += loss.loss_reg / batch
        dscores[b] = loss.dscores[0] / batch
        ddeltas[b] = loss.ddeltas[0] / batch
    return loss_cls, loss_reg, dscores, ddeltas
