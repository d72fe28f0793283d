"""Stochastic gradient descent with momentum and weight decay, as Caffe (py-faster-rcnn) runs it.

Update for every parameter p with gradient g and momentum buffer v (Caffe's form, where the
learning rate sits inside the buffer):

    v <- momentum * v + lr * (g + weight_decay * p)
    p <- p - v

PyTorch's form (v <- momentum * v + g; p <- p - lr * v) takes the same steps while lr is
constant; they differ only right after the learning rate changes, where Caffe's buffer
still carries steps taken at the old rate.

Weight decay (L2 regularisation) is applied only to parameters whose name ends in
"weight" ("weight", "0.weight", "rpn.conv.weight", ...): biases are not decayed, as in
py-faster-rcnn's prototxts (``decay_mult: 0`` on every bias).
"""

from __future__ import annotations

import bisect

import numpy as np

from minirpn._kernels import sgd as _sgd
from minirpn.nn._checks import LAYER_DTYPES


class SGD:
    """SGD with Caffe-style momentum over ``(name, param, grad)`` triples.

    Args:
        named_params: iterable of ``(name, param, grad)``, e.g. ``net.named_parameters()``;
            ``param`` is updated in place and ``grad`` is read at every ``step()``, so both
            must stay the same arrays (layers clear their grads in place): contiguous, of
            one dtype, float32 or float64, as every layer's are.
        lr: learning rate (> 0); may be changed between steps, e.g. ``opt.lr = step_lr(...)``.
        momentum: in [0, 1).
        weight_decay: L2 coefficient (>= 0) for parameters named "*weight".
    """

    def __init__(self, named_params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        self.params = list(named_params)
        self.lr = lr
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum = momentum
        self.weight_decay = weight_decay
        names = [name for name, _, _ in self.params]
        if len(set(names)) != len(names):
            repeated = sorted(n for n in set(names) if names.count(n) > 1)
            raise ValueError(f"named_params has repeated names: {repeated}")
        for name, param, grad in self.params:
            if param.shape != grad.shape:
                raise ValueError(
                    f"named_params[{name!r}]: param shape {param.shape} != grad shape {grad.shape}"
                )
            if param.dtype not in LAYER_DTYPES or grad.dtype != param.dtype:
                raise TypeError(
                    f"named_params[{name!r}]: param and grad must both be float32 or both "
                    f"float64, got {param.dtype} and {grad.dtype}"
                )
            if not (param.flags.c_contiguous and grad.flags.c_contiguous):
                raise ValueError(f"named_params[{name!r}]: param and grad must be contiguous")
        self.velocity = {name: np.zeros_like(param) for name, param, _ in self.params}

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"lr must be positive, got {value!r}")
        self._lr = float(value)

    def step(self) -> None:
        """One update of every parameter from its current gradient.

        One pass per tensor in a Cython kernel (``kernels/sgd.pyx``); its readable twin,
        the module docstring's two lines in NumPy, is ``minirpn.nn.reference.sgd_update``.
        """
        for name, param, grad in self.params:
            decay = self.weight_decay if name.endswith("weight") else 0.0
            _sgd.sgd_update(
                param.reshape(-1),  # views: the arrays are contiguous (checked above)
                grad.reshape(-1),
                self.velocity[name].reshape(-1),
                self.lr,
                self.momentum,
                decay,
            )

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the momentum buffers by parameter name (for checkpoints)."""
        return {name: v.copy() for name, v in self.velocity.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore momentum buffers saved by ``state()``; names and shapes must match."""
        missing = sorted(set(self.velocity) - set(state))
        unexpected = sorted(set(state) - set(self.velocity))
        if missing or unexpected:
            raise ValueError(
                f"state does not match the parameters: missing {missing}, unexpected {unexpected}"
            )
        for name, v in self.velocity.items():
            saved = np.asarray(state[name])
            if saved.shape != v.shape:
                raise ValueError(f"state[{name!r}] has shape {saved.shape}, expected {v.shape}")
            v[...] = saved


def step_lr(base_lr: float, iteration: int, steps, gamma: float) -> float:
    """Caffe's "multistep" schedule: base_lr * gamma ** (number of steps <= iteration).

    Args:
        base_lr: learning rate before the first step.
        iteration: 0-based index of the current iteration (>= 0).
        steps: increasing iteration numbers at which the rate is multiplied by ``gamma``
            (e.g. (50000,) for py-faster-rcnn's VGG-16 RPN stage: 0.001 then 0.0001).
        gamma: factor per step, e.g. 0.1.
    """
    steps = list(steps)
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration!r}")
    if any(b <= a for a, b in zip(steps[:-1], steps[1:], strict=True)):
        raise ValueError(f"steps must be strictly increasing, got {steps}")
    return base_lr * gamma ** bisect.bisect_right(steps, iteration)
