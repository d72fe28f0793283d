"""Exercises of lesson 01, convolution arithmetic and backprop (F1, F2)."""

from __future__ import annotations

import numpy as np

from minirpn.exercises import Exercise, number_close_to
from minirpn.nn import conv2d_backward, conv2d_forward
from minirpn.receptive_field import output_size, vgg16_conv5_3

POOL = (2, 2, 0)  # VGG-16's max-pooling layers in vgg16_conv5_3()


def _conv5_3_size(height, width):
    """VGG-16's conv5_3 map for an image, its poolings rounding up as in Caffe (F1)."""
    for kernel, stride, padding in vgg16_conv5_3():
        ceil_mode = (kernel, stride, padding) == POOL
        height = output_size(height, kernel, stride, padding, ceil_mode)
        width = output_size(width, kernel, stride, padding, ceil_mode)
    return height, width


def _smallest_width(columns=63):
    """The narrowest image whose conv5_3 map is ``columns`` wide, found by trying widths."""
    width = 16  # narrower images leave nothing for the fourth pooling
    while _conv5_3_size(600, width)[1] < columns:
        width += 1
    return width


SMALLEST_WIDTH = _smallest_width()

CONV1_1_WINDOW_NUMBERS = 3 * 3 * 3 * 224 * 224  # (Ho * Wo) windows x (kH * kW * C) numbers


def _bias_gradient(dout):
    return dout.sum(axis=(0, 2, 3))


def _verify_bias_gradient(function):
    if not callable(function):
        return "expected a function of dout"
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)
    out, cache = conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    expected = conv2d_backward(dout, cache)[2]
    got = np.asarray(function(dout))
    if got.shape != expected.shape:
        return f"shape {got.shape}; db has one number per filter, shape {expected.shape}"
    if np.allclose(got, expected / dout[:, 0].size):
        return "every output cell adds the bias once, so its gradient is a sum, not a mean"
    if not np.allclose(got, expected, rtol=1e-10, atol=1e-10):
        return "the values differ from conv2d_backward's db"
    return None


EXERCISES = [
    Exercise(
        name="01.smallest_width",
        verify=number_close_to(
            SMALLEST_WIDTH,
            mistakes=[
                (1008, "1008 is the widest: 63 columns cover it (F2), and narrower images too"),
                (1000, "1000 gives 63 columns, but so do narrower images"),
                (992, "992 = 62 x 16 gives 62 columns: one pixel more starts the 63rd"),
            ],
        ),
        solution=lambda: SMALLEST_WIDTH,
        wrong=lambda: 1008,
        explanation="every width from 993 to 1008 gives 63 columns: ceil(width / 16).",
    ),
    Exercise(
        name="01.im2col_entries",
        verify=number_close_to(
            CONV1_1_WINDOW_NUMBERS,
            mistakes=[
                (3 * 3 * 224 * 224, "each row holds one 3x3 window of every input channel"),
                (3 * 224 * 224, "that is the input itself; each pixel sits in up to 9 windows"),
            ],
        ),
        solution=lambda: CONV1_1_WINDOW_NUMBERS,
        wrong=lambda: 3 * 3 * 224 * 224,
        explanation="9 times the input: im2col copies each pixel once per kernel offset.",
    ),
    Exercise(
        name="01.bias_gradient",
        verify=_verify_bias_gradient,
        solution=lambda: _bias_gradient,
        wrong=lambda: lambda dout: dout.sum(axis=(2, 3)),
        explanation="the bias reaches every output cell of every image, so db sums them all.",
    ),
]
