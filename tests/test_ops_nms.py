"""nms and batched_nms (F16): hand cases, a naive double loop, Cython == NumPy twin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import ops
from minirpn.ops import reference

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def naive_iou(a, b):
    """IoU of two boxes in plain Python floats (float64), the formula of F9 written out."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return 0.0  # the documented rule: a non-finite box is empty
    inter_w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    inter_h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = inter_w * inter_h
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def naive_nms(boxes, scores, threshold, class_ids=None):
    """Greedy NMS as a double loop over the score order: the definition, no shortcuts."""
    boxes = [[float(v) for v in box] for box in np.asarray(boxes)]
    class_ids = np.zeros(len(boxes), dtype=int) if class_ids is None else class_ids
    # Decreasing score, ties by increasing index.
    order = sorted(range(len(boxes)), key=lambda i: (-float(scores[i]), i))
    suppressed = set()
    keep = []
    for rank, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[rank + 1 :]:
            if class_ids[j] == class_ids[i] and naive_iou(boxes[i], boxes[j]) > threshold:
                suppressed.add(j)
    return np.array(keep, dtype=np.int64)


@st.composite
def clustered_boxes(draw, max_boxes=40):
    """Boxes jittered around a few centres (so that many overlap), with scores.

    Includes duplicates, inverted and zero-area boxes, NaN corners and huge coordinates.
    Scores come from a small set, so ties are common.
    """
    count = draw(st.integers(0, max_boxes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.uniform(0, 100, (draw(st.integers(1, 4)), 2))
    scale = draw(st.sampled_from([1.0, 1e6]))  # 1e6: huge coordinates, same geometry
    centre = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 3, (count, 2))
    half = rng.uniform(2, 15, (count, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=1) * scale
    if count:
        boxes[rng.integers(0, count, 2)] = boxes[0]  # exact duplicates
        special = rng.integers(0, count)
        boxes[special] = draw(
            st.sampled_from(
                [
                    boxes[special],
                    boxes[special, [2, 3, 0, 1]],  # unchanged or inverted
                    np.array([5.0, 5.0, 5.0, 9.0]),  # zero width
                    np.array([np.nan, 0.0, 10.0, 10.0]),  # NaN corner: an empty box
                ]
            )
        )
    scores = rng.integers(0, 6, count) / 5.0
    return boxes, scores


@pytest.mark.parametrize("nms", [ops.nms, reference.nms])
def test_three_boxes_by_hand(nms):
    boxes = np.array(
        [
            [0, 0, 10, 10],  # A, score 0.9
            [1, 1, 11, 11],  # B, score 0.8: IoU(A, B) = 81 / (100 + 100 - 81) = 0.6807
            [20, 20, 30, 30],  # C, score 0.95, far from both
        ],
        dtype=np.float64,
    )
    scores = np.array([0.9, 0.8, 0.95])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [2, 0])  # B dropped by A
    np.testing.assert_array_equal(nms(boxes, scores, 0.7), [2, 0, 1])  # 0.68 <= 0.7: kept


@pytest.mark.parametrize("nms", [ops.nms, reference.nms])
def test_iou_equal_to_threshold_is_kept(nms):
    boxes = np.array([[0, 0, 4, 1], [0, 0, 2, 1]], dtype=np.float64)  # IoU exactly 2 / 4
    np.testing.assert_array_equal(nms(boxes, np.array([1.0, 0.5]), 0.5), [0, 1])
    np.testing.assert_array_equal(nms(boxes, np.array([1.0, 0.5]), 0.49), [0])


@pytest.mark.parametrize("nms", [ops.nms, reference.nms])
def test_ties_and_empty_input(nms):
    boxes = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [0, 0, 1, 1]], dtype=np.float64)
    # Equal scores: the lower index ranks first, so box 0 suppresses its duplicate 2.
    np.testing.assert_array_equal(nms(boxes, np.ones(3), 0.5), [0, 1])
    keep = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert keep.dtype == np.int64 and keep.shape == (0,)


@PROPERTY_SETTINGS
@given(
    case=clustered_boxes(),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.95, 1.0]),
    as_float32=st.booleans(),
)
def test_cython_equals_twin_and_naive(case, threshold, as_float32):
    boxes, scores = case
    if as_float32:
        boxes, scores = boxes.astype(np.float32), scores.astype(np.float32)
    expected = naive_nms(boxes, scores, threshold)
    np.testing.assert_array_equal(reference.nms(boxes, scores, threshold), expected)
    fast = ops.nms(boxes, scores, threshold)
    assert fast.dtype == np.int64
    np.testing.assert_array_equal(fast, expected)


@PROPERTY_SETTINGS
@given(case=clustered_boxes(), threshold=st.floats(0, 1), classes=st.integers(1, 3))
def test_batched_cython_equals_twin_and_naive(case, threshold, classes):
    boxes, scores = case
    class_ids = np.arange(len(boxes)) % classes
    expected = naive_nms(boxes, scores, threshold, class_ids)
    twin = reference.batched_nms(boxes, scores, class_ids, threshold)
    np.testing.assert_array_equal(twin, expected)
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, class_ids, threshold), expected)


