"""roi_align, roi_align_backward (F18, F19, F20): hand-worked samples, Cython == twin, finite
differences for the features and the box coordinates, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import ops
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ops import reference

FORWARD = [ops.roi_align, reference.roi_align]
BACKWARD = [ops.roi_align_backward, reference.roi_align_backward]
BOTH = pytest.mark.parametrize(
    "forward, backward", list(zip(FORWARD, BACKWARD, strict=True)), ids=["cython", "twin"]
)

# The 2 x 2 map of the hand-worked cases: v1 (top left), v2 (top right), v3, v4.
HAND_MAP = np.array([[0.0, 4.0], [8.0, 20.0]])[None, None]  # (1, 1, 2, 2)


@BOTH
def test_hand_worked_single_sample_aligned(forward, backward):
    # RoI (0.5, 0.5, 1.5, 1.0) at scale 1, aligned: shifted by -0.5 it spans x in [0, 1],
    # y in [0, 0.5]; one bin, one sample at its centre (y, x) = (0.25, 0.5).
    #   value = (1-.25)(1-.5) 0 + (1-.25) .5 4 + .25 (1-.5) 8 + .25 .5 20 = 1.5 + 1 + 2.5 = 5
    # d value/dx = (1-ly)(v2-v1) + ly(v4-v3) = .75*4 + .25*12 = 6, and x = x1 + (x2-x1)/2
    #   moves by 1/2 per unit of x1 or x2 -> dx1 = dx2 = 3;
    # d value/dy = (1-lx)(v3-v1) + lx(v4-v2) = .5*8 + .5*16 = 12 -> dy1 = dy2 = 6.
    rois = np.array([[0, 0.5, 0.5, 1.5, 1.0]])
    out = forward(HAND_MAP, rois, 1, 1.0, 1, aligned=True)
    np.testing.assert_allclose(out, [[[[5.0]]]], rtol=1e-15)
    dfeatures, drois = backward(np.ones((1, 1, 1, 1)), HAND_MAP, rois, 1, 1.0, 1, aligned=True)
    np.testing.assert_allclose(dfeatures[0, 0], [[0.375, 0.375], [0.125, 0.125]], rtol=1e-15)
    np.testing.assert_allclose(drois, [[0, 3, 6, 3, 6]], rtol=1e-15)


@BOTH
def test_hand_worked_legacy_geometry_stretches_a_thin_roi(forward, backward):
    # aligned=False: no shift. x spans [0, 1] (length exactly 1: not stretched), y spans
    # [0, 0.5], shorter than a cell, so it is stretched to [0, 1]: the sample sits at
    # (0.5, 0.5) and reads the mean of the four cells, 8. Moving y2 changes nothing
    # (dy2 = 0); moving y1 moves the stretched RoI whole: dy1 = d value/dy = .5*8 + .5*16.
    rois = np.array([[0, 0.0, 0.0, 1.0, 0.5]])
    out = forward(HAND_MAP, rois, 1, 1.0, 1, aligned=False)
    np.testing.assert_allclose(out, [[[[8.0]]]], rtol=1e-15)
    _, drois = backward(np.ones((1, 1, 1, 1)), HAND_MAP, rois, 1, 1.0, 1, aligned=False)
    # d value/dx at y = 0.5: .5*4 + .5*12 = 8, half of it to each of x1, x2
    np.testing.assert_allclose(drois, [[0, 4, 12, 4, 0]], rtol=1e-15)


@BOTH
def test_hand_worked_bins_average_their_samples(forward, backward):
    # On a map linear in (y, x), bilinear sampling is exact and a bin's mean of a symmetric
    # 2 x 2 sample grid is the value at the bin's centre. Map value 10 y + x, 4 x 6;
    # RoI x in [1, 5], y in [0.5, 2.5] after the -0.5 shift; 2 x 2 bins of 2 x 1 cells:
    # centres x = 2, 4 and y = 1, 2 -> [[12, 14], [22, 24]].
    rows, cols = np.mgrid[0:4, 0:6]
    features = (10.0 * rows + cols)[None, None]
    rois = np.array([[0, 1.5, 1.0, 5.5, 3.0]])
    out = forward(features, rois, 2, 1.0, 2)
    np.testing.assert_allclose(out[0, 0], [[12, 14], [22, 24]], rtol=1e-14)
    # Every sample's d value/dx = 1 and d value/dy = 10: the coordinate gradient of the sum
    # of the 4 outputs is 4 x (mean of dx/dx1 = 1/2) = 2 for x1 and x2, 20 for y1 and y2.
    _, drois = backward(np.ones_like(out), features, rois, 2, 1.0, 2)
    np.testing.assert_allclose(drois, [[0, 2, 20, 2, 20]], rtol=1e-14)


@BOTH
def test_samples_off_the_map_give_zero_and_the_borders_clamp(forward, backward):
    # One sample per RoI, at the RoI's centre minus 0.5 (aligned) on a 3 x 4 map.
    features = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    rois = np.array(
        [
            [0, 100, 100, 120, 120],  # wholly outside: every sample off the map
            [0, -1.0, -1.0, 0.0, 0.0],  # sample at (-1, -1), the map's edge: clamped to (0, 0)
            [0, -1.1, -1.1, -0.1, -0.1],  # sample at (-1.1, -1.1): off the map
            [0, 0.0, 0.0, 1.0, 1.0],  # sample at (0, 0): the clamped branch (p <= 0)
            [0, 4.0, 3.0, 5.0, 4.0],  # sample at (3, 4) = (H, W): clamped to the last cell
        ]
    )
    out = forward(features, rois, 1, 1.0, 1)
    np.testing.assert_array_equal(out[:, 0, 0, 0], [0.0, 1.0, 0.0, 1.0, 12.0])
    _, drois = backward(np.ones_like(out), features, rois, 1, 1.0, 1)
    # Clamped or off the map: no coordinate gradient (the kink rule of roi_align_axis: at
    # p = 0 exactly the derivative is the clamped branch's, 0, not the right derivative).
    np.testing.assert_array_equal(drois, 0.0)


@st.composite
def roi_align_problems(draw):
    """Features, RoIs and parameters covering the edge cases: RoIs outside the map, tiny,
    huge, inverted, corners on the half-cell grid (samples exactly on grid lines)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 5))
    height, width = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    features = rng.standard_normal((batch, channels, height, width))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16, 0.3]))
    count = draw(st.integers(0, 8))
    half_cells = rng.integers(-4, 2 * max(height, width) + 4, (count, 4)) * (0.5 / scale)
    anywhere = rng.uniform(-20, 20 + max(height, width) / scale, (count, 4))
    coords = np.where(rng.random((count, 4)) < 0.5, half_cells, anywhere)
    if count:
        coords[rng.integers(0, count)] = draw(
            st.sampled_from(
                [
                    [-1e9, -1e9, 1e9, 1e9],  # huge
                    [1e12, 0, 2e12, 5],  # far away
                    [3, 3, 1, 1],  # inverted
                    [2, 2, 2, 2],  # a point
                    [2, 2, 2.3, 2.1],  # tiny
                ]
            )
        )
    rois = np.concatenate([rng.integers(0, batch, (count, 1)), coords], axis=1)
    output_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    ratio = draw(st.integers(1, 3))
    grad_out = rng.standard_normal((count, channels) + output_size)
    return features, rois, output_size, scale, ratio, grad_out


