# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -fno-trapping-math
# (-fno-trapping-math lets GCC turn the comparisons in the inner loops into vector selects;
# unlike -ffast-math it changes no result: IEEE rounding, NaN and inf behave as before.)
"""RoI max pooling (F18, F19), forward and backward, exactly the original Caffe layer.

Called only through ``minirpn.ops``, which validates every argument (batch indices in range,
finite coordinates, argmax inside the map). ``minirpn.ops.reference.roi_pool`` is the
readable twin; the bin geometry here is the same float64 arithmetic in the same order.
"""
import numpy as np

from libc.math cimport ceil, floor, fmax, fmin, round

include "interrupt.pxi"

ctypedef fused real:
    float
    double

# argmax of a bin that covers no cell of the map.
cdef int EMPTY_BIN = -1


cdef void _bin_edges(double start, double roi_size, Py_ssize_t count, double limit,
                     Py_ssize_t[::1] lo, Py_ssize_t[::1] hi) noexcept nogil:
    """Edges of ``count`` bins splitting a RoI of ``roi_size`` cells from ``start``.

    Bin k spans [lo[k], hi[k]), both clamped to [0, limit].
    """
    cdef double bin_size = roi_size / count  # a float: neighbouring bins may share a cell
    cdef Py_ssize_t k
    for k in range(count):
        lo[k] = <Py_ssize_t>fmin(fmax(floor(k * bin_size) + start, 0.0), limit)
        hi[k] = <Py_ssize_t>fmin(fmax(ceil((k + 1) * bin_size) + start, 0.0), limit)


def roi_pool_forward(const real[:, :, :, ::1] features_nhwc, const long long[::1] batch_index,
                     const double[:, ::1] coords, double spatial_scale,
                     real[:, :, :, ::1] out, int[:, :, :, ::1] argmax, bint has_nan):
    """Fill ``out`` and ``argmax`` (R, C, ph, pw) by max pooling over RoIs.

    Args:
        features_nhwc: (N, H, W, C) features, channels last (the wrapper transposes the NCHW
            map once): the C values of one cell are then contiguous, so the innermost loop,
            over channels, runs in SIMD lanes instead of C separate compare chains.
        batch_index: (R,) image of each RoI; coords: (R, 4) RoI corners in image coordinates.
        has_nan: whether the features hold a NaN; without one the loop can skip the NaN
            rule (a NaN wins) and its three extra comparisons per value.
    """
    cdef Py_ssize_t rois = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t pooled_h = out.shape[2], pooled_w = out.shape[3]
    cdef Py_ssize_t height = features_nhwc.shape[1], width = features_nhwc.shape[2]
    # Bin edges of the current RoI: rows [h_lo[i], h_hi[i]), columns [w_lo[j], w_hi[j]).
    cdef Py_ssize_t[::1] h_lo = np.empty(pooled_h, dtype=np.intp)
    cdef Py_ssize_t[::1] h_hi = np.empty(pooled_h, dtype=np.intp)
    cdef Py_ssize_t[::1] w_lo = np.empty(pooled_w, dtype=np.intp)
    cdef Py_ssize_t[::1] w_hi = np.empty(pooled_w, dtype=np.intp)
    # Running maximum and its cell for every channel of the current bin. The cell index is a
    # 32-bit int (the wrapper limits H * W) so that it fits the SIMD lanes of float32 data.
    cdef real[::1] best = np.empty(channels, dtype=np.asarray(features_nhwc).dtype)
    cdef int[::1] best_cell = np.empty(channels, dtype=np.intc)
    cdef Py_ssize_t r, b, c, i, j
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef double x1, y1, x2, y2
    with nogil:
        for r in range(rois):
            b = batch_index[r]
            # Project onto the map and snap to cells with C's round (half away from zero);
            # both corner cells are inclusive, hence + 1, and a degenerate RoI keeps one cell.
            x1 = round(coords[r, 0] * spatial_scale)
            y1 = round(coords[r, 1] * spatial_scale)
            x2 = round(coords[r, 2] * spatial_scale)
            y2 = round(coords[r, 3] * spatial_scale)
            _bin_edges(y1, fmax(y2 - y1 + 1.0, 1.0), pooled_h, height, h_lo, h_hi)
            _bin_edges(x1, fmax(x2 - x1 + 1.0, 1.0), pooled_w, width, w_lo, w_hi)
            for i in range(pooled_h):
                for j in range(pooled_w):
                    if h_hi[i] <= h_lo[i] or w_hi[j] <= w_lo[j]:
                        for c in range(channels):
                            out[r, c, i, j] = 0
                            argmax[r, c, i, j] = EMPTY_BIN
                    else:
                        # Constant flags, so the compiler builds two specialised loops.
                        if has_nan:
                            _bin_argmax(&features_nhwc[b, 0, 0, 0], width, channels, h_lo[i],
                                        h_hi[i], w_lo[j], w_hi[j], &best[0], &best_cell[0], True)
                        else:
                            _bin_argmax(&features_nhwc[b, 0, 0, 0], width, channels, h_lo[i],
                                        h_hi[i], w_lo[j], w_hi[j], &best[0], &best_cell[0], False)
                        for c in range(channels):
                            out[r, c, i, j] = best[c]
                            argmax[r, c, i, j] = best_cell[c]
                        work += (h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]) * channels
                    work += channels
                    if work >= CHECK_EVERY:
                        work = 0
                        check_signals()


