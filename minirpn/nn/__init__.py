"""Neural-network layers with hand-written backward passes, in NumPy (NCHW).

Functional pairs ``name_forward(...) -> (out, cache)`` / ``name_backward(dout, cache)``;
losses return ``(loss, gradient)``; thin classes in ``layers`` hold parameters and
gradients. One module per idea:

* ``conv``: ``conv2d_forward`` / ``conv2d_backward`` (im2col + one GEMM, col2im);
* ``pool``: ``max_pool2d_forward`` / ``max_pool2d_backward`` (with Caffe's ceil mode);
* ``linear``: ``linear_forward`` / ``linear_backward``;
* ``activation``: ReLU and dropout;
* ``loss``: ``softmax_cross_entropy`` and ``smooth_l1`` (F11, F12), with the stable
  ``softmax`` / ``log_softmax`` they and the detector's scoring share;
* ``init``: Gaussian N(0, 0.01**2) (F14) and He initialisation;
* ``layers``: ``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Linear``, ``Dropout``, ``Flatten``,
  and the containers of named layers, ``Container`` and ``Sequential``: they hold parameters
  and gradients; ``forward(x) -> (out, cache)`` hands the tape to the caller, who gives it
  back to ``backward(dout, cache)``;
* ``optim``: ``SGD`` (Caffe-style momentum, weight decay) and ``step_lr``;
* ``reference``: slow loop versions of the convolution and max pooling, the definitions the
  fast ones are tested against; with :mod:`minirpn.ops.reference`, the package's reference
  implementations, which only tests, lessons and pictures import (import
  ``minirpn.nn.reference`` explicitly).

Gradients are checked with ``minirpn.gradcheck``.
"""

from minirpn.nn.activation import dropout_backward, dropout_forward, relu_backward, relu_forward
from minirpn.nn.conv import conv2d_backward, conv2d_forward
from minirpn.nn.layers import (
    Container,
    Conv2d,
    Dropout,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)
from minirpn.nn.linear import linear_backward, linear_forward
from minirpn.nn.loss import log_softmax, smooth_l1, softmax, softmax_cross_entropy
from minirpn.nn.optim import SGD, step_lr
from minirpn.nn.pool import max_pool2d_backward, max_pool2d_forward

__all__ = [
    "SGD",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Container",
    "Layer",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "Sequential",
    "conv2d_backward",
    "conv2d_forward",
    "dropout_backward",
    "dropout_forward",
    "linear_backward",
    "linear_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "relu_backward",
    "relu_forward",
    "log_softmax",
    "smooth_l1",
    "softmax",
    "softmax_cross_entropy",
    "step_lr",
]
