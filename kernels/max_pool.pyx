# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -fno-trapping-math
# (-fno-trapping-math lets GCC turn the comparisons in the inner loops into vector selects;
# unlike -ffast-math it changes no result: IEEE rounding, NaN and inf behave as before.)
"""2-D max pooling, forward (maximum and its place) and backward (the gradient sent there).

Called only through ``minirpn.nn.pool``, which checks the arguments and pads the input with
-inf for padding and ceil mode. The readable twins are ``minirpn.nn.reference.max_pool2d``
and ``minirpn.nn.reference.max_pool2d_backward``, one loop step per output cell: the same
comparisons in the same order, hence the same maxima, the same places and the same sums.
"""
import numpy as np

include "interrupt.pxi"

ctypedef fused real:
    float
    double

ctypedef fused offset_t:
    unsigned char
    unsigned short
    unsigned int


def max_pool_forward(const real[:, :, :, ::1] xp, Py_ssize_t kh, Py_ssize_t kw,
                     Py_ssize_t sh, Py_ssize_t sw, real[:, :, :, ::1] out,
                     offset_t[:, :, :, ::1] argmax):
    """Fill ``out`` and ``argmax`` (N, C, Ho, Wo) from the padded input ``xp``.

    ``argmax`` is the window offset ``i * kW + j`` of the first maximum in row-major order.
    The window offsets are the outer loop and a row of outputs the inner one, as in the
    twin: a running maximum and its place per output, updated by selects (no branch), so
    the inner loop runs in SIMD lanes. A NaN in a window makes its maximum NaN (as
    np.maximum), its place that of the last number larger than all before it.
    """
    cdef Py_ssize_t batch = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t out_h = out.shape[2], out_w = out.shape[3], width = xp.shape[3]
    cdef Py_ssize_t n, c, oy, ox, offset
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef real value, current
    cdef int later, keep
    cdef unsigned int old
    cdef const real* row
    cdef real* best
    cdef offset_t* place
    with nogil:
        for n in range(batch):
            for c in range(channels):
                for oy in range(out_h):
                    best = &out[n, c, oy, 0]
                    place = &argmax[n, c, oy, 0]
                    row = &xp[n, c, oy * sh, 0]
                    for ox in range(out_w):
                        best[ox] = row[ox * sw]
                        place[ox] = 0
                    for offset in range(1, kh * kw):
                        row = &xp[n, c, oy * sh + offset // kw, offset % kw]
                        for ox in range(out_w):
                            value = row[ox * sw]
                            current = best[ox]
                            # Strictly greater: ties keep the first maximum (Caffe). Selects,
                            # not branches, so that GCC runs the loop in SIMD lanes; for the
                            # int it only manages that written as a bit mask (-later: all
                            # ones or 0).
                            later = value > current
                            old = place[ox]
                            place[ox] = <offset_t>(old ^ ((old ^ offset) & -later))
                            # np.maximum(current, value): a NaN on either side wins
                            keep = (current > value) | (current != current)
                            best[ox] = current if keep else value
                work += out_h * out_w * kh * kw
                if work >= CHECK_EVERY:
                    work = 0
                    check_signals()


def max_pool_backward(const real[:, :, :, ::1] dout, const offset_t[:, :, :, ::1] argmax,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                      real[:, :, :, ::1] dxp):
    """Add each output's gradient to its window's maximum in ``dxp`` (padded, zeroed by the
    caller), output cells in row-major order. Returns how many argmax entries lie outside
    the window (``>= kH * kW``): those are skipped, and the wrapper reports them."""
    cdef Py_ssize_t batch = dout.shape[0], channels = dout.shape[1]
    cdef Py_ssize_t out_h = dout.shape[2], out_w = dout.shape[3], width = dxp.shape[3]
    cdef Py_ssize_t n, c, oy, ox, place, outside = 0
    cdef Py_ssize_t[::1] shift = np.empty(kh * kw, dtype=np.intp)  # offset -> flat shift
    for place in range(kh * kw):
        shift[place] = (place // kw) * width + place % kw
    cdef real* plane
    with nogil:
        for n in range(batch):
            for c in range(channels):
                plane = &dxp[n, c, 0, 0]
                for oy in range(out_h):
                    for ox in range(out_w):
                        place = argmax[n, c, oy, ox]
                        if place >= kh * kw:
                            outside += 1
                            continue
                        plane[oy * sh * width + ox * sw + shift[place]] += dout[n, c, oy, ox]
    return outside
