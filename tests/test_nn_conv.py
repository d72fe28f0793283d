"""conv2d: forward against a naive loop, backward against centred differences (float64)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import conv, conv2d_backward, conv2d_forward, reference
from minirpn.nn.reference import conv2d as naive_conv2d

# (N, C, H, W), (F, kH, kW), stride, padding
CASES = [
    ((2, 3, 7, 6), (4, 3, 3), 1, 1),
    ((1, 2, 9, 8), (3, 3, 2), 2, 0),  # stride 2, non-square kernel, odd size
    ((2, 2, 8, 7), (2, 1, 3), (2, 1), (0, 1)),  # per-axis stride and padding
    ((1, 3, 5, 5), (2, 5, 5), 1, 0),  # kernel as large as the input: one output pixel
    ((1, 1, 6, 5), (2, 1, 1), 3, 2),  # 1x1 kernel, stride larger than the kernel
    ((2, 6, 13, 18), (9, 3, 3), 1, 1),  # channels and filters past the kernels' 4 x 4 blocks
]


def make(case, dtype=np.float64, seed=0):
    x_shape, (f, kh, kw), stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((f, x_shape[1], kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, w, b, stride, padding


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_naive(case):
    x, w, b, stride, padding = make(case)
    out, _ = conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_backward_matches_centred_differences(case):
    x, w, b, stride, padding = make(case, seed=1)
    out, cache = conv2d_forward(x, w, b, stride, padding)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def f():
        return np.sum(conv2d_forward(x, w, b, stride, padding)[0] * dout)

    assert relative_error(dx, numerical_gradient(f, x)) < 1e-6
    assert relative_error(dw, numerical_gradient(f, w)) < 1e-6
    assert relative_error(db, numerical_gradient(f, b)) < 1e-6


def test_float32_stays_float32():
    x, w, b, stride, padding = make(CASES[0], dtype=np.float32)
    out, cache = conv2d_forward(x, w, b, stride, padding)
    grads = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    expected = naive_conv2d(x64, w64, b64, stride, padding)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_mixed_dtypes_compute_in_the_wider_one_and_keep_each_gradients_dtype():
    x, w, b, stride, padding = make(CASES[0])
    w32, b32 = w.astype(np.float32), b.astype(np.float32)
    out, cache = conv2d_forward(x, w32, b32, stride, padding)  # float64 input, float32 layer
    assert out.dtype == np.float64
    dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float64, np.float32, np.float32)


def test_bad_inputs_name_the_argument():
    x = np.zeros((1, 3, 4, 4))
    w = np.zeros((2, 3, 3, 3))
    b = np.zeros(2)
    with pytest.raises(ValueError, match="x"):
        conv2d_forward(np.zeros((3, 4, 4)), w, b)
    with pytest.raises(ValueError, match="w"):
        conv2d_forward(x, np.zeros((2, 3, 3)), b)
    with pytest.raises(ValueError, match=r"w has 2 input channels.*x has 3"):
        conv2d_forward(x, np.zeros((2, 2, 3, 3)), b)
    with pytest.raises(ValueError, match="b must have shape"):
        conv2d_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match=r"w kernel \(5, 5\) is larger than the padded input"):
        conv2d_forward(x, np.zeros((2, 3, 5, 5)), b)
    with pytest.raises(ValueError, match="stride"):
        conv2d_forward(x, w, b, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d_forward(x, w, b, padding=(1, -1))
    with pytest.raises(TypeError, match="stride"):
        conv2d_forward(x, w, b, stride=(1, 2, 3))
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        conv2d_forward(x.astype(np.int64), w, b)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    x_shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return x_shape, (draw(st.integers(1, 3)), kh, kw), stride, (ph, pw)


@settings(max_examples=30, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_random_shapes_forward_and_input_gradient(case, seed):
    x, w, b, stride, padding = make(case, seed=seed)
    out, cache = conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dw, _ = conv2d_backward(dout, cache)

    def f():
        return np.sum(conv2d_forward(x, w, b, stride, padding)[0] * dout)

    assert relative_error(dx, numerical_gradient(f, x)) < 1e-6
    assert relative_error(dw, numerical_gradient(f, w)) < 1e-6


@settings(max_examples=60, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_col2im_kernel_equals_its_numpy_twin_bit_for_bit(case, seed, dtype):
    # Same sums in the same order: any reordering shows in float32's last bits.
    x, w, _, stride, padding = make(case, seed=seed)
    _, cache = conv2d_forward(x, w, np.zeros(w.shape[0]), stride, padding)
    dcols = np.random.default_rng(seed).standard_normal(cache.cols.shape).astype(dtype)
    out_size = conv2d_forward(x, w, np.zeros(w.shape[0]), stride, padding)[0].shape[2:]
    args = (x.shape, w.shape[2:], cache.stride, cache.padding, out_size)
    fast = conv._col2im(dcols, *args)
    twin = reference.col2im(dcols, *args)
    assert fast.dtype == twin.dtype == dtype
    np.testing.assert_array_equal(fast, twin)


@settings(max_examples=60, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_im2col_kernel_equals_its_numpy_twin_bit_for_bit(case, seed, dtype):
    # A copy: every entry the same bits, padding included (a wrong offset, a row of padding
    # not cleared or a stride ignored shows); -0.0 and NaN must come through unchanged.
    x, w, _, stride, padding = make(case, dtype, seed=seed)
    x.flat[::3] = -0.0
    x.flat[1::7] = np.nan
    fast, fast_size = conv._im2col(x, w.shape[2:], stride, padding)
    twin, twin_size = reference.im2col(x, w.shape[2:], stride, padding)
    assert fast.dtype == twin.dtype == dtype and fast_size == twin_size
    bits = f"u{x.itemsize}"
    np.testing.assert_array_equal(fast.view(bits), twin.view(bits))


# The layout kernels move 4 x 4 blocks in bands of 16 rows (kernels/conv_layout.h) and fall
# back to single numbers at the edges: sizes on both sides of 4 and 16, channel counts from 1.
LAYOUT_SHAPES = [(1, 3, 5, 7), (2, 4, 16, 16), (1, 5, 17, 6), (2, 8, 4, 33), (1, 19, 9, 20)]


@pytest.mark.parametrize("x_shape", LAYOUT_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layout_kernels_equal_their_numpy_twins_bit_for_bit(x_shape, dtype):
    # A transposed block stored one column off, an edge row or column dropped, or a zero
    # added where there is no bias (-0.0 + 0.0 is +0.0): each changes some entry's bits.
    rng = np.random.default_rng(sum(x_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    x.flat[::5] = -0.0
    x.flat[1::11] = np.nan
    bits = f"u{x.itemsize}"
    for kernel, stride, padding in [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 2))]:
        fast, size = conv._im2col(x, kernel, stride, padding)
        twin, twin_size = reference.im2col(x, kernel, stride, padding)
        assert size == twin_size
        np.testing.assert_array_equal(fast.view(bits), twin.view(bits))

        dcols = rng.standard_normal(fast.shape).astype(dtype)
        args = (x_shape, kernel, stride, padding, size)
        np.testing.assert_array_equal(conv._col2im(dcols, *args), reference.col2im(dcols, *args))

    rows = rng.standard_normal((x_shape[0], x_shape[2] * x_shape[3], x_shape[1])).astype(dtype)
    rows.flat[::7] = -0.0
    b = rng.standard_normal(x_shape[1]).astype(dtype)
    b[::2] = 0.0  # -0.0 + 0.0 is +0.0 in both
    fast = conv._add_bias_transposed(rows, b)
    np.testing.assert_array_equal(
        fast.view(bits), reference.add_bias_transposed(rows, b).view(bits)
    )


def test_backward_without_dx_gives_the_same_weight_and_bias_gradients():
    x, w, b, stride, padding = make(CASES[1], seed=3)
    out, cache = conv2d_forward(x, w, b, stride, padding)
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw_only, db_only = conv2d_backward(dout, cache, need_dx=False)
    assert none is None and dx is not None
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)


def test_float16_and_longdouble_are_refused_naming_the_argument():
    x, w, b, stride, padding = make(CASES[0])
    with pytest.raises(TypeError, match="x must have a floating dtype, float32 or float64, got"):
        conv2d_forward(x.astype(np.float16), w, b)
    with pytest.raises(TypeError, match="w must have a floating dtype, float32 or float64, got"):
        conv2d_forward(x, w.astype(np.longdouble), b)
