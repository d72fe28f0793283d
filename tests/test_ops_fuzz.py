"""Fuzzing the Cython kernels against their NumPy twins (box_iou, nms, batched_nms, roi_pool,
roi_align).

Every case is built from a seed by NumPy (fast to generate, shrinks to a small seed) and
mixes the inputs kernels get wrong: degenerate (zero-size, inverted, NaN / inf) and
duplicate boxes, huge and tiny (subnormal) coordinates, non-contiguous arrays (strided
views, Fortran order, transposed maps), RoIs partly or wholly outside the map, NaN / inf
and huge feature values, huge and tiny spatial scales and sampling ratios, including
values just outside what the validator accepts. The kernel must give the twin's result,
or both must refuse the input with the same message. The number of cases comes from the
Hypothesis profile (tests/conftest.py): 200 by default, 5000 with ``HYPOTHESIS_PROFILE=fuzz``.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minirpn import ops
from minirpn.ops import _validate, reference

KINDS = ("random", "duplicates", "degenerate", "huge", "tiny", "integer")
LAYOUTS = ("contiguous", "strided", "fortran", "float32")


def make_boxes(rng, count, kind):
    """(count, 4) float64 boxes of one flavour, most of them overlapping something."""
    corner = rng.uniform(0, 50, (count, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(0, 30, (count, 2))], axis=1)
    if kind == "duplicates" and count:
        boxes = boxes[rng.integers(0, max(1, count // 3), count)]
    elif kind == "degenerate" and count:
        rows = rng.integers(0, count, max(1, count // 2))
        choice = rng.integers(0, 4, len(rows))
        boxes[rows[choice == 0], 2] = boxes[rows[choice == 0], 0]  # zero width
        boxes[rows[choice == 1]] = boxes[rows[choice == 1]][:, [2, 3, 0, 1]]  # inverted
        boxes[rows[choice == 2], 1] = np.nan
        boxes[rows[choice == 3], 3] = np.inf
    elif kind == "huge":
        boxes *= 1e100  # within the float64 limit (1e150): areas up to ~1e203
    elif kind == "tiny":
        boxes *= 1e-310  # subnormal: widths underflow, areas are 0
    elif kind == "integer":
        boxes = np.round(boxes)
    return boxes


def lay_out(boxes, layout):
    """The same boxes in another memory layout or dtype (the float32 case rounds them)."""
    if layout == "strided":
        return np.repeat(boxes, 2, axis=0)[::2]  # a view with a row stride of 2 rows
    if layout == "fortran":
        return np.asfortranarray(boxes)
    if layout == "float32":
        with np.errstate(over="ignore", under="ignore"):
            # huge values overflow to inf: beyond the float32 limit, refused by both
            return np.clip(boxes, -1e17, 1e17).astype(np.float32)
    return boxes


@st.composite
def box_cases(draw, max_boxes=30):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind, layout = draw(st.sampled_from(KINDS)), draw(st.sampled_from(LAYOUTS))
    count = draw(st.integers(0, max_boxes))
    return lay_out(make_boxes(rng, count, kind), layout), rng


@given(case1=box_cases(), case2=box_cases())
def test_box_iou_kernel_equals_twin(case1, case2):
    (boxes1, _), (boxes2, _) = case1, case2
    fast, slow = ops.box_iou(boxes1, boxes2), reference.box_iou(boxes1, boxes2)
    assert fast.dtype == slow.dtype and fast.shape == (len(boxes1), len(boxes2))
    np.testing.assert_array_equal(fast, slow)
    assert ((fast >= 0) & (fast <= 1)).all()  # never NaN, never above 1


@given(case=box_cases(), threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_nms_kernel_equals_twin(case, threshold):
    boxes, rng = case
    scores = rng.integers(0, 5, len(boxes)) / 4.0  # few values: many ties
    np.testing.assert_array_equal(
        ops.nms(boxes, scores, threshold), reference.nms(boxes, scores, threshold)
    )


@given(case=box_cases(), threshold=st.sampled_from([0.0, 0.5, 0.7]), classes=st.integers(1, 3))
def test_batched_nms_kernel_equals_twin(case, threshold, classes):
    boxes, rng = case
    scores = rng.standard_normal(len(boxes))[::-1]  # a non-contiguous view
    class_ids = rng.integers(0, classes, len(boxes))
    np.testing.assert_array_equal(
        ops.batched_nms(boxes, scores, class_ids, threshold),
        reference.batched_nms(boxes, scores, class_ids, threshold),
    )


@st.composite
def roi_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    features = rng.standard_normal((batch, channels, height, width))
    if draw(st.booleans()):
        features = np.round(features)  # ties: the first maximum must win in both
    values = draw(st.sampled_from(("normal", "normal", "huge", "nan", "inf", "limit")))
    if values == "huge":
        features *= 1e11  # below float32's limit for RoIAlign (1e12)
    elif values == "limit":
        features *= 1e13  # beyond it for float32: refused there, fine in float64
    elif values in ("nan", "inf"):  # one bad cell, often far from every RoI (the last)
        corner = (-1, -1, -1, -1) if draw(st.booleans()) else tuple(rng.integers(0, 1, 4))
        features[corner] = np.nan if values == "nan" else -np.inf
    layout = draw(st.sampled_from(("contiguous", "nhwc_view", "strided", "float32")))
    if layout == "nhwc_view":  # (N, C, H, W) view of a channels-last array
        features = np.ascontiguousarray(features.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        features = np.repeat(features, 2, axis=3)[..., ::2]
    elif layout == "float32":
        features = features.astype(np.float32)
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16, 1e-300, 1024.0, 1025.0, 1e308]))
    kind = draw(st.sampled_from(("inside", "outside", "duplicates", "tiny", "huge")))
    count = draw(st.integers(0, 10))
    span = np.array([width, height, width, height]) / scale
    coords = np.sort(rng.uniform(0, 1, (count, 2, 2)), axis=1).transpose(0, 2, 1).reshape(-1, 4)
    coords = coords[:, [0, 1, 2, 3]] * span  # x1 <= x2, y1 <= y2 inside the image
    if kind == "outside":
        coords += rng.choice([-1, 1], (count, 1)) * rng.uniform(0, 2, (count, 1)) * span
    elif kind == "duplicates" and count:
        coords = coords[np.zeros(count, dtype=int)]
    elif kind == "tiny":
        coords = coords * 1e-300
    elif kind == "huge":
        with np.errstate(over="ignore"):  # beside scale 1e-300 the corners overflow to inf
            coords = coords * 1e12
    rois = np.concatenate([rng.integers(0, batch, (count, 1)), coords], axis=1)
    if draw(st.booleans()):
        rois = np.asfortranarray(rois)
    output_size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return features, rois, output_size, scale, rng


def same_outcome(fast, slow, *args):
    """Run both implementations: their results, or None if both refused with one message."""
    outcomes = []
    for impl in (fast, slow):
        try:
            outcomes.append(impl(*args))
        except ValueError as error:
            outcomes.append(str(error))
    fast_result, slow_result = outcomes
    if isinstance(fast_result, str) or isinstance(slow_result, str):
        assert fast_result == slow_result  # both refused, with the same message
        return None
    return fast_result, slow_result


def geometry_refused(rois, scale):
    """Whether the validator must refuse these RoIs at this scale (see minirpn.ops._validate)."""
    largest = np.abs(rois[:, 1:]).max(initial=0.0)
    return (
        scale > _validate.MAX_SPATIAL_SCALE
        or largest > _validate.MAX_ABS_COORDINATE
        or largest * scale > _validate.MAX_MAP_COORDINATE
    )


@given(case=roi_cases())
def test_roi_pool_forward_and_backward_kernel_equal_twin(case):
    features, rois, output_size, scale, rng = case
    both = same_outcome(ops.roi_pool, reference.roi_pool, features, rois, output_size, scale)
    assert (both is None) == geometry_refused(rois, scale)
    if both is None:
        return
    (fast_out, fast_argmax), (slow_out, slow_argmax) = both
    np.testing.assert_array_equal(fast_out, slow_out)
    np.testing.assert_array_equal(fast_argmax, slow_argmax)
    assert fast_out.dtype == slow_out.dtype == features.dtype

    grad_out = rng.standard_normal(fast_out.shape).astype(features.dtype)
    grad_out = np.asfortranarray(grad_out)  # the backward gets a non-contiguous gradient
    fast_grad = ops.roi_pool_backward(grad_out, rois, fast_argmax, features.shape)
    slow_grad = reference.roi_pool_backward(grad_out, rois, slow_argmax, features.shape)
    np.testing.assert_array_equal(fast_grad, slow_grad)


@given(case=roi_cases(), ratio=st.sampled_from([1, 2, 3, 16, 64, 1025]), aligned=st.booleans())
def test_roi_align_forward_and_backward_kernel_equal_twin(case, ratio, aligned):
    """RoIAlign on the same degenerate, duplicate, tiny, huge and out-of-map RoIs and
    non-contiguous maps: same values and gradients (features and coordinates) as the twin,
    or the same refusal (NaN / inf / too large features, scales and ratios). The two add
    the same float64 sample positions in a different order (and the kernel adds float32
    maps in float32), hence a tolerance instead of equality."""
    features, rois, output_size, scale, rng = case
    args = (rois, output_size, scale, ratio, aligned)
    both = same_outcome(ops.roi_align, reference.roi_align, features, *args)
    limit = _validate.MAX_ABS_VALUE[np.dtype(features.dtype)]
    refused = (
        not (np.abs(features) <= limit).all()  # NaN, inf or beyond the limit
        or ratio > _validate.MAX_SAMPLING_RATIO
        or geometry_refused(rois, scale)
    )
    assert (both is None) == refused
    if refused:
        return
    fast, slow = both
    assert fast.dtype == slow.dtype == features.dtype and fast.shape == slow.shape
    # A value adds up ratio**2 samples per bin, one after the other (in float32 for
    # float32 maps): its rounding error grows with their number.
    tol = (1e-5 if features.dtype == np.float32 else 1e-12) * max(1, ratio**2 / 4)
    size = max(1.0, float(np.abs(features).max()))  # absolute errors scale with the values
    np.testing.assert_allclose(fast, slow, rtol=tol, atol=tol * size)
    grad_out = np.asfortranarray(rng.standard_normal(fast.shape).astype(features.dtype))
    fast_df, fast_drois = ops.roi_align_backward(grad_out, features, *args)
    slow_df, slow_drois = reference.roi_align_backward(grad_out, features, *args)
    np.testing.assert_allclose(fast_df, slow_df, rtol=tol, atol=tol)
    # A coordinate gradient sums up to C * ph * pw * ratio^2 terms of size ~ scale * |f|.
    np.testing.assert_allclose(fast_drois, slow_drois, rtol=10 * tol, atol=10 * tol * size)
    assert np.isfinite(fast_drois).all() and np.isfinite(fast_df).all()
