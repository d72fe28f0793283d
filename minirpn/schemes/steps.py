"""The pieces a training scheme is made of: sampling targets, proposing, the two losses.

Each function does one stage's training-time job for a batch and returns plain arrays, so
a scheme can run them in any order, on any subset of the stages:

* :func:`sample_anchor_targets` — labels and regression targets of every anchor (F8, F13);
* :func:`propose` — the proposal layer on each image (F15, F16);
* :func:`sample_rois` — the RoIs the head trains on, with their targets (F17);
* :func:`rpn_batch_loss` — the RPN loss (F11), averaged over the images of the batch.

The head's loss is :func:`minirpn.roi_head.roi_head_loss`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets, anchor_targets
from minirpn.boxes import as_boxes
from minirpn.config import Config
from minirpn.proposal import proposal_layer
from minirpn.proposal_target import ProposalTargets, proposal_targets
from minirpn.rpn import rpn_loss

# The four losses of a two-stage step, in the order the history and the progress bar use.
LOSS_NAMES = ("rpn_cls", "rpn_reg", "cls", "reg")


class Targets(NamedTuple):
    """The sampled targets of one training batch: constants of the loss (F20).

    anchor_targets: one :class:`minirpn.anchor_target.AnchorTargets` per image (F8, F13).
    rois: (R, 5) float, ``(batch_index, x1, y1, x2, y2)`` of the sampled RoIs of all images.
    roi_targets: their :class:`minirpn.proposal_target.ProposalTargets`, concatenated (F17).
    """

    anchor_targets: list[AnchorTargets]
    rois: np.ndarray
    roi_targets: ProposalTargets


def sample_anchor_targets(
    anchors: np.ndarray, gt_boxes, image_size: tuple[int, int], cfg: Config, rng
) -> list[AnchorTargets]:
    """Anchor targets of every image of a batch (F8, F13): one minibatch per image."""
    return [
        anchor_targets(anchors, as_boxes(b, "gt_boxes"), image_size, cfg, rng) for b in gt_boxes
    ]


def propose(
    scores: np.ndarray, deltas: np.ndarray, anchors: np.ndarray, image_size, cfg: Config, *, train
) -> list[np.ndarray]:
    """The proposal layer (F15, F16) on each image: a list of (P_b, 4) boxes."""
    return [
        proposal_layer(scores[b : b + 1], deltas[b : b + 1], anchors, image_size, cfg, train=train)[
            0
        ]
        for b in range(len(scores))
    ]


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
