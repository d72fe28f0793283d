"""Slow, obvious loop versions of the fast layers: the definitions the fast code must match.

With :mod:`minirpn.ops.reference` these are the package's reference implementations: tests,
lessons and pictures import them, the package's own code never does.

Each function takes the same arguments as its fast twin in ``minirpn.nn`` and returns only
the output (there is no cache: nothing here has a backward pass). They loop over every
output cell and read the window it sees, exactly as the formula is written, so a learner
can check a line of the fast version against a line here, and the tests can check the
fast version against these on every shape. Do not use them for training: the convolution
is hundreds of times slower than ``conv2d_forward``.

* ``conv2d``: one dot product per output cell (F1 gives the number of cells);
* ``im2col``: the convolution's input windows, one per row, a strided view copied (twin of
  the Cython kernel ``conv2d_forward`` runs);
* ``add_bias_transposed``: the product's transpose plus the bias, one NumPy addition (twin
  of the Cython kernel that gives ``conv2d_forward`` its NCHW output);
* ``col2im``: the windows' gradient added back onto the convolution's input, one NumPy
  slice per kernel offset (twin of the Cython kernel ``conv2d_backward`` runs);
* ``max_pool2d``: one window maximum per output cell, with Caffe's ceil mode;
* ``max_pool2d_backward``: each output's gradient sent to its window's first maximum;
* ``relu_forward``: ReLU's output and mask in NumPy (twin of the Cython kernel
  ``minirpn.nn.relu_forward`` runs);
* ``sgd_update``: Caffe's SGD step of one parameter in NumPy (twin of the Cython kernel
  ``minirpn.nn.SGD`` runs);
* ``pool_output_size``: the number of pooling windows, found by counting them one by one
  rather than with the closed form of F1 used by ``minirpn.receptive_field.output_size``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minirpn.nn._checks import as_pair, check_array

__all__ = [
    "add_bias_transposed",
    "col2im",
    "conv2d",
    "im2col",
    "max_pool2d",
    "max_pool2d_backward",
    "pool_output_size",
    "sgd_update",
]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=1, padding=0) -> np.ndarray:
    """Convolution (cross-correlation) by four nested loops; twin of ``conv2d_forward``.

    Args:
        x: (N, C, H, W) float input.
        w: (F, C, kH, kW) float filters (PyTorch layout).
        b: (F,) float bias.
        stride: int or (sh, sw) pair, >= 1.
        padding: int or (ph, pw) pair, >= 0; zeros added on every side.

    Returns:
        (N, F, Ho, Wo) with Ho = (H - kH + 2 ph) // sh + 1 (F1), likewise Wo; the dtype
        NumPy gives to ``x * w``. Output cell (oy, ox) reads the padded input window whose
        top-left corner is (oy * sh, ox * sw).
    """
    check_array(x, "x", 4)
    check_array(w, "w", 4)
    check_array(b, "b", 1)
    sh, sw = as_pair(stride, "stride", minimum=1)
    ph, pw = as_pair(padding, "padding", minimum=0)
    n, c, h, wid = x.shape
    f, c_w, kh, kw = w.shape
    if c_w != c or b.shape != (f,):
        raise ValueError(f"shapes do not fit: x {x.shape}, w {w.shape}, b {b.shape}")
    dtype = np.result_type(x, w)
    xp = np.zeros((n, c, h + 2 * ph, wid + 2 * pw), dtype=dtype)  # zero padding
    xp[:, :, ph : ph + h, pw : pw + wid] = x
    ho = (h + 2 * ph - kh) // sh + 1  # F1
    wo = (wid + 2 * pw - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"w kernel ({kh}, {kw}) is larger than the padded input of {x.shape}")
    out = np.zeros((n, f, ho, wo), dtype=dtype)
    for i in range(n):
        for k in range(f):
            for oy in range(ho):
                for ox in range(wo):
                    window = xp[i, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
                    out[i, k, oy, ox] = np.sum(window * w[k]) + b[k]
    return out


def im2col(x, kernel, stride, padding):
    """(N, C, H, W) -> windows as rows (N, Ho*Wo, kH*kW*C), each row in the order (i, j, c)
    (kernel row, kernel column, channel), and (Ho, Wo); twin of the im2col kernels of
    ``conv2d_forward``.

    ``sliding_window_view`` gives every window of the padded input without copying; one
    copy gathers them into the layout of the convolution's matrix product.

    Args:
        x: (N, C, H, W); kernel, stride, padding: (h, w) int pairs.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # a view
    ho, wo = windows.shape[2:4]  # (N, C, Ho, Wo, kH, kW)
    rows = np.ascontiguousarray(windows.transpose(0, 2, 3, 4, 5, 1))  # (N, Ho, Wo, kH, kW, C)
    return rows.reshape(n, ho * wo, kh * kw * c), (ho, wo)


