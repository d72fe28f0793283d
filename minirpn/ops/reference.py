"""NumPy twins of the Cython kernels: the readable definitions of IoU, NMS and RoI pooling.

Each function here has exactly the signature and the results of its namesake in
``minirpn.ops`` (the fast Cython version); the tests use these as the oracle. Inputs are
checked by the same helpers (``minirpn.ops._validate``) as the fast versions.

Boxes are continuous corners ``(x1, y1, x2, y2)`` with width ``x2 - x1`` (README).

NaN and infinity:
* a box with any non-finite coordinate (NaN, +-inf) is *empty*: its IoU with every box is 0,
  so in NMS it neither suppresses nor is suppressed;
* NaN scores are rejected with ``ValueError`` (there is no sensible rank for them);
* RoIs must have finite coordinates (``ValueError`` otherwise); NaN *features* are pooled
  like ``np.max`` does: a bin containing NaN outputs NaN and its argmax is the first NaN.
"""

import numpy as np

from minirpn.ops import _validate


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


def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression (F16).

    Take the best-scoring box that is left, keep it, drop every remaining box whose IoU with
    it is greater than ``iou_threshold``, repeat.

    Args:
        boxes: (N, 4) float boxes ``(x1, y1, x2, y2)``.
        scores: (N,) float scores, no NaN.
        iou_threshold: float >= 0. A box is dropped when IoU > threshold (not >=).
    Returns:
        keep: (M,) int64 indices into ``boxes``, in decreasing score order; equal scores keep
        the lower index first.
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)

    remaining = score_order(scores)
    keep = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        overlaps = pairwise_iou(boxes[best : best + 1], boxes[rest])[0]  # (len(rest),)
        remaining = rest[overlaps <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, class_ids, iou_threshold):
    """NMS run separately for each class: boxes of different classes never suppress each other.

    Args:
        boxes: (N, 4) float boxes; scores: (N,) float; class_ids: (N,) integers.
        iou_threshold: float >= 0.
    Returns:
        keep: (M,) int64 indices, in decreasing score order over all classes (ties: lower
        index first).
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    class_ids = _validate.check_class_ids("class_ids", class_ids, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)

    keep = [np.empty(0, dtype=np.int64)]
    for class_id in np.unique(class_ids):
        members = np.flatnonzero(class_ids == class_id)
        keep.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = np.sort(np.concatenate(keep))
    return keep[score_order(scores[keep])]


def score_order(scores):
    """Indices sorting ``scores`` (N,) by decreasing score, ties by increasing index."""
    return np.argsort(-scores, kind="stable").astype(np.int64)


def round_half_away_from_zero(x):
    """C's ``round``: 2.5 -> 3, -2.5 -> -3 (NumPy's ``np.round`` gives 2 and -2).

    ``floor(|x| + 0.5)`` is not used because the addition itself can round up, e.g.
    0.49999999999999994 + 0.5 == 1.0 in float64; the fractional part ``|x| - floor(|x|)``
    is exact.
    """
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    return np.copysign(whole + (magnitude - whole >= 0.5), x)


def roi_pool_bins(coords, output_size, spatial_scale, height, width):
    """Bin edges of the Caffe RoI pooling layer (F18, F19) for RoIs on an (H, W) map.

    Args:
        coords: (R, 4) float64 RoI corners ``(x1, y1, x2, y2)`` in image coordinates.
        output_size: ``(pooled_height, pooled_width)``.
        spatial_scale: feature-map cells per image pixel (1/16 for VGG16's conv5_3).
        height, width: size of the feature map.
    Returns:
        ``(h_start, h_end, w_start, w_end)`` int64 arrays of shapes (R, ph), (R, ph), (R, pw),
        (R, pw): bin ``(i, j)`` of RoI ``r`` covers rows ``h_start[r, i]:h_end[r, i]`` and
        columns ``w_start[r, j]:w_end[r, j]`` (empty when end <= start).
    """
    pooled_height, pooled_width = output_size
    # Project onto the map and snap to whole cells; the corner cells are both inclusive,
    # hence the + 1, and a degenerate RoI is forced to one cell.
    x1, y1, x2, y2 = round_half_away_from_zero(coords * spatial_scale).T  # each (R,)
    roi_height = np.maximum(y2 - y1 + 1.0, 1.0)
    roi_width = np.maximum(x2 - x1 + 1.0, 1.0)
    bin_height = roi_height / pooled_height  # (R,), a float: bins may overlap by a cell
    bin_width = roi_width / pooled_width

    def edges(start, bin_size, count, limit):
        index = np.arange(count, dtype=np.float64)
        lo = np.floor(index[None, :] * bin_size[:, None]) + start[:, None]  # (R, count)
        hi = np.ceil((index[None, :] + 1.0) * bin_size[:, None]) + start[:, None]
        return np.clip(lo, 0, limit).astype(np.int64), np.clip(hi, 0, limit).astype(np.int64)

    return edges(y1, bin_height, pooled_height, height) + edges(x1, bin_width, pooled_width, width)


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
    features = _validate.check_features("features", features)
    batch_index, coords = _validate.check_rois("rois", rois, features.shape[0])
    output_size = _validate.check_output_size("output_size", output_size)
    spatial_scale = _validate.check_spatial_scale("spatial_scale", spatial_scale)

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
