"""SGD and the step schedule against hand-computed updates."""

import numpy as np
import pytest

from minirpn.nn import SGD, reference, step_lr


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_kernel_equals_its_numpy_twin_bit_for_bit(dtype):
    # Same operations in the same order and precision: a reordered sum, a product fused
    # into an add, or a scalar kept in float64 shows in float32's last bits within a step.
    rng = np.random.default_rng(0)
    shapes = {"conv.weight": (8, 3, 3, 3), "conv.bias": (8,), "fc.weight": (5, 7)}
    params = {name: rng.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    twin_params = {name: p.copy() for name, p in params.items()}
    twin_velocity = {name: np.zeros_like(p) for name, p in params.items()}
    opt = SGD([(n, params[n], grads[n]) for n in shapes], lr=0.01, weight_decay=5e-4)
    for lr in (0.01, 0.01, 0.001):
        opt.lr = lr
        for grad in grads.values():
            grad[...] = rng.standard_normal(grad.shape) * 3
        opt.step()
        for name in shapes:
            decay = 5e-4 if name.endswith("weight") else 0.0
            reference.sgd_update(
                twin_params[name], grads[name], twin_velocity[name], lr, 0.9, decay
            )
    for name in shapes:
        np.testing.assert_array_equal(params[name], twin_params[name])
        np.testing.assert_array_equal(opt.velocity[name], twin_velocity[name])


def test_sgd_refuses_arrays_its_kernel_cannot_update_in_place():
    p = np.zeros(4, np.float32)
    with pytest.raises(
        TypeError, match=r"named_params\['w'\]: param and grad must both be float32"
    ):
        SGD([("w", p, np.zeros(4))], lr=0.1)
    with pytest.raises(TypeError, match="got int64 and int64"):
        SGD([("w", np.zeros(4, int), np.zeros(4, int))], lr=0.1)
    strided = np.zeros(8, np.float32)[::2]
    with pytest.raises(ValueError, match=r"named_params\['w'\]: param and grad must be contiguous"):
        SGD([("w", strided, p)], lr=0.1)
