# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""im2col and col2im: a convolution's input laid out as columns (F1's windows), and the
columns' gradient added back onto the input.

Called only through ``minirpn.nn.conv``, which checks the shapes. The readable twins are
``minirpn.nn.reference.im2col`` (a strided NumPy view of the windows, copied) and
``minirpn.nn.reference.col2im``, nine sliced NumPy additions for a 3x3 kernel. im2col
copies each input number (or a padding zero) to its column, so any order gives the same
bits; col2im adds the same numbers to each input pixel in the same order as its twin
(kernel offsets row by row, starting from zero), so both give the same bits. Both loops
are several times faster than NumPy, which pays its iteration overhead on every short row
of a small feature map, nine times over (and pads a copy of the input first for im2col).
"""
from libc.string cimport memcpy, memset

include "interrupt.pxi"

ctypedef fused real:
    float
    double


cdef inline void _valid_outputs(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                                Py_ssize_t count, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The outputs o in [lo, hi) of ``count`` whose input ``o * stride + offset`` lies in
    [0, size): the others read the zero padding, whose gradient is dropped."""
    lo[0] = 0 if offset >= 0 else (stride - 1 - offset) // stride
    hi[0] = 0 if size <= offset else (size - offset + stride - 1) // stride
    hi[0] = max(min(hi[0], count), lo[0])


def col2im(const real[:, :, ::1] dcols, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
           Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t ho, Py_ssize_t wo,
           real[:, :, :, ::1] dx):
    """Overwrite ``dx`` (N, C, H, W) with the sum of the columns (N, C*kH*kW, Ho*Wo).

    Column row ``(c * kH + i) * kW + j``, entry ``oy * Wo + ox`` belongs to input pixel
    ``(oy * sh + i - ph, ox * sw + j - pw)`` of channel c.
    """
    cdef Py_ssize_t batch = dx.shape[0], channels = dx.shape[1]
    cdef Py_ssize_t height = dx.shape[2], width = dx.shape[3]
    cdef Py_ssize_t n, c, i, j, oy, ox, y, row, x_lo, x_hi, y_lo, y_hi
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef const real* src
    cdef real* dst
    with nogil:
        for n in range(batch):
            for c in range(channels):
                memset(&dx[n, c, 0, 0], 0, height * width * sizeof(real))
                for i in range(kh):
                    _valid_outputs(i - ph, sh, height, ho, &y_lo, &y_hi)
                    for j in range(kw):
                        _valid_outputs(j - pw, sw, width, wo, &x_lo, &x_hi)
                        row = (c * kh + i) * kw + j
                        for oy in range(y_lo, y_hi):
                            y = oy * sh + i - ph
                            src = &dcols[n, row, oy * wo]
                            dst = &dx[n, c, y, 0]
                            if sw == 1:  # contiguous on both sides: SIMD
                                for ox in range(x_lo, x_hi):
                                    dst[ox + j - pw] += src[ox]
                            else:
                                for ox in range(x_lo, x_hi):
                                    dst[ox * sw + j - pw] += src[ox]
                work += kh * kw * ho * wo
                if work >= CHECK_EVERY:
                    work = 0
                    check_signals()


def im2col(const real[:, :, :, ::1] x, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
           Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t ho, Py_ssize_t wo,
           real[:, :, ::1] cols):
    """Fill ``cols`` (N, C*kH*kW, Ho*Wo) with the windows of ``x`` (N, C, H, W), zero padded.

    Column row ``(c * kH + i) * kW + j``, entry ``oy * Wo + ox`` is input pixel
    ``(oy * sh + i - ph, ox * sw + j - pw)`` of channel c, or 0 where that lies outside.
    """
    cdef Py_ssize_t batch = x.shape[0], channels = x.shape[1]
    cdef Py_ssize_t height = x.shape[2], width = x.shape[3]
    cdef Py_ssize_t n, c, i, j, oy, ox, row, x_lo, x_hi, y_lo, y_hi
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef const real* src
    cdef real* dst
    with nogil:
        for n in range(batch):
            for c in range(channels):
                for i in range(kh):
                    _valid_outputs(i - ph, sh, height, ho, &y_lo, &y_hi)
                    for j in range(kw):
                        _valid_outputs(j - pw, sw, width, wo, &x_lo, &x_hi)
                        x_lo = min(x_lo, wo)  # a window offset that sees only padding
                        x_hi = min(x_hi, wo)
                        row = (c * kh + i) * kw + j
                        for oy in range(ho):
                            dst = &cols[n, row, oy * wo]
                            if oy < y_lo or oy >= y_hi:  # a row of padding
                                memset(dst, 0, wo * sizeof(real))
                                continue
                            src = &x[n, c, oy * sh + i - ph, 0]
                            # The padding zeros by plain loops (a few numbers), the run of
                            # input numbers between them by memcpy: GCC's loop for it ran at a
                            # third of memcpy's speed even on 16-number rows.
                            for ox in range(x_lo):
                                dst[ox] = 0
                            if sw == 1:
                                memcpy(dst + x_lo, src + x_lo + j - pw,
                                       (x_hi - x_lo) * sizeof(real))
                            else:
                                for ox in range(x_lo, x_hi):
                                    dst[ox] = src[ox * sw + j - pw]
                            for ox in range(x_hi, wo):
                                dst[ox] = 0
                work += kh * kw * ho * wo
                if work >= CHECK_EVERY:
                    work = 0
                    check_signals()
