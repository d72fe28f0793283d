"""Bad input to minirpn.ops and its twins: the same ValueError/TypeError, naming the argument."""

import numpy as np
import pytest

from minirpn import ops
from minirpn.ops import reference

BOTH = pytest.mark.parametrize("impl", [ops, reference], ids=["cython", "twin"])
BOXES = np.array([[0, 0, 10, 10], [1, 1, 9, 9]], dtype=np.float64)
SCORES = np.array([0.9, 0.8])
FEATURES = np.zeros((2, 3, 4, 5))
ROIS = np.array([[0, 0, 0, 3, 3], [1, 1, 1, 2, 2]], dtype=np.float64)


@BOTH
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 3)), r"boxes1 must have shape \(N, 4\), got shape \(2, 3\)"),
        (np.zeros(4), r"boxes1 must have shape \(N, 4\), got shape \(4,\)"),
        (np.array([[0, 0, 1e200, 1]]), r"boxes1 has a coordinate of magnitude 1e\+200"),
    ],
)
def test_box_iou_bad_boxes(impl, bad, match):
    with pytest.raises(ValueError, match=match):
        impl.box_iou(bad, BOXES)


@BOTH
def test_box_iou_bad_dtype(impl):
    with pytest.raises(TypeError, match="boxes2 must hold real numbers"):
        impl.box_iou(BOXES, np.array([["a", "b", "c", "d"]]))


@BOTH
@pytest.mark.parametrize(
    "scores, threshold, error, match",
    [
        (np.array([0.9]), 0.5, ValueError, r"scores must have shape \(2,\)"),
        (np.array([0.9, np.nan]), 0.5, ValueError, "scores contains NaN"),
        (SCORES, -0.1, ValueError, "iou_threshold must be a finite number >= 0, got -0.1"),
        (SCORES, float("nan"), ValueError, "iou_threshold must be a finite number >= 0, got nan"),
        (SCORES, "0.5", TypeError, "iou_threshold must be a real number"),
    ],
)
def test_nms_bad_arguments(impl, scores, threshold, error, match):
    with pytest.raises(error, match=match):
        impl.nms(BOXES, scores, threshold)


@BOTH
@pytest.mark.parametrize(
    "class_ids, match",
    [
        (np.array([0]), r"class_ids must have shape \(2,\)"),
        (np.array([0.0, 1.5]), "class_ids must be integral, got 1.5"),
    ],
)
def test_batched_nms_bad_class_ids(impl, class_ids, match):
    with pytest.raises(ValueError, match=match):
        impl.batched_nms(BOXES, SCORES, class_ids, 0.5)


@BOTH
@pytest.mark.parametrize(
    "features, rois, output_size, scale, match",
    [
        (np.zeros((3, 4, 5)), ROIS, 2, 1.0, r"features must have shape \(N, C, H, W\)"),
        (np.zeros((2, 3, 0, 5)), ROIS, 2, 1.0, "features must not have an empty dimension"),
        (FEATURES, ROIS[:, :4], 2, 1.0, r"rois must have shape \(R, 5\), got shape \(2, 4\)"),
        (
            FEATURES,
            [[2, 0, 0, 1, 1]],
            2,
            1.0,
            r"batch index\) must lie in \[0, 2\), got 2 at row 0",
        ),
        (FEATURES, [[-1, 0, 0, 1, 1]], 2, 1.0, r"batch index\) must lie in \[0, 2\), got -1"),
        (FEATURES, [[0.5, 0, 0, 1, 1]], 2, 1.0, r"batch index\) must be integral, got 0.5"),
        (FEATURES, [[0, np.nan, 0, 1, 1]], 2, 1.0, "rois has a non-finite coordinate in row 0"),
        (FEATURES, [[0, 0, 0, 1e300, 1]], 2, 1.0, "rois has a coordinate of magnitude 1e\\+300"),
        (FEATURES, ROIS, 0, 1.0, "output_size must be a positive integer, got 0"),
        (FEATURES, ROIS, (2, 2, 2), 1.0, "output_size must be an int or a"),
        (FEATURES, ROIS, 2, 0.0, r"spatial_scale must be a number in \(0, 1024\], got 0.0"),
        (FEATURES, ROIS, 2, -1 / 16, r"spatial_scale must be a number in \(0, 1024\]"),
    ],
)
def test_roi_pool_bad_arguments(impl, features, rois, output_size, scale, match):
    with pytest.raises(ValueError, match=match):
        impl.roi_pool(features, rois, output_size, scale)


