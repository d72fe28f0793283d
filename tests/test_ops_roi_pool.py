"""roi_pool, roi_pool_backward (F18, F19): hand-worked map, Cython == twin, finite differences."""

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import ops
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ops import reference
from minirpn.ops.geometry import round_half_away_from_zero

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)
FORWARD = [ops.roi_pool, reference.roi_pool]
BACKWARD = [ops.roi_pool_backward, reference.roi_pool_backward]

# The 4 x 4 map of the hand-worked case; cell (h, w) has flat index h * 4 + w.
HAND_MAP = np.array(
    [
        [1, 8, 3, 0],
        [5, 2, 9, 4],
        [7, 11, 6, 10],
        [12, 3, 14, 15],
    ],
    dtype=np.float64,
)


@pytest.mark.parametrize("roi_pool", FORWARD)
def test_hand_worked_4x4_map_scale_1(roi_pool):
    # RoI (0, 0, 3, 3) at scale 1: cells 0..3 inclusive, so 4 x 4 cells; 2 x 2 bins of 2.0:
    # rows [0, 2) and [2, 4), columns likewise.
    #   bin (0, 0): {1, 8, 5, 2}    -> 8 at (0, 1), index 1
    #   bin (0, 1): {3, 0, 9, 4}    -> 9 at (1, 2), index 6
    #   bin (1, 0): {7, 11, 12, 3}  -> 12 at (3, 0), index 12
    #   bin (1, 1): {6, 10, 14, 15} -> 15 at (3, 3), index 15
    out, argmax = roi_pool(HAND_MAP[None, None], np.array([[0, 0, 0, 3, 3]]), 2, 1.0)
    np.testing.assert_array_equal(out[0, 0], [[8, 9], [12, 15]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 6], [12, 15]])


@pytest.mark.parametrize("roi_pool", FORWARD)
def test_hand_worked_4x4_map_half_scale(roi_pool):
    # RoI (1, 1, 5, 3) at scale 0.5 -> (0.5, 0.5, 2.5, 1.5), rounded half away from zero
    # -> x1 = 1, y1 = 1, x2 = 3, y2 = 2 (NumPy's half-to-even would give 0, 0, 2, 2).
    # Width 3 - 1 + 1 = 3, height 2 - 1 + 1 = 2; 2 x 2 bins: bin_w = 1.5, bin_h = 1.0.
    #   rows: bin 0 = [floor(0) + 1, ceil(1) + 1) = [1, 2); bin 1 = [1 + 1, 2 + 1) = [2, 3)
    #   cols: bin 0 = [0 + 1, ceil(1.5) + 1) = [1, 3); bin 1 = [floor(1.5) + 1, 3 + 1) = [2, 4)
    #   bin (0, 0): row 1, cols 1-2: {2, 9}  -> 9 at index 6
    #   bin (0, 1): row 1, cols 2-3: {9, 4}  -> 9 at index 6 again (the bins share column 2)
    #   bin (1, 0): row 2, cols 1-2: {11, 6} -> 11 at index 9
    #   bin (1, 1): row 2, cols 2-3: {6, 10} -> 10 at index 11
    # A third RoI lies wholly outside the map: every bin is empty (0, argmax -1).
    rois = np.array([[0, 0, 0, 3, 3], [0, 1, 1, 5, 3], [0, 100, 100, 120, 120]], dtype=np.float64)
    out, argmax = roi_pool(HAND_MAP[None, None], rois, 2, 0.5)
    np.testing.assert_array_equal(out[1, 0], [[9, 9], [11, 10]])
    np.testing.assert_array_equal(argmax[1, 0], [[6, 6], [9, 11]])
    np.testing.assert_array_equal(out[2], 0.0)
    np.testing.assert_array_equal(argmax[2], -1)


@pytest.mark.parametrize("roi_pool_backward", BACKWARD)
def test_hand_worked_backward(roi_pool_backward):
    # The two RoIs above (scale 1 and scale 0.5) with gradient 1 in every bin: each argmax
    # cell gets 1 per bin that chose it; cell 6 is chosen by three bins.
    argmax = np.array([[[[1, 6], [12, 15]]], [[[6, 6], [9, 11]]]])
    rois = np.array([[0, 0, 0, 3, 3], [0, 1, 1, 5, 3]], dtype=np.float64)
    grad = roi_pool_backward(np.ones((2, 1, 2, 2)), rois, argmax, (1, 1, 4, 4))
    expected = np.zeros(16)
    expected[[1, 12, 15, 9, 11]] = 1.0
    expected[6] = 3.0
    np.testing.assert_array_equal(grad.reshape(16), expected)


@pytest.mark.parametrize("roi_pool", FORWARD)
def test_first_maximum_and_nan(roi_pool):
    features = np.zeros((1, 2, 3, 3))
    features[0, 0] = 7.0  # all equal: the first cell of the bin in row-major order wins
    features[0, 1] = [[1, 2, 3], [np.nan, 5, np.nan], [9, 9, 9]]
    out, argmax = roi_pool(features, np.array([[0, 0, 0, 2, 2]]), 1, 1.0)
    assert out[0, 0, 0, 0] == 7.0 and argmax[0, 0, 0, 0] == 0
    assert np.isnan(out[0, 1, 0, 0]) and argmax[0, 1, 0, 0] == 3  # the first NaN, like np.argmax