@settings(max_examples=60, deadline=None)
@given(problem=roi_align_problems(), aligned=st.booleans(), as_float32=st.booleans())
def test_cython_equals_twin(problem, aligned, as_float32):
    features, rois, output_size, scale, ratio, grad_out = problem
    dtype = np.float32 if as_float32 else np.float64
    features, grad_out = features.astype(dtype), grad_out.astype(dtype)
    args = (rois, output_size, scale, ratio, aligned)
    fast = ops.roi_align(features, *args)
    slow = reference.roi_align(features, *args)
    assert fast.dtype == slow.dtype == dtype
    assert fast.shape == (len(rois), features.shape[1]) + output_size
    # Same sample positions (the same float64 expressions); the sums differ in order and,
    # for float32, in precision: the kernel adds in float32, the twin in float64.
    tol = 1e-5 if as_float32 else 1e-12
    np.testing.assert_allclose(fast, slow, rtol=tol, atol=tol)
    fast_df, fast_drois = ops.roi_align_backward(grad_out, features, *args)
    slow_df, slow_drois = reference.roi_align_backward(grad_out, features, *args)
    assert fast_df.dtype == slow_df.dtype == dtype
    assert fast_drois.dtype == slow_drois.dtype == np.float64
    np.testing.assert_allclose(fast_df, slow_df, rtol=tol, atol=tol)
    # A coordinate gradient sums up to C * ph * pw * ratio^2 terms of size ~ scale * |f|.
    np.testing.assert_allclose(fast_drois, slow_drois, rtol=10 * tol, atol=10 * tol)
    np.testing.assert_array_equal(fast_drois[:, 0], 0.0)


