"""The region proposal network's head and loss (F6, F11, F12); :mod:`minirpn.rpn` puts them
together with the anchors, their targets and the proposal layer.

Head (F6): a 3x3 sliding window over the shared feature map — a 3x3 convolution with
padding 1 to ``mid_channels`` (512 for VGG-16, 256 for ZF) and a ReLU — then two sibling
1x1 convolutions ("fully connected layers as convolutions", so any input size works):

* cls: ``2A`` channels, an (background, object) score pair for each of the A anchors;
* reg: ``4A`` channels, the deltas ``(t_x, t_y, t_w, t_h)`` (F10) for each anchor.

Channel layout (anchor-major, the same for both outputs): channel ``2 a + k`` of the cls
output is class k (0 background, 1 object) of anchor a; channel ``4 a + c`` of the reg
output is coordinate c of anchor a. :func:`flatten_scores` / :func:`flatten_deltas` turn
one image's outputs into one row per anchor, in the order of
:func:`minirpn.anchors.grid_anchors` (cell-major, anchors of a cell contiguous), and the
``unflatten_*`` functions take gradients back. (The Caffe original stores all background
scores first, then all object scores; that only matters when loading its weights.)

Loss (F11) for one image::

    L = (1 / N_cls) sum_i L_cls(p_i, p_i*) + lambda (1 / N_reg) sum_i p_i* L_reg(t_i, t_i*)

L_cls is the two-class softmax log loss over the sampled anchors (N_cls = their number,
at most 256); L_reg the smooth L1 of F12 with sigma = 3 (the original RPN's), summed over
the four coordinates of positive anchors only (p_i* = 1). Two normalisations
(``cfg.rpn_loss_normalization``):

* ``"anchor_locations"`` (the paper): N_reg = number of anchor locations H*W (about 2,400
  for a 1000x600 image; ``cfg.rpn_n_reg`` overrides it) and lambda = ``cfg.rpn_lambda`` = 10,
  which weighs both terms about equally;
* ``"minibatch"`` (py-faster-rcnn's released code): both terms divided by the number of
  sampled anchors, lambda = 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets
from minirpn.boxes import COORDS_PER_BOX
from minirpn.config import Config
from minirpn.matching import IGNORE
from minirpn.nn import Container, Conv2d, ReLU, smooth_l1, softmax_cross_entropy

NUM_CLASSES = 2  # background, object
LOSS_NORMALIZATIONS = ("anchor_locations", "minibatch")


class RPNHeadCache(NamedTuple):
    """The tape of one :meth:`RPNHead.forward`: its four layers' caches."""

    conv: object
    relu: object
    cls_score: object
    bbox_pred: object


class RPNHead(Container):
    """3x3 conv + ReLU, then sibling 1x1 convs for scores and deltas (F6).

    Args:
        in_channels: channels C of the shared feature map.
        mid_channels: channels of the 3x3 "sliding window" layer (512 for VGG-16).
        num_anchors: A, anchors per cell (9).
        std: standard deviation of the Gaussian initialisation of all three convs (F14);
            biases start at 0.
        rng: ``np.random.Generator`` for the initialisation.
        dtype: parameter dtype (float32 to train, float64 for gradient checks).

    Parameters, as ``named_parameters()`` names them: ``conv.weight`` (mid, C, 3, 3),
    ``conv.bias`` (mid,), ``cls_score.weight`` (2A, mid, 1, 1), ``cls_score.bias`` (2A,),
    ``bbox_pred.weight`` (4A, mid, 1, 1), ``bbox_pred.bias`` (4A,).
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        num_anchors: int,
        *,
        std: float = 0.01,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        if not isinstance(num_anchors, (int, np.integer)) or num_anchors <= 0:
            raise ValueError(f"num_anchors must be a positive int, got {num_anchors!r}")
        self.num_anchors = int(num_anchors)
        init = dict(init="gaussian", std=std, rng=rng, dtype=dtype)
        self.conv = Conv2d(in_channels, mid_channels, 3, padding=1, **init)
        self.relu = ReLU()
        self.cls_score = Conv2d(mid_channels, NUM_CLASSES * num_anchors, 1, **init)
        self.bbox_pred = Conv2d(mid_channels, COORDS_PER_BOX * num_anchors, 1, **init)
        super().__init__(
            {
                "conv": self.conv,
                "relu": self.relu,
                "cls_score": self.cls_score,
                "bbox_pred": self.bbox_pred,
            }
        )

    def forward(self, features: np.ndarray):
        """features (N, C, H, W) -> ``((scores (N, 2A, H, W), deltas (N, 4A, H, W)), cache)``."""
        hidden, conv_cache = self.conv.forward(features)
        hidden, relu_cache = self.relu.forward(hidden)  # (N, mid, H, W)
        scores, cls_cache = self.cls_score.forward(hidden)
        deltas, reg_cache = self.bbox_pred.forward(hidden)
        return (scores, deltas), RPNHeadCache(conv_cache, relu_cache, cls_cache, reg_cache)

    def backward(self, dout: tuple[np.ndarray, np.ndarray], cache: RPNHeadCache) -> np.ndarray:
        """``(dscores, ddeltas)`` and the forward's cache -> d features (N, C, H, W).

        Accumulates the parameter gradients, so a head applied to several maps gets the sum.
        """
        dscores, ddeltas = dout
        # The hidden map feeds both siblings, so its gradient is the sum of theirs.
        dhidden = self.cls_score.backward(dscores, cache.cls_score) + self.bbox_pred.backward(
            ddeltas, cache.bbox_pred
        )
        return self.conv.backward(self.relu.backward(dhidden, cache.relu), cache.conv)


def flatten_scores(scores: np.ndarray) -> np.ndarray:
    """One image's cls output (2A, H, W) → (H*W*A, 2) logits in grid-anchor order."""
    return _per_anchor_rows(scores, NUM_CLASSES)


