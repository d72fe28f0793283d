"""NumPy twins of the Cython kernels: the readable definitions of IoU, NMS, RoI pooling and
RoIAlign.

Each function here has exactly the signature and the results of its namesake in
``minirpn.ops`` (the fast Cython version): together with :mod:`minirpn.nn.reference` these
are the package's *reference implementations*, the oracle the tests compare the fast code
with and what the lessons read; the package itself never runs them. Inputs are checked by
the same helpers (``minirpn.ops._validate``) as the fast versions, and the rules both follow
(score order, Caffe's rounding and bins) are in :mod:`minirpn.ops.geometry`.

Boxes are continuous corners ``(x1, y1, x2, y2)`` with width ``x2 - x1`` (README).

NaN and infinity:
* a box with any non-finite coordinate (NaN, +-inf) is *empty*: its IoU with every box is 0,
  so in NMS it neither suppresses nor is suppressed;
* NaN scores are rejected with ``ValueError`` (there is no sensible rank for them);
* RoIs must have finite coordinates (``ValueError`` otherwise); NaN *features* are pooled
  like ``np.max`` does: a bin containing NaN outputs NaN and its argmax is the first NaN.
"""

from typing import NamedTuple

import numpy as np

from minirpn.ops import _validate
from minirpn.ops.geometry import roi_pool_bins, score_order