@pytest.mark.parametrize("impl", [ops, reference], ids=["cython", "twin"])
def test_non_contiguous_inputs(impl):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 6, 7, 3))
    features = base.transpose(0, 3, 1, 2)[:, :, ::1, ::-1]  # (2, 3, 6, 7), no unit stride
    rois = np.asfortranarray([[1, 3.2, 2.1, 40.5, 30.3], [0, -5, 10, 20.2, 44.4]])[:, :]
    grad = rng.standard_normal((2, 3, 3, 2)).transpose(0, 1, 3, 2)  # (2, 3, 2, 3)
    args = ((2, 3), 1 / 8, 2)
    out = impl.roi_align(features, rois, *args)
    np.testing.assert_array_equal(out, impl.roi_align(np.ascontiguousarray(features), rois, *args))
    dfeatures, drois = impl.roi_align_backward(grad, features, rois, *args)
    expected = impl.roi_align_backward(
        np.ascontiguousarray(grad),
        np.ascontiguousarray(features),
        np.ascontiguousarray(rois),
        *args,
    )
    np.testing.assert_array_equal(dfeatures, expected[0])
    np.testing.assert_array_equal(drois, expected[1])


# RoIs for the finite-difference checks, at scale 1/8 on a 6 x 7 map: inside, partly outside
# (samples in the clamped band and off the map), small, inverted, and thinner than a cell
# (rows 2 to 4: stretched to a cell when aligned=False).
FD_ROIS = np.array(
    [
        [0, 3.3, 5.1, 40.7, 30.2],
        [1, -20.3, -13.7, 20.3, 70.4],
        [1, 10.3, 12.2, 12.1, 13.9],
        [0, 30.4, 20.6, 9.3, 11.1],
        [0, 17.1, 9.2, 21.7, 38.3],
    ]
)
FD_OUTPUT, FD_SCALE, FD_RATIO = (2, 3), 1 / 8, 2
H = 1e-6  # finite-difference step on the coordinates, in image pixels


