"""Thin layer classes over the functional pairs: parameters and gradients, never a forward.

Every layer has ``forward(x) -> (out, cache)`` and ``backward(dout, cache) -> dx``, a
``params`` dict and a ``grads`` dict with the same keys. The cache is the tape of one call:
the caller keeps it and hands it back to ``backward`` (as in the CS231n layers), so a layer
can be applied any number of times before the backward passes, and nothing outlives a
forward whose cache the caller drops (inference keeps no im2col windows alive).

``backward`` *adds* into ``grads``: a layer applied to two inputs, each backward called with
its own cache, gets both contributions. Call ``zero_grad()`` before each iteration; it clears
the arrays in place, because optimisers keep references to them. ::

    y1, cache1 = conv.forward(x1)
    y2, cache2 = conv.forward(x2)          # the same weights, another input
    conv.zero_grad()
    dx1 = conv.backward(dy1, cache1)
    dx2 = conv.backward(dy2, cache2)       # conv.grads now holds the sum of both
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

    def forward(self, x: np.ndarray):
        """``x`` -> ``(out, cache)``; the cache is what :meth:`backward` needs of this call."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray, cache) -> np.ndarray:
        """d loss / d out and the cache of the forward that made out -> d loss / d x."""
        raise NotImplementedError

    def param_backward(self, dout: np.ndarray, cache) -> None:
        """:meth:`backward` when nobody needs d loss / d x, e.g. for a network's first layer,
        whose input is the data: only the parameters' gradients are added. Here the
        backward runs and its dx is dropped; a layer whose dx costs work skips it."""
        self.backward(dout, cache)

    def __call__(self, x: np.ndarray):
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
        return conv2d_forward(
            x, self.params["weight"], self.params["bias"], self.stride, self.padding
        )

    def backward(self, dout, cache):
        dx, dw, db = conv2d_backward(dout, cache)
        self._accumulate(dw, db)
        return dx

    def param_backward(self, dout, cache):
        _, dw, db = conv2d_backward(dout, cache, need_dx=False)
        self._accumulate(dw, db)


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
        return linear_forward(x, self.params["weight"], self.params["bias"])

    def backward(self, dout, cache):
        dx, dw, db = linear_backward(dout, cache)
        self._accumulate(dw, db)
        return dx


class ReLU(Layer):
    def forward(self, x):
        return relu_forward(x)

    def backward(self, dout, cache):
        return relu_backward(dout, cache)


class MaxPool2d(Layer):
    """Max pooling; ``stride`` defaults to ``kernel_size`` (non-overlapping windows)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", minimum=1)
        self.padding = as_pair(padding, "padding", minimum=0)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        return max_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def backward(self, dout, cache):
        return max_pool2d_backward(dout, cache)


class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` in training, the identity in eval mode."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must lie in [0, 1), got {p!r}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x):
        return dropout_forward(x, self.p, self.training, self.rng)

    def backward(self, dout, cache):
        return dropout_backward(dout, cache)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W), e.g. between the last pooling and the first Linear."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dout, cache):
        return dout.reshape(cache)


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

    ``forward(x) -> (out, caches)`` with one cache per layer, a tuple that ``backward(dout,
    caches)`` walks from the end.

    Parameters are named ``"<index>.<name>"`` (``"0.weight"``, ``"0.bias"``, ``"2.weight"``...),
    nested Sequentials giving ``"1.0.weight"``.
    """

    def __init__(self, *layers: Layer):
        super().__init__({str(i): layer for i, layer in enumerate(layers)})
        self.layers = list(layers)

    def forward(self, x):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, tuple(caches)

    def backward(self, dout, caches, need_dx: bool = True):
        """``need_dx=False``: the first layer only adds its parameters' gradients
        (:meth:`Layer.param_backward`) and None is returned, for a network whose input is
        the data."""
        if len(caches) != len(self.layers):
            raise ValueError(
                f"caches holds {len(caches)} entries, this Sequential has {len(self.layers)} layers"
            )
        pairs = zip(reversed(self.layers), reversed(caches), strict=True)
        for index, (layer, cache) in enumerate(pairs):
            if not need_dx and index == len(self.layers) - 1:
                layer.param_backward(dout, cache)
                return None
            dout = layer.backward(dout, cache)
        return dout

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
