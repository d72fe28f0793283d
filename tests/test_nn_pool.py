"""max_pool2d: forward against a naive loop, sizes by hand, backward against centred differences."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn._kernels import max_pool as _max_pool
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import max_pool2d_backward, max_pool2d_forward
from minirpn.nn.reference import max_pool2d as naive_max_pool2d
from minirpn.nn.reference import max_pool2d_backward as naive_max_pool2d_backward
from minirpn.nn.reference import pool_output_size
from minirpn.receptive_field import output_size

# (N, C, H, W), kernel, stride, padding, ceil_mode
CASES = [
    ((2, 3, 8, 8), 2, 2, 0, False),
    ((1, 2, 7, 9), 3, 2, 1, False),  # overlapping windows, padding
    ((2, 2, 7, 5), 2, 2, 0, True),  # ceil mode: the last window hangs over the edge
    ((1, 3, 9, 6), (3, 2), (2, 1), (1, 0), True),  # non-square everything
    ((1, 1, 5, 5), 2, 2, 1, True),  # ceil mode where the extra window would start in the padding
]


def distinct_values(shape, seed):
    """A random arrangement of evenly spaced values: no ties, gaps far above the 1e-5 step."""
    size = math.prod(shape)
    return np.random.default_rng(seed).permutation(size).reshape(shape) / size


@pytest.mark.parametrize(
    "size, k, s, p, ceil_mode, expected",
    [
        (75, 2, 2, 0, True, 38),  # VGG in Caffe: 75 -> 38
        (75, 2, 2, 0, False, 37),
        (6, 3, 2, 0, True, 3),  # ceil(3 / 2) + 1
        (6, 3, 2, 0, False, 2),
        (5, 2, 2, 1, True, 3),  # ceil(5 / 2) + 1 = 4 would start in the right padding
        (7, 3, 2, 1, True, 4),
    ],
)
def test_output_sizes_by_hand(size, k, s, p, ceil_mode, expected):
    out, _ = max_pool2d_forward(np.zeros((1, 1, size, size)), k, s, p, ceil_mode)
    assert out.shape[2:] == (expected, expected)


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_naive(case):
    shape, kernel, stride, padding, ceil_mode = case
    x = np.random.default_rng(0).standard_normal(shape)
    out, _ = max_pool2d_forward(x, kernel, stride, padding, ceil_mode)
    np.testing.assert_array_equal(out, naive_max_pool2d(x, kernel, stride, padding, ceil_mode))


@pytest.mark.parametrize("case", CASES)
def test_backward_matches_centred_differences(case):
    shape, kernel, stride, padding, ceil_mode = case
    pool = lambda a: max_pool2d_forward(a, kernel, stride, padding, ceil_mode)[0]  # noqa: E731
    x = distinct_values(shape, seed=1)
    out, cache = max_pool2d_forward(x, kernel, stride, padding, ceil_mode)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx = max_pool2d_backward(dout, cache)
    numeric = numerical_gradient(lambda: np.sum(pool(x) * dout), x)
    assert relative_error(dx, numeric) < 1e-6


def test_overlapping_windows_accumulate_and_ties_go_to_the_first_max():
    x = np.array([0.0, 1.0, 5.0, 2.0, 3.0]).reshape(1, 1, 1, 5)
    out, cache = max_pool2d_forward(x, (1, 3), 1)
    np.testing.assert_array_equal(out.ravel(), [5.0, 5.0, 5.0])
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx.ravel(), [0, 0, 3, 0, 0])

    ties = np.full((1, 1, 2, 2), 7.0)
    out, cache = max_pool2d_forward(ties, 2, 2)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


def test_padding_never_wins_and_dtype_is_kept():
    x = -np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 1, 3, 3)  # all negative
    out, cache = max_pool2d_forward(x, 2, 2, 1)
    # windows cover rows {-1, 0} and {1, 2}, likewise columns; -1 is padding
    np.testing.assert_array_equal(out[0, 0], [[-1, -2], [-4, -5]])
    assert out.dtype == np.float32
    assert max_pool2d_backward(np.ones_like(out), cache).dtype == np.float32


def test_bad_inputs_name_the_argument():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        max_pool2d_forward(np.zeros((4, 4)), 2, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        max_pool2d_forward(x, 5, 1)
    with pytest.raises(ValueError, match="padding"):
        max_pool2d_forward(x, 2, 2, padding=2)
    with pytest.raises(ValueError, match="stride"):
        max_pool2d_forward(x, 2, 0)
    with pytest.raises(TypeError, match="kernel_size"):
        max_pool2d_forward(x, 2.0, 2)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return shape, (kh, kw), stride, (ph, pw), draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(pool_cases(), st.integers(0, 2**32 - 1))
def test_random_shapes_forward_and_gradient(case, seed):
    shape, kernel, stride, padding, ceil_mode = case
    pool = lambda a: max_pool2d_forward(a, kernel, stride, padding, ceil_mode)[0]  # noqa: E731
    x = distinct_values(shape, seed)
    out, cache = max_pool2d_forward(x, kernel, stride, padding, ceil_mode)
    np.testing.assert_array_equal(out, naive_max_pool2d(x, kernel, stride, padding, ceil_mode))
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = max_pool2d_backward(dout, cache)
    numeric = numerical_gradient(lambda: np.sum(pool(x) * dout), x)
    assert relative_error(dx, numeric) < 1e-6


def test_counted_window_numbers_equal_the_closed_form():
    for size in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    if k > size + 2 * p:
                        continue
                    for ceil_mode in (False, True):
                        counted = pool_output_size(size, k, s, p, ceil_mode)
                        assert counted == output_size(size, k, s, p, ceil_mode), (size, k, s, p)


@settings(max_examples=60, deadline=None)
@given(pool_cases(), st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_kernel_equals_its_loop_twins_with_ties_bit_for_bit(case, seed, dtype):
    # Few distinct values: ties everywhere, so the first maximum must win. Overlapping
    # windows add in the twin's order (float32 shows a reordering in its last bits).
    shape, kernel, stride, padding, ceil_mode = case
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.5, 0.0, 0.75, 2.0], dtype), size=shape)
    out, cache = max_pool2d_forward(x, kernel, stride, padding, ceil_mode)
    np.testing.assert_array_equal(out, naive_max_pool2d(x, kernel, stride, padding, ceil_mode))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = max_pool2d_backward(dout, cache)
    expected = naive_max_pool2d_backward(dout, x, kernel, stride, padding, ceil_mode)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, expected)


def test_a_nan_in_a_window_makes_its_maximum_nan():
    x = np.array([np.nan, 1.0, 3.0, np.nan, 5.0, 4.0], np.float32).reshape(1, 1, 1, 6)
    out, cache = max_pool2d_forward(x, (1, 2), (1, 2))
    np.testing.assert_array_equal(out.ravel(), [np.nan, np.nan, 5.0])
    # nothing is larger than a NaN, nor a NaN larger than anything: the place stays first
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx.ravel(), [1, 0, 1, 0, 1, 0])


def test_signed_zeros_tie_as_np_maximum_breaks_the_tie():
    # np.maximum(a, b) returns b when a == b: of -0.0 and +0.0 the later one. The NumPy
    # running maximum this kernel replaced did so; bit-identical training needs the same.
    x = np.array([-0.0, 0.0, 0.0, -0.0], np.float32).reshape(1, 1, 1, 4)
    out, cache = max_pool2d_forward(x, (1, 2), (1, 2))
    np.testing.assert_array_equal(np.signbit(out.ravel()), [False, True])
    np.testing.assert_array_equal(cache.argmax.ravel(), [0, 0])  # the first place still


@pytest.mark.parametrize("size", [4, 5])  # the halving kernels, the general ones
def test_a_damaged_argmax_is_refused_not_followed(size):
    out, cache = max_pool2d_forward(np.zeros((1, 1, size, size)), 2, 2)
    cache.argmax[0, 0, 1, 1] = 4  # offsets of a 2x2 window are 0..3
    with pytest.raises(ValueError, match="argmax holds window offsets beyond the 2x2 window"):
        max_pool2d_backward(np.ones_like(out), cache)


def bits(a):
    """The bytes of each number, so that -0.0 differs from 0.0 and NaNs by sign."""
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


# (N, C, H, W) with H and W even: 2x2 windows at stride 2 halve the map (the backbone's
# pooling), which takes kernels of its own
halving_shapes = st.tuples(
    st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 9)
).map(lambda s: (s[0], s[1], 2 * s[2], 2 * s[3]))


@settings(max_examples=60, deadline=None)
@given(halving_shapes, st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]))
def test_halving_kernels_equal_the_general_ones_bit_for_bit(shape, seed, dtype):
    # The general kernels, called directly, must give the same bits: which of equal numbers
    # (-0.0, 0.0) and which NaN (of two signs) wins, the places, and gradients that are
    # 0.0 + g (so -0.0 arrives as 0.0) at the place and 0.0 elsewhere, even beside a NaN.
    rng = np.random.default_rng(seed)
    values = np.array([-1.5, -0.0, 0.0, 0.75, np.inf, -np.inf, np.nan, -np.nan], dtype)
    x = rng.choice(values, size=shape, p=[0.2] * 4 + [0.05] * 4)
    out, cache = max_pool2d_forward(x, 2, 2)
    general_out = np.empty_like(out)
    general_places = np.empty_like(cache.argmax)
    _max_pool.max_pool_forward(x, 2, 2, 2, 2, general_out, general_places)
    np.testing.assert_array_equal(bits(out), bits(general_out))
    np.testing.assert_array_equal(cache.argmax, general_places)

    dout = rng.choice(np.array([-0.0, 0.0, 1.25, -2.0, np.nan], dtype), size=out.shape)
    dx = max_pool2d_backward(dout, cache)
    general_dx = np.zeros_like(x)
    _max_pool.max_pool_backward(dout, cache.argmax, 2, 2, 2, 2, general_dx)
    np.testing.assert_array_equal(bits(dx), bits(general_dx))


@settings(max_examples=30, deadline=None)
@given(halving_shapes, st.integers(0, 2**32 - 1))
def test_halving_path_equals_the_loop_twins_with_ties(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1.5, 0.0, 0.75, 2.0], np.float32), size=shape)
    out, cache = max_pool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(out, naive_max_pool2d(x, 2, 2))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, naive_max_pool2d_backward(dout, x, 2, 2))
