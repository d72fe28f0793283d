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
The ``max_pool_2x2_*`` pair is a faster path for the windows that halve a map (2x2,
stride 2, even sizes, no padding) with the general pair's results bit for bit.
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


def max_pool_2x2_forward(const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                         unsigned char[:, :, :, ::1] argmax):
    """``max_pool_forward`` for 2x2 windows at stride 2 on an even-sized, unpadded ``x``.

    The same bits, without the running loop over window offsets. In the window (a, b / c, d)
    the general kernel folds ``max(max(max(a, b), c), d)`` with np.maximum's rule (a NaN
    wins, the first of two; else the later of equals), an associative operation, so
    ``max(max(a, b), max(c, d))`` is the same number. Its place moves to a later number
    only if that is larger than all before it: to the lower row (to d if d > c, else c)
    only if the lower row's larger number is larger than the upper row's maximum, which
    is NaN-free unless a or b is (and a NaN stops the place from moving). Each output on
    its own, so GCC runs the loop over a row of outputs in SIMD lanes.
    """
    cdef Py_ssize_t batch = out.shape[0], channels = out.shape[1]
    cdef Py_ssize_t out_h = out.shape[2], out_w = out.shape[3], width = x.shape[3]
    cdef Py_ssize_t n, ch, oy, ox
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    cdef const real* upper
    cdef const real* lower
    # A row of places is first written as ints, then narrowed to bytes: GCC runs both loops
    # in SIMD lanes, the first as wide as the numbers' (four floats) instead of juggling the
    # masks of sixteen bytes.
    cdef int[::1] row_places = np.empty(out_w, dtype=np.intc)
    cdef int* places = &row_places[0] if out_w else NULL
    cdef real* best
    cdef unsigned char* place
    cdef real a, b, c, d, top, bottom, candidate
    with nogil:
        for n in range(batch):
            for ch in range(channels):
                for oy in range(out_h):
                    upper = &x[n, ch, 2 * oy, 0]
                    lower = upper + width
                    best = &out[n, ch, oy, 0]
                    place = &argmax[n, ch, oy, 0]
                    for ox in range(out_w):
                        a = upper[2 * ox]
                        b = upper[2 * ox + 1]
                        c = lower[2 * ox]
                        d = lower[2 * ox + 1]
                        # np.maximum's rule; top is a NaN iff a or b is (tested on a and b,
                        # GCC runs the loop in SIMD lanes, on top it does not)
                        top = a if (a > b) | (a != a) else b
                        bottom = c if (c > d) | (c != c) else d
                        best[ox] = top if (top > bottom) | (a != a) | (b != b) else bottom
                        candidate = d if d > c else c  # no NaN from d, unlike bottom
                        places[ox] = (2 + (d > c)) if candidate > top else (b > a)
                    for ox in range(out_w):
                        place[ox] = <unsigned char>places[ox]
                work += 4 * out_h * out_w
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


def max_pool_2x2_backward(const real[:, :, :, ::1] dout,
                          const unsigned char[:, :, :, ::1] argmax, real[:, :, :, ::1] dx):
    """``max_pool_backward`` for the windows of ``max_pool_2x2_forward``: the same sums.

    The windows tile ``dx``, each cell in exactly one, so each cell is written once: its
    window's gradient if it is the place, else 0; ``dx`` needs no zeroing first. Returns
    how many argmax entries lie outside the window (``> 3``); their windows get zeros.
    """
    cdef Py_ssize_t batch = dout.shape[0], channels = dout.shape[1]
    cdef Py_ssize_t out_h = dout.shape[2], out_w = dout.shape[3], width = dx.shape[3]
    cdef Py_ssize_t n, ch, oy, ox, outside = 0
    # A row of places is first widened to ints and the main loop compares them as numbers of
    # the gradients' type: GCC then runs it in SIMD lanes as wide as the numbers' (four
    # floats), instead of juggling the masks of sixteen bytes.
    cdef int[::1] row_places = np.empty(out_w, dtype=np.intc)
    cdef int* places = &row_places[0] if out_w else NULL
    cdef const real* grad
    cdef const unsigned char* place
    cdef real* upper
    cdef real* lower
    cdef real g, p, zero = 0
    with nogil:
        for n in range(batch):
            for ch in range(channels):
                for oy in range(out_h):
                    place = &argmax[n, ch, oy, 0]
                    for ox in range(out_w):
                        places[ox] = place[ox]
                    grad = &dout[n, ch, oy, 0]
                    upper = &dx[n, ch, 2 * oy, 0]
                    lower = upper + width
                    for ox in range(out_w):
                        g = grad[ox]
                        p = places[ox]
                        outside += p > 3
                        # zero + g, as max_pool_backward adds g to a zeroed cell (-0.0 in
                        # gives +0.0 out)
                        upper[2 * ox] = zero + (g if p == 0 else zero)
                        upper[2 * ox + 1] = zero + (g if p == 1 else zero)
                        lower[2 * ox] = zero + (g if p == 2 else zero)
                        lower[2 * ox + 1] = zero + (g if p == 3 else zero)
    return outside
