"""Layer classes: gradients by centred differences (float64), accumulation, naming, modes, init."""

import numpy as np
import pytest

from minirpn import nn
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import linear_backward, linear_forward, softmax_cross_entropy


def test_linear_forward_matches_definition_and_backward_matches_differences():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    out, cache = linear_forward(x, w, b)
    expected = [
        [sum(x[n, i] * w[o, i] for i in range(4)) + b[o] for o in range(3)] for n in range(5)
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = linear_backward(dout, cache)

    def f():
        return np.sum(linear_forward(x, w, b)[0] * dout)

    for analytic, array in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient(f, array)) < 1e-6


def test_linear_bad_inputs():
    with pytest.raises(ValueError, match=r"w has 3 input features.*x has 4"):
        linear_forward(np.zeros((2, 4)), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="b must have shape"):
        linear_forward(np.zeros((2, 4)), np.zeros((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        linear_forward(np.zeros((2, 4, 1)), np.zeros((5, 4)), np.zeros(5))


def check_layer_gradients(layer, x, dout):
    """Compare ``layer``'s dx and accumulated parameter grads with centred differences."""
    layer.zero_grad()
    _, cache = layer.forward(x)
    dx = layer.backward(dout, cache)

    def f():
        return np.sum(layer.forward(x)[0] * dout)

    assert relative_error(dx, numerical_gradient(f, x)) < 1e-6
    for name, param, grad in layer.named_parameters():
        assert relative_error(grad, numerical_gradient(f, param)) < 1e-6, name


def test_conv2d_layer_gradients():
    rng = np.random.default_rng(1)
    layer = nn.Conv2d(2, 3, (3, 2), stride=2, padding=(1, 0), init="he", rng=rng, dtype=np.float64)
    layer.params["bias"][...] = rng.standard_normal(3)  # a non-zero bias shows up in the check
    x = rng.standard_normal((2, 2, 7, 6))
    check_layer_gradients(layer, x, rng.standard_normal(layer.forward(x)[0].shape))


def test_linear_layer_gradients():
    rng = np.random.default_rng(2)
    layer = nn.Linear(6, 4, init="he", rng=rng, dtype=np.float64)
    x = rng.standard_normal((3, 6))
    check_layer_gradients(layer, x, rng.standard_normal((3, 4)))


def small_net(rng, dtype=np.float64):
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, init="he", rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(4, 4, (1, 3), stride=(1, 2), init="he", rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5, rng=rng),
        nn.Linear(4 * 4 * 1, 3, init="he", rng=rng, dtype=dtype),
    )


def test_sequential_gradients_through_a_small_net():
    rng = np.random.default_rng(3)
    net = small_net(rng).eval()  # dropout is the identity in eval mode: f is deterministic
    x = rng.standard_normal((2, 2, 7, 7))  # 7 -> conv 7 -> ceil pool 4 -> (4, 1) -> 16 -> 3
    labels = np.array([0, 2])
    net.zero_grad()
    logits, caches = net.forward(x)
    assert len(caches) == len(net)  # one cache per layer, in order
    _, dlogits = softmax_cross_entropy(logits, labels)
    dx = net.backward(dlogits, caches)

    def f():
        return softmax_cross_entropy(net.forward(x)[0], labels)[0]

    assert relative_error(dx, numerical_gradient(f, x)) < 1e-6
    for name, param, grad in net.named_parameters():
        assert relative_error(grad, numerical_gradient(f, param)) < 1e-6, name


def test_a_sequential_without_dx_adds_the_same_parameter_gradients():
    # The first layer skips its input's gradient (the detector's images need none); the
    # parameters' gradients must be those of the full backward, bit for bit.
    rng = np.random.default_rng(5)
    net = small_net(rng).eval()
    x = rng.standard_normal((2, 2, 7, 7))
    logits, caches = net.forward(x)
    dlogits = rng.standard_normal(logits.shape)
    net.zero_grad()
    net.backward(dlogits, caches)
    full = {name: grad.copy() for name, grad in net.grads.items()}
    net.zero_grad()
    assert net.backward(dlogits, caches, need_dx=False) is None
    for name, grad in net.grads.items():
        np.testing.assert_array_equal(grad, full[name], err_msg=name)


def test_named_parameters_train_eval_and_nesting():
    rng = np.random.default_rng(4)
    net = small_net(rng, np.float32)
    assert [name for name, _, _ in net.named_parameters()] == [
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
        "7.weight",
        "7.bias",
    ]
    assert net.params["3.weight"] is net[3].params["weight"]
    assert net.grads["7.bias"] is net[7].grads["bias"]
    net.eval()
    assert not any(layer.training for layer in net.layers)
    net.train()
    assert all(layer.training for layer in net.layers)
    outer = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(2, 2, rng=rng)))
    assert list(outer.params) == ["1.0.weight", "1.0.bias"]


