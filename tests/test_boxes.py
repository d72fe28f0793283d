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
    encode,
    remove_small_boxes,
)

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
