"""The region proposal network as one stage (F6, F7, F8, F11, F13, F15, F16).

:class:`RegionProposalNetwork` owns everything the first stage does, so that the chain
features -> head -> anchors -> proposals is written once, here:

* the **anchors** of every cell (F7), centred on the cells' receptive-field centres (F4);
* the **head** (:class:`minirpn.rpn_head.RPNHead`, F6): objectness logits and box deltas
  for every anchor;
* the **anchor targets** (:func:`minirpn.anchor_target.anchor_targets`, F8, F13): which
  anchors a training image's ground truth makes positive or negative;
* the **loss** (:func:`minirpn.rpn_head.rpn_loss_rows`, F11, F12), averaged over the images;
* the **proposal layer** (:func:`minirpn.proposal.propose_rows`, F15, F16).

It works on a list of feature maps (the tiny detector has one): the head slides over each
map, and an image's anchors are those of every map, one after the other, as rows. With one
map the rows are exactly :func:`minirpn.rpn_head.flatten_scores` of the head's output.

Use::

    rpn = detector.rpn
    out, cache = rpn.forward(features)                  # RPNOutput: scores, deltas, anchors
    proposals = rpn.propose(out, (height, width), train=False)   # one Proposals per image
    targets = rpn.anchor_targets(out, gt_boxes, (height, width), rng)
    loss = rpn.loss(out, targets)                       # losses by name and their gradients
    dfeatures = rpn.backward(loss.dscores, loss.ddeltas, cache)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets, anchor_targets
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import as_boxes
from minirpn.config import Config
from minirpn.nn import Container
from minirpn.proposal import propose_rows
from minirpn.rpn_head import RPNHead, flatten_deltas, flatten_scores, rpn_loss_rows, unflatten_rows


class RPNOutput(NamedTuple):
    """What the RPN predicts for a batch, one entry per feature map.

    scores: (B, 2A, h, w) (background, object) logits of each anchor (layout:
        :mod:`minirpn.rpn_head`).
    deltas: (B, 4A, h, w) box deltas (F10) of each anchor.
    anchors: (h * w * A, 4) the anchors of that map, in the head's output order (F7).
    """

    scores: list[np.ndarray]
    deltas: list[np.ndarray]
    anchors: list[np.ndarray]

    def rows(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``b``'s anchors as rows, every map's after the previous one's:
        ``(logits (K, 2), deltas (K, 4), anchors (K, 4))``. With one map they may share
        memory with the outputs and :attr:`anchors` (read them, do not write)."""
        return (
            _stack_rows([flatten_scores(s[b]) for s in self.scores]),
            _stack_rows([flatten_deltas(d[b]) for d in self.deltas]),
            _stack_rows(self.anchors),
        )

    def scatter_rows(self, rows: np.ndarray, grads: list[np.ndarray], b: int) -> None:
        """Write image ``b``'s row gradients (K, k) into each map's (B, k A, h, w) array:
        the inverse of :meth:`rows` for a gradient."""
        start = 0
        for grad in grads:
            _, channels, feat_h, feat_w = grad.shape
            stop = start + feat_h * feat_w * channels // rows.shape[1]
            grad[b] = unflatten_rows(rows[start:stop], feat_h, feat_w)
            start = stop

    @property
    def num_locations(self) -> int:
        """Anchor locations (cells) of all maps: the paper's N_reg (F11)."""
        return sum(s.shape[2] * s.shape[3] for s in self.scores)


