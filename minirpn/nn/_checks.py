"""Argument checks shared by the layers: every bad input becomes an error naming the argument."""

from __future__ import annotations

import numbers

import numpy as np


def as_pair(value, name: str, *, minimum: int) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a validated ``(h, w)`` tuple of ints >= ``minimum``."""
    items = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}") from None
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair
    ):
        raise TypeError(f"{name} must be an int or an (h, w) pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


# The layers run in float32 (training) and float64 (gradient checks), the two precisions of
# the BLAS products and of the Cython kernels (col2im, max pooling).
LAYER_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(a, name: str) -> np.ndarray:
    """Check that ``a`` is a float32 or float64 ndarray (any shape) and return it."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in LAYER_DTYPES:
        raise TypeError(f"{name} must have a floating dtype, float32 or float64, got {a.dtype}")
    return a


def check_array(a, name: str, ndim: int) -> np.ndarray:
    """Check that ``a`` is a float32 or float64 ndarray with ``ndim`` dimensions; return it."""
    check_float_array(a, name)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    return a
