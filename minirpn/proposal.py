"""The proposal layer: the RPN's dense predictions → a few thousand region proposals (F15, F16).

For one image, in this order (F15). All anchors take part, also those that cross the image
border (which the anchor targets ignore during training): their boxes are clipped instead.

1. objectness = softmax probability of "object" for every anchor;
2. decode: apply each anchor's predicted deltas (F10) to get a box;
3. clip every box to the image;
4. drop boxes narrower or lower than ``cfg.rpn_min_size * image_scale`` pixels (the
   minimum size is given in pixels of the original image, so it scales with the resize);
5. keep the ``pre_nms_top_n`` boxes of highest objectness (12000 when training, 6000 at test);
6. greedy non-maximum suppression at IoU ``cfg.rpn_nms_thresh`` = 0.7 (F16) — many anchors
   of neighbouring cells predict almost the same box, NMS keeps the best of each cluster;
7. keep the first ``post_nms_top_n`` survivors (2000 when training, 300 at test).

Approximate joint training (F20): no gradient flows back through this layer. The proposal
coordinates depend on the RPN's deltas, but the second stage treats them as constants —
the paper's "approximate joint training", which ignores the derivative with respect to the
proposal boxes. The reasons: RoI pooling (F19) is not differentiable with respect to the
box coordinates (it quantises them to feature-map cells), and steps 4–7 are selections
whose output changes in jumps; keeping that gradient would need a different RoI layer
(F20 (3), non-approximate joint training). The RPN still learns its boxes from its own
loss (F11). Ignoring the term trains in 25–50% less time than alternating training, with
about the same accuracy.
"""

from __future__ import annotations

import numpy as np

from minirpn.boxes import check_image_size, clip_boxes, decode, remove_small_boxes
from minirpn.config import Config
from minirpn.nn import softmax
from minirpn.ops import nms
from minirpn.rpn_head import check_head_outputs, flatten_deltas, flatten_scores

OBJECT = 1  # column of the "object" class in the flattened (H*W*A, 2) scores


def objectness(scores: np.ndarray) -> np.ndarray:
    """Softmax probability of "object" for every anchor of one image.

    Args:
        scores: (1, 2A, H, W) float, the RPN head's cls output (layout in :mod:`minirpn.rpn`).

    Returns:
        (H*W*A,) probabilities in [0, 1], dtype of ``scores``, in grid-anchor order.
    """
    return softmax(flatten_scores(scores[0]))[:, OBJECT]  # (H*W*A,)


def proposal_layer(
    scores: np.ndarray,
    deltas: np.ndarray,
    anchors: np.ndarray,
    image_size: tuple[int, int],
    cfg: Config,
    *,
    train: bool,
    image_scale: float = 1.0,
    return_indices: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Region proposals of one image, steps 1–7 of the module docstring (F15, F16).

    Args:
        scores: (1, 2A, H, W) float, the RPN head's cls output.
        deltas: (1, 4A, H, W) float, the RPN head's reg output.
        anchors: (H*W*A, 4) float, :func:`minirpn.anchors.grid_anchors` for this map.
        image_size: ``(height, width)`` of the network's input image.
        cfg: uses ``rpn_min_size``, ``rpn_nms_thresh`` and the train / test
            ``rpn_pre_nms_top_n_*`` and ``rpn_post_nms_top_n_*``.
        train: picks the training or the test top-N values.
        image_scale: factor by which the original image was resized; multiplies ``rpn_min_size``.
        return_indices: also return which anchor each proposal comes from.

    Returns:
        proposals: (P, 4) boxes inside ``[0, w] x [0, h]``, dtype of ``deltas``, sorted by
            decreasing objectness, P <= post_nms_top_n (P may be 0).
        objectness: (P,) their object probabilities, decreasing.
        anchor_indices: only with ``return_indices``, (P,) int64 row of each proposal's
            anchor in ``anchors`` (and in the flattened deltas): the selections of steps
            4–7, which non-approximate joint training (F20 (3)) holds fixed while it
            differentiates the boxes with respect to those anchors' deltas.
    """
    num_anchors = check_head_outputs(scores, deltas)
    _, _, feat_h, feat_w = scores.shape
    anchors = np.asarray(anchors)
    expected = (feat_h * feat_w * num_anchors, 4)
    if anchors.shape != expected:
        raise ValueError(
            f"anchors must have shape {expected} to match the head outputs, got {anchors.shape}"
        )
    check_image_size(image_size)
    if not (np.isfinite(image_scale) and image_scale > 0):
        raise ValueError(f"image_scale must be a positive number, got {image_scale!r}")
    boxes, probs, index = propose_rows(
        flatten_scores(scores[0]),
        flatten_deltas(deltas[0]),
        anchors,
        image_size,
        cfg,
        train=train,
        image_scale=image_scale,
    )
    return (boxes, probs, index) if return_indices else (boxes, probs)


def propose_rows(
    logits: np.ndarray,
    deltas: np.ndarray,
    anchors: np.ndarray,
    image_size: tuple[int, int],
    cfg: Config,
    *,
    train: bool,
    image_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-7 (F15, F16) on one image's anchors given as rows, from any number of maps.

    Args:
        logits: (K, 2) (background, object) logits; deltas: (K, 4); anchors: (K, 4).
        image_size, cfg, train, image_scale: as for :func:`proposal_layer`, which has
            checked them.

    Returns:
        ``(proposals (P, 4), objectness (P,), anchor_indices (P,))`` as :func:`proposal_layer`
        with ``return_indices``.
    """
    if train:
        pre_nms_top_n, post_nms_top_n = cfg.rpn_pre_nms_top_n_train, cfg.rpn_post_nms_top_n_train
    else:
        pre_nms_top_n, post_nms_top_n = cfg.rpn_pre_nms_top_n_test, cfg.rpn_post_nms_top_n_test

    probs = softmax(logits)[:, OBJECT]  # (K,)
    boxes = decode(anchors.astype(deltas.dtype, copy=False), deltas)  # (K, 4)
    boxes = clip_boxes(boxes, image_size)
    kept = remove_small_boxes(boxes, cfg.rpn_min_size * image_scale)  # anchor rows
    # A stable sort: equal scores keep the grid order, so the result is reproducible.
    rows = kept[np.argsort(-probs[kept], kind="stable")[:pre_nms_top_n]]  # best first
    rows = rows[nms(boxes[rows], probs[rows], cfg.rpn_nms_thresh, max_output=post_nms_top_n)]
    return boxes[rows], probs[rows], rows