@PROPERTY_SETTINGS
@given(
    case=clustered_boxes(),
    threshold=st.sampled_from([0.0, 0.5, 0.7, 1.0]),
    max_output=st.integers(0, 30),
    classes=st.integers(1, 3),
)
def test_max_output_keeps_the_first_boxes_of_the_full_result(case, threshold, max_output, classes):
    # The kernel stops as soon as max_output boxes are kept; the twin stops its loop.
    boxes, scores = case
    full = naive_nms(boxes, scores, threshold)
    for nms in (ops.nms, reference.nms):
        np.testing.assert_array_equal(nms(boxes, scores, threshold, max_output), full[:max_output])
    class_ids = np.arange(len(boxes)) % classes
    full = naive_nms(boxes, scores, threshold, class_ids)
    for batched_nms in (ops.batched_nms, reference.batched_nms):
        keep = batched_nms(boxes, scores, class_ids, threshold, max_output=max_output)
        np.testing.assert_array_equal(keep, full[:max_output])


@pytest.mark.parametrize("nms", [ops.nms, reference.nms])
def test_max_output_must_be_a_count(nms):
    boxes, scores = np.array([[0.0, 0.0, 1.0, 1.0]]), np.ones(1)
    with pytest.raises(ValueError, match="max_output must be >= 0, got -1"):
        nms(boxes, scores, 0.5, max_output=-1)
    with pytest.raises(TypeError, match="max_output must be an int or None, got 2.0"):
        nms(boxes, scores, 0.5, max_output=2.0)
    with pytest.raises(TypeError, match="max_output must be an int or None, got True"):
        nms(boxes, scores, 0.5, max_output=True)


@pytest.mark.parametrize("batched_nms", [ops.batched_nms, reference.batched_nms])
def test_classes_do_not_suppress_each_other(batched_nms):
    boxes = np.array([[0, 0, 10, 10]] * 3, dtype=np.float64)
    keep = batched_nms(boxes, np.array([0.5, 0.9, 0.7]), np.array([3, 7, 3]), 0.5)
    # Class 7 keeps box 1; in class 3, box 2 (0.7) suppresses box 0 (0.5).
    np.testing.assert_array_equal(keep, [1, 2])


def test_large_clustered_problem_matches_twin():
    """A few thousand proposals, the regime where the kernel's spatial pruning matters."""
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 800, (30, 2))
    centre = centres[rng.integers(0, 30, 3000)] + rng.normal(0, 10, (3000, 2))
    half = rng.uniform(10, 120, (3000, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    scores = rng.random(3000).astype(np.float32)
    for threshold in (0.3, 0.7):
        np.testing.assert_array_equal(
            ops.nms(boxes, scores, threshold), reference.nms(boxes, scores, threshold)
        )


@pytest.mark.parametrize("max_output", [1, 150, ops.TOP_NMS_LIMIT, ops.TOP_NMS_LIMIT + 1])
def test_max_output_on_large_and_adversarial_sets_matches_twin(max_output):
    # Up to TOP_NMS_LIMIT the kernel tests boxes against the kept ones, above it the
    # spatially pruned kernel stops at max_output. Catches a scan of the kept boxes that
    # stops one kept box early (or a bisection one place late), a kept box stored wrong,
    # class ids that collide in float64 (2**62 + 1 is 2**62) or are ignored, a stop one
    # box late.
    rng = np.random.default_rng(7)
    n = ops.TOP_NMS_LIMIT + 100
    centres = rng.uniform(0, 800, (40, 2))[rng.integers(0, 40, n)] + rng.normal(0, 10, (n, 2))
    half = rng.uniform(10, 120, (n, 2))
    clustered = np.concatenate([centres - half, centres + half], axis=1)
    cell = np.stack(np.divmod(np.arange(n), 50), axis=1) * 10.0
    disjoint = np.concatenate([cell, cell + 8.0], axis=1)  # a grid, no two boxes overlap
    column = np.stack([np.zeros(n), cell[:, 0], np.full(n, 8.0), cell[:, 0] + 8.0], axis=1)
    scores = rng.integers(0, 50, n) / 50.0  # many ties
    class_ids = 2**62 + rng.integers(0, 3, n)  # numbered 0, 1, 2 for the kernels
    for boxes in (clustered.astype(np.float32), clustered * 1e140, disjoint, column):
        boxes = boxes.copy()
        boxes[rng.integers(0, n, 20)] = np.nan  # empty boxes: kept, suppress nothing
        for threshold in (0.0, 0.5, 0.7):
            expected = reference.nms(boxes, scores, threshold, max_output)
            np.testing.assert_array_equal(ops.nms(boxes, scores, threshold, max_output), expected)
            np.testing.assert_array_equal(
                ops.batched_nms(boxes, scores, class_ids, threshold, max_output),
                reference.batched_nms(boxes, scores, class_ids, threshold, max_output),
            )
