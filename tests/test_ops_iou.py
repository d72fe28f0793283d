"""box_iou (F9): hand-computed values, Cython == NumPy twin on random boxes, properties."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minirpn import ops
from minirpn.ops import reference

IMPLEMENTATIONS = [ops.box_iou, reference.box_iou]
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)

# Coordinates that stress the edge cases: exact integers and halves, huge values, and the
# non-finite values that make a box empty.
SPECIAL_COORDINATES = [0.0, 0.5, 1.0, 2.5, -3.0, 1e9, -1e9, 1e30, np.nan, np.inf, -np.inf]


def box_arrays(max_rows=12):
    """(N, 4) float64 boxes, N may be 0: random, inverted, zero-area, huge or non-finite."""
    coordinate = st.one_of(
        st.floats(-50, 50, allow_nan=False),
        st.integers(-5, 5).map(float),
        st.sampled_from(SPECIAL_COORDINATES),
    )
    shape = st.tuples(st.integers(0, max_rows), st.just(4))
    return hnp.arrays(np.float64, shape, elements=coordinate)


@pytest.mark.parametrize("box_iou", IMPLEMENTATIONS)
def test_hand_computed(box_iou):
    boxes = np.array(
        [
            [0, 0, 2, 2],  # A, area 4
            [1, 1, 3, 3],  # B: overlaps A in the unit square [1, 2] x [1, 2]
            [2, 0, 4, 2],  # C: touches A along x = 2 only
            [1, 1, 1, 1],  # D: a point, zero area
            [2, 2, 0, 0],  # E: inverted (x2 < x1), area 0
            [0, 0, 4, 1],  # F: area 4, overlaps A in [0, 2] x [0, 1] (area 2)
        ],
        dtype=np.float64,
    )
    iou = box_iou(boxes, boxes)
    assert iou[0, 1] == pytest.approx(1 / 7)  # 1 / (4 + 4 - 1)
    assert iou[0, 0] == 1.0
    assert iou[0, 2] == 0.0  # touching edges have no area in common
    assert iou[0, 5] == pytest.approx(2 / 6)  # 2 / (4 + 4 - 2)
    assert iou[2, 5] == pytest.approx(2 / 6)  # C ∩ F = [2, 4] x [0, 1]
    assert iou[1, 5] == 0.0  # B starts at y = 1, where F ends
    assert np.all(iou[3] == 0) and np.all(iou[:, 3] == 0)  # zero area: 0, not NaN
    assert np.all(iou[4] == 0) and np.all(iou[:, 4] == 0)


@pytest.mark.parametrize("box_iou", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("column", range(4))
def test_non_finite_box_is_empty(box_iou, column, bad):
    # A non-finite value in any one of the four coordinates empties the box; the other
    # coordinates alone would overlap box 0 (a kernel testing only some columns would not).
    broken = np.array([0.0, 0.0, 2.0, 2.0])
    broken[column] = bad
    boxes = np.array([[0, 0, 2, 2], broken, [-np.inf, -np.inf, np.inf, np.inf]])
    iou = box_iou(boxes, boxes)
    assert iou[0, 0] == 1.0
    np.testing.assert_array_equal(iou[1:], 0.0)
    np.testing.assert_array_equal(iou[:, 1:], 0.0)


@PROPERTY_SETTINGS
@given(boxes1=box_arrays(), boxes2=box_arrays(), as_float32=st.booleans())
def test_cython_equals_twin(boxes1, boxes2, as_float32):
    if as_float32:  # huge but within the float32 limit, where areas still fit
        boxes1, boxes2 = (
            np.where(np.abs(b) == 1e30, np.sign(b) * 1e17, b).astype(np.float32)
            for b in (boxes1, boxes2)
        )
    fast, slow = ops.box_iou(boxes1, boxes2), reference.box_iou(boxes1, boxes2)
    assert fast.shape == slow.shape == (len(boxes1), len(boxes2))
    assert fast.dtype == slow.dtype == (np.float32 if as_float32 else np.float64)
    # the same operations in the same order and precision: equal to the last bit
    np.testing.assert_array_equal(fast, slow)


def exact_iou(box_a, box_b):
    """F9 in exact rational arithmetic: every float coordinate is a Fraction exactly."""
    ax1, ay1, ax2, ay2 = (Fraction(float(v)) for v in box_a)
    bx1, by1, bx2, by2 = (Fraction(float(v)) for v in box_b)
    inter = max(min(ax2, bx2) - max(ax1, bx1), 0) * max(min(ay2, by2) - max(ay1, by1), 0)
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


# float32 IoU against the exact value. Each of the ~8 roundings (two extents, their product,
# two areas of three roundings each, the union's sum and difference, the division) adds at
# most u = 2**-24 relative error, and the union a + b - inter >= (a + b) / 2 at most doubles
# the error of its terms: below 16 u ~ 9.5e-7 relative. We allow 1e-6, and 1e-15 in float64.
RTOL = {np.float32: 1e-6, np.float64: 1e-15}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("box_iou", IMPLEMENTATIONS)
def test_iou_matches_exact_rational_arithmetic(box_iou, dtype):
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 300, (40, 2))
    boxes = np.hstack([corners, corners + rng.uniform(1, 300, (40, 2))]).astype(dtype)
    boxes[:4] = [[0, 0, 10, 10], [0, 0, 10, 5], [5, 5, 15, 15], [10, 0, 20, 10]]  # .5 1/7 0
    iou = box_iou(boxes, boxes)
    assert iou.dtype == dtype
    exact = np.array([[float(exact_iou(a, b)) for b in boxes] for a in boxes])
    assert (exact > 0).sum() > 500  # plenty of overlapping pairs, not just zeros
    np.testing.assert_array_equal(iou[exact == 0], 0.0)  # no overlap: exactly 0
    np.testing.assert_allclose(iou, exact, rtol=RTOL[dtype], atol=0)
    assert iou[0, 1] == 0.5 and iou[0, 3] == 0.0  # exact in any precision


@pytest.mark.parametrize("box_iou", IMPLEMENTATIONS)
def test_float32_coordinates_beyond_their_limit_are_refused(box_iou):
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2e18, 1]], dtype=np.float32)
    with pytest.raises(ValueError, match="boxes1 has a coordinate of magnitude 2e\\+18"):
        box_iou(boxes, boxes[:1])
    float64 = boxes.astype(np.float64)  # the float64 limit is far larger: 1 / 2e18 overlap
    assert box_iou(float64, float64[:1])[1, 0] == pytest.approx(0.5e-18, rel=1e-6)


@PROPERTY_SETTINGS
@given(boxes1=box_arrays(), boxes2=box_arrays())
def test_properties(boxes1, boxes2):
    iou = ops.box_iou(boxes1, boxes2)
    assert np.all((iou >= 0) & (iou <= 1 + 1e-12))  # never NaN, never above 1
    np.testing.assert_array_equal(iou, ops.box_iou(boxes2, boxes1).T)  # symmetric
    # Positive area, not just positive sides: a subnormal height times a small width
    # underflows to an area of 0, and a zero-area box has IoU 0 even with itself.
    with np.errstate(invalid="ignore", over="ignore"):
        area = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    positive_size = (boxes1[:, 2] > boxes1[:, 0]) & (boxes1[:, 3] > boxes1[:, 1]) & (area > 0)
    solid = np.isfinite(boxes1).all(axis=1) & positive_size
    self_iou = np.diag(ops.box_iou(boxes1, boxes1))
    np.testing.assert_allclose(self_iou[solid], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(self_iou[~solid], 0.0)


def test_dtypes_and_layouts_are_converted():
    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 10, (6, 4)), axis=1)  # x1 <= y1 <= x2 <= y2: valid boxes
    expected = reference.box_iou(boxes, boxes)
    strided = np.repeat(boxes, 2, axis=0)[::2]  # a non-contiguous view
    np.testing.assert_array_equal(ops.box_iou(strided, boxes), expected)
    np.testing.assert_array_equal(ops.box_iou(boxes.tolist(), boxes), expected)
    integer_boxes = np.round(boxes * 10).astype(np.int32)
    assert ops.box_iou(integer_boxes, integer_boxes).dtype == np.float64
    float32 = boxes.astype(np.float32)
    assert ops.box_iou(float32, float32).dtype == np.float32
    assert ops.box_iou(float32, boxes).dtype == np.float64  # mixed: float64
    assert ops.box_iou(np.asfortranarray(float32), float32).dtype == np.float32
