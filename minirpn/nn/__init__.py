"""Neural-network layers with hand-written backward passes, in NumPy (NCHW).

Functional pairs ``name_forward(...) -> (out, cache)`` / ``name_backward(dout, cache)``;
losses return ``(loss, gradient)``. One module per idea:

* ``conv``: ``conv2d_forward`` / ``conv2d_backward`` (im2col + one GEMM);
* ``activation``: ReLU and dropout;
* ``loss``: ``softmax_cross_entropy`` and ``smooth_l1`` (F11, F12).
"""
from minirpn.nn.activation import dropout_backward, dropout_forward, relu_backward, relu_forward
from minirpn.nn.conv import conv2d_backward, conv2d_forward
from minirpn.nn.loss import smooth_l1, softmax_cross_entropy

__all__ = [
    "conv2d_backward",
    "conv2d_forward",
    "dropout_backward",
    "dropout_forward",
    "relu_backward",
    "relu_forward",
    "smooth_l1",
    "softmax_cross_entropy",
]
