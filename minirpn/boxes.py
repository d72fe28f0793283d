"""Box coding and box utilities (F10), in continuous corners.

A box is ``(x1, y1, x2, y2)`` with width ``w = x2 - x1`` and height ``h = y2 - y1``; its
centre is ``(x1 + w / 2, y1 + h / 2)``. (The original Caffe code uses ``w = x2 - x1 + 1``
and centre ``x1 + 0.5 w``; both describe the same pixels.)

The RPN and the Fast R-CNN head do not predict corners: they predict how to move and
rescale a reference box (an anchor or an RoI), with the parameterisation of F10::

    t_x = (x - x_a) / w_a      t_y = (y - y_a) / h_a
    t_w = log(w / w_a)         t_h = log(h / h_a)

:func:`encode` turns a (reference, target) pair into ``t``; :func:`decode` applies ``t``
to a reference box. They are inverses of each other. :func:`decode_backward` carries a
gradient from the decoded (and clipped) boxes back to the deltas, the path non-approximate
joint training adds (F20). IoU and NMS live in :mod:`minirpn.ops`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

COORDS_PER_BOX = 4
# Largest log-scale change decode accepts: a box may grow at most 1000/16 = 62.5 times
# (py-faster-rcnn's bound), so exp() never overflows even for wild early predictions.
BBOX_XFORM_CLIP = float(np.log(1000.0 / 16.0))


def encode(
    anchors: np.ndarray,
    gt: np.ndarray,
    means: Sequence[float] | None = None,
    stds: Sequence[float] | None = None,
) -> np.ndarray:
    """Regression targets ``t*`` that move each reference box onto its target (F10).

    Args:
        anchors: (N, 4) reference boxes (anchors or RoIs), positive width and height.
        gt: (N, 4) target boxes, row i paired with ``anchors[i]``, positive width and height.
        means, stds: optional per-coordinate normalisation, 4 numbers each; the result is
            ``(t - means) / stds`` (the second stage uses stds (0.1, 0.1, 0.2, 0.2) so the
            four targets have about unit variance).

    Returns:
        (N, 4) deltas ``(t_x, t_y, t_w, t_h)``, dtype ``np.result_type(anchors, gt)``.
    """
    anchors = as_boxes(anchors, "anchors")
    gt = as_boxes(gt, "gt")
    if anchors.shape != gt.shape:
        raise ValueError(
            f"anchors and gt must have the same shape, got {anchors.shape} and {gt.shape}"
        )
    aw, ah, ax, ay = _size_and_centre(anchors, "anchors")
    gw, gh, gx, gy = _size_and_centre(gt, "gt")
    deltas = np.stack(
        [(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)], axis=1
    )  # (N, 4)
    if means is not None:
        deltas = deltas - _coord_vector(means, "means", deltas.dtype)
    if stds is not None:
        deltas = deltas / _coord_vector(stds, "stds", deltas.dtype, positive=True)
    return deltas


def decode(
    anchors: np.ndarray,
    deltas: np.ndarray,
    means: Sequence[float] | None = None,
    stds: Sequence[float] | None = None,
) -> np.ndarray:
    """Apply deltas to reference boxes: the inverse of :func:`encode` (F10).

    ``x = x_a + t_x w_a``, ``w = w_a exp(t_w)`` (and the same in y), after undoing the
    optional normalisation (``t = deltas * stds + means``). ``t_w`` and ``t_h`` are clamped
    at ``BBOX_XFORM_CLIP = log(1000 / 16)`` first so that ``exp`` cannot overflow.

    Args:
        anchors: (N, 4) reference boxes.
        deltas: (N, 4) finite ``(t_x, t_y, t_w, t_h)``; all zeros give back ``anchors``.
        means, stds: the normalisation that :func:`encode` applied, if any.

    Returns:
        (N, 4) boxes ``(x1, y1, x2, y2)``, dtype ``np.result_type(anchors, deltas)``.
    """
    return _decode_terms(anchors, deltas, means, stds).boxes


class _Decoded(NamedTuple):
    """The pieces of :func:`decode` that its backward needs, all (N,) but ``t`` and ``boxes``."""

    t: np.ndarray  # (N, 4) denormalised deltas, before the clamp of t_w, t_h
    anchor_w: np.ndarray
    anchor_h: np.ndarray
    w: np.ndarray  # decoded width and height
    h: np.ndarray
    boxes: np.ndarray  # (N, 4)


def _decode_terms(anchors, deltas, means, stds) -> _Decoded:
    anchors = as_boxes(anchors, "anchors")
    deltas = as_boxes(deltas, "deltas")
    if anchors.shape != deltas.shape:
        raise ValueError(
            f"anchors and deltas must have the same shape, got {anchors.shape} and {deltas.shape}"
        )
    if not np.all(np.isfinite(deltas)):
        row = int(np.flatnonzero(~np.all(np.isfinite(deltas), axis=1))[0])
        raise ValueError(f"deltas must be finite, row {row} is {deltas[row].tolist()}")
    dtype = np.result_type(anchors, deltas)
    if stds is not None:
        deltas = deltas * _coord_vector(stds, "stds", dtype, positive=True)
    if means is not None:
        deltas = deltas + _coord_vector(means, "means", dtype)
    aw = anchors[:, 2] - anchors[:, 0]
    ah = anchors[:, 3] - anchors[:, 1]
    ax = anchors[:, 0] + 0.5 * aw
    ay = anchors[:, 1] + 0.5 * ah

    x = ax + deltas[:, 0] * aw
    y = ay + deltas[:, 1] * ah
    w = aw * np.exp(np.minimum(deltas[:, 2], BBOX_XFORM_CLIP))
    h = ah * np.exp(np.minimum(deltas[:, 3], BBOX_XFORM_CLIP))
    boxes = np.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=1)  # (N, 4)
    return _Decoded(deltas, aw, ah, w, h, boxes.astype(dtype, copy=False))


def decode_backward(
    anchors: np.ndarray,
    deltas: np.ndarray,
    dboxes: np.ndarray,
    means: Sequence[float] | None = None,
    stds: Sequence[float] | None = None,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Gradient of the decoded (and optionally clipped) boxes w.r.t. the deltas (F10, F20).

    For ``boxes = clip_boxes(decode(anchors, deltas, means, stds), image_size)`` (no clip
    when ``image_size`` is None), given ``dboxes`` = d loss / d boxes, returns d loss /
    d deltas. This is the path non-approximate joint training (F20) adds from the RoI
    coordinates into the RPN's regression outputs. Chain rule, with ``t = deltas * stds +
    means`` and centre/size ``x = x_a + t_x w_a``, ``w = w_a exp(t_w)``:

    * corners from centre and size: ``x1 = x - w/2``, ``x2 = x + w/2``, so
      ``dL/dx = dL/dx1 + dL/dx2`` and ``dL/dw = (dL/dx2 - dL/dx1) / 2`` (same in y);
    * ``dL/dt_x = dL/dx * w_a``, ``dL/dt_w = dL/dw * w`` (d exp = exp);
    * ``dL/ddeltas = dL/dt * stds`` (the means only shift).

    Non-smooth points, and the rule used there:

    * the clip to the image: a coordinate clipped to the border gets no gradient. The clip
      counts as active only strictly outside: a coordinate exactly on the border (0 or the
      image's width/height) keeps its gradient, the derivative from inside the image;
    * the clamp of ``t_w``, ``t_h`` at ``BBOX_XFORM_CLIP``: active strictly above it (then
      no gradient for that ``t``); at exactly ``BBOX_XFORM_CLIP`` the gradient passes.

    Args:
        anchors: (N, 4) reference boxes; deltas: (N, 4), as given to :func:`decode`.
        dboxes: (N, 4) gradient of the loss w.r.t. the (clipped) boxes ``(x1, y1, x2, y2)``.
        means, stds: the normalisation given to :func:`decode`, if any.
        image_size: ``(height, width)`` the boxes were clipped to, or None for no clip.

    Returns:
        (N, 4) d loss / d deltas, dtype ``np.result_type(anchors, deltas, dboxes)``.
    """
    decoded = _decode_terms(anchors, deltas, means, stds)
    dboxes = as_boxes(dboxes, "dboxes")
    if dboxes.shape != decoded.boxes.shape:
        raise ValueError(
            f"dboxes must have the shape of deltas {decoded.boxes.shape}, got {dboxes.shape}"
        )
    dtype = np.result_type(decoded.boxes, dboxes)
    if image_size is not None:
        height, width = check_image_size(image_size)
        limits = np.array([width, height, width, height], dtype=dtype)
        inside = (decoded.boxes >= 0) & (decoded.boxes <= limits)  # (N, 4) clip inactive
        dboxes = np.where(inside, dboxes, 0.0)
    dx = dboxes[:, 0] + dboxes[:, 2]
    dy = dboxes[:, 1] + dboxes[:, 3]
    dw = 0.5 * (dboxes[:, 2] - dboxes[:, 0])
    dh = 0.5 * (dboxes[:, 3] - dboxes[:, 1])
    unclamped = decoded.t[:, 2:] <= BBOX_XFORM_CLIP  # (N, 2) the min() passes t through
    dt = np.stack(
        [
            dx * decoded.anchor_w,
            dy * decoded.anchor_h,
            np.where(unclamped[:, 0], dw * decoded.w, 0.0),
            np.where(unclamped[:, 1], dh * decoded.h, 0.0),
        ],
        axis=1,
    )  # (N, 4)
    if stds is not None:
        dt = dt * _coord_vector(stds, "stds", dtype, positive=True)
    return dt.astype(dtype, copy=False)