def test_backward_accumulates_and_zero_grad_clears_in_place():
    rng = np.random.default_rng(5)
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    grad_array = layer.grads["weight"]
    _, cache = layer.forward(x)
    layer.backward(dout, cache)
    once = grad_array.copy()
    _, cache = layer.forward(x)
    layer.backward(dout, cache)
    np.testing.assert_allclose(layer.grads["weight"], 2 * once)
    layer.zero_grad()
    assert layer.grads["weight"] is grad_array and not grad_array.any()


def test_a_conv_applied_to_two_inputs_of_different_sizes_gets_both_contributions():
    """Issue 20: one Conv2d on two inputs of different sizes, both caches held, one loss over
    both outputs, both backwards called: the weight, bias and both inputs' gradients against
    centred differences (float64). A layer that kept its cache on itself (the last call's)
    or overwrote its gradients instead of adding fails."""
    rng = np.random.default_rng(9)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, init="he", rng=rng, dtype=np.float64)
    conv.params["bias"][...] = rng.standard_normal(3)
    x1, x2 = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((2, 2, 5, 9))
    weights = rng.standard_normal(conv.forward(x1)[0].shape)

    def loss():  # linear in the first output, quadratic in the second
        return np.sum(conv.forward(x1)[0] * weights) + 0.5 * np.sum(conv.forward(x2)[0] ** 2)

    y1, cache1 = conv.forward(x1)
    y2, cache2 = conv.forward(x2)
    assert y1.shape[2:] != y2.shape[2:]
    conv.zero_grad()
    dx2 = conv.backward(y2, cache2)  # d loss / d y2 = y2; the order of the calls is free
    dx1 = conv.backward(weights, cache1)
    assert relative_error(dx1, numerical_gradient(loss, x1)) < 1e-6
    assert relative_error(dx2, numerical_gradient(loss, x2)) < 1e-6
    for name, param, grad in conv.named_parameters():
        assert relative_error(grad, numerical_gradient(loss, param)) < 1e-6, name


def test_a_cache_belongs_to_its_own_call():
    """Backward with the cache of another call (another input size) or with the wrong number
    of caches is refused, and nothing is added to the gradients."""
    rng = np.random.default_rng(10)
    conv = nn.Conv2d(2, 3, 3, rng=rng, dtype=np.float64)
    y1, _ = conv.forward(rng.standard_normal((1, 2, 6, 6)))
    _, cache2 = conv.forward(rng.standard_normal((1, 2, 8, 5)))
    with pytest.raises(ValueError, match="does not match the forward output"):
        conv.backward(np.ones_like(y1), cache2)
    assert not any(grad.any() for grad in conv.grads.values())
    net = small_net(rng)
    out, caches = net.forward(rng.standard_normal((2, 2, 7, 7)))
    with pytest.raises(ValueError, match="caches holds 7 entries, this Sequential has 8 layers"):
        net.backward(np.ones_like(out), caches[1:])


def test_float32_layers_accept_a_float64_input():
    rng = np.random.default_rng(6)
    layer = nn.Conv2d(1, 2, 3, rng=rng)
    x = rng.standard_normal((1, 1, 5, 5))
    out, cache = layer.forward(x)
    dx = layer.backward(np.ones_like(out), cache)
    assert (out.dtype, dx.dtype) == (np.float64, np.float64)
    assert layer.grads["weight"].dtype == np.float32


def test_dropout_layer_follows_train_and_eval():
    layer = nn.Dropout(0.5, rng=np.random.default_rng(8))
    x = np.ones((20, 30))
    out, cache = layer.forward(x)
    assert set(np.unique(out)) == {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(x, cache), out)  # same mask, same scaling
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x)[0], x)


def test_geometry_is_exposed_as_pairs():
    conv = nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2))
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 5), (2, 2), (1, 2))
    pool = nn.MaxPool2d(3)
    assert (pool.kernel_size, pool.stride, pool.padding) == ((3, 3), (3, 3), (0, 0))


def test_initialisation():
    rng = np.random.default_rng(7)
    gaussian = nn.Conv2d(64, 64, 3, rng=rng)  # 36,864 weights: the sample std is within ~1%
    assert gaussian.params["weight"].dtype == np.float32
    assert abs(gaussian.params["weight"].std() - 0.01) < 0.0003
    assert abs(gaussian.params["weight"].mean()) < 0.0003
    assert not gaussian.params["bias"].any()
    he = nn.Conv2d(64, 64, 3, init="he", rng=rng)
    assert abs(he.params["weight"].std() - np.sqrt(2 / (64 * 9))) < 0.03 * np.sqrt(2 / (64 * 9))
    custom = nn.Linear(500, 100, std=0.001, rng=rng)
    assert abs(custom.params["weight"].std() - 0.001) < 0.00003


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="init"):
        nn.Conv2d(1, 1, 3, init="xavier")
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="std"):
        nn.Linear(2, 2, std=0.0)
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv2d(0, 1, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d(0)
    with pytest.raises(ValueError, match="p must"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match=r"layers\[1\]"):
        nn.Sequential(nn.ReLU(), lambda x: x)
