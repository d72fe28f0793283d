"""2-D convolution (cross-correlation, as in every deep-learning framework) by im2col + GEMM.

Forward: every receptive window of the padded input is laid out as one row of a matrix
(im2col, a Cython kernel whose NumPy twin is ``minirpn.nn.reference.im2col``), then a single
matrix product with the flattened filters computes all outputs at once.
Backward: the same windows give dw with one matrix product; dx is the windows' gradient
scattered back onto the input (col2im, a Cython kernel whose NumPy twin is
``minirpn.nn.reference.col2im``). The first layer of a network skips dx: its input is the
data, whose gradient nobody needs.
Output size per axis (F1): out = (in + 2 * padding - kernel) // stride + 1.

Why rows. The classic im2col (Caffe's) makes each window a *column*, (K, Ho*Wo) with
K = C*kH*kW, and computes out = W (F, K) @ columns, already in NCHW order. The products
are the same with the matrix transposed, one window per row, (Ho*Wo, K), and the output
computed as its transpose, (Ho*Wo, F) = rows @ W.T; OpenBLAS runs them faster on the
first layers' shapes, few filters and many pixels (``benchmarks/conv.py`` prints the
rates of both layouts). A row lists its window kernel row by kernel row, and within a
kernel row pixel by pixel with all channels of a pixel together, (i, j, c): copied from
the input in channels-last order, each kernel row of a window is then one run of kW*C
numbers. The filters are flattened in the same order, (F, kH, kW, C). One more pass,
which also adds the bias, puts the output back in NCHW order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn._kernels import col2im as _col2im_kernel
from minirpn.nn._checks import as_pair, check_array


class Conv2dCache(NamedTuple):
    cols: np.ndarray  # (N, Ho * Wo, kH * kW * C) im2col of the padded input, window by row
    w: np.ndarray  # (F, C, kH, kW)
    x_shape: tuple[int, int, int, int]  # (N, C, H, W)
    x_dtype: np.dtype
    b_dtype: np.dtype
    stride: tuple[int, int]
    padding: tuple[int, int]


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride=1, padding=0):
    """Convolve a batch of images with a bank of filters.

    Args:
        x: (N, C, H, W) float input.
        w: (F, C, kH, kW) float filters (PyTorch layout).
        b: (F,) float bias.
        stride: int or (sh, sw) pair, >= 1.
        padding: int or (ph, pw) pair, >= 0; zeros added on every side.

    Returns:
        out: (N, F, Ho, Wo), Ho = (H + 2 ph - kH) // sh + 1 (F1), likewise Wo.
        cache: ``Conv2dCache`` for ``conv2d_backward``.

    ``out`` has NumPy's common dtype of x and w: float32 throughout stays float32, and
    a float64 input to float32 weights (a gradient check) is computed in float64.
    """
    check_array(x, "x", 4)
    check_array(w, "w", 4)
    check_array(b, "b", 1)
    stride = as_pair(stride, "stride", minimum=1)
    padding = as_pair(padding, "padding", minimum=0)
    n, c, h, wid = x.shape
    f, c_w, kh, kw = w.shape
    if c_w != c:
        raise ValueError(
            f"w has {c_w} input channels (w.shape={w.shape}) but x has {c} (x.shape={x.shape})"
        )
    if b.shape != (f,):
        raise ValueError(f"b must have shape ({f},) to match w.shape={w.shape}, got {b.shape}")
    padded_h, padded_w = h + 2 * padding[0], wid + 2 * padding[1]
    if kh > padded_h or kw > padded_w:
        raise ValueError(
            f"w kernel ({kh}, {kw}) is larger than the padded input ({padded_h}, {padded_w}) "
            f"of x.shape={x.shape} with padding={padding}"
        )

    cols, (ho, wo) = _im2col(x, (kh, kw), stride, padding)  # (N, Ho*Wo, kH*kW*C)
    # One GEMM, (N, Ho*Wo, K) @ (K, F) -> (N, Ho*Wo, F), then (N, F, Ho*Wo) plus the bias.
    out = _add_bias_transposed(cols @ _flat_filters(w).T, b)
    cache = Conv2dCache(cols, w, (n, c, h, wid), x.dtype, b.dtype, stride, padding)
    return out.reshape(n, f, ho, wo), cache


def conv2d_backward(dout: np.ndarray, cache: Conv2dCache, need_dx: bool = True):
    """Gradients of ``conv2d_forward``.

    Args:
        dout: (N, F, Ho, Wo) float upstream gradient.
        cache: from ``conv2d_forward``.
        need_dx: False skips the input's gradient (a product and col2im), e.g. for the
            first layer, whose input is the images.

    Returns:
        dx: (N, C, H, W), or None without ``need_dx``; dw: (F, C, kH, kW); db: (F,). Each
        has the dtype of the forward argument it belongs to (x, w, b).
    """
    cols, w, x_shape, x_dtype, b_dtype, stride, padding = cache
    n = x_shape[0]
    f = w.shape[0]
    check_array(dout, "dout", 4)
    if dout.shape[:2] != (n, f) or dout.shape[2] * dout.shape[3] != cols.shape[1]:
        raise ValueError(f"dout has shape {dout.shape}, which does not match the forward output")
    dout_flat = dout.reshape(n, f, -1)  # (N, F, Ho*Wo)

    db = dout_flat.sum(axis=(0, 2)).astype(b_dtype, copy=False)
    # dw = sum over the batch of (F, Ho*Wo) @ (Ho*Wo, K); the sum over N is tiny.
    dw = (dout_flat @ cols).sum(axis=0)  # (F, K), K in the order (i, j, c)
    dw = dw.reshape(f, *w.shape[2:], -1).transpose(0, 3, 1, 2)  # (F, C, kH, kW)
    dw = np.ascontiguousarray(dw, dtype=w.dtype)
    if not need_dx:
        return None, dw, db
    # (N, Ho*Wo, F) @ (F, K) -> (N, Ho*Wo, K): the windows' gradient, row by row. The
    # transposed dout is a view; BLAS reads it as it is.
    dcols = dout_flat.transpose(0, 2, 1) @ _flat_filters(w)
    dx = _col2im(dcols, x_shape, w.shape[2:], stride, padding, dout.shape[2:])
    return dx.astype(x_dtype, copy=False), dw, db


def _flat_filters(w):
    """(F, C, kH, kW) filters -> (F, kH*kW*C), each row in the window rows' order (i, j, c)."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _im2col(x, kernel, stride, padding):
    """(N, C, H, W) -> windows as rows (N, Ho*Wo, kH*kW*C), each in the order (i, j, c).

    Cython kernels (``kernels/col2im.pyx``) copy the input to channels-last order with its
    zero padding, then every window's kernel rows, each one run of kW*C numbers; the readable
    twin, a strided view of the padded input's windows copied into this layout, is
    ``minirpn.nn.reference.im2col``. A copy either way: the same bits.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1  # F1
    padded = np.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    _col2im_kernel.to_padded_channels_last(np.ascontiguousarray(x), ph, pw, padded)
    cols = np.empty((n, ho * wo, kh * kw * c), dtype=x.dtype)
    _col2im_kernel.im2col(padded, kh, kw, sh, sw, ho, wo, cols)
    return cols, (ho, wo)


def _add_bias_transposed(rows, b):
    """(N, P, F) product plus the bias (F,) -> (N, F, P), by a Cython kernel that moves
    4 x 4 blocks (NumPy's transposed addition ran at a tenth of a copy's speed); its twin
    is ``minirpn.nn.reference.add_bias_transposed``. One addition each: the same bits."""
    n, p, f = rows.shape
    out = np.empty((n, f, p), dtype=rows.dtype)
    if b.dtype == rows.dtype:
        _col2im_kernel.add_bias_transposed(rows, b, out)
    else:  # a float64 bias on a float32 product: added in float64, as NumPy's += does
        np.add(rows.transpose(0, 2, 1), b[:, None], out=out, casting="same_kind")
    return out


def _col2im(dcols, x_shape, kernel, stride, padding, out_size):
    """Scatter-add window rows (N, Ho*Wo, kH*kW*C) back onto an (N, C, H, W) gradient.

    Each input pixel belongs to several windows, so the contributions are summed, kernel
    offset by kernel offset. Cython kernels (``kernels/col2im.pyx``) add them onto a padded
    channels-last map, then copy its inside to NCHW order; the readable twin, one sliced
    NumPy ``+=`` per offset, is ``minirpn.nn.reference.col2im``, and both add each pixel's
    contributions in the same order, so they give the same bits.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    padded = np.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=dcols.dtype)
    _col2im_kernel.col2im(np.ascontiguousarray(dcols), kh, kw, sh, sw, *out_size, padded)
    dx = np.empty(x_shape, dtype=dcols.dtype)
    _col2im_kernel.from_padded_channels_last(padded, ph, pw, dx)
    return dx