def add_bias_transposed(rows: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, P, F) product rows plus the bias (F,), as (N, F, P); twin of the kernel
    ``conv2d_forward`` uses to turn its product into NCHW order."""
    return np.ascontiguousarray(rows.transpose(0, 2, 1) + b[:, None])


def col2im(dcols, x_shape, kernel, stride, padding, out_size) -> np.ndarray:
    """Scatter-add window rows (N, Ho*Wo, kH*kW*C) back onto an (N, C, H, W) gradient; twin
    of the col2im kernels of ``conv2d_backward``.

    Each input pixel belongs to several windows, so the contributions are summed. The loop
    runs over the kH*kW kernel offsets: offset (i, j) touches the strided grid of padded
    pixels (i + sh * oy, j + sw * ox), and different output pixels of one offset never
    collide, so a plain sliced ``+=`` is exact. Every pixel thus receives its contributions
    in the order of the offsets, row by row, starting from 0; the kernel adds them in that
    order too, so both give the same bits. The padding's gradient is dropped.

    Args:
        dcols: (N, Ho*Wo, kH*kW*C), each row in the order (i, j, c) of ``im2col``.
        x_shape: (N, C, H, W); kernel, stride, padding: (h, w) int pairs;
        out_size: (Ho, Wo).
    """
    n, c, h, wid = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = out_size
    windows = dcols.reshape(n, ho, wo, kh, kw, c).transpose(0, 5, 3, 4, 1, 2)  # (N,C,kH,kW,Ho,Wo)
    dxp = np.zeros((n, c, h + 2 * ph, wid + 2 * pw), dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += windows[:, :, i, j]
    return dxp[:, :, ph : ph + h, pw : pw + wid]


def pool_output_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Number of pooling windows along one axis, counted window by window.

    Window ``i`` starts at ``stride * i`` in the padded input. Floor mode keeps the windows
    that fit inside the padded input. Ceil mode (Caffe) keeps adding windows while the
    previous one has not reached the padded input's end, but never one that would start
    in the right padding. Independent of the closed form of F1, so that each checks the
    other.
    """
    padded = size + 2 * padding
    if not ceil_mode:
        return sum(1 for i in range(padded) if stride * i + kernel <= padded)
    return sum(
        1
        for i in range(padded)
        if (i == 0 or stride * (i - 1) + kernel < padded) and stride * i - padding < size
    )


def _pool_geometry(x, kernel_size, stride, padding, ceil_mode):
    """The pooling's kernel, stride and padding pairs and its output size (Ho, Wo)."""
    check_array(x, "x", 4)
    kh, kw = as_pair(kernel_size, "kernel_size", minimum=1)
    sh, sw = as_pair(stride, "stride", minimum=1)
    ph, pw = as_pair(padding, "padding", minimum=0)
    h, w = x.shape[2:]
    ho = pool_output_size(h, kh, sh, ph, ceil_mode)
    wo = pool_output_size(w, kw, sw, pw, ceil_mode)
    return (kh, kw), (sh, sw), (ph, pw), (ho, wo)