def clip_boxes(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Clip boxes to the image ``[0, w] x [0, h]`` (F15, "clip to the image").

    Args:
        boxes: (N, 4) boxes ``(x1, y1, x2, y2)``.
        image_size: ``(height, width)`` of the image in pixels.

    Returns:
        a new (N, 4) array, same dtype; a box entirely outside ends up with zero width or
        height (it is removed later by :func:`remove_small_boxes`).
    """
    boxes = as_boxes(boxes, "boxes")
    height, width = check_image_size(image_size)
    out = np.empty_like(boxes)
    np.clip(boxes[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(boxes[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def remove_small_boxes(boxes: np.ndarray, min_size: float) -> np.ndarray:
    """Indices of the boxes whose width and height are both at least ``min_size`` (F15).

    Args:
        boxes: (N, 4) boxes.
        min_size: smallest width and height kept, in pixels (>= 0).

    Returns:
        int64 indices into ``boxes``, increasing.
    """
    boxes = as_boxes(boxes, "boxes")
    if not np.isfinite(min_size) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative number, got {min_size!r}")
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return np.flatnonzero((widths >= min_size) & (heights >= min_size)).astype(np.int64)


def check_boxes(
    boxes: np.ndarray, name: str, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Validate ground-truth-like boxes: finite, positive width and height, inside the image.

    Args:
        boxes: (N, 4) boxes (N may be 0).
        name: the argument's name, used in error messages.
        image_size: ``(height, width)``; when given, every box must lie in ``[0, w] x [0, h]``.

    Returns:
        ``boxes`` as an array.

    Raises:
        ValueError naming the first offending box index and its coordinates.
    """
    boxes = as_boxes(boxes, name)
    bad_rows = ~np.all(np.isfinite(boxes), axis=1)
    _raise_on_rows(boxes, bad_rows, name, "has non-finite coordinates")
    bad_rows = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    _raise_on_rows(boxes, bad_rows, name, "is inverted or empty (needs x2 > x1 and y2 > y1)")
    if image_size is not None:
        height, width = check_image_size(image_size)
        bad_rows = (
            (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > width) | (boxes[:, 3] > height)
        )
        _raise_on_rows(
            boxes, bad_rows, name, f"lies outside the image [0, {width}] x [0, {height}]"
        )
    return boxes


def check_image_size(image_size: tuple[int, int]) -> tuple[float, float]:
    """Validate an ``(height, width)`` pair of positive finite numbers and return it."""
    try:
        height, width = image_size
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be a (height, width) pair, got {image_size!r}") from None
    if not (np.isfinite(height) and np.isfinite(width) and height > 0 and width > 0):
        raise ValueError(
            f"image_size must be a (height, width) pair of positive numbers, got {image_size!r}"
        )
    return height, width


def _raise_on_rows(boxes: np.ndarray, bad_rows: np.ndarray, name: str, problem: str) -> None:
    if np.any(bad_rows):
        row = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(f"{name}[{row}] = {boxes[row].tolist()} {problem}")


def as_boxes(boxes, name: str) -> np.ndarray:
    """The one way a box argument becomes an (N, 4) float array, or a clear error naming it.

    A list or tuple becomes float64; an array must already be floating point (an integer or
    bool array is a TypeError: silently rounding coordinates hides bugs). An empty input of
    any shape (``[]``) is (0, 4).
    """
    if not isinstance(boxes, np.ndarray):
        boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0 and boxes.ndim <= 2:
        boxes = boxes.reshape(0, COORDS_PER_BOX)
    if boxes.ndim != 2 or boxes.shape[1] != COORDS_PER_BOX:
        raise ValueError(f"{name} must have shape (N, 4), got {boxes.shape}")
    if not np.issubdtype(boxes.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {boxes.dtype}")
    return boxes


def _size_and_centre(boxes: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    # log(w / w_a) needs positive sizes; zero would give -inf and spread NaN downstream.
    _raise_on_rows(
        boxes,
        ~((widths > 0) & (heights > 0)),
        name,
        "needs positive width and height to be encoded",
    )
    return widths, heights, boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights


def _coord_vector(
    values: Sequence[float], name: str, dtype: np.dtype, positive: bool = False
) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if (
        arr.shape != (COORDS_PER_BOX,)
        or not np.all(np.isfinite(arr))
        or (positive and np.any(arr <= 0))
    ):
        kind = "positive " if positive else ""
        raise ValueError(f"{name} must be 4 finite {kind}numbers, got {values!r}")
    return arr