@BOTH
def test_roi_pool_backward_bad_arguments(impl):
    out, argmax = impl.roi_pool(FEATURES, ROIS, 2, 1.0)
    grad = np.ones_like(out)
    with pytest.raises(ValueError, match=r"argmax must lie in \[-1, 20\).*got 20"):
        too_far = np.where(argmax == argmax.max(), 20, argmax)
        impl.roi_pool_backward(grad, ROIS, too_far, FEATURES.shape)
    with pytest.raises(ValueError, match=r"argmax must lie in \[-1, 20\).*got -2"):
        impl.roi_pool_backward(grad, ROIS, np.full_like(argmax, -2), FEATURES.shape)
    with pytest.raises(ValueError, match="argmax must have the shape of grad_out"):
        impl.roi_pool_backward(grad, ROIS, argmax[:1], FEATURES.shape)
    with pytest.raises(ValueError, match="rois must have one row per grad_out RoI"):
        impl.roi_pool_backward(grad, ROIS[:1], argmax, FEATURES.shape)
    with pytest.raises(ValueError, match=r"grad_out must have shape \(R, 3, ph, pw\)"):
        impl.roi_pool_backward(grad[:, :2], ROIS, argmax[:, :2], FEATURES.shape)
    with pytest.raises(ValueError, match="features_shape must be an"):
        impl.roi_pool_backward(grad, ROIS, argmax, (3, 4, 5))
    one_image = r"rois\[:, 0\] \(batch index\) must lie in \[0, 1\), got 1 at row 1"
    with pytest.raises(ValueError, match=one_image):
        impl.roi_pool_backward(grad, ROIS, argmax, (1, 3, 4, 5))


@BOTH
def test_conversions(impl):
    """Lists, integers, float16 and strided views are converted; float32 stays float32."""
    features32 = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    strided = np.repeat(features32, 2, axis=3)[..., ::2]  # non-contiguous, same values
    out, argmax = impl.roi_pool(strided, ROIS.tolist(), [2, 2], 1)
    expected, expected_argmax = impl.roi_pool(features32, ROIS, 2, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(argmax, expected_argmax)
    assert impl.roi_pool(features32.astype(np.float16), ROIS, 2, 1.0)[0].dtype == np.float64
    integer_grad = out.astype(np.int64)
    assert impl.roi_pool_backward(integer_grad, ROIS, argmax, (2, 3, 4, 5)).dtype == np.float64
    keep = impl.nms(BOXES.astype(np.int32), [1, 0], 0.5)
    np.testing.assert_array_equal(keep, [0])  # IoU 64 / 100 > 0.5


@BOTH
def test_roi_pool_backward_other_integer_argmax(impl):
    """int64 argmax works like int32; a value int32 would wrap around is refused, not wrapped."""
    out, argmax = impl.roi_pool(FEATURES, ROIS, 2, 1.0)
    assert argmax.dtype == np.int32
    grad = np.arange(out.size, dtype=np.float64).reshape(out.shape)
    np.testing.assert_array_equal(
        impl.roi_pool_backward(grad, ROIS, argmax.astype(np.int64), FEATURES.shape),
        impl.roi_pool_backward(grad, ROIS, argmax, FEATURES.shape),
    )
    wraps_to_one = argmax.astype(np.int64)
    wraps_to_one[0, 0, 0, 0] = 2**32 + 1
    with pytest.raises(ValueError, match=r"argmax must lie in \[-1, 20\).*got 4294967297"):
        impl.roi_pool_backward(grad, ROIS, wraps_to_one, FEATURES.shape)


@pytest.mark.parametrize("implementation", ["ops", "reference"])
def test_bool_boxes_and_scores_are_refused(implementation):
    module = ops if implementation == "ops" else reference
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], dtype=np.float64)
    with pytest.raises(TypeError, match="boxes1 must hold real numbers, got dtype bool"):
        module.box_iou(boxes > 1, boxes)
    with pytest.raises(TypeError, match="scores must hold real numbers, got dtype bool"):
        module.nms(boxes, np.array([True, False]), 0.5)
    with pytest.raises(TypeError, match="boxes must hold real numbers, got dtype bool"):
        module.nms(boxes > 1, np.array([0.5, 0.2]), 0.5)
