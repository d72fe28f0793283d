"""What a training step samples, and the RoIs' path back to the RPN (F17, F20 (3)).

* :class:`Samples` — the sampled targets of one batch, the constants of its loss;
* :func:`sample_rois` — the RoIs the head trains on, with their targets (F17);
* :func:`roi_anchors`, :func:`roi_boxes` and :func:`roi_boxes_backward` — for
  non-approximate joint training (F20 (3)): which anchor each sampled RoI was decoded
  from, the RoIs recomputed from the current deltas with that selection fixed, and the
  gradient from the RoI corners back to the deltas.

The anchor targets, the proposals and the RPN loss are the RPN stage's
(:class:`minirpn.rpn.RegionProposalNetwork`); the head's loss is
:func:`minirpn.roi_head.roi_head_loss`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets
from minirpn.boxes import as_boxes, clip_boxes, decode, decode_backward
from minirpn.config import Config
from minirpn.proposal_target import ProposalTargets, proposal_targets
from minirpn.rpn import RPNOutput

GROUND_TRUTH = -1  # roi_anchors' entry for a RoI that is a ground-truth box, not a proposal


class Samples(NamedTuple):
    """The sampled targets of one training batch: constants of the loss (F20).

    anchor_targets: one :class:`minirpn.anchor_target.AnchorTargets` per image (F8, F13).
    rois: (R, 5) float, ``(batch_index, x1, y1, x2, y2)`` of the sampled RoIs of all images.
    roi_targets: their :class:`minirpn.proposal_target.ProposalTargets`, concatenated (F17).
    roi_anchors: (R,) int64 row, among its image's anchor rows, of the anchor each RoI was
        decoded from (:data:`GROUND_TRUTH` for a ground-truth box), or None when the scheme
        does not need it (:func:`roi_anchors`).
    """

    anchor_targets: list[AnchorTargets]
    rois: np.ndarray
    roi_targets: ProposalTargets
    roi_anchors: np.ndarray | None = None


def sample_rois(
    proposals: list[np.ndarray], targets, num_classes: int, cfg: Config, rng, dtype
) -> tuple[np.ndarray, ProposalTargets]:
    """The head's RoIs of a batch (F17): sampled per image, then stacked.

    Args:
        proposals: per image, its (P_b, 4) proposal boxes.
        targets: per image, its :class:`~minirpn.ground_truth.GroundTruth`.

    Returns:
        rois (R, 5) ``(batch_index, x1, y1, x2, y2)`` in ``dtype``, and the RoIs'
        :class:`ProposalTargets` concatenated in the same order.
    """
    rois, sampled_targets = [], []
    for b, (boxes, target) in enumerate(zip(proposals, targets, strict=True)):
        sampled = proposal_targets(
            boxes,
            as_boxes(target.boxes, "gt_boxes"),
            np.asarray(target.labels),
            num_classes,
            cfg,
            rng,
        )
        batch_column = np.full((len(sampled.rois), 1), b, dtype=dtype)
        rois.append(np.hstack([batch_column, sampled.rois.astype(dtype)]))
        sampled_targets.append(sampled)
    merged = ProposalTargets(
        *(np.concatenate(parts) for parts in zip(*sampled_targets, strict=True))
    )
    return np.concatenate(rois), merged


def roi_anchors(rois: np.ndarray, candidates: np.ndarray, anchor_rows) -> np.ndarray:
    """The anchor each sampled RoI was decoded from (F20 (3)).

    Args:
        rois: (R, 5) sampled RoIs; column 0 is the image of the batch.
        candidates: (R,) their ``ProposalTargets.candidates`` (row among that image's
            proposals, then its ground-truth boxes).
        anchor_rows: per image, the (P_b,) anchor rows of its proposals
            (:attr:`minirpn.rpn.Proposals.anchor_rows`).

    Returns:
        (R,) int64: the anchor row, or :data:`GROUND_TRUTH` for a ground-truth box.
    """
    out = np.full(len(rois), GROUND_TRUTH, dtype=np.int64)
    batch = rois[:, 0].astype(np.int64)
    for b, rows in enumerate(anchor_rows):
        proposal = (batch == b) & (candidates < len(rows))  # candidates past P are gt boxes
        out[proposal] = rows[candidates[proposal]]
    return out


def roi_boxes(rois, anchor_rows, rpn_out: RPNOutput, image_size) -> np.ndarray:
    """The RoIs recomputed from the RPN's current deltas, the selections held fixed (F20 (3)).

    A RoI that came from a proposal is its anchor decoded with that anchor's deltas and
    clipped to the image, as the proposal layer computes it (F10, F15): bit for bit the same
    box while the deltas are those it was sampled with. Ground-truth RoIs stay as they are.

    Args:
        rois: (R, 5) the sampled RoIs; anchor_rows: (R,) from :func:`roi_anchors`.
        rpn_out: the RPN's output the deltas are read from.
        image_size: ``(height, width)`` the proposals were clipped to.

    Returns:
        a new (R, 5) array in the dtype of ``rois``.
    """
    out = rois.copy()
    for b, rows, anchor_rows_b in _proposal_rows(rois, anchor_rows):
        _, deltas, anchors = rpn_out.rows(b)
        boxes = decode(
            anchors[anchor_rows_b].astype(deltas.dtype, copy=False), deltas[anchor_rows_b]
        )
        out[rows, 1:] = clip_boxes(boxes, image_size)
    return out


def roi_boxes_backward(drois, rois, anchor_rows, rpn_out: RPNOutput, image_size) -> list:
    """Backward of :func:`roi_boxes`: d loss / d RoI corners → d loss / d deltas (F20 (3)).

    Each proposal RoI's corner gradient goes back through the clip (a clipped corner gets
    none) and the decoding (:func:`minirpn.boxes.decode_backward`) into the deltas of its
    own anchor; ground-truth RoIs send nothing.

    Args:
        drois: (R, 5) d loss / d ``(batch, x1, y1, x2, y2)``; column 0 is ignored.
        rois, anchor_rows, rpn_out, image_size: as given to :func:`roi_boxes`.

    Returns:
        per map, (B, 4A, h, w) d loss / d deltas, zero for every anchor no RoI came from.
    """
    out = [np.zeros_like(d) for d in rpn_out.deltas]
    for b, rows, anchor_rows_b in _proposal_rows(rois, anchor_rows):
        _, deltas, anchors = rpn_out.rows(b)
        drows = np.zeros_like(deltas)  # (K, 4)
        np.add.at(
            drows,
            anchor_rows_b,
            decode_backward(
                anchors[anchor_rows_b].astype(deltas.dtype, copy=False),
                deltas[anchor_rows_b],
                drois[rows, 1:],
                image_size=image_size,
            ),
        )
        rpn_out.scatter_rows(drows, out, b)
    return out


def _proposal_rows(rois, anchor_rows):
    """``(b, rows, anchor rows)`` of each image's RoIs that came from proposals."""
    batch = rois[:, 0].astype(np.int64)
    for b in np.unique(batch[anchor_rows != GROUND_TRUTH]):
        rows = np.flatnonzero((batch == b) & (anchor_rows != GROUND_TRUTH))
        yield int(b), rows, anchor_rows[rows]