def sample_positions(start, end, bins, size_on_map, aligned):
    """Every sample position on the map along one axis, as in ``roi_align_axis``."""
    p0 = start * FD_SCALE - 0.5 * aligned
    length = (end - start) * FD_SCALE
    if not aligned and length < 1.0:
        length = 1.0
    k = np.arange(bins * FD_RATIO)
    return p0 + (k // FD_RATIO + (k % FD_RATIO + 0.5) / FD_RATIO) * length / bins


def test_fd_rois_stay_away_from_the_kinks():
    # The check below is only valid if a step of H moves no sample across a grid line, the
    # clamping borders (0, size - 1) or the edges of the map (-1, size): all integers.
    for aligned in (True, False):
        for _, x1, y1, x2, y2 in FD_ROIS:
            for start, end, bins in ((x1, x2, FD_OUTPUT[1]), (y1, y2, FD_OUTPUT[0])):
                p = sample_positions(start, end, bins, 7, aligned)
                assert np.abs(p - np.round(p)).min() > 1e3 * H * FD_SCALE


@BOTH
@pytest.mark.parametrize("aligned", [True, False])
def test_backward_matches_finite_differences(forward, backward, aligned):
    rng = np.random.default_rng(11)
    features = rng.standard_normal((2, 3, 6, 7))
    coords = FD_ROIS[:, 1:].copy()
    args = (FD_OUTPUT, FD_SCALE, FD_RATIO, aligned)

    def loss():
        rois = np.concatenate([FD_ROIS[:, :1], coords], axis=1)
        return np.sum(forward(features, rois, *args) * weights)

    weights = rng.standard_normal((len(FD_ROIS), 3) + FD_OUTPUT)
    dfeatures, drois = backward(weights, features, FD_ROIS, *args)
    # The output is linear in the features: the centred difference is exact up to rounding,
    # expected ~1e-10; a misplaced weight gives ~0.1 or more.
    assert relative_error(dfeatures, numerical_gradient(loss, features, h=1e-5)) < 1e-8
    # Smooth in the coordinates between kinks (see above): O(H^2) truncation plus rounding
    # of about 1e-16 / H, expected ~1e-9.
    numeric = numerical_gradient(loss, coords, h=H)
    assert relative_error(drois[:, 1:], numeric) < 1e-6
    if aligned:
        assert np.all(drois[2:4, 1:] != 0.0)  # every coordinate of these RoIs matters
    else:
        # Stretched to one cell (shorter than one, inverted): x2 and y2 no longer matter.
        assert np.all(drois[2:4, 1:3] != 0.0) and np.all(drois[2:4, 3:] == 0.0)


@pytest.mark.parametrize("impl", [ops, reference], ids=["cython", "twin"])
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"sampling_ratio": 0},
            ValueError,
            r"sampling_ratio must be an integer in \[1, 1024\].*got 0",
        ),
        ({"sampling_ratio": -1}, ValueError, r"sampling_ratio .*adaptive.*got -1"),
        ({"sampling_ratio": 2.0}, ValueError, r"sampling_ratio must be .*got 2\.0"),
        ({"sampling_ratio": True}, ValueError, "sampling_ratio must be .*got True"),
        ({"aligned": "yes"}, TypeError, "aligned must be True or False, got 'yes'"),
        ({"spatial_scale": 0.0}, ValueError, r"spatial_scale must be a number in \(0, 1024\]"),
        ({"output_size": (2, 0)}, ValueError, "output_size must be a positive integer, got 0"),
        ({"rois": [[2, 0, 0, 1, 1]]}, ValueError, r"rois\[:, 0\] \(batch index\) must lie"),
        ({"rois": [[0, 0, np.nan, 1, 1]]}, ValueError, "rois has a non-finite coordinate"),
        ({"features": np.zeros((3, 4))}, ValueError, r"features must have shape \(N, C, H, W\)"),
    ],
)
def test_bad_arguments(impl, kwargs, error, match):
    args = {
        "features": np.zeros((2, 3, 4, 5)),
        "rois": [[0, 0, 0, 3, 3]],
        "output_size": 2,
        "spatial_scale": 1.0,
        "sampling_ratio": 2,
        "aligned": True,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        impl.roi_align(**args)
    with pytest.raises(error, match=match):
        impl.roi_align_backward(np.zeros((1, 3, 2, 2)), **args)


@pytest.mark.parametrize("impl", [ops, reference], ids=["cython", "twin"])
def test_bad_grad_out_shape(impl):
    features, rois = np.zeros((2, 3, 4, 5)), [[0, 0, 0, 3, 3]]
    with pytest.raises(ValueError, match=r"grad_out must have the shape .* \(1, 3, 2, 2\)"):
        impl.roi_align_backward(np.zeros((1, 3, 2, 3)), features, rois, 2, 1.0, 2)