def box_areas(boxes):
    """Areas of boxes (N, 4) float64 -> (N,); inverted boxes (x2 < x1 or y2 < y1) have area 0."""
    widths = np.maximum(boxes[:, 2] - boxes[:, 0], 0.0)
    heights = np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
    return widths * heights


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair of boxes (F9): area(A ∩ B) / area(A ∪ B).

    Args:
        boxes1: (N, 4) float32/float64 boxes ``(x1, y1, x2, y2)``.
        boxes2: (K, 4) float32/float64 boxes.
    Returns:
        (N, K) IoU, float32 if both inputs are float32, else float64, and computed in that
        precision (float32 arithmetic is accurate to a few units in the last place, about
        1e-7 relative, for boxes of sensible size).
        Pairs whose union has zero area (zero-area or inverted boxes) get 0, not NaN; so does
        any pair involving a box with a non-finite coordinate.
    """
    boxes1 = _validate.check_boxes("boxes1", boxes1)
    boxes2 = _validate.check_boxes("boxes2", boxes2)
    return pairwise_iou(boxes1, boxes2, np.result_type(boxes1, boxes2))


def pairwise_iou(boxes1, boxes2, dtype=np.float64):
    """``box_iou`` without the input checks: (N, 4), (K, 4) float -> (N, K), in ``dtype``."""
    a = boxes1.astype(dtype)
    b = boxes2.astype(dtype)
    # A non-finite box counts as empty: put it at the origin with zero size, which gives an
    # intersection and a union of 0 with anything, hence IoU 0.
    a[~np.isfinite(a).all(axis=1)] = 0.0
    b[~np.isfinite(b).all(axis=1)] = 0.0

    # Intersection rectangle of every pair; a negative extent means no overlap.
    x1, y1, x2, y2 = a[:, None, 0], a[:, None, 1], a[:, None, 2], a[:, None, 3]  # each (N, 1)
    inter_w = np.minimum(x2, b[None, :, 2]) - np.maximum(x1, b[None, :, 0])  # (N, K)
    inter_h = np.minimum(y2, b[None, :, 3]) - np.maximum(y1, b[None, :, 1])  # (N, K)
    inter = np.maximum(inter_w, 0.0) * np.maximum(inter_h, 0.0)  # (N, K)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter  # (N, K)

    iou = np.zeros(union.shape, dtype=dtype)
    np.divide(inter, union, out=iou, where=union > 0.0)
    return iou


def nms(boxes, scores, iou_threshold, max_output=None):
    """Greedy non-maximum suppression (F16).

    Take the best-scoring box that is left, keep it, drop every remaining box whose IoU with
    it is greater than ``iou_threshold``, repeat, until ``max_output`` boxes are kept or none
    is left.

    Args:
        boxes: (N, 4) float boxes ``(x1, y1, x2, y2)``.
        scores: (N,) float scores, no NaN.
        iou_threshold: float >= 0. A box is dropped when IoU > threshold (not >=).
        max_output: int >= 0, or None for no limit.
    Returns:
        keep: (M,) int64 indices into ``boxes``, in decreasing score order; equal scores keep
        the lower index first.
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)
    max_output = _validate.check_max_output("max_output", max_output, len(boxes))

    remaining = score_order(scores)
    keep = []
    while remaining.size and len(keep) < max_output:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        overlaps = pairwise_iou(boxes[best : best + 1], boxes[rest])[0]  # (len(rest),)
        remaining = rest[overlaps <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, class_ids, iou_threshold, max_output=None):
    """NMS run separately for each class: boxes of different classes never suppress each other.

    Args:
        boxes: (N, 4) float boxes; scores: (N,) float; class_ids: (N,) integers.
        iou_threshold: float >= 0.
        max_output: int >= 0, or None: keep only the first ``max_output`` of the result.
    Returns:
        keep: (M,) int64 indices, in decreasing score order over all classes (ties: lower
        index first).
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    class_ids = _validate.check_class_ids("class_ids", class_ids, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)
    max_output = _validate.check_max_output("max_output", max_output, len(boxes))

    keep = [np.empty(0, dtype=np.int64)]
    for class_id in np.unique(class_ids):
        members = np.flatnonzero(class_ids == class_id)
        keep.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = np.sort(np.concatenate(keep))
    return keep[score_order(scores[keep])][:max_output]


def roi_pool(features, rois, output_size, spatial_scale):
    """RoI max pooling exactly as the original Caffe layer (F18, F19).

    Args:
        features: (N, C, H, W) float32/float64 feature maps.
        rois: (R, 5) rows ``(batch_index, x1, y1, x2, y2)`` in image coordinates; the batch
            index must be an integer in [0, N).
        output_size: int or ``(pooled_height, pooled_width)``.
        spatial_scale: float > 0, map cells per image pixel.
    Returns:
        out: (R, C, ph, pw) maxima, dtype of ``features``; an empty bin gives 0.
        argmax: (R, C, ph, pw) int32 flat index ``h * W + w`` of the first maximum in row-major
            order, or -1 for an empty bin. int32 as in Caffe: half the memory of int64 (the
            array is as large as the output), and maps are limited to 2**31 - 1 cells.
    """
    features, batch_index, coords, output_size, spatial_scale = _validate.check_roi_pool_args(
        features, rois, output_size, spatial_scale
    )

    _, channels, height, width = features.shape
    h_start, h_end, w_start, w_end = roi_pool_bins(
        coords, output_size, spatial_scale, height, width
    )
    out = np.zeros((len(coords), channels) + output_size, dtype=features.dtype)
    argmax = np.full(out.shape, -1, dtype=np.int32)
    for r, b in enumerate(batch_index):
        for i in range(output_size[0]):
            for j in range(output_size[1]):
                top, bottom = h_start[r, i], h_end[r, i]
                left, right = w_start[r, j], w_end[r, j]
                if bottom <= top or right <= left:
                    continue  # empty bin: output 0, argmax -1
                # (C, cells of the bin), cells in row-major order
                window = features[b, :, top:bottom, left:right].reshape(channels, -1)
                best = window.argmax(axis=1)  # (C,) first maximum in row-major order (or first NaN)
                out[r, :, i, j] = window[np.arange(channels), best]
                row, col = np.divmod(best, right - left)
                argmax[r, :, i, j] = (top + row) * width + (left + col)
    return out, argmax


def roi_pool_backward(grad_out, rois, argmax, features_shape):
    """Gradient of ``roi_pool`` w.r.t. the features (F19): each bin's gradient goes to its argmax.

    Args:
        grad_out: (R, C, ph, pw) float gradient of the loss w.r.t. the pooled output.
        rois: (R, 5) the RoIs given to ``roi_pool`` (only the batch index is used).
        argmax: (R, C, ph, pw) int32 from ``roi_pool`` (other integer types are accepted);
            -1 marks an empty bin (no gradient).
        features_shape: ``(N, C, H, W)`` of the pooled features.
    Returns:
        grad_features: (N, C, H, W), dtype of ``grad_out``. Bins sharing an argmax (adjacent
        bins overlap by a cell; RoIs overlap) add their gradients there.
    """
    grad_out, argmax, batch_index, features_shape = _validate.check_roi_pool_grad(
        grad_out, argmax, rois, features_shape
    )
    _validate.check_argmax_range(argmax, features_shape)
    batch, channels, height, width = features_shape
    grad_features = np.zeros((batch, channels, height * width), dtype=grad_out.dtype)
    image_of_bin = np.broadcast_to(batch_index[:, None, None, None], argmax.shape)
    channel_of_bin = np.broadcast_to(np.arange(channels)[None, :, None, None], argmax.shape)
    used = argmax >= 0
    # np.add.at (unlike +=) accumulates repeated indices.
    cells = (image_of_bin[used], channel_of_bin[used], argmax[used])
    np.add.at(grad_features, cells, grad_out[used])
    return grad_features.reshape(features_shape)


class AxisSamples(NamedTuple):
    """Where RoIAlign samples along one axis (rows or columns) of every RoI, S = bins * ratio.

    weights: (R, S, size) bilinear weight of each map row (or column) for each sample:
        ``1 - l`` at ``floor(p)``, ``l`` at ``floor(p) + 1``, all 0 for a sample off the map.
    slopes: (R, S, size) the derivative of ``weights`` with respect to the position ``p``:
        -1 and +1 at those two cells, all 0 where the position is clamped or off the map.
    dstart, dend: (R, S) derivative of ``p`` with respect to the RoI's start and end
        coordinates on this axis, in image pixels (``spatial_scale`` included).
    """

    weights: np.ndarray
    slopes: np.ndarray
    dstart: np.ndarray
    dend: np.ndarray


def roi_align_axis(start, end, bins, sampling_ratio, size, spatial_scale, aligned):
    """Sample positions of RoIAlign along one axis and their bilinear weights (F18, F22).

    Bin ``i`` of a RoI spanning ``[p0, p1)`` on the map gets ``sampling_ratio`` evenly spaced
    samples at ``p0 + i * b + (k + 0.5) * b / sampling_ratio`` with ``b = (p1 - p0) / bins``
    (torchvision's expression, evaluated in the same order, so a sample lands on exactly the
    same side of a grid line in the kernel). A position ``p`` reads the cells ``floor(p)``
    and ``floor(p) + 1`` with weights ``1 - l`` and ``l``, ``l = p - floor(p)``, except that
    * ``p < -1`` or ``p > size``: the sample is off the map and contributes 0;
    * ``-1 <= p <= 0``: ``p`` is clamped to 0 (cell 0 only);
    * ``size - 1 <= p <= size``: ``p`` is clamped to ``size - 1`` (the last cell only).

    Args:
        start, end: (R,) RoI corners on this axis in image coordinates (x1, x2 or y1, y2).
        bins: pooled size on this axis; sampling_ratio: samples per bin on this axis (>= 1).
        size: the map's size on this axis (H or W); spatial_scale: map cells per pixel.
        aligned: shift the projected corners by -0.5 (pixel centres); if False, a RoI
            shorter than one cell is stretched to one cell (torchvision's legacy mode).
    Returns:
        ``AxisSamples`` (see there). Gradient rule at the kinks: the derivative is that of
        the branch the forward pass takes. A position exactly on an interior grid line ``k``
        uses the cell ``[k, k + 1]`` (the right derivative); at ``p <= 0`` and
        ``p >= size - 1`` the position is clamped (derivative 0), and so is a sample off the
        map; a RoI of ``aligned=False`` whose length is < 1 cell (strictly) has a constant
        length of 1, so moving its end does nothing and moving its start shifts it whole.
    """
    offset = 0.5 if aligned else 0.0
    p0 = start * spatial_scale - offset  # (R,)
    p1 = end * spatial_scale - offset
    length = p1 - p0
    stretched = (not aligned) & (length < 1.0)  # (R,) legacy mode: length forced to 1
    length = np.where(stretched, 1.0, length)
    bin_size = length / bins  # (R,)
    index = np.arange(bins, dtype=np.float64)[:, None]  # (bins, 1)
    offsets = np.arange(sampling_ratio, dtype=np.float64)[None, :] + 0.5  # (1, ratio)
    position = (
        p0[:, None, None]
        + index * bin_size[:, None, None]
        + offsets * bin_size[:, None, None] / sampling_ratio
    ).reshape(len(p0), bins * sampling_ratio)  # (R, S)
    fraction = ((index + offsets / sampling_ratio) / bins).reshape(
        -1
    )  # (S,) where p lies in [p0, p1]

    on_map = (position >= -1.0) & (position <= size)  # (R, S)
    clamped = np.clip(position, 0.0, size - 1)
    low = np.floor(clamped).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    frac = clamped - low  # 0 where clamped to the last cell
    moving = on_map & (position > 0.0) & (low < size - 1)  # neither clamped nor off the map

    rois, samples = position.shape
    weights = np.zeros((rois, samples, size))
    slopes = np.zeros((rois, samples, size))
    r, s = np.indices(position.shape)
    # high before low: where both are the last cell, frac is 0 and the 1 - frac must win.
    weights[r, s, high] = np.where(on_map, frac, 0.0)
    weights[r, s, low] = np.where(on_map, 1.0 - frac, 0.0)
    slopes[r, s, high] = moving  # +1 (low == high only where the position does not move)
    slopes[r, s, low] = -1.0 * moving

    # p = p0 + fraction * length: dp/dp0 = 1 - fraction and dp/dp1 = fraction, or 1 and 0
    # when the length is pinned at 1.
    dstart = np.where(stretched[:, None], 1.0, 1.0 - fraction[None, :]) * spatial_scale
    dend = np.where(stretched[:, None], 0.0, fraction[None, :]) * spatial_scale
    return AxisSamples(weights, slopes, dstart, dend)


def _bin_means(samples, bins):
    """(R, bins * ratio, size) per-sample weights -> (R, bins, size) averaged over each bin."""
    rois, count, size = samples.shape
    return samples.reshape(rois, bins, count // bins, size).mean(axis=2)


def roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned=True):
    """RoIAlign with torchvision's semantics: bilinear samples averaged per bin (F18, F22).

    Like RoI pooling (F19) it turns any RoI into a fixed (ph, pw) grid of bins, but without
    rounding: each bin is the mean of ``sampling_ratio x sampling_ratio`` bilinearly
    interpolated values at evenly spaced points (``roi_align_axis`` gives their positions
    and weights). Because the rows and columns of the sample grid are independent, a RoI's
    output is two small matrix products per channel: ``rows @ features[c] @ cols.T``, with
    ``rows`` (ph, H) and ``cols`` (pw, W) the bin-averaged interpolation weights.

    Unlike RoI pooling, the output is a continuous, piecewise-smooth function of the box
    coordinates, so ``roi_align_backward`` can also return their gradient, which
    non-approximate joint training needs (F20).

    Args:
        features: (N, C, H, W) float32/float64 feature maps.
        rois: (R, 5) rows ``(batch_index, x1, y1, x2, y2)`` in image coordinates, finite.
        output_size: int or ``(pooled_height, pooled_width)``.
        spatial_scale: float > 0, map cells per image pixel.
        sampling_ratio: int >= 1, samples per bin along each axis (torchvision's adaptive
            ``<= 0`` is refused: it makes the output piecewise constant in the coordinates).
        aligned: True shifts the projected corners by half a cell (-0.5) so that a corner at
            pixel x samples the centre of pixel x; False keeps the legacy Detectron geometry
            and stretches RoIs smaller than one cell to one cell.
    Returns:
        out: (R, C, ph, pw), dtype of ``features`` (computed in float64).
    """
    features, batch_index, coords, output_size, scale, ratio, aligned = (
        _validate.check_roi_align_args(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned
        )
    )
    _, channels, height, width = features.shape
    rows, cols = _roi_align_grids(coords, output_size, scale, ratio, aligned, height, width)
    row_means = _bin_means(rows.weights, output_size[0])  # (R, ph, H)
    col_means = _bin_means(cols.weights, output_size[1])  # (R, pw, W)
    maps = features.astype(np.float64, copy=False)
    out = np.empty((len(coords), channels) + output_size)
    for r, b in enumerate(batch_index):
        out[r] = row_means[r] @ maps[b] @ col_means[r].T  # (C, ph, pw)
    return out.astype(features.dtype)


def _roi_align_grids(coords, output_size, scale, ratio, aligned, height, width):
    """The (rows, cols) ``AxisSamples`` of every RoI: y from (y1, y2), x from (x1, x2)."""
    rows = roi_align_axis(coords[:, 1], coords[:, 3], output_size[0], ratio, height, scale, aligned)
    cols = roi_align_axis(coords[:, 0], coords[:, 2], output_size[1], ratio, width, scale, aligned)
    return rows, cols


def roi_align_backward(
    grad_out, features, rois, output_size, spatial_scale, sampling_ratio, aligned=True
):
    """Gradients of ``roi_align`` w.r.t. the features and the RoI coordinates (F22; for F20).

    With ``out[r, c] = A @ F[c] @ B.T`` (A = bin-averaged row weights (ph, H), B = column
    weights (pw, W)) and ``G = grad_out[r]``:
    * d features[b, c] += ``A.T @ G[c] @ B`` (each sample's weights scatter the gradient
      back to the four cells it read);
    * dL/dA = ``sum_c G[c] @ B @ F[c].T`` (ph, H), and each row sample's position p moves
      its weights by ``slopes`` (-1, +1 on its two cells), so dL/dp = sum over the cells of
      dL/dA * slopes / ratio; then dL/dy1 = sum of dL/dp * dp/dy1 (likewise y2, x1, x2).
    The coordinate gradient is that of the piecewise-smooth output where it is
    differentiable; at the kinks it follows the rule in ``roi_align_axis``.

    Args:
        grad_out: (R, C, ph, pw) gradient of the loss w.r.t. the output of ``roi_align``.
        features, rois, output_size, spatial_scale, sampling_ratio, aligned: as given to
            ``roi_align``.
    Returns:
        dfeatures: (N, C, H, W), dtype of ``features``;
        drois: (R, 5) float64, ``(0, dL/dx1, dL/dy1, dL/dx2, dL/dy2)`` in image coordinates
        (the batch index gets no gradient).
    """
    features, batch_index, coords, output_size, scale, ratio, aligned = (
        _validate.check_roi_align_args(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned
        )
    )
    shape = (len(coords), features.shape[1]) + output_size
    grad_out = _validate.check_roi_align_grad(grad_out, shape, features.dtype)
    _, channels, height, width = features.shape
    rows, cols = _roi_align_grids(coords, output_size, scale, ratio, aligned, height, width)
    row_means = _bin_means(rows.weights, output_size[0])  # (R, ph, H)
    col_means = _bin_means(cols.weights, output_size[1])  # (R, pw, W)

    maps = features.astype(np.float64, copy=False)
    dfeatures = np.zeros(features.shape)
    drois = np.zeros((len(coords), 5))
    for r, b in enumerate(batch_index):
        grad = grad_out[r].astype(np.float64)  # (C, ph, pw)
        image = maps[b]  # (C, H, W)
        dfeatures[b] += row_means[r].T @ grad @ col_means[r]  # (C, H, W)
        d_rows = (grad @ col_means[r] @ image.transpose(0, 2, 1)).sum(axis=0)  # (ph, H)
        d_cols = (grad.transpose(0, 2, 1) @ row_means[r] @ image).sum(axis=0)  # (pw, W)
        # Each sample's weight row is averaged over the ratio samples of its bin, hence / ratio.
        d_y = (rows.slopes[r] * np.repeat(d_rows, ratio, axis=0)).sum(axis=1) / ratio  # (S_y,)
        d_x = (cols.slopes[r] * np.repeat(d_cols, ratio, axis=0)).sum(axis=1) / ratio  # (S_x,)
        drois[r, 1] = d_x @ cols.dstart[r]
        drois[r, 2] = d_y @ rows.dstart[r]
        drois[r, 3] = d_x @ cols.dend[r]
        drois[r, 4] = d_y @ rows.dend[r]
    return dfeatures.astype(features.dtype), drois
