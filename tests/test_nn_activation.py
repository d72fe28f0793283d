"""ReLU and dropout against their definitions and centred differences (float64)."""

import numpy as np
import pytest

from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import dropout_backward, dropout_forward, reference, relu_backward, relu_forward


def away_from_zero(rng, shape):
    """Values with |x| >= 0.1, so a step of 1e-5 never crosses ReLU's kink."""
    x = rng.uniform(0.1, 2.0, shape)
    return x * rng.choice([-1.0, 1.0], shape)


def test_relu_forward_and_gradient():
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, (2, 3, 4, 5))
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0))
    dout = rng.standard_normal(x.shape)
    dx = relu_backward(dout, cache)
    numeric = numerical_gradient(lambda: np.sum(relu_forward(x)[0] * dout), x)
    assert relative_error(dx, numeric) < 1e-6


def test_relu_at_its_kink_and_negative_zero():
    # The convention (as Caffe and PyTorch): at x = 0 the gradient is 0, and the output is
    # +0.0 even for -0.0 (the gradient check above stays away from 0, so it cannot see this).
    out, cache = relu_forward(np.array([-1.0, -0.0, 0.0, 1e-300, 3.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 1e-300, 3.0])
    assert not np.signbit(out).any()
    dx = relu_backward(np.full(5, 7.0), cache)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 7.0, 7.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_is_a_select_bit_for_bit(dtype):
    # dx = np.where(mask, dout, 0): +0.0 where the input was not positive, even for a NaN,
    # an inf or a -0.0 gradient there (a product with the mask would give NaN and -0.0).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 64)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dout[:, :8] = [np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0, 1e-45, -3.0]
    _, cache = relu_forward(x)
    dx = relu_backward(dout, cache)
    expected = np.where(cache, dout, 0).astype(dtype)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx.view(f"u{dx.itemsize}"), expected.view(f"u{dx.itemsize}"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_forward_kernel_equals_its_numpy_twin_bit_for_bit(dtype):
    # The kernel against np.maximum(x, 0), x > 0: -0.0 must give +0.0, a NaN stay a NaN
    # (with its payload and sign), an inf pass or vanish; a strided input is copied first.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 70)).astype(dtype)
    x[:, :9] = [np.nan, -np.nan, -np.inf, np.inf, -0.0, 0.0, 1e-45, -1e-45, 2.0]
    for view in (x, x[:, ::3], x.T):
        out, mask = relu_forward(view)
        twin_out, twin_mask = reference.relu_forward(view)
        assert out.dtype == dtype and mask.dtype == bool and out.shape == view.shape
        np.testing.assert_array_equal(
            out.view(f"u{out.itemsize}"), twin_out.view(f"u{out.itemsize}")
        )
        np.testing.assert_array_equal(mask, twin_mask)


def test_relu_keeps_float32():
    out, cache = relu_forward(np.array([-1.0, 2.0], np.float32))
    assert out.dtype == np.float32
    assert relu_backward(np.ones(2, np.float32), cache).dtype == np.float32


def test_dropout_train_zeroes_and_rescales():
    x = np.ones((200, 50))
    out, cache = dropout_forward(x, 0.3, True, np.random.default_rng(0))
    dropped = out == 0
    np.testing.assert_allclose(out[~dropped], 1 / 0.7)
    assert abs(dropped.mean() - 0.3) < 0.02  # 10,000 draws: std of the fraction ~0.005
    dout = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(dropout_backward(dout, cache), dout * out)


def test_dropout_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    dout = rng.standard_normal(x.shape)
    _, cache = dropout_forward(x, 0.5, True, np.random.default_rng(7))
    dx = dropout_backward(dout, cache)
    # the same seed redraws the same mask on every call
    numeric = numerical_gradient(
        lambda: np.sum(dropout_forward(x, 0.5, True, np.random.default_rng(7))[0] * dout), x
    )
    assert relative_error(dx, numeric) < 1e-6


def test_dropout_eval_is_identity():
    x = np.random.default_rng(3).standard_normal((3, 4))
    out, cache = dropout_forward(x, 0.5, False, None)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(x, cache), x)


def test_dropout_bad_inputs():
    with pytest.raises(ValueError, match="p must"):
        dropout_forward(np.zeros(3), 1.0, True, np.random.default_rng())
    with pytest.raises(TypeError, match="rng"):
        dropout_forward(np.zeros(3), 0.5, True, None)