cdef inline void _bin_argmax(const real* image, Py_ssize_t width, Py_ssize_t channels,
                             Py_ssize_t top, Py_ssize_t bottom, Py_ssize_t left, Py_ssize_t right,
                             real* best, int* best_cell, bint nan_wins) noexcept nogil:
    """Per channel, the maximum of image[top:bottom, left:right, c] (an (H, W, C) map) and
    the flat cell ``h * width + w`` where it first occurs in row-major order.

    A NaN counts as larger than any number and the first NaN wins (as in np.argmax), so NaN
    features show up in the output instead of hiding. ``nan_wins`` False skips that rule,
    for maps known to hold no NaN.
    """
    cdef Py_ssize_t h, w, c
    cdef int cell = top * width + left
    cdef const real* values = image + cell * channels
    cdef real value, current
    cdef int take, old_cell
    for c in range(channels):
        best[c] = values[c]
        best_cell[c] = cell
    for h in range(top, bottom):
        for w in range(left, right):
            cell = h * width + w
            values = image + cell * channels
            for c in range(channels):
                value = values[c]
                current = best[c]
                take = (value > current) | (nan_wins & (value != value) & (current == current))
                # Selects, not branches, so that GCC runs the loop in SIMD lanes; it only
                # manages that for the int written as a bit mask (-take is all ones or 0).
                old_cell = best_cell[c]
                best_cell[c] = old_cell ^ ((old_cell ^ cell) & -take)
                best[c] = value if take else current


def roi_pool_backward(const real[:, :, :, ::1] grad_out, const long long[::1] batch_index,
                      const int[:, :, :, ::1] argmax, real[:, :, ::1] grad_features):
    """Add each bin's gradient (R, C, ph, pw) to its argmax cell of grad_features (N, C, H*W).

    Returns the number of argmax entries outside [-1, H*W), which are skipped: the range
    is checked here, in the one pass over the array, and the wrapper reports it.
    """
    cdef Py_ssize_t rois = grad_out.shape[0], channels = grad_out.shape[1]
    cdef Py_ssize_t bins = grad_out.shape[2] * grad_out.shape[3]
    cdef Py_ssize_t map_size = grad_features.shape[2], outside = 0
    cdef Py_ssize_t r, c, k
    cdef const real* grad
    cdef const int* cells
    cdef real* plane
    cdef int cell
    if rois == 0 or channels == 0 or bins == 0:
        return 0
    with nogil:
        for r in range(rois):
            for c in range(channels):
                # The bins of one (RoI, channel) pair are contiguous and all land in one plane.
                grad = &grad_out[r, c, 0, 0]
                cells = &argmax[r, c, 0, 0]
                plane = &grad_features[batch_index[r], c, 0]
                for k in range(bins):
                    cell = cells[k]
                    if <size_t>cell < <size_t>map_size:  # one unsigned test: 0 <= cell < map_size
                        plane[cell] += grad[k]
                    elif cell != EMPTY_BIN:
                        outside += 1
    return outside
