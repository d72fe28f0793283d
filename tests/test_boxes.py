"""Box coding (F10) and box utilities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn.boxes import (
    BBOX_XFORM_CLIP,
    check_boxes,
    clip_boxes,
    decode,
    decode_backward,
    encode,
    remove_small_boxes,
)
from minirpn.gradcheck import numerical_gradient, relative_error

STDS = (0.1, 0.1, 0.2, 0.2)
MEANS = (0.01, -0.02, 0.03, 0.0)


def random_boxes(rng, n, dtype=np.float64):
    xy = rng.uniform(-50, 300, size=(n, 2))
    wh = rng.uniform(8, 200, size=(n, 2))  # size ratios < 1000/16, inside the decode clamp
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def test_encode_matches_the_formula_by_hand():
    anchor = np.array([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), 10 x 20
    gt = np.array([[2.0, 4.0, 22.0, 14.0]])  # centre (12, 9), 20 x 10
    t = encode(anchor, gt)
    np.testing.assert_allclose(t, [[7 / 10, -1 / 20, np.log(2.0), np.log(0.5)]], rtol=1e-15)
    t_norm = encode(anchor, gt, MEANS, STDS)
    np.testing.assert_allclose(t_norm, (t - np.array(MEANS)) / np.array(STDS), rtol=1e-15)


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), normalise=st.booleans())
def test_decode_inverts_encode(seed, normalise):
    rng = np.random.default_rng(seed)
    anchors, gt = random_boxes(rng, 20), random_boxes(rng, 20)
    means, stds = (MEANS, STDS) if normalise else (None, None)
    np.testing.assert_allclose(
        decode(anchors, encode(anchors, gt, means, stds), means, stds), gt, atol=1e-9
    )


def test_decode_of_zero_deltas_returns_the_anchors():
    anchors = random_boxes(np.random.default_rng(0), 50)
    np.testing.assert_allclose(decode(anchors, np.zeros_like(anchors)), anchors, atol=1e-12)


def test_decode_clamps_the_log_scale_so_exp_never_overflows():
    anchors = np.array([[0.0, 0.0, 16.0, 16.0]])
    boxes = decode(anchors, np.array([[0.0, 0.0, 1e4, 1e4]]))
    assert np.all(np.isfinite(boxes))
    np.testing.assert_allclose(boxes[0, 2] - boxes[0, 0], 16 * np.exp(BBOX_XFORM_CLIP))
    np.testing.assert_allclose(boxes[0, 2] - boxes[0, 0], 1000.0)


def test_dtypes_are_kept():
    rng = np.random.default_rng(1)
    a32, g32 = random_boxes(rng, 5, np.float32), random_boxes(rng, 5, np.float32)
    assert encode(a32, g32).dtype == np.float32
    assert encode(a32, g32, MEANS, STDS).dtype == np.float32
    assert decode(a32, np.zeros_like(a32), MEANS, STDS).dtype == np.float32
    assert clip_boxes(a32, (100, 200)).dtype == np.float32


def test_clip_boxes_to_width_and_height():
    boxes = np.array([[-5.0, -1.0, 250.0, 50.0], [10.0, 120.0, 20.0, 130.0]])
    clipped = clip_boxes(boxes, (100, 200))  # (h, w)
    np.testing.assert_array_equal(clipped, [[0, 0, 200, 50], [10, 100, 20, 100]])
    assert boxes[0, 0] == -5.0  # input untouched


def test_remove_small_boxes_keeps_width_and_height_at_least_min_size():
    boxes = np.array(
        [[0, 0, 16, 16], [0, 0, 15.9, 30], [0, 0, 30, 15.9], [5, 5, 40, 21]], dtype=float
    )
    keep = remove_small_boxes(boxes, 16)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, [0, 3])


@pytest.mark.parametrize(
    "box, image_size, match",
    [
        ([1, 2, np.inf, 5], None, r"gt\[1\].*non-finite"),
        ([5, 2, 1, 8], None, r"gt\[1\].*inverted"),
        ([1, 2, 5, 2], None, r"gt\[1\].*inverted"),
        ([1, 2, 60, 8], (50, 50), r"gt\[1\].*outside"),
        ([-1, 2, 6, 8], (50, 50), r"gt\[1\].*outside"),
    ],
)
def test_check_boxes_names_the_bad_box(box, image_size, match):
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], box], dtype=float)
    with pytest.raises(ValueError, match=match):
        check_boxes(boxes, "gt", image_size)


def test_bad_arguments_raise():
    good = np.array([[0.0, 0.0, 10.0, 10.0]])
    with pytest.raises(ValueError, match="anchors"):
        encode(np.zeros((1, 3)), good)
    with pytest.raises(ValueError, match=r"gt\[0\].*positive width"):
        encode(good, np.array([[1.0, 1.0, 1.0, 5.0]]))
    with pytest.raises(ValueError, match="deltas must be finite, row 0"):
        decode(good, np.array([[np.nan, 0, 0, 0]]))
    with pytest.raises(ValueError, match="stds"):
        decode(good, np.zeros((1, 4)), stds=(0.1, 0.1, 0.0, 0.2))
    with pytest.raises(ValueError, match="image_size"):
        clip_boxes(good, (0, 10))
    with pytest.raises(ValueError, match="min_size"):
        remove_small_boxes(good, -1)
    with pytest.raises(TypeError, match="floating"):
        clip_boxes(np.zeros((1, 4), dtype=np.int64), (10, 10))


def decode_and_clip(anchors, deltas, means, stds, image_size):
    boxes = decode(anchors, deltas, means, stds)
    return boxes if image_size is None else clip_boxes(boxes, image_size)


@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("image_size", [None, (120, 160)])
def test_decode_backward_matches_finite_differences(normalise, image_size):
    rng = np.random.default_rng(5)
    anchors = random_boxes(rng, 12)  # many cross the 160 x 120 image's borders
    means, stds = (MEANS, STDS) if normalise else (None, None)
    scale = np.array(STDS) if normalise else np.ones(4)
    deltas = rng.normal(0, 0.5, (12, 4)) / scale
    # Row 0: t_w beyond the clamp (log(1000/16) ~ 4.1): w no longer depends on it.
    deltas[0, 2] = (BBOX_XFORM_CLIP + 1.0 - (means[2] if normalise else 0.0)) / scale[2]
    boxes = decode_and_clip(anchors, deltas, means, stds, image_size)
    if image_size is not None:
        unclipped = decode(anchors, deltas, means, stds)
        assert np.any(boxes != unclipped)  # the clip is exercised...
        # ...and no coordinate lies within the step of a border, where the clip has a kink.
        for limit, columns in ((160, [0, 2]), (120, [1, 3])):
            edges = unclipped[:, columns]
            assert np.minimum(np.abs(edges), np.abs(edges - limit)).min() > 1e-3
    weights = rng.standard_normal(boxes.shape)  # d loss / d boxes

    def loss():
        return np.sum(decode_and_clip(anchors, deltas, means, stds, image_size) * weights)

    grad = decode_backward(anchors, deltas, weights, means, stds, image_size)
    # float64, h = 1e-6: expect ~1e-10; a missing factor or mask gives ~0.1.
    assert relative_error(grad, numerical_gradient(loss, deltas, h=1e-6)) < 1e-7
    assert grad[0, 2] == 0.0  # the clamped t_w
    if image_size is not None:
        # A box clipped on all four sides (it covers the image) has no gradient at all.
        huge = decode_backward(
            np.array([[-10.0, -10.0, 200.0, 150.0]]),
            np.zeros((1, 4)),
            np.ones((1, 4)),
            image_size=image_size,
        )
        np.testing.assert_array_equal(huge, 0.0)


def test_decode_backward_boundary_rules():
    # Anchor (0, 0, 10, 10) with zero deltas decodes to itself: x1 = 0 and x2 = 10 sit
    # exactly on the borders of a 10 x 10 image. The clip counts as inactive there, so the
    # gradient passes: dL/dt_x = (dL/dx1 + dL/dx2) w_a = 2 * 10, dL/dt_w = (1 - 1)/2 * w = 0.
    anchors = np.array([[0.0, 0.0, 10.0, 10.0]])
    dboxes = np.array([[1.0, 0.0, 1.0, 0.0]])
    grad = decode_backward(anchors, np.zeros((1, 4)), dboxes, image_size=(10, 10))
    np.testing.assert_array_equal(grad, [[20.0, 0.0, 0.0, 0.0]])
    # t_w exactly at the clamp: the gradient passes (dL/dt_w = dL/dw * w, dL/dw = 1/2 + 1/2).
    deltas = np.array([[0.0, 0.0, BBOX_XFORM_CLIP, 0.0]])
    grad = decode_backward(anchors, deltas, np.array([[-1.0, 0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(grad, [[0.0, 0.0, 10.0 * 1000 / 16, 0.0]], rtol=1e-12)


def test_decode_backward_bad_arguments():
    anchors = np.array([[0.0, 0.0, 10.0, 10.0]])
    with pytest.raises(ValueError, match=r"dboxes must have the shape of deltas \(1, 4\)"):
        decode_backward(anchors, np.zeros((1, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="image_size"):
        decode_backward(anchors, np.zeros((1, 4)), np.zeros((1, 4)), image_size=(0, 5))
