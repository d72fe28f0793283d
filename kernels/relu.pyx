# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -O3 -fno-trapping-math
# (-fno-trapping-math lets GCC turn the comparisons into vector selects; it changes no
# result: IEEE rounding, NaN and inf behave as before.)
"""ReLU forward: the output and the mask of positive inputs, in one pass.

Called only through ``minirpn.nn.relu_forward``. The readable twin is
``minirpn.nn.reference.relu_forward``: ``np.maximum(x, 0)`` and ``x > 0``, two passes, the
first of them slow (NumPy's maximum branches on every entry for NaN, and a ReLU's input
has random signs). Same bits: +0.0 for a negative input or -0.0, a NaN kept.
"""

ctypedef fused real:
    float
    double


def relu_forward(const real[::1] x, real[::1] out, unsigned char[::1] mask):
    """out = x where x > 0 or x is NaN (np.maximum(x, 0) lets a NaN through), else +0.0;
    mask = x > 0. All three flat, of one length."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef real value, zero = 0
    cdef unsigned char positive
    with nogil:
        for i in range(n):
            value = x[i]
            positive = value > zero
            mask[i] = positive
            out[i] = value if (positive | (value != value)) else zero
