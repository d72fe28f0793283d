# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""RoIAlign (F18, F22) with torchvision's semantics: forward, and backward to both the
features and the RoI coordinates (the corner gradient non-approximate joint training, F20,
sends into the RPN).

Called only through ``minirpn.ops``, which validates every argument (batch indices in range,
finite coordinates, sampling_ratio >= 1). ``minirpn.ops.reference.roi_align`` is the readable
twin and defines the semantics; the sample positions here are the same float64 expressions
in the same order, so every sample falls on the same side of every grid line in both.

Layout: the features (and their gradient) are channels last, (N, H, W, C), so that the C
values of a cell are contiguous and every inner loop runs over channels in SIMD lanes.
"""
import numpy as np

include "interrupt.pxi"

ctypedef fused real:
    float
    double


cdef void _axis_samples(double start, double end, Py_ssize_t bins, Py_ssize_t ratio,
                        Py_ssize_t size, double spatial_scale, bint aligned,
                        Py_ssize_t* low, Py_ssize_t* high, double* frac, char* on_map,
                        double* dstart, double* dend) noexcept nogil:
    """Sample positions along one axis of one RoI (``bins * ratio`` of them) and their
    bilinear cells and weights; see ``reference.roi_align_axis`` for the rules.

    For sample n: ``on_map[n]`` 0 if it lies off the map (contributes nothing); cells
    ``low[n]``, ``high[n]`` with weights ``1 - frac[n]``, ``frac[n]``; ``dstart[n]``,
    ``dend[n]``: derivative of its position w.r.t. the RoI's start and end coordinates in
    image pixels, 0 where the position is clamped (the clamp kills the derivative).
    """
    cdef double offset = 0.5 if aligned else 0.0
    cdef double p0 = start * spatial_scale - offset
    cdef double p1 = end * spatial_scale - offset
    cdef double length = p1 - p0
    # aligned=False stretches a RoI shorter than one cell to one cell: its end then no
    # longer matters and its start moves it whole.
    cdef bint stretched = (not aligned) and length < 1.0
    if stretched:
        length = 1.0
    cdef double bin_size = length / bins
    cdef double p, t
    cdef Py_ssize_t i, k, n, lo
    for i in range(bins):
        for k in range(ratio):
            n = i * ratio + k
            p = p0 + i * bin_size + (k + 0.5) * bin_size / ratio
            t = (i + (k + 0.5) / ratio) / bins  # p = p0 + t * length
            on_map[n] = p >= -1.0 and p <= size
            low[n] = high[n] = 0
            frac[n] = dstart[n] = dend[n] = 0.0
            if not on_map[n]:
                continue
            if p <= 0.0:
                continue  # clamped to cell 0: weight 1 there, position fixed
            lo = <Py_ssize_t>p  # p > 0 and p <= size: truncation is floor
            if lo >= size - 1:
                low[n] = high[n] = size - 1  # clamped to the last cell
                continue
            low[n] = lo
            high[n] = lo + 1
            frac[n] = p - lo
            if stretched:
                dstart[n] = spatial_scale
            else:
                dstart[n] = (1.0 - t) * spatial_scale
                dend[n] = t * spatial_scale


cdef class _Grid:
    """Per-RoI sample tables for rows and columns, allocated once per call."""
    cdef Py_ssize_t[::1] y_low, y_high, x_low, x_high
    cdef double[::1] y_frac, x_frac, y_dstart, y_dend, x_dstart, x_dend
    cdef char[::1] y_on, x_on

    def __init__(self, Py_ssize_t rows, Py_ssize_t cols):
        self.y_low = np.empty(rows, dtype=np.intp)
        self.y_high = np.empty(rows, dtype=np.intp)
        self.y_frac = np.empty(rows)
        self.y_on = np.empty(rows, dtype=np.int8)
        self.y_dstart = np.empty(rows)
        self.y_dend = np.empty(rows)
        self.x_low = np.empty(cols, dtype=np.intp)
        self.x_high = np.empty(cols, dtype=np.intp)
        self.x_frac = np.empty(cols)
        self.x_on = np.empty(cols, dtype=np.int8)
        self.x_dstart = np.empty(cols)
        self.x_dend = np.empty(cols)


cdef inline void _fill(_Grid grid, const double[:, ::1] coords, Py_ssize_t r,
                       Py_ssize_t pooled_h, Py_ssize_t pooled_w, Py_ssize_t ratio,
                       Py_ssize_t height, Py_ssize_t width, double spatial_scale,
                       bint aligned) noexcept nogil:
    _axis_samples(coords[r, 1], coords[r, 3], pooled_h, ratio, height, spatial_scale, aligned,
                  &grid.y_low[0], &grid.y_high[0], &grid.y_frac[0], &grid.y_on[0],
                  &grid.y_dstart[0], &grid.y_dend[0])
    _axis_samples(coords[r, 0], coords[r, 2], pooled_w, ratio, width, spatial_scale, aligned,
                  &grid.x_low[0], &grid.x_high[0], &grid.x_frac[0], &grid.x_on[0],
                  &grid.x_dstart[0], &grid.x_dend[0])


def roi_align_forward(const real[:, :, :, ::1] features_nhwc, const long long[::1] batch_index,
                      const double[:, ::1] coords, double spatial_scale, Py_ssize_t ratio,
                      bint aligned, real[:, :, :, ::1] out):
    """Fill ``out`` (R, C, ph, pw): each bin the mean of ratio x ratio bilinear samples.

    Args:
        features_nhwc: (N, H, W, C) features, channels last.
        batch_index: (R,) image of each RoI; coords: (R, 4) corners in image coordinates.
    """
    cdef Py_ssize_t rois = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t pooled_h = out.shape[2], pooled_w = out.shape[3]
    cdef Py_ssize_t height = features_nhwc.shape[1], width = features_nhwc.shape[2]
    cdef _Grid grid = _Grid(pooled_h * ratio, pooled_w * ratio)
    cdef real[::1] acc = np.empty(channels, dtype=np.asarray(out).dtype)
    cdef real count = ratio * ratio
    cdef Py_ssize_t r, i, j, ky, kx, c
    cdef Py_ssize_t work = 0, bin_work = ratio * ratio * (channels + 1)  # see interrupt.pxi
    cdef double ly, lx
    cdef real w1, w2, w3, w4
    cdef const real* image
    cdef const real* v1
    cdef const real* v2
    cdef const real* v3
    cdef const real* v4
    with nogil:
        for r in range(rois):
            _fill(grid, coords, r, pooled_h, pooled_w, ratio, height, width, spatial_scale,
                  aligned)
            image = &features_nhwc[batch_index[r], 0, 0, 0]
            for i in range(pooled_h):
                for j in range(pooled_w):
                    for c in range(channels):
                        acc[c] = 0
                    for ky in range(i * ratio, (i + 1) * ratio):
                        if not grid.y_on[ky]:
                            continue
                        ly = grid.y_frac[ky]
                        for kx in range(j * ratio, (j + 1) * ratio):
                            if not grid.x_on[kx]:
                                continue
                            lx = grid.x_frac[kx]
                            # The four cells, weighted by the areas of the opposite corners.
                            w1 = <real>((1.0 - ly) * (1.0 - lx))
                            w2 = <real>((1.0 - ly) * lx)
                            w3 = <real>(ly * (1.0 - lx))
                            w4 = <real>(ly * lx)
                            v1 = image + (grid.y_low[ky] * width + grid.x_low[kx]) * channels
                            v2 = image + (grid.y_low[ky] * width + grid.x_high[kx]) * channels
                            v3 = image + (grid.y_high[ky] * width + grid.x_low[kx]) * channels
                            v4 = image + (grid.y_high[ky] * width + grid.x_high[kx]) * channels
                            _accumulate(&acc[0], v1, v2, v3, v4, w1, w2, w3, w4, channels)
                    for c in range(channels):
                        out[r, c, i, j] = acc[c] / count
                    work += bin_work
                    if work >= CHECK_EVERY:
                        work = 0
                        check_signals()


cdef inline void _accumulate(real* acc, const real* v1, const real* v2, const real* v3,
                             const real* v4, real w1, real w2, real w3, real w4,
                             Py_ssize_t channels) noexcept nogil:
    """acc[c] += w1 v1[c] + w2 v2[c] + w3 v3[c] + w4 v4[c] for every channel."""
    cdef Py_ssize_t c
    for c in range(channels):
        acc[c] += w1 * v1[c] + w2 * v2[c] + w3 * v3[c] + w4 * v4[c]


def roi_align_backward(const real[:, :, :, ::1] grad_out, const real[:, :, :, ::1] features_nhwc,
                       const long long[::1] batch_index, const double[:, ::1] coords,
                       double spatial_scale, Py_ssize_t ratio, bint aligned,
                       real[:, :, :, ::1] grad_nhwc, double[:, ::1] drois):
    """Add the gradient of ``roi_align_forward`` to ``grad_nhwc`` (N, H, W, C, zeroed by the
    caller) and write d loss / d (x1, y1, x2, y2) into ``drois[:, 1:]`` (R, 5).

    ``grad_nhwc`` may be wider than C, (N, H, W, C + pad), channels [C, C + pad) untouched:
    the wrapper pads the cells so that its transpose back to NCHW does not read memory at a
    power-of-two stride (C = 512 float32 is 2 KiB per cell, and every read of the transpose
    then hits the same few cache sets).

    A sample at (y, x) between cells v1 (top left), v2 (top right), v3 (bottom left) and v4
    (bottom right) has the value ``(1-ly)(1-lx) v1 + (1-ly) lx v2 + ly (1-lx) v3 + ly lx v4``,
    so d value / dx = (1-ly)(v2 - v1) + ly (v4 - v3) and d value / dy = (1-lx)(v3 - v1)
    + lx (v4 - v2). Per channel these are weighted by the bin's gradient and added to four
    per-channel sums (x1, y1, x2, y2) that are reduced over the channels once per RoI.
    """
    cdef Py_ssize_t rois = grad_out.shape[0], channels = grad_out.shape[1]
    cdef Py_ssize_t pooled_h = grad_out.shape[2], pooled_w = grad_out.shape[3]
    cdef Py_ssize_t height = features_nhwc.shape[1], width = features_nhwc.shape[2]
    cdef _Grid grid = _Grid(pooled_h * ratio, pooled_w * ratio)
    dtype = np.asarray(grad_nhwc).dtype
    cdef real[::1] grad = np.empty(channels, dtype=dtype)  # the bin's gradient / count
    # Per-channel partial sums of d loss / d (x1, y1, x2, y2) for the current RoI: the
    # channel loop stays elementwise (SIMD), and the sums over channels happen once per RoI.
    cdef real[:, ::1] partial = np.empty((4, channels), dtype=dtype)
    cdef real[::1] slope = np.empty(channels, dtype=dtype)
    cdef real count = ratio * ratio
    cdef Py_ssize_t r, b, i, j, ky, kx, c, k
    cdef Py_ssize_t work = 0, bin_work = ratio * ratio * (channels + 1)  # see interrupt.pxi
    cdef double ly, lx, total
    cdef const real* image
    cdef real* dimage
    # Cell stride of the gradient buffer, in elements (the features are dense: C).
    cdef Py_ssize_t grad_cell = grad_nhwc.shape[3]
    cdef Py_ssize_t q1, q2, q3, q4
    if rois == 0 or channels == 0:
        return
    with nogil:
        for r in range(rois):
            _fill(grid, coords, r, pooled_h, pooled_w, ratio, height, width, spatial_scale,
                  aligned)
            b = batch_index[r]
            image = &features_nhwc[b, 0, 0, 0]
            dimage = &grad_nhwc[b, 0, 0, 0]
            for k in range(4):
                for c in range(channels):
                    partial[k, c] = 0
            for i in range(pooled_h):
                for j in range(pooled_w):
                    for c in range(channels):
                        grad[c] = grad_out[r, c, i, j] / count
                    for ky in range(i * ratio, (i + 1) * ratio):
                        if not grid.y_on[ky]:
                            continue
                        ly = grid.y_frac[ky]
                        for kx in range(j * ratio, (j + 1) * ratio):
                            if not grid.x_on[kx]:
                                continue
                            lx = grid.x_frac[kx]
                            q1 = grid.y_low[ky] * width + grid.x_low[kx]  # the four cells
                            q2 = grid.y_low[ky] * width + grid.x_high[kx]
                            q3 = grid.y_high[ky] * width + grid.x_low[kx]
                            q4 = grid.y_high[ky] * width + grid.x_high[kx]
                            _scatter(dimage, q1 * grad_cell, q2 * grad_cell, q3 * grad_cell,
                                     q4 * grad_cell, &grad[0], <real>((1.0 - ly) * (1.0 - lx)),
                                     <real>((1.0 - ly) * lx), <real>(ly * (1.0 - lx)),
                                     <real>(ly * lx), channels)
                            _coordinate_sums(image, q1 * channels, q2 * channels,
                                             q3 * channels, q4 * channels, &grad[0],
                                             <real>(1.0 - ly),
                                             <real>ly, <real>(1.0 - lx), <real>lx,
                                             <real>grid.x_dstart[kx], <real>grid.x_dend[kx],
                                             <real>grid.y_dstart[ky], <real>grid.y_dend[ky],
                                             &slope[0], &partial[0, 0], channels)
                    work += bin_work
                    if work >= CHECK_EVERY:
                        work = 0
                        check_signals()
            for k in range(4):  # partial rows x1, y1, x2, y2 -> drois columns 1 to 4
                total = 0.0
                for c in range(channels):
                    total = total + partial[k, c]
                drois[r, 1 + k] = total


cdef inline void _scatter(real* dimage, Py_ssize_t o1, Py_ssize_t o2, Py_ssize_t o3,
                          Py_ssize_t o4, const real* grad, real w1, real w2, real w3, real w4,
                          Py_ssize_t channels) noexcept nogil:
    """Each of the four cells gets its weight times the gradient, channel by channel.

    Separate loops, not one: clamped samples read the same cell twice (o1 == o2 or
    o1 == o3), and each loop alone is free of that aliasing.
    """
    cdef Py_ssize_t c
    cdef real* d1 = dimage + o1
    cdef real* d2 = dimage + o2
    cdef real* d3 = dimage + o3
    cdef real* d4 = dimage + o4
    for c in range(channels):
        d1[c] += w1 * grad[c]
    for c in range(channels):
        d2[c] += w2 * grad[c]
    for c in range(channels):
        d3[c] += w3 * grad[c]
    for c in range(channels):
        d4[c] += w4 * grad[c]


cdef inline void _coordinate_sums(const real* image, Py_ssize_t o1, Py_ssize_t o2,
                                  Py_ssize_t o3, Py_ssize_t o4, const real* grad, real hy,
                                  real ly, real hx, real lx, real x_start, real x_end,
                                  real y_start, real y_end, real* slope, real* partial,
                                  Py_ssize_t channels) noexcept nogil:
    """The sample's share of the coordinate gradient, per channel: with gx = grad[c] *
    d value / dx and gy = grad[c] * d value / dy, partial rows (x1, y1, x2, y2) get
    gx dx/dx1, gy dy/dy1, gx dx/dx2, gy dy/dy2.

    Short loops over few arrays each (``slope`` is scratch): GCC vectorises a loop only if
    it can rule out overlaps between its arrays at run time with a handful of checks.
    """
    cdef Py_ssize_t c
    cdef const real* v1 = image + o1
    cdef const real* v2 = image + o2
    cdef const real* v3 = image + o3
    cdef const real* v4 = image + o4
    cdef real* px1 = partial
    cdef real* py1 = partial + channels
    cdef real* px2 = partial + 2 * channels
    cdef real* py2 = partial + 3 * channels
    if x_start != 0 or x_end != 0:  # both 0 where x is clamped
        for c in range(channels):
            slope[c] = grad[c] * (hy * (v2[c] - v1[c]) + ly * (v4[c] - v3[c]))
        for c in range(channels):
            px1[c] += x_start * slope[c]
            px2[c] += x_end * slope[c]
    if y_start != 0 or y_end != 0:
        for c in range(channels):
            slope[c] = grad[c] * (hx * (v3[c] - v1[c]) + lx * (v4[c] - v2[c]))
        for c in range(channels):
            py1[c] += y_start * slope[c]
            py2[c] += y_end * slope[c]
