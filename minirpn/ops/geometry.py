"""Rules the Cython kernels and their reference twins share: the order of scores, Caffe's
rounding, and the bins of RoI pooling (F18, F19).

Both :mod:`minirpn.ops` and :mod:`minirpn.ops.reference` follow these, and the pictures that
draw RoI pooling's bins use them too: one definition of each rule.
"""

import numpy as np


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
