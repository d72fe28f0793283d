"""Element-wise layers: ReLU and (inverted) dropout."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn._kernels import relu as _relu
from minirpn.nn._checks import check_float_array


def relu_forward(x: np.ndarray):
    """out = max(x, 0) for an array of any shape; cache is the mask x > 0 (same shape, bool).

    Negatives give 0.0 (not -0.0, as x * mask would), and a NaN stays visible. A Cython
    kernel (``kernels/relu.pyx``) computes both in one pass; its readable twin, NumPy's
    ``np.maximum(x, 0), x > 0``, is ``minirpn.nn.reference.relu_forward``.
    """
    check_float_array(x, "x")
    x = np.ascontiguousarray(x)
    out, mask = np.empty_like(x), np.empty(x.shape, dtype=bool)
    _relu.relu_forward(x.reshape(-1), out.reshape(-1), mask.reshape(-1).view(np.uint8))
    return out, mask


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout where the input was positive, 0 elsewhere (the kink at 0 gets gradient 0).

    That is ``np.where(cache, dout, 0)``, computed as the bit patterns of ``dout`` times the
    mask (0 or 1): the same bits, +0.0 where the mask is off (even for a NaN), without
    ``np.where``'s branch per entry, which mispredicts on a ReLU's irregular mask and makes
    it up to 15 times slower.
    """
    check_float_array(dout, "dout")
    if dout.shape != cache.shape:
        raise ValueError(f"dout has shape {dout.shape} but the forward input had {cache.shape}")
    bits = np.dtype(f"u{dout.itemsize}")  # an unsigned int as wide as the float
    return (dout.view(bits) * cache).view(dout.dtype)


class DropoutCache(NamedTuple):
    mask: np.ndarray | None  # scaled keep-mask (0 or 1 / (1 - p)); None in eval mode


def dropout_forward(x: np.ndarray, p: float, train: bool, rng: np.random.Generator | None):
    """Inverted dropout: in training zero each entry with probability ``p`` and scale the rest.

    Kept entries are multiplied by 1 / (1 - p) so the expected output equals ``x``; then
    evaluation is the identity and needs no rescaling.

    Args:
        x: float array of any shape.
        p: drop probability in [0, 1).
        train: True to drop, False for the identity.
        rng: ``numpy.random.Generator`` drawing the mask (required when ``train``).

    Returns:
        out: array of ``x``'s shape and dtype; cache: ``DropoutCache``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating-point numpy array, got {type(x).__name__}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must lie in [0, 1), got {p!r}")
    if not train or p == 0.0:
        return x, DropoutCache(None)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator in training mode, got {type(rng).__name__}"
        )
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * mask, DropoutCache(mask)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """dx = dout times the same scaled mask (identity in eval mode)."""
    if cache.mask is None:
        return dout
    if dout.shape != cache.mask.shape:
        raise ValueError(
            f"dout has shape {dout.shape} but the forward input had {cache.mask.shape}"
        )
    return dout * cache.mask
