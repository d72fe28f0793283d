"""2-D max pooling, with Caffe's / PyTorch's ceil mode.

Output size per axis (F1 with rounding made explicit):
    floor mode: out = (in + 2 * padding - kernel) // stride + 1
    ceil mode:  out = ceil((in + 2 * padding - kernel) / stride) + 1, minus one if the last
                window would start beyond the input and its left padding
Caffe rounds up, which is how VGG's 2x2 / stride-2 pooling turns a 75-wide map into 38
(floor mode gives 37). Padding is filled with -inf, so it never wins a max.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn._kernels import max_pool as _max_pool
from minirpn.nn._checks import as_pair, check_array
from minirpn.receptive_field import output_size  # F1, with ceil mode: the one definition


class MaxPool2dCache(NamedTuple):
    argmax: np.ndarray  # (N, C, Ho, Wo) small int: offset i * kW + j of each window's first max
    x_shape: tuple[int, int, int, int]  # (N, C, H, W)
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


def max_pool2d_forward(x: np.ndarray, kernel_size, stride, padding=0, ceil_mode: bool = False):
    """Maximum of each kernel_size window.

    Args:
        x: (N, C, H, W) float input.
        kernel_size: int or (kH, kW) pair, >= 1.
        stride: int or (sh, sw) pair, >= 1.
        padding: int or (ph, pw) pair, each at most half the kernel (as in Caffe and PyTorch,
            so every window overlaps the input).
        ceil_mode: round the output size up instead of down.

    Returns:
        out: (N, C, Ho, Wo) of ``x``'s dtype; cache: ``MaxPool2dCache``.
    """
    check_array(x, "x", 4)
    kernel = as_pair(kernel_size, "kernel_size", minimum=1)
    stride = as_pair(stride, "stride", minimum=1)
    padding = as_pair(padding, "padding", minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding {padding} must be at most half of kernel_size {kernel}")
    n, c, h, w = x.shape
    if kernel[0] > h + 2 * padding[0] or kernel[1] > w + 2 * padding[1]:
        raise ValueError(
            f"kernel_size {kernel} is larger than the padded input "
            f"({h + 2 * padding[0]}, {w + 2 * padding[1]}) of x.shape={x.shape}"
        )
    ho = output_size(h, kernel[0], stride[0], padding[0], ceil_mode)
    wo = output_size(w, kernel[1], stride[1], padding[1], ceil_mode)

    out = np.empty((n, c, ho, wo), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.min_scalar_type(kernel[0] * kernel[1] - 1))
    # One loop step per output cell, its window's maximum and where it is: a Cython kernel
    # (kernels/max_pool.pyx), one pass instead of NumPy's several per kernel offset;
    # minirpn.nn.reference.max_pool2d is its readable twin.
    if _is_2x2_halving(x.shape, kernel, stride, padding):
        _max_pool.max_pool_2x2_forward(np.ascontiguousarray(x), out, argmax)
    else:
        xp = _pad_for_windows(x, kernel, stride, padding, (ho, wo), fill=-np.inf)
        _max_pool.max_pool_forward(np.ascontiguousarray(xp), *kernel, *stride, out, argmax)
    return out, MaxPool2dCache(argmax, (n, c, h, w), kernel, stride, padding)


def max_pool2d_backward(dout: np.ndarray, cache: MaxPool2dCache) -> np.ndarray:
    """Route each output's gradient to the input entry that was its maximum.

    Args:
        dout: (N, C, Ho, Wo) upstream gradient.
        cache: from ``max_pool2d_forward``.

    Returns:
        dx: (N, C, H, W) of ``dout``'s dtype. Where windows overlap, an entry that is the
        maximum of several windows receives the sum of their gradients.
    """
    argmax, x_shape, kernel, stride, padding = cache
    check_array(dout, "dout", 4)
    if dout.shape != argmax.shape:
        raise ValueError(f"dout has shape {dout.shape} but the forward output had {argmax.shape}")
    n, c, h, w = x_shape
    ho, wo = argmax.shape[2:]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    dout = np.ascontiguousarray(dout)
    # Each output's gradient added at its argmax, output cells in row-major order (the
    # kernel's twin: minirpn.nn.reference.max_pool2d_backward).
    if _is_2x2_halving(x_shape, kernel, stride, padding):
        dxp = np.empty(x_shape, dout.dtype)  # the kernel writes every cell
        outside = _max_pool.max_pool_2x2_backward(dout, argmax, dxp)
    else:
        padded = (max(h + 2 * ph, (ho - 1) * sh + kh), max(w + 2 * pw, (wo - 1) * sw + kw))
        dxp = np.zeros((n, c, *padded), dout.dtype)  # the shape _pad_for_windows gave
        outside = _max_pool.max_pool_backward(dout, argmax, kh, kw, sh, sw, dxp)
    if outside:
        raise ValueError(f"cache.argmax holds window offsets beyond the {kh}x{kw} window")
    return dxp[:, :, ph : ph + h, pw : pw + w]


def _is_2x2_halving(x_shape, kernel, stride, padding) -> bool:
    """Whether the pooling halves an even-sized map with 2x2 windows at stride 2 (VGG's and
    the tiny backbone's), which the kernels treat on a faster path with the same results."""
    h, w = x_shape[2:]
    return kernel == stride == (2, 2) and padding == (0, 0) and h % 2 == 0 and w % 2 == 0


def _pad_for_windows(x, kernel, stride, padding, out_size, fill):
    """Pad ``x`` by ``padding`` on each side and, in ceil mode, enough more at the bottom
    and right for the last window to fit."""
    n, c, h, w = x.shape
    bottom = max(padding[0], (out_size[0] - 1) * stride[0] + kernel[0] - h - padding[0])
    right = max(padding[1], (out_size[1] - 1) * stride[1] + kernel[1] - w - padding[1])
    if not (padding[0] or padding[1] or bottom or right):
        return x
    pad_width = ((0, 0), (0, 0), (padding[0], bottom), (padding[1], right))
    return np.pad(x, pad_width, constant_values=fill)
