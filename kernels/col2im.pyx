# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""im2col and col2im: a convolution's input laid out as one matrix of its windows (F1), and
that matrix's gradient added back onto the input; and the copies between the layouts.

The matrix holds one window per *row*, (N, Ho*Wo, kH*kW*C), each row in the order (i, j, c):
kernel row, kernel column, channel. Built from the input in channels-last order (N, H, W, C)
with its zero padding, a window's kW pixels of one kernel row are then kW*C consecutive
numbers, copied at once; see ``minirpn.nn.conv`` for why this layout.
Called only through ``minirpn.nn.conv``, which checks the shapes. The readable twins are in
``minirpn.nn.reference``: ``im2col`` (a strided NumPy view of the windows, copied),
``col2im`` (nine sliced NumPy additions for a 3x3 kernel) and ``add_bias_transposed`` (one
NumPy addition). im2col and the layout changes copy each number (or a padding zero) to its
place, so any order gives the same bits; col2im adds the same numbers to each input pixel in
the same order as its twin (kernel offsets row by row, starting from zero), so both give the
same bits. NumPy's versions run at a fraction of a copy's speed: they pay their iteration
overhead on every short row of a small feature map, nine times over, and walk a transposed
array in an order that misses the cache.
"""
from libc.string cimport memset

include "interrupt.pxi"

cdef extern from "conv_layout.h" nogil:
    void transpose_add_f32(const float* src, Py_ssize_t src_stride, float* dst,
                           Py_ssize_t dst_stride, Py_ssize_t rows, Py_ssize_t cols,
                           const float* add)
    void transpose_add_f64(const double* src, Py_ssize_t src_stride, double* dst,
                           Py_ssize_t dst_stride, Py_ssize_t rows, Py_ssize_t cols,
                           const double* add)
    void add_run_f32(float* dst, const float* src, Py_ssize_t n)
    void add_run_f64(double* dst, const double* src, Py_ssize_t n)
    void copy_run_f32(float* dst, const float* src, Py_ssize_t n)
    void copy_run_f64(double* dst, const double* src, Py_ssize_t n)

ctypedef fused real:
    float
    double


cdef inline void _transpose(const real* src, Py_ssize_t src_stride, real* dst,
                            Py_ssize_t dst_stride, Py_ssize_t rows, Py_ssize_t cols,
                            const real* add) noexcept nogil:
    """``dst[c * dst_stride + r] = src[r * src_stride + c] (+ add[c])`` (conv_layout.h)."""
    if real is float:
        transpose_add_f32(src, src_stride, dst, dst_stride, rows, cols, add)
    else:
        transpose_add_f64(src, src_stride, dst, dst_stride, rows, cols, add)


cdef inline void _copy_run(real* dst, const real* src, Py_ssize_t n) noexcept nogil:
    """``dst[t] = src[t]`` for t < n (conv_layout.h)."""
    if real is float:
        copy_run_f32(dst, src, n)
    else:
        copy_run_f64(dst, src, n)


cdef inline void _add_run(real* dst, const real* src, Py_ssize_t n) noexcept nogil:
    """``dst[t] += src[t]`` for t < n (conv_layout.h)."""
    if real is float:
        add_run_f32(dst, src, n)
    else:
        add_run_f64(dst, src, n)


def to_padded_channels_last(const real[:, :, :, ::1] x, Py_ssize_t ph, Py_ssize_t pw,
                            real[:, :, :, ::1] out):
    """Fill ``out`` (N, H + 2 ph, W + 2 pw, C) with ``x`` (N, C, H, W), zeros around it."""
    cdef Py_ssize_t batch = x.shape[0], channels = x.shape[1]
    cdef Py_ssize_t height = x.shape[2], width = x.shape[3]
    cdef Py_ssize_t row = out.shape[2] * channels  # numbers in one padded row
    cdef Py_ssize_t n, y
    with nogil:
        for n in range(batch):
            memset(&out[n, 0, 0, 0], 0, ph * row * sizeof(real))
            memset(&out[n, ph + height, 0, 0], 0, ph * row * sizeof(real))
            for y in range(height):
                memset(&out[n, ph + y, 0, 0], 0, pw * channels * sizeof(real))
                memset(&out[n, ph + y, pw + width, 0], 0, pw * channels * sizeof(real))
                # Row y of every channel, (C, W), becomes the padded row's pixels, (W, C).
                _transpose(&x[n, 0, y, 0], height * width, &out[n, ph + y, pw, 0], channels,
                           channels, width, NULL)
            check_signals()


def from_padded_channels_last(const real[:, :, :, ::1] padded, Py_ssize_t ph, Py_ssize_t pw,
                              real[:, :, :, ::1] out):
    """Fill ``out`` (N, C, H, W) with the inside of ``padded`` (N, H + 2 ph, W + 2 pw, C)."""
    cdef Py_ssize_t batch = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t height = out.shape[2], width = out.shape[3]
    cdef Py_ssize_t n, y
    with nogil:
        for n in range(batch):
            for y in range(height):
                _transpose(&padded[n, ph + y, pw, 0], channels, &out[n, 0, y, 0],
                           height * width, width, channels, NULL)
            check_signals()


def add_bias_transposed(const real[:, :, ::1] rows, const real[::1] b, real[:, :, ::1] out):
    """``out[n, f, p] = rows[n, p, f] + b[f]``: the product (N, P, F) turned into NCHW order."""
    cdef Py_ssize_t batch = rows.shape[0], positions = rows.shape[1], filters = rows.shape[2]
    cdef Py_ssize_t n
    with nogil:
        for n in range(batch):
            _transpose(&rows[n, 0, 0], filters, &out[n, 0, 0], positions, positions, filters,
                       &b[0])
            check_signals()


def im2col(const real[:, :, :, ::1] padded, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
           Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo, real[:, :, ::1] cols):
    """Fill ``cols`` (N, Ho*Wo, kH*kW*C) with the windows of ``padded`` (N, Hp, Wp, C).

    Row ``oy * Wo + ox``, entries ``(i * kW + j) * C + c`` are padded pixel
    ``(oy * sh + i, ox * sw + j)`` of channel c: for each i, kW*C consecutive numbers.
    """
    cdef Py_ssize_t batch = padded.shape[0], channels = padded.shape[3]
    cdef Py_ssize_t run = kw * channels  # numbers in one kernel row of a window
    cdef Py_ssize_t row = padded.shape[2] * channels  # numbers in one padded row
    cdef Py_ssize_t n, oy, ox, i
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef const real* window
    cdef real* dst
    with nogil:
        for n in range(batch):
            for oy in range(ho):
                dst = &cols[n, oy * wo, 0]  # the rows of this output row, one after another
                for ox in range(wo):
                    window = &padded[n, oy * sh, ox * sw, 0]  # the window's top-left pixel
                    for i in range(kh):
                        _copy_run(dst, window + i * row, run)
                        dst += run
                work += kh * kw * channels * wo
                if work >= CHECK_EVERY:
                    work = 0
                    check_signals()


def col2im(const real[:, :, ::1] dcols, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
           Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo, real[:, :, :, ::1] padded):
    """Overwrite ``padded`` (N, Hp, Wp, C) with the sum of the window rows (N, Ho*Wo, kH*kW*C).

    The layout of ``im2col``. Each padded pixel must receive its contributions in the order
    of the kernel offsets (i, j), row by row: i is the outer loop, and within one kernel row
    the windows are visited from the right, so that a pixel sees j = 0 (from the window
    furthest right) first. Each window's kW*C numbers of row i are one contiguous run.
    """
    cdef Py_ssize_t batch = padded.shape[0], channels = padded.shape[3]
    cdef Py_ssize_t size = padded.shape[1] * padded.shape[2] * channels
    cdef Py_ssize_t run = kw * channels
    cdef Py_ssize_t n, i, oy, ox
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    with nogil:
        for n in range(batch):
            memset(&padded[n, 0, 0, 0], 0, size * sizeof(real))
            for i in range(kh):
                for oy in range(ho):
                    for ox in range(wo - 1, -1, -1):
                        _add_run(&padded[n, oy * sh + i, ox * sw, 0],
                                 &dcols[n, oy * wo + ox, i * run], run)
                    work += run * wo
                    if work >= CHECK_EVERY:
                        work = 0
                        check_signals()