def unflatten_scores(flat: np.ndarray, feat_h: int, feat_w: int) -> np.ndarray:
    """Inverse of :func:`flatten_scores`: (H*W*A, 2) → (2A, H, W)."""
    return unflatten_rows(flat, feat_h, feat_w)


def flatten_deltas(deltas: np.ndarray) -> np.ndarray:
    """One image's reg output (4A, H, W) → (H*W*A, 4) deltas in grid-anchor order."""
    return _per_anchor_rows(deltas, COORDS_PER_BOX)


def unflatten_deltas(flat: np.ndarray, feat_h: int, feat_w: int) -> np.ndarray:
    """Inverse of :func:`flatten_deltas`: (H*W*A, 4) → (4A, H, W)."""
    return unflatten_rows(flat, feat_h, feat_w)


def _per_anchor_rows(maps: np.ndarray, k: int) -> np.ndarray:
    """(A*k, H, W), channel ``a*k + c`` → (H*W*A, k), row ``(i*W + j)*A + a`` (grid order)."""
    channels, feat_h, feat_w = maps.shape
    return (
        maps.reshape(channels // k, k, feat_h, feat_w)  # (A, k, H, W)
        .transpose(2, 3, 0, 1)  # (H, W, A, k)
        .reshape(-1, k)
    )


def unflatten_rows(flat: np.ndarray, feat_h: int, feat_w: int) -> np.ndarray:
    """Inverse of :func:`_per_anchor_rows`: (H*W*A, k) → (A*k, H, W), for any k."""
    k = flat.shape[1]
    return (
        flat.reshape(feat_h, feat_w, -1, k)  # (H, W, A, k)
        .transpose(2, 3, 0, 1)  # (A, k, H, W)
        .reshape(-1, feat_h, feat_w)
    )


def check_head_outputs(scores: np.ndarray, deltas: np.ndarray) -> int:
    """Check one image's head outputs, scores (1, 2A, H, W) and deltas (1, 4A, H, W); return A."""
    for name, array in (("scores", scores), ("deltas", deltas)):
        if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
            got = getattr(array, "dtype", type(array))
            raise TypeError(f"{name} must be a floating-point numpy array, got {got}")
        if array.ndim != 4 or array.shape[0] != 1:
            raise ValueError(
                f"{name} must have shape (1, channels, H, W) for one image, got {array.shape}"
            )
    num_anchors = scores.shape[1] // NUM_CLASSES
    if scores.shape[1] != NUM_CLASSES * num_anchors or num_anchors == 0:
        raise ValueError(f"scores must have 2A channels, got shape {scores.shape}")
    expected = (1, COORDS_PER_BOX * num_anchors, *scores.shape[2:])
    if deltas.shape != expected:
        raise ValueError(
            f"deltas must have shape {expected} to match scores {scores.shape}, got {deltas.shape}"
        )
    return num_anchors


class RPNLoss(NamedTuple):
    """What :func:`rpn_loss` returns: both terms and the gradients of their sum."""

    loss_cls: float
    loss_reg: float  # already multiplied by lambda
    dscores: np.ndarray  # (1, 2A, H, W)
    ddeltas: np.ndarray  # (1, 4A, H, W)


def rpn_loss(
    scores: np.ndarray, deltas: np.ndarray, targets: AnchorTargets, cfg: Config
) -> RPNLoss:
    """The RPN loss of one image (F11, F12) and its gradient with respect to the head outputs.

    One image, as in the paper (each RPN minibatch comes from a single image, F13). For a
    batch of N images call it on ``scores[n:n + 1]``, ``deltas[n:n + 1]`` with each image's
    targets, and stack the gradients (dividing by N if the batch loss is their mean).

    Args:
        scores: (1, 2A, H, W) float, the head's cls output for one image.
        deltas: (1, 4A, H, W) float, the head's reg output.
        targets: :class:`minirpn.anchor_target.AnchorTargets` for the H*W*A anchors.
        cfg: uses ``rpn_sigma``, ``rpn_lambda``, ``rpn_loss_normalization``, ``rpn_n_reg``.

    Returns:
        :class:`RPNLoss` ``(loss_cls, loss_reg, dscores, ddeltas)``: the two terms of F11
        (``loss_reg`` includes lambda) and d(loss_cls + loss_reg) with respect to ``scores``
        and ``deltas`` (same shapes and dtypes). Without positive anchors (e.g. no ground
        truth) ``loss_reg`` is 0 and ``ddeltas`` is 0; without any sampled anchor both are 0.
    """
    check_head_outputs(scores, deltas)
    _, _, feat_h, feat_w = scores.shape
    loss_cls, loss_reg, dlogits, dpred = rpn_loss_rows(
        flatten_scores(scores[0]), flatten_deltas(deltas[0]), targets, cfg, feat_h * feat_w
    )
    dscores = unflatten_scores(dlogits, feat_h, feat_w)[None]  # (1, 2A, H, W)
    ddeltas = unflatten_deltas(dpred, feat_h, feat_w)[None]  # (1, 4A, H, W)
    return RPNLoss(loss_cls, loss_reg, dscores, ddeltas)


def rpn_loss_rows(
    logits: np.ndarray,
    pred: np.ndarray,
    targets: AnchorTargets,
    cfg: Config,
    num_locations: int,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """F11 for one image whose anchors are rows (the anchors of every feature map, in order).

    Args:
        logits: (K, 2) (background, object) logits of the K anchors; pred: (K, 4) deltas.
        targets: their :class:`~minirpn.anchor_target.AnchorTargets`.
        cfg: as for :func:`rpn_loss`.
        num_locations: N_reg of the paper's normalisation, the anchor locations (cells) of
            all maps.

    Returns:
        ``(loss_cls, loss_reg, dlogits (K, 2), dpred (K, 4))``, ``loss_reg`` including lambda.
    """
    total = len(logits)
    if targets.labels.shape != (total,) or targets.bbox_targets.shape != (total, COORDS_PER_BOX):
        raise ValueError(
            f"targets are for {targets.labels.shape[0]} anchors, "
            f"the head outputs have {total} (H*W*A)"
        )
    if cfg.rpn_loss_normalization not in LOSS_NORMALIZATIONS:
        raise ValueError(
            f"cfg.rpn_loss_normalization must be one of {LOSS_NORMALIZATIONS}, "
            f"got {cfg.rpn_loss_normalization!r}"
        )

    # Classification: mean over the sampled anchors, i.e. divided by N_cls.
    loss_cls, dlogits = softmax_cross_entropy(logits, targets.labels, ignore_index=IGNORE)

    # Regression: summed smooth L1 over the positives (inside weights = p_i*), then scaled.
    if cfg.rpn_loss_normalization == "anchor_locations":
        n_reg = cfg.rpn_n_reg if cfg.rpn_n_reg is not None else num_locations
        scale = cfg.rpn_lambda / n_reg
    else:
        # max(..., 1): with no sampled anchor the sum is 0 and must stay 0, not 0 / 0.
        scale = 1.0 / max(int(np.count_nonzero(targets.labels != IGNORE)), 1)
    reg_sum, dpred = smooth_l1(
        pred,
        targets.bbox_targets.astype(pred.dtype, copy=False),
        sigma=cfg.rpn_sigma,
        inside_weights=targets.inside_weights,
    )
    return loss_cls, scale * reg_sum, dlogits, dpred * pred.dtype.type(scale)
