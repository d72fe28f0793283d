"""Thin layer classes over the functional pairs: they hold parameters, gradients and caches.

Every layer has ``forward(x)``, ``backward(dout) -> dx``, a ``params`` dict and a ``grads``
dict with the same keys. ``backward`` *adds* into ``grads`` (a parameter used twice gets
both contributions), so call ``zero_grad()`` before each iteration. ``zero_grad`` clears
the arrays in place: optimisers keep references to them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from minirpn.nn._checks import as_pair
from minirpn.nn.activation import dropout_backward, dropout_forward, relu_backward, relu_forward
from minirpn.nn.conv import conv2d_backward, conv2d_forward
from minirpn.nn.init import PAPER_INIT_STD, init_weight
from minirpn.nn.linear import linear_backward, linear_forward
from minirpn.nn.pool import max_pool2d_backward, max_pool2d_forward


class Layer:
    """Base class: no parameters, training mode on."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def zero_grad(self) -> None:
        for grad in self.grads.values():
            grad[...] = 0

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(name, param, grad)`` for each parameter."""
        for name, param in self.params.items():
            yield name, param, self.grads[name]

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def _pop_cache(self):
        """The forward cache, consumed once: a second backward without a forward is a bug."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called without a preceding forward")
        cache, self._cache = self._cache, None
        return cache

    def _init_params(self, weight_shape, bias_size, init, std, rng, dtype) -> None:
        self.params = {
            "weight": init_weight(weight_shape, init, std, rng, dtype),
            "bias": np.zeros(bias_size, dtype=dtype),  # biases start at zero
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def _accumulate(self, dw: np.ndarray, db: np.ndarray) -> None:
        self.grads["weight"] += dw
        self.grads["bias"] += db


class Conv2d(Layer):
    """2-D convolution with weight (out_channels, in_channels, kH, kW) and bias (out_channels,).

    ``init="gaussian"`` draws N(0, std**2) (the paper's std = 0.01 for new layers, F14);
    ``init="he"`` draws N(0, 2 / fan_in). ``rng`` (a ``numpy.random.Generator``) draws the
    weights; None uses a fresh unseeded one, so pass one for reproducible runs. ``dtype``
    is the parameters' dtype (float32 to train, float64 for gradient checks).
    ``kernel_size``, ``stride`` and ``padding`` are stored as (h, w) int pairs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        *,
        init: str = "gaussian",
        std: float = PAPER_INIT_STD,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = as_pair(stride, "stride", minimum=1)
        self.padding = as_pair(padding, "padding", minimum=0)
        weight_shape = (out_channels, in_channels, *self.kernel_size)
        self._init_params(weight_shape, out_channels, init, std, rng, dtype)

    def forward(self, x):
        weight, bias = self.params["weight"], self.params["bias"]
        out, self._cache = conv2d_forward(x, weight, bias, self.stride, self.padding)
        return out

    def backward(self, dout):
        dx, dw, db = conv2d_backward(dout, self._pop_cache())
        self._accumulate(dw, db)
        return dx


class Linear(Layer):
    """Fully connected layer with weight (out_features, in_features) and bias (out_features,).

    ``init``, ``std``, ``rng`` and ``dtype`` as for ``Conv2d``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "gaussian",
        std: float = PAPER_INIT_STD,
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        self._init_params((out_features, in_features), out_features, init, std, rng, dtype)

    def forward(self, x):
        out, self._cache = linear_forward(x, self.params["weight"], self.params["bias"])
        return out

    def backward(self, dout):
        dx, dw, db = linear_backward(dout, self._pop_cache())
        self._accumulate(dw, db)
        return dx


class ReLU(Layer):
    def forward(self, x):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout):
        return relu_backward(dout, self._pop_cache())


class MaxPool2d(Layer):
    """Max pooling; ``stride`` defaults to ``kernel_size`` (non-overlapping windows)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", minimum=1)
        self.padding = as_pair(padding, "padding", minimum=0)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        out, self._cache = max_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode
        )
        return out

    def backward(self, dout):
        return max_pool2d_backward(dout, self._pop_cache())


class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` in training, the identity in eval mode."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must lie in [0, 1), got {p!r}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):
        out, self._cache = dropout_forward(x, self.p, self.training, self.rng)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self._pop_cache())


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), e.g. between the last pooling and the first Linear."""

    def forward(self, x):
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self._pop_cache())


class Container(Layer):
    """A layer made of named child layers (``Sequential``, the RPN head, the detector).

    Parameters are named ``"<child>.<name>"`` (``"conv.weight"``; nested containers give
    ``"rpn.conv.weight"``). ``params``/``grads`` are built on access and share their arrays
    with the children; ``zero_grad`` and ``train``/``eval`` reach every child.
    """

    def __init__(self, children: dict[str, Layer]):
        # No Layer.__init__: params and grads are views of the children's, not attributes.
        for name, child in children.items():
            if not isinstance(child, Layer):
                raise TypeError(
                    f"layers[{name}] must be a minirpn.nn layer, got {type(child).__name__}"
                )
        self.children = dict(children)
        self.training = True
        self._cache = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {name: param for name, param, _ in self.named_parameters()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {name: grad for name, _, grad in self.named_parameters()}

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for prefix, child in self.children.items():
            for name, param, grad in child.named_parameters():
                yield f"{prefix}.{name}", param, grad

    def zero_grad(self) -> None:
        for child in self.children.values():
            child.zero_grad()

    def train(self, mode: bool = True):
        self.training = mode
        for child in self.children.values():
            child.train(mode)
        return self


class Sequential(Container):
    """Layers applied in order; backward runs them in reverse.

    Parameters are named ``"<index>.<name>"`` (``"0.weight"``, ``"0.bias"``, ``"2.weight"``...),
    nested Sequentials giving ``"1.0.weight"``.
    """

    def __init__(self, *layers: Layer):
        super().__init__({str(i): layer for i, layer in enumerate(layers)})
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
