# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -O3 -ffp-contract=off
# (-ffp-contract=off: no fused multiply-add, whatever -march a build passes, so that each
# product is rounded before its sum, as in NumPy.)
"""One SGD update of one parameter tensor, Caffe's form (``minirpn.nn.optim``).

Called only through :class:`minirpn.nn.SGD`, which checks the arrays. The readable twin is
``minirpn.nn.reference.sgd_update``: four NumPy operations, each a pass over the parameter
(five with weight decay), plus temporaries. This loop does the same arithmetic in one pass,
each entry's operations in the same order and precision (the scalars rounded to the
arrays' precision first, as NumPy does with a Python float), so both give the same bits.
"""

ctypedef fused real:
    float
    double


def sgd_update(real[::1] param, const real[::1] grad, real[::1] velocity, double lr,
               double momentum, double weight_decay):
    """v <- momentum * v + lr * (g + weight_decay * p); p <- p - v, entry by entry.

    ``weight_decay`` 0 skips the decay term (not the same as adding 0 * p: a NaN or an
    infinite parameter would spread into its gradient).
    """
    cdef Py_ssize_t i, n = param.shape[0]
    cdef real lr_ = <real>lr, momentum_ = <real>momentum, decay = <real>weight_decay
    cdef real g
    with nogil:
        for i in range(n):
            g = grad[i]
            if weight_decay != 0.0:
                g = g + decay * param[i]
            velocity[i] = velocity[i] * momentum_ + lr_ * g
            param[i] = param[i] - velocity[i]
