"""2-D convolution (cross-correlation, as in every deep-learning framework) by im2col + GEMM.

Forward: every receptive window of the padded input is laid out as one column (im2col, a
Cython kernel whose NumPy twin is ``minirpn.nn.reference.im2col``), then a single matrix
product with the flattened filters computes all outputs at once.
Backward: the same columns give dw with one matrix product; dx is the columns' gradient
scattered back onto the input (col2im, a Cython kernel whose NumPy twin is
``minirpn.nn.reference.col2im``). The first layer of a network skips dx: its input is the
data, whose gradient nobody needs.
Output size per axis (F1): out = (in + 2 * padding - kernel) // stride + 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn._kernels import col2im as _col2im_kernel
from minirpn.nn._checks import as_pair, check_array


class Conv2dCache(NamedTuple):
    cols: np.ndarray  # (N, C * kH * kW, Ho * Wo) im2col of the padded input
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

    cols, (ho, wo) = _im2col(x, (kh, kw), stride, padding)  # (N, C*kH*kW, Ho*Wo)
    # One GEMM, (F, K) @ (N, K, Ho*Wo) -> (N, F, Ho*Wo): already NCHW order, no transpose.
    out = w.reshape(f, -1) @ cols
    out += b[:, None]
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
    if dout.shape[:2] != (n, f) or dout.shape[2] * dout.shape[3] != cols.shape[2]:
        raise ValueError(f"dout has shape {dout.shape}, which does not match the forward output")
    dout_flat = dout.reshape(n, f, -1)  # (N, F, Ho*Wo)

    db = dout_flat.sum(axis=(0, 2)).astype(b_dtype, copy=False)
    # dw = sum over the batch of (F, Ho*Wo) @ (Ho*Wo, K), computed as its transpose
    # (K, Ho*Wo) @ (Ho*Wo, F): the same sums, which BLAS runs faster with the long
    # Ho*Wo axis contiguous in both operands. The sum over N is tiny.
    dw = (cols @ dout_flat.transpose(0, 2, 1)).sum(axis=0).T  # (F, K)
    dw = dw.reshape(w.shape).astype(w.dtype, copy=False)
    if not need_dx:
        return None, dw, db
    dcols = w.reshape(f, -1).T @ dout_flat  # (K, F) @ (N, F, Ho*Wo) -> (N, K, Ho*Wo)
    dx = _col2im(dcols, x_shape, w.shape[2:], stride, padding, dout.shape[2:])
    return dx.astype(x_dtype, copy=False), dw, db


def _im2col(x, kernel, stride, padding):
    """(N, C, H, W) -> columns (N, C*kH*kW, Ho*Wo) in the order (c, i, j) of ``w``'s flattening.

    A Cython kernel (``kernels/col2im.pyx``) writes every column in one pass, padding zeros
    included; its readable twin, a strided view of the padded input's windows copied into
    this layout, is ``minirpn.nn.reference.im2col``. A copy either way: the same bits.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1  # F1
    cols = np.empty((n, c * kh * kw, ho * wo), dtype=x.dtype)
    _col2im_kernel.im2col(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, ho, wo, cols)
    return cols, (ho, wo)


def _col2im(dcols, x_shape, kernel, stride, padding, out_size):
    """Scatter-add columns (N, C*kH*kW, Ho*Wo) back onto an (N, C, H, W) gradient.

    Each input pixel belongs to several windows, so the contributions are summed, kernel
    offset by kernel offset. A Cython kernel (``kernels/col2im.pyx``) does it in one pass;
    its readable twin, one sliced NumPy ``+=`` per offset, is ``minirpn.nn.reference.col2im``,
    and both add each pixel's contributions in the same order, so they give the same bits.
    """
    dx = np.empty(x_shape, dtype=dcols.dtype)
    _col2im_kernel.col2im(np.ascontiguousarray(dcols), *kernel, *stride, *padding, *out_size, dx)
    return dx
