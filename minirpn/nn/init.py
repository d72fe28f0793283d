"""Weight initialisation for new layers.

* ``gaussian``: N(0, std**2), std = 0.01 by default -- how the Faster R-CNN paper
  initialises every new layer (F14, section 3.1.3).
* ``he_normal``: N(0, 2 / fan_in) (He et al., 2015), which keeps the activations' variance
  constant through ReLU layers; the better choice when a deep stack trains from scratch.
Biases start at zero.
"""

from __future__ import annotations

import math

import numpy as np

PAPER_INIT_STD = 0.01  # F14
INIT_SCHEMES = ("gaussian", "he")


def gaussian(shape, std: float, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Array of ``shape`` drawn from N(0, std**2), in ``dtype``."""
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    return (rng.standard_normal(shape) * std).astype(dtype)


def he_normal(shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """N(0, 2 / fan_in) where fan_in = prod(shape[1:]) (inputs feeding one output unit)."""
    fan_in = math.prod(shape[1:])
    return gaussian(shape, math.sqrt(2.0 / fan_in), rng, dtype)


def init_weight(shape, init: str, std: float, rng, dtype) -> np.ndarray:
    """Dispatch on ``init`` ("gaussian" uses ``std``; "he" ignores it); rng None: unseeded."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating-point dtype, got {np.dtype(dtype)}")
    rng = np.random.default_rng() if rng is None else rng
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    if init == "gaussian":
        return gaussian(shape, std, rng, dtype)
    if init == "he":
        return he_normal(shape, rng, dtype)
    raise ValueError(f"init must be one of {INIT_SCHEMES}, got {init!r}")