@st.composite
def roi_problems(draw):
    """Features, RoIs and pooling parameters covering the corner cases of the issue."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Up to 9 channels and 6 x 6 bins: the kernel moves numbers between its channels-last
    # buffers and the channels-first arrays in blocks of 4 x 4, and the edges one by one.
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 9))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    # Few distinct values, so bins often hold ties (first maximum) and -inf; rarely NaN.
    levels = draw(st.sampled_from([[0.0, 1.0, 2.0], np.arange(50.0), [-np.inf, 1.0, np.nan]]))
    features = rng.choice(levels, size=(batch, channels, height, width))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16, 0.3]))
    count = draw(st.integers(0, 12))
    # Corners on the half-cell grid hit exact .5 after scaling; others land anywhere,
    # including partly or wholly outside the map, inverted, and huge.
    half_cells = rng.integers(-4, 2 * max(height, width) + 4, (count, 4)) * (0.5 / scale)
    anywhere = rng.uniform(-20, 20 + max(height, width) / scale, (count, 4))
    coords = np.where(rng.random((count, 4)) < 0.5, half_cells, anywhere)
    if count:
        coords[rng.integers(0, count)] = draw(
            st.sampled_from(
                [
                    [-1e9, -1e9, 1e9, 1e9],
                    [1e12, 0, 2e12, 5],
                    [3, 3, 1, 1],  # huge, far, inverted
                ]
            )
        )
    rois = np.concatenate([rng.integers(0, batch, (count, 1)), coords], axis=1)
    output_size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return features, rois, output_size, scale


@PROPERTY_SETTINGS
@given(problem=roi_problems(), as_float32=st.booleans())
def test_cython_equals_twin(problem, as_float32):
    features, rois, output_size, scale = problem
    if as_float32:
        features = features.astype(np.float32)
    fast_out, fast_argmax = ops.roi_pool(features, rois, output_size, scale)
    slow_out, slow_argmax = reference.roi_pool(features, rois, output_size, scale)
    assert fast_out.dtype == slow_out.dtype == features.dtype
    assert fast_out.shape == (len(rois), features.shape[1]) + output_size
    np.testing.assert_array_equal(fast_out, slow_out)  # NaN positions must agree too
    np.testing.assert_array_equal(fast_argmax, slow_argmax)

    grad_out = np.random.default_rng(0).standard_normal(fast_out.shape).astype(features.dtype)
    fast_grad = ops.roi_pool_backward(grad_out, rois, fast_argmax, features.shape)
    slow_grad = reference.roi_pool_backward(grad_out, rois, slow_argmax, features.shape)
    assert fast_grad.dtype == slow_grad.dtype == features.dtype
    np.testing.assert_array_equal(fast_grad, slow_grad)  # same sums in the same order


@pytest.mark.parametrize(
    "forward, backward", list(zip(FORWARD, BACKWARD, strict=True)), ids=["cython", "twin"]
)
def test_backward_matches_finite_differences(forward, backward):
    rng = np.random.default_rng(7)
    # Distinct values at least 0.01 apart: a step of 1e-5 never changes which cell is the
    # maximum, so the loss is linear near the point and the centred difference is exact
    # up to rounding.
    features = rng.permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7) * 0.01
    rois = np.array(
        [
            [0, 0, 0, 95, 79],
            [1, 16, 8, 60, 90],
            [1, -20, -20, 40, 30],  # whole, inside, partly out
            [0, 30, 30, 31, 31],  # one cell: every bin shares it, so the gradients add up
        ]
    )
    output_size, scale = (3, 2), 1 / 16
    out, argmax = forward(features, rois, output_size, scale)
    weights = rng.standard_normal(out.shape)

    def loss():
        return np.sum(forward(features, rois, output_size, scale)[0] * weights)

    grad = backward(weights, rois, argmax, features.shape)
    # Expected: about 1e-10 (rounding of eps / h); a wrong cell or a missing sum gives ~1.
    assert relative_error(grad, numerical_gradient(loss, features, h=1e-5)) < 1e-8


@settings(max_examples=200, deadline=None)
@given(
    x=st.one_of(
        st.floats(-1e6, 1e6),
        st.integers(-1000, 1000).map(lambda k: k / 2),
        st.sampled_from([0.49999999999999994, -0.49999999999999994, 2.0**52 + 1]),
    )
)
def test_rounding_is_half_away_from_zero(x):
    # Decimal converts the float exactly and rounds it as C's round does.
    expected = float(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert round_half_away_from_zero(np.float64(x)) == expected


@pytest.mark.parametrize("corner", [0.49999999999999994, 0.5, 1.5, 2.5, -0.5])
def test_rounding_of_roi_corners_matches_twin(corner):
    # x1 = corner: C's round and the twin's must snap it to the same cell (0.4999... -> 0,
    # where floor(x + 0.5) would give 1).
    features = np.arange(2 * 4 * 5, dtype=np.float64).reshape(1, 2, 4, 5)
    rois = np.array([[0, corner, corner, 3.0, 3.0]])
    fast_out, fast_argmax = ops.roi_pool(features, rois, 2, 1.0)
    slow_out, slow_argmax = reference.roi_pool(features, rois, 2, 1.0)
    np.testing.assert_array_equal(fast_out, slow_out)
    np.testing.assert_array_equal(fast_argmax, slow_argmax)
