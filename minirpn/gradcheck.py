"""Centred finite differences: the check every hand-written backward pass in minirpn passes.

Usage (the loss must be a scalar function of the array being perturbed)::

    out, cache = conv2d_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    f = lambda: np.sum(conv2d_forward(x, w, b)[0] * dout)   # d f / d out = dout
    assert relative_error(dx, numerical_gradient(f, x)) < 1e-6

In float64 with ``h = 1e-5`` a correct backward pass typically gives a relative error of
1e-8 to 1e-11 (the centred difference is exact up to O(h**2) truncation plus rounding of
order eps / h); a wrong one gives 1e-2 or more. Do gradient checks in float64: in float32
the rounding term alone is about 1e-2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of the scalar ``f()`` with respect to ``x`` by centred differences.

    Args:
        f: function of no arguments returning a scalar; it must read ``x`` (for example
            through a closure), because ``x`` is perturbed in place.
        x: array of any shape, floating dtype (use float64). Each entry is set to
            ``x + h`` and ``x - h`` in turn and restored exactly afterwards.
        h: step of the centred difference ``(f(x + h) - f(x - h)) / (2 h)``.

    Returns:
        array of ``x``'s shape and dtype holding d f / d x.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating-point numpy array, got {type(x).__name__}")
    if not h > 0:
        raise ValueError(f"h must be positive, got {h!r}")
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = float(f())
        x[index] = original - h
        f_minus = float(f())
        x[index] = original  # restore the exact value, not original + h - h
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / (||a|| + ||b||)`` with Euclidean norms over all entries; 0 if both are 0.

    A norm-wise ratio rather than an entry-wise one: entries whose true gradient is almost
    zero would otherwise turn harmless finite-difference noise into a huge "relative" error.
    The value lies in [0, 1]; identical arrays give 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)
