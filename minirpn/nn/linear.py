"""Fully connected layer: out = x @ w.T + b, with w in PyTorch's (out, in) layout."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.nn._checks import check_array


class LinearCache(NamedTuple):
    x: np.ndarray  # (N, in)
    w: np.ndarray  # (out, in)
    b_dtype: np.dtype


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """Affine map of a batch of vectors.

    Args:
        x: (N, in) float input (flatten feature maps first, e.g. with ``Flatten``).
        w: (out, in) float weights.
        b: (out,) float bias.

    Returns:
        out: (N, out) in the common dtype of x, w and b; cache: ``LinearCache``.
    """
    check_array(x, "x", 2)
    check_array(w, "w", 2)
    check_array(b, "b", 1)
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w has {w.shape[1]} input features (w.shape={w.shape}) "
            f"but x has {x.shape[1]} (x.shape={x.shape})"
        )
    if b.shape != (w.shape[0],):
        raise ValueError(
            f"b must have shape ({w.shape[0]},) to match w.shape={w.shape}, got {b.shape}"
        )
    return x @ w.T + b, LinearCache(x, w, b.dtype)


def linear_backward(dout: np.ndarray, cache: LinearCache):
    """Gradients of ``linear_forward``.

    Args:
        dout: (N, out) upstream gradient.
        cache: from ``linear_forward``.

    Returns:
        dx: (N, in); dw: (out, in); db: (out,), each in the dtype of its forward argument.
    """
    x, w, b_dtype = cache
    check_array(dout, "dout", 2)
    if dout.shape != (x.shape[0], w.shape[0]):
        raise ValueError(f"dout has shape {dout.shape}, expected {(x.shape[0], w.shape[0])}")
    dx = (dout @ w).astype(x.dtype, copy=False)
    dw = (dout.T @ x).astype(w.dtype, copy=False)
    return dx, dw, dout.sum(axis=0).astype(b_dtype, copy=False)
