"""SGD and the step schedule against hand-computed updates."""

import numpy as np
import pytest

from minirpn.nn import SGD, step_lr


def test_sgd_momentum_and_weight_decay_by_hand():
    weight, weight_grad = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    bias, bias_grad = np.array([3.0]), np.array([1.0])
    opt = SGD(
        [("fc.weight", weight, weight_grad), ("fc.bias", bias, bias_grad)],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.01,
    )
    opt.step()
    # v = 0.1 * (g + 0.01 p) = [0.051, 0.048]; the bias is not decayed: v = 0.1
    np.testing.assert_allclose(weight, [1.0 - 0.051, -2.0 - 0.048])
    np.testing.assert_allclose(bias, [2.9])
    opt.step()
    # v = 0.9 v + 0.1 * (g + 0.01 p) with the updated p
    v = 0.9 * np.array([0.051, 0.048]) + 0.1 * (0.5 + 0.01 * np.array([0.949, -2.048]))
    np.testing.assert_allclose(weight, np.array([0.949, -2.048]) - v)
    np.testing.assert_allclose(bias, [2.9 - (0.9 * 0.1 + 0.1)])


def test_sgd_learning_rate_change_keeps_caffes_momentum():
    # Caffe: v = m v + lr (g + wd w); w -= v. After lr drops, the buffer still carries the
    # step taken at the old rate. PyTorch's form (v = m v + (g + wd w); w -= lr v) gives the
    # same first step but rescales the whole buffer by the new rate, so the two part here.
    weight, weight_grad = np.array([1.0]), np.array([0.5])
    bias, bias_grad = np.array([0.0]), np.array([1.0])
    opt = SGD(
        [("fc.weight", weight, weight_grad), ("fc.bias", bias, bias_grad)],
        lr=0.1,
        momentum=0.9,
        weight_decay=0.1,
    )
    opt.step()
    # weight: v = 0.1 * (0.5 + 0.1 * 1) = 0.06, w = 0.94; bias (no decay): v = 0.1, b = -0.1
    np.testing.assert_allclose(weight, [0.94], rtol=1e-12)
    np.testing.assert_allclose(bias, [-0.1], rtol=1e-12)
    opt.lr = 0.01
    opt.step()
    # weight: v = 0.9 * 0.06 + 0.01 * (0.5 + 0.1 * 0.94) = 0.054 + 0.00594 = 0.05994,
    #         w = 0.94 - 0.05994 = 0.88006   (PyTorch's form: 0.94 - 0.01 * 1.134 = 0.92866)
    # bias:   v = 0.9 * 0.1 + 0.01 * 1 = 0.1, b = -0.2   (PyTorch's form: -0.119)
    np.testing.assert_allclose(weight, [0.88006], rtol=1e-12)
    np.testing.assert_allclose(bias, [-0.2], rtol=1e-12)
    np.testing.assert_allclose(opt.velocity["fc.weight"], [0.05994], rtol=1e-12)


def test_sgd_reads_the_current_gradient_array():
    param, grad = np.zeros(2), np.zeros(2)
    opt = SGD([("w", param, grad)], lr=1.0, momentum=0.0)
    grad[...] = [1.0, 2.0]  # the layer writes its gradients in place
    opt.step()
    np.testing.assert_allclose(param, [-1.0, -2.0])


def test_sgd_state_round_trip():
    param, grad = np.ones(3), np.full(3, 2.0)
    opt = SGD([("w", param, grad)], lr=0.5)
    opt.step()
    saved = opt.state()
    fresh = SGD([("w", param.copy(), grad)], lr=0.5)
    fresh.load_state(saved)
    np.testing.assert_array_equal(fresh.velocity["w"], opt.velocity["w"])
    with pytest.raises(ValueError, match="missing"):
        fresh.load_state({})
    with pytest.raises(ValueError, match="shape"):
        fresh.load_state({"w": np.zeros(2)})


def test_sgd_bad_arguments():
    p = np.zeros(2)
    with pytest.raises(ValueError, match="lr"):
        SGD([("w", p, p)], lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        SGD([("w", p, p)], lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        SGD([("w", p, p)], lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="repeated"):
        SGD([("w", p, p), ("w", p, p)], lr=0.1)
    with pytest.raises(ValueError, match="grad shape"):
        SGD([("w", p, np.zeros(3))], lr=0.1)


def test_step_lr():
    assert step_lr(0.001, 0, [50000], 0.1) == 0.001
    assert step_lr(0.001, 49999, [50000], 0.1) == 0.001
    assert step_lr(0.001, 50000, [50000], 0.1) == pytest.approx(0.0001)
    assert step_lr(1.0, 250, [100, 200, 300], 0.5) == 0.25
    assert step_lr(1.0, 5, [], 0.5) == 1.0
    with pytest.raises(ValueError, match="steps"):
        step_lr(1.0, 5, [200, 100], 0.5)
    with pytest.raises(ValueError, match="iteration"):
        step_lr(1.0, -1, [100], 0.5)
