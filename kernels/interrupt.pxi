# Included by every kernel whose loops can run long (``include "interrupt.pxi"``).
#
# The kernels run without the GIL, so Python's signal handlers (Ctrl-C raising
# KeyboardInterrupt) cannot run while they loop. Every CHECK_EVERY units of work (a
# multiply-add, a comparison), a loop calls check_signals(), which takes the GIL back for
# a moment and runs the pending handlers: a Ctrl-C then stops the call within milliseconds,
# and on an ordinary call (a few million units) the check runs a handful of times.
from cpython.exc cimport PyErr_CheckSignals

cdef Py_ssize_t CHECK_EVERY = 1 << 22


cdef inline int check_signals() except -1 nogil:
    """Run Python's pending signal handlers; -1 (their exception set) if one raised."""
    with gil:
        return PyErr_CheckSignals()
