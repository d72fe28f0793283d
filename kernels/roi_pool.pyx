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

ctypedef fused cell_or_real:  # what _transpose moves: numbers or argmax cells
    int
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


def roi_pool_forward(const real[:, :, :, ::1] features, const long long[::1] batch_index,
                     const double[:, ::1] coords, double spatial_scale,
                     real[:, :, :, ::1] out, int[:, :, :, ::1] argmax, bint has_nan):
    """Fill ``out`` and ``argmax`` (R, C, ph, pw) by max pooling over RoIs.

    Args:
        features: (N, C, H, W) features; the kernel works on a channels-last copy (N, H, W,
            C), where the C values of one cell are contiguous, so that the innermost loop,
            over channels, runs in SIMD lanes instead of C separate compare chains.
        batch_index: (R,) image of each RoI; coords: (R, 4) RoI corners in image coordinates.
        has_nan: whether the features hold a NaN; without one the loop can skip the NaN
            rule (a NaN wins) and its three extra comparisons per value.
    """
    cdef Py_ssize_t rois = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t pooled_h = out.shape[2], pooled_w = out.shape[3]
    cdef Py_ssize_t batch = features.shape[0]
    cdef Py_ssize_t height = features.shape[2], width = features.shape[3]
    dtype = np.asarray(features).dtype
    cdef real[:, :, :, ::1] features_nhwc = np.empty((batch, height, width, channels), dtype)
    # Bin edges of the current RoI: rows [h_lo[i], h_hi[i]), columns [w_lo[j], w_hi[j]).
    cdef Py_ssize_t[::1] h_lo = np.empty(pooled_h, dtype=np.intp)
    cdef Py_ssize_t[::1] h_hi = np.empty(pooled_h, dtype=np.intp)
    cdef Py_ssize_t[::1] w_lo = np.empty(pooled_w, dtype=np.intp)
    cdef Py_ssize_t[::1] w_hi = np.empty(pooled_w, dtype=np.intp)
    # Maximum and its cell for every bin and channel of the current RoI, channels last as
    # the loops make them; transposed into ``out`` and ``argmax`` (channels first) once the
    # RoI is done. The cell index is a 32-bit int (the wrapper limits H * W) so that it fits
    # the SIMD lanes of float32 data.
    cdef real[:, :, ::1] best = np.empty((pooled_h, pooled_w, channels), dtype)
    cdef int[:, :, ::1] best_cell = np.empty((pooled_h, pooled_w, channels), dtype=np.intc)
    cdef Py_ssize_t r, b, c, i, j, bins = pooled_h * pooled_w
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef double x1, y1, x2, y2
    with nogil:
        for b in range(batch):
            _transpose(&features[b, 0, 0, 0], channels, height * width,
                       &features_nhwc[b, 0, 0, 0])
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
                            best[i, j, c] = 0
                            best_cell[i, j, c] = EMPTY_BIN
                    else:
                        # Constant flags, so the compiler builds two specialised loops.
                        if has_nan:
                            _bin_argmax(&features_nhwc[b, 0, 0, 0], width, channels, h_lo[i],
                                        h_hi[i], w_lo[j], w_hi[j], &best[i, j, 0],
                                        &best_cell[i, j, 0], True)
                        else:
                            _bin_argmax(&features_nhwc[b, 0, 0, 0], width, channels, h_lo[i],
                                        h_hi[i], w_lo[j], w_hi[j], &best[i, j, 0],
                                        &best_cell[i, j, 0], False)
                        work += (h_hi[i] - h_lo[i]) * (w_hi[j] - w_lo[j]) * channels
                    work += channels
                    if work >= CHECK_EVERY:
                        work = 0
                        check_signals()
            _transpose(&best[0, 0, 0], bins, channels, &out[r, 0, 0, 0])
            _transpose(&best_cell[0, 0, 0], bins, channels, &argmax[r, 0, 0, 0])


cdef inline void _transpose(const cell_or_real* source, Py_ssize_t rows, Py_ssize_t cols,
                            cell_or_real* target) noexcept nogil:
    """target (cols, rows) = source (rows, cols) transposed, both C-contiguous.

    In blocks of 4 x 4: four runs of four numbers read, four written, which GCC turns into
    SIMD loads, shuffles and stores (one number at a time, the reads or the writes would
    stride across the arrays); the rows and columns beyond a multiple of 4 one by one.
    """
    cdef Py_ssize_t whole_rows = rows - rows % 4, whole_cols = cols - cols % 4
    cdef Py_ssize_t r, c, i, j
    cdef cell_or_real block[4][4]
    for c in range(0, whole_cols, 4):
        for r in range(0, whole_rows, 4):
            for i in range(4):
                for j in range(4):
                    block[i][j] = source[(r + i) * cols + c + j]
            for j in range(4):
                for i in range(4):
                    target[(c + j) * rows + r + i] = block[i][j]
        for r in range(whole_rows, rows):
            for j in range(4):
                target[(c + j) * rows + r] = source[r * cols + c + j]
    for c in range(whole_cols, cols):
        for r in range(rows):
            target[c * rows + r] = source[r * cols + c]


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
        # the first cell is already in best (compared with itself it would change nothing)
        for w in range(left + 1 if h == top else left, right):
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