def max_pool2d(x: np.ndarray, kernel_size, stride, padding=0, ceil_mode: bool = False):
    """Max pooling by a loop over output cells; twin of ``max_pool2d_forward``.

    Args:
        x: (N, C, H, W) float input.
        kernel_size, stride, padding: ints or (h, w) pairs, as for ``max_pool2d_forward``.
        ceil_mode: round the number of windows up, as Caffe does (VGG: 75 -> 38).

    Returns:
        (N, C, Ho, Wo) of ``x``'s dtype. The padding never wins: each window is clipped to
        the part that lies inside ``x`` before taking its maximum.
    """
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _pool_geometry(
        x, kernel_size, stride, padding, ceil_mode
    )
    n, c, h, w = x.shape
    out = np.empty((n, c, ho, wo), x.dtype)
    for oy in range(ho):
        for ox in range(wo):
            y0, x0 = oy * sh - ph, ox * sw - pw  # window corner in unpadded coordinates
            window = x[:, :, max(y0, 0) : min(y0 + kh, h), max(x0, 0) : min(x0 + kw, w)]
            out[:, :, oy, ox] = window.max(axis=(2, 3))
    return out


def max_pool2d_backward(
    dout: np.ndarray, x: np.ndarray, kernel_size, stride, padding=0, ceil_mode: bool = False
) -> np.ndarray:
    """The gradient of max pooling by a loop over output cells; twin of ``max_pool2d_backward``.

    Each output cell's gradient goes to the first maximum (row-major) of its window, the
    window clipped to the part inside ``x`` as in :func:`max_pool2d`; output cells are taken
    in row-major order, so where windows overlap an input receives its gradients in that
    order. For inputs without NaN (where a maximum has no first place).

    Args:
        dout: (N, C, Ho, Wo) upstream gradient; x: (N, C, H, W) the forward's input;
        kernel_size, stride, padding, ceil_mode: as for :func:`max_pool2d`.

    Returns:
        (N, C, H, W) of ``dout``'s dtype.
    """
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _pool_geometry(
        x, kernel_size, stride, padding, ceil_mode
    )
    n, c, h, w = x.shape
    if dout.shape != (n, c, ho, wo):
        raise ValueError(f"dout has shape {dout.shape}, the pooled output {(n, c, ho, wo)}")
    dx = np.zeros(x.shape, dout.dtype)
    images, channels = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")  # (N, C) each
    for oy in range(ho):
        for ox in range(wo):
            y0, x0 = max(oy * sh - ph, 0), max(ox * sw - pw, 0)  # clipped window corner
            window = x[:, :, y0 : min(oy * sh - ph + kh, h), x0 : min(ox * sw - pw + kw, w)]
            first = window.reshape(n, c, -1).argmax(axis=2)  # (N, C), first maximum
            rows, cols = np.divmod(first, window.shape[3])
            dx[images, channels, y0 + rows, x0 + cols] += dout[:, :, oy, ox]
    return dx


def relu_forward(x: np.ndarray):
    """ReLU's output max(x, 0) and its mask x > 0; twin of the kernel of
    ``minirpn.nn.relu_forward``. ``np.maximum`` returns its second argument for equal ones
    (0.0 for -0.0) and a NaN from either."""
    return np.maximum(x, 0), x > 0


def sgd_update(param, grad, velocity, lr, momentum, weight_decay) -> None:
    """Caffe's SGD step in place, ``minirpn.nn.optim``'s formula as written there; twin of
    the kernel :class:`minirpn.nn.SGD` runs:

        v <- momentum * v + lr * (g + weight_decay * p)
        p <- p - v

    ``weight_decay`` 0 (a bias) leaves the gradient as it is.
    """
    if weight_decay:
        grad = grad + weight_decay * param
    velocity *= momentum
    velocity += lr * grad
    param -= velocity
