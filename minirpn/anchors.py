"""Anchors: the k reference boxes at every sliding-window position of the RPN (F7).

At each cell of the shared feature map the RPN predicts k = len(ratios) * len(scales)
proposals, each relative to one *anchor*: a box of a fixed scale and aspect ratio centred
on that cell. The anchors of all cells are the same k boxes shifted by the feature map's
stride, which is what makes the RPN translation invariant (F7).

Two steps, one function each:

1. :func:`generate_base_anchors` builds the k anchors of cell 0, exactly as the original
   implementation (py-faster-rcnn's ``generate_anchors``) does, written in our continuous
   corner convention (width = x2 - x1; the original counts pixels inclusively and writes
   every x2, y2 one smaller).
2. :func:`grid_anchors` shifts them to every cell, in the order the RPN head's outputs
   are flattened in (cell-major, anchors of one cell contiguous).

Where cell 0 sits: for VGG-16 up to conv5_3 (four 2x2 poolings, 3x3 convolutions with
padding 1) the receptive field of feature cell (i, j) is centred on the image point
(16 j + 8, 16 i + 8) (F4: pixel index 7.5, i.e. continuous coordinate 8.0, for cell 0).
The base anchors are centred on ``base_size / 2`` = 8.0, so after the shift by
(16 j, 16 i) every anchor is centred on the receptive-field centre of its own cell. A
backbone whose cell 0 is centred elsewhere passes that centre as ``center``, e.g.
``receptive_field(layers).center(0)`` from :mod:`minirpn.receptive_field`, and its
``stride`` to :func:`grid_anchors`: VGG-16 and the tiny backbone use the same code.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from minirpn.boxes import COORDS_PER_BOX


def generate_base_anchors(
    base_size: float = 16,
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
    scales: Sequence[float] = (8.0, 16.0, 32.0),
    *,
    center: float | None = None,
) -> np.ndarray:
    """The k = len(ratios) * len(scales) anchors of feature-map cell 0 (F7).

    The original algorithm, step by step, for a base box of side ``base_size`` (area
    ``S = base_size**2``) and an aspect ratio ``r = h / w``:

    * ``w = round(sqrt(S / r))`` and ``h = round(w * r)`` — a box of (about) the base
      area with that aspect ratio, rounded to whole pixels as the original does
      (``np.round``: halves go to the even integer);
    * each of those is then multiplied by every scale: ``(w * s, h * s)``.

    Rows are ratio-major (all scales of the first ratio, then the next ratio, ...), every
    box centred on ``center`` in both x and y.

    Args:
        base_size: side of the base box in image pixels; the feature stride for the
            original VGG-16 setting (16).
        ratios: aspect ratios h / w (0.5 is a wide box, 2 a tall one).
        scales: multipliers of the base box side (8, 16, 32 → sides 128, 256, 512).
        center: x = y coordinate of the anchors' centre; ``None`` means ``base_size / 2``,
            the receptive-field centre of VGG-16's cell 0 when ``base_size`` is its stride.

    Returns:
        float64 array of shape (len(ratios) * len(scales), 4), rows ``(x1, y1, x2, y2)``.
        With the defaults these are the 9 rows of FORMULAS.md, e.g. ``[-84, -40, 100, 56]``
        (184 x 96) first and ``[-168, -344, 184, 360]`` (352 x 704) last.
    """
    if not _is_real(base_size) or not np.isfinite(base_size) or base_size <= 0:
        raise ValueError(f"base_size must be a positive number, got {base_size!r}")
    ratios_arr = _positive_vector(ratios, "ratios")
    scales_arr = _positive_vector(scales, "scales")
    if center is None:
        center = base_size / 2.0
    elif not _is_real(center) or not np.isfinite(center):
        raise ValueError(f"center must be a finite number, got {center!r}")

    area = float(base_size) ** 2
    widths = np.round(np.sqrt(area / ratios_arr))  # (R,)
    heights = np.round(widths * ratios_arr)  # (R,)
    # Ratio-major: the scale index varies fastest.
    widths = (widths[:, None] * scales_arr[None, :]).reshape(-1)  # (R*S,)
    heights = (heights[:, None] * scales_arr[None, :]).reshape(-1)  # (R*S,)
    return np.stack(
        [center - widths / 2, center - heights / 2, center + widths / 2, center + heights / 2],
        axis=1,
    )  # (A, 4)


def grid_anchors(base_anchors: np.ndarray, feat_h: int, feat_w: int, stride: float) -> np.ndarray:
    """Shift the base anchors to every cell of a ``feat_h`` x ``feat_w`` feature map (F7).

    Cell (i, j) (row i, column j) gets the base anchors shifted by ``(j * stride, i * stride)``
    in (x, y). Since the base anchors are centred on the receptive-field centre of cell 0
    (see the module docstring), the anchors of cell (i, j) are centred on the receptive-field
    centre of cell (i, j).

    Args:
        base_anchors: (A, 4) float array, the anchors of cell 0, ``(x1, y1, x2, y2)``.
        feat_h, feat_w: feature-map height and width (positive ints).
        stride: distance in image pixels between neighbouring cells (16 for VGG-16).

    Returns:
        array of shape (feat_h * feat_w * A, 4), dtype of ``base_anchors``. Row
        ``(i * feat_w + j) * A + a`` is anchor ``a`` of cell (i, j): cells in row-major
        order, the A anchors of one cell contiguous. This is the order in which
        :func:`minirpn.rpn_head.flatten_scores` and :func:`minirpn.rpn_head.flatten_deltas` lay out
        the RPN head's outputs.
    """
    base_anchors = np.asarray(base_anchors)
    if base_anchors.ndim != 2 or base_anchors.shape[1] != COORDS_PER_BOX:
        raise ValueError(f"base_anchors must have shape (A, 4), got {base_anchors.shape}")
    for name, size in (("feat_h", feat_h), ("feat_w", feat_w)):
        if not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"{name} must be a positive int, got {size!r}")
    if not _is_real(stride) or not np.isfinite(stride) or stride <= 0:
        raise ValueError(f"stride must be a positive number, got {stride!r}")

    shift_x = np.arange(feat_w) * stride  # (W,)
    shift_y = np.arange(feat_h) * stride  # (H,)
    sx, sy = np.meshgrid(shift_x, shift_y)  # each (H, W): sx[i, j] = j * stride
    shifts = np.stack([sx, sy, sx, sy], axis=-1).reshape(-1, 1, COORDS_PER_BOX)  # (H*W, 1, 4)
    anchors = base_anchors[None, :, :] + shifts  # (H*W, A, 4)
    return anchors.reshape(-1, COORDS_PER_BOX).astype(base_anchors.dtype, copy=False)


def _is_real(value) -> bool:
    """True for an int or float (NumPy's included), False for bools, strings, arrays, None."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _positive_vector(values: Sequence[float], name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)  # "x", ["a"], ragged lists: reported below with the value
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, got {values!r}")
    return arr
