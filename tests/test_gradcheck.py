"""The gradient-check helper itself, checked on functions whose derivatives are known."""

import numpy as np
import pytest

from minirpn.gradcheck import numerical_gradient, relative_error


def test_numerical_gradient_of_known_function():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    a = rng.standard_normal((3, 4))
    # f = sum(a * x**3) + sum(sin x), so df/dx = 3 a x**2 + cos x
    grad = numerical_gradient(lambda: np.sum(a * x**3) + np.sum(np.sin(x)), x)
    assert relative_error(grad, 3 * a * x**2 + np.cos(x)) < 1e-9


def test_numerical_gradient_restores_x_exactly():
    # Restoring by arithmetic is not enough: 1e-20 + h - h gives 0, not 1e-20 (and random
    # values of size 1 usually survive the round trip, so they alone would not show it).
    x = np.concatenate([np.random.default_rng(1).standard_normal(5), [1e-20, -3e-30]])
    before = x.copy()
    numerical_gradient(lambda: np.sum(x**2), x)
    np.testing.assert_array_equal(x, before)


def test_relative_error_values():
    a = np.array([3.0, 4.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    # ||a - 0|| / (||a|| + 0) = 1; ||a - (-a)|| / (2 ||a||) = 1
    assert relative_error(a, np.zeros(2)) == pytest.approx(1.0)
    assert relative_error(a, -a) == pytest.approx(1.0)
    # ||(0, 1)|| / (5 + sqrt(9 + 25)) for b = (3, 5)
    assert relative_error(a, np.array([3.0, 5.0])) == pytest.approx(1.0 / (5.0 + np.sqrt(34.0)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="a and b"):
        relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="x"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="h"):
        numerical_gradient(lambda: 0.0, np.zeros(3), h=0.0)