def _stack_rows(parts: list[np.ndarray]) -> np.ndarray:
    """The rows of every map, one after the other (one map's as they are: no copy)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class Proposals(NamedTuple):
    """One image's proposals (F15, F16), best first.

    boxes: (P, 4) ``(x1, y1, x2, y2)`` inside the image; scores: (P,) objectness;
    anchor_rows: (P,) int64 row of each proposal's anchor among the image's anchor rows
    (:meth:`RPNOutput.rows`), the selection non-approximate joint training holds fixed.
    """

    boxes: np.ndarray
    scores: np.ndarray
    anchor_rows: np.ndarray


class RPNLossResult(NamedTuple):
    """The RPN loss of a batch (F11): the terms by name and the gradients of their sum.

    losses: ``{"rpn_cls": ..., "rpn_reg": ...}`` (``rpn_reg`` includes lambda), each the mean
    over the images. dscores, ddeltas: per map, shaped as :class:`RPNOutput`'s.
    """

    losses: dict[str, float]
    dscores: list[np.ndarray]
    ddeltas: list[np.ndarray]


class RegionProposalNetwork(Container):
    """The first stage of Faster R-CNN over a list of feature maps (see the module docstring).

    Args:
        cfg: uses the anchor fields (``anchor_base_size``, ``anchor_ratios``,
            ``anchor_scales``, ``feat_stride``), ``rpn_channels``, ``init_std``, and the
            fields of the anchor targets, the RPN loss and the proposal layer.
        in_channels: channels of the feature maps.
        anchor_center: x = y centre of cell 0's anchors in image pixels (the receptive-field
            centre of cell 0, F4, unless ``cfg.anchor_center`` says otherwise).
        rng, dtype: the head's initialisation (F14) and parameter dtype.

    Its parameters are the head's, named as the head names them (``conv.weight``,
    ``cls_score.weight``, ``bbox_pred.weight`` and the biases); the anchors are computed
    from the config when asked for, never stored.
    """

    def __init__(
        self,
        cfg: Config,
        in_channels: int,
        anchor_center: float,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        self.cfg = cfg
        self.anchor_center = float(anchor_center)
        self.head = RPNHead(
            in_channels, cfg.rpn_channels, cfg.num_anchors, std=cfg.init_std, rng=rng, dtype=dtype
        )
        super().__init__(self.head.children)  # the head's layers, under the head's names

    @property
    def base_anchors(self) -> np.ndarray:
        """(A, 4) the anchors of cell 0 (F7), centred on :attr:`anchor_center`."""
        cfg = self.cfg
        return generate_base_anchors(
            cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales, center=self.anchor_center
        )

    def anchors(self, feat_h: int, feat_w: int) -> np.ndarray:
        """(feat_h * feat_w * A, 4) anchors of one map, in the head's output order (F7)."""
        return grid_anchors(self.base_anchors, feat_h, feat_w, self.cfg.feat_stride)

    def forward(self, features: Sequence[np.ndarray]):
        """The head on each map: ``(RPNOutput, cache)``, cache one head cache per map."""
        scores, deltas, anchors, caches = [], [], [], []
        for feature in features:
            (s, d), cache = self.head.forward(feature)
            scores.append(s)
            deltas.append(d)
            anchors.append(self.anchors(*feature.shape[2:]))
            caches.append(cache)
        return RPNOutput(scores, deltas, anchors), tuple(caches)

    def backward(self, dscores, ddeltas, cache) -> list[np.ndarray]:
        """Gradients of the outputs (per map) -> d loss / d each feature map."""
        return [
            self.head.backward((ds, dd), c)
            for ds, dd, c in zip(dscores, ddeltas, cache, strict=True)
        ]

    def propose(self, out: RPNOutput, image_size: tuple[int, int], *, train: bool):
        """The proposal layer (F15, F16) on each image of the batch: a list of :class:`Proposals`.

        ``train`` picks the training or the test top-N of the config.
        """
        proposals = []
        for b in range(len(out.scores[0])):
            logits, deltas, anchors = out.rows(b)
            boxes, scores, rows = propose_rows(
                logits, deltas, anchors, image_size, self.cfg, train=train
            )
            proposals.append(Proposals(boxes, scores, rows))
        return proposals

    def anchor_targets(
        self, out: RPNOutput, gt_boxes: Sequence, image_size: tuple[int, int], rng
    ) -> list[AnchorTargets]:
        """Labels and regression targets of every anchor of each image (F8, F13).

        gt_boxes: one (G_b, 4) array per image; rng draws the minibatch of each image in turn.
        """
        anchors = np.concatenate(out.anchors)
        return [
            anchor_targets(anchors, as_boxes(boxes, "gt_boxes"), image_size, self.cfg, rng)
            for boxes in gt_boxes
        ]

    def loss(self, out: RPNOutput, targets: Sequence[AnchorTargets]) -> RPNLossResult:
        """The RPN loss (F11) of each image, averaged over the batch, and its gradients."""
        batch = len(targets)
        losses = {"rpn_cls": 0.0, "rpn_reg": 0.0}
        dscores = [np.empty_like(s) for s in out.scores]
        ddeltas = [np.empty_like(d) for d in out.deltas]
        for b, image_targets in enumerate(targets):
            logits, deltas, _ = out.rows(b)
            loss_cls, loss_reg, dlogits, dpred = rpn_loss_rows(
                logits, deltas, image_targets, self.cfg, out.num_locations
            )
            losses["rpn_cls"] += loss_cls / batch
            losses["rpn_reg"] += loss_reg / batch
            out.scatter_rows(dlogits, dscores, b)
            out.scatter_rows(dpred, ddeltas, b)
        for grad in dscores + ddeltas:  # the batch loss is the mean of the images'
            grad /= batch
        return RPNLossResult(losses, dscores, ddeltas)
