"""Anchor targets (F8, F13): hand-built scenes for every labelling rule, and the sampling."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import Config
from minirpn.anchor_target import anchor_targets, label_anchors
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import encode
from minirpn.matching import IGNORE, NEGATIVE, NO_MATCH, POSITIVE
from minirpn.ops import box_iou

P, N, IG = POSITIVE, NEGATIVE, IGNORE
# Large enough that subsampling keeps every labelled anchor: the scenes test F8 alone.
NO_SAMPLING = dataclasses.replace(Config(), rpn_batch_size=10**6, rpn_fg_fraction=1.0)


def targets_of(anchors, gt, image_size=(100, 100), cfg=NO_SAMPLING, seed=0):
    return anchor_targets(
        np.array(anchors, dtype=float),
        np.array(gt, dtype=float).reshape(-1, 4),
        image_size,
        cfg,
        np.random.default_rng(seed),
    )


def test_thresholds_are_ge_07_positive_and_lt_03_negative():
    gt = [[0, 0, 100, 100]]
    anchors = [
        [0, 0, 100, 100],  # IoU 1 (also the best anchor)
        [0, 0, 100, 80],  # 0.8
        [0, 0, 100, 70],  # 0.7 exactly: positive (>=, as the original code)
        [0, 0, 100, 50],  # 0.5: neither
        [0, 0, 100, 30],  # 0.3 exactly: neither (negative needs < 0.3)
        [0, 0, 100, 29],  # 0.29: negative
        [150, 150, 200, 200],  # 0: negative
    ]
    t = targets_of(anchors, gt, image_size=(200, 200))
    np.testing.assert_array_equal(t.labels, [P, P, P, IG, IG, N, N])
    np.testing.assert_allclose(t.max_iou, [1, 0.8, 0.7, 0.5, 0.3, 0.29, 0], atol=1e-12)
    # Regression targets of positives, by hand (F10): [0,0,100,80] -> gt: centre y 40 -> 50.
    np.testing.assert_allclose(t.bbox_targets[1], [0, 10 / 80, 0, np.log(100 / 80)], atol=1e-12)
    np.testing.assert_array_equal(t.bbox_targets[3:], 0)
    np.testing.assert_array_equal(t.inside_weights, np.array([[1.0] * 4] * 3 + [[0.0] * 4] * 4))


def test_all_anchors_tied_for_a_gt_best_iou_are_positive_even_below_03():
    gt = [[20, 20, 30, 30]]  # area 100
    anchors = [
        [20, 20, 40, 40],  # IoU 100 / 400 = 0.25
        [10, 10, 30, 30],  # 0.25: tied
        [20, 20, 30, 60],  # 0.25: tied
        [20, 20, 30, 70],  # 0.2: below the best, negative
        [60, 60, 90, 90],  # 0
    ]
    t = targets_of(anchors, gt)
    np.testing.assert_array_equal(t.labels, [P, P, P, N, N])
    np.testing.assert_array_equal(t.matched_gt, [0, 0, 0, 0, 0])
    expected = encode(np.array(anchors[:3], dtype=float), np.array(gt * 3, dtype=float))
    np.testing.assert_allclose(t.bbox_targets[:3], expected)


def test_gt_touched_by_no_anchor_gives_no_positive():
    # The original's tie rule would call every zero-IoU anchor "best" for this gt.
    gt = [[0, 0, 10, 10]]
    anchors = [
        [-5, -5, 10, 10],  # overlaps the gt but crosses the border: ignored
        [50, 50, 60, 60],  # IoU 0
        [70, 50, 80, 60],  # IoU 0
    ]
    t = targets_of(anchors, gt)
    np.testing.assert_array_equal(t.labels, [IG, N, N])
    assert t.matched_gt[0] == NO_MATCH


def test_an_anchor_best_for_two_gts_is_positive_and_regresses_to_its_best_gt():
    gts = [[0, 0, 10, 10], [10, 0, 22, 10]]
    anchors = [
        [0, 0, 20, 10],  # IoU 0.5 with gt 0, 100 / 220 with gt 1: best for both
        [0, 0, 10, 40],  # 0.25 with gt 0, 0 with gt 1
        [30, 30, 40, 40],  # 0 with both
    ]
    t = targets_of(anchors, gts)
    np.testing.assert_array_equal(t.labels, [P, N, N])
    assert t.matched_gt[0] == 0
    np.testing.assert_allclose(t.max_iou[0], 0.5)
    np.testing.assert_allclose(
        t.bbox_targets[0], encode(np.array([anchors[0]], float), np.array([gts[0]], float))[0]
    )


def test_threshold_positive_regresses_to_the_gt_it_overlaps_most():
    gts = [[0, 0, 100, 100], [0, 0, 100, 92]]
    anchors = [[0, 0, 100, 90], [0, 0, 100, 100], [0, 0, 100, 92]]
    t = targets_of(anchors, gts, image_size=(100, 100))
    np.testing.assert_array_equal(t.labels, [P, P, P])
    # Anchor 0: IoU 0.9 with gt 0, 90 / 92 with gt 1 -> gt 1.
    np.testing.assert_array_equal(t.matched_gt, [1, 0, 1])


def test_border_anchors_are_ignored_and_cannot_be_best():
    gt = [[0, 0, 50, 50]]
    anchors = [
        [-1, 0, 50, 50],  # IoU 0.98 but crosses the border by 1 pixel
        [0, 0, 50, 60],  # IoU 0.83, the best anchor inside
        [0, 0, 100, 100],  # touches the border exactly: inside, IoU 0.25 -> negative
        [20, 20, 101, 50],  # crosses the right border
    ]
    t = targets_of(anchors, gt)
    np.testing.assert_array_equal(t.labels, [IG, P, N, IG])
    np.testing.assert_array_equal(t.matched_gt[[0, 3]], [NO_MATCH, NO_MATCH])
    # With a 1-pixel allowance the first anchor takes part (and is best).
    t = targets_of(anchors, gt, cfg=dataclasses.replace(NO_SAMPLING, rpn_allowed_border=1.0))
    np.testing.assert_array_equal(t.labels, [P, P, N, N])  # the last one: IoU 900 / 4030


def test_no_ground_truth_gives_only_negatives_and_ignores():
    cfg = Config.tiny()
    anchors = grid_anchors(generate_base_anchors(8, cfg.anchor_ratios, cfg.anchor_scales), 8, 8, 8)
    t = anchor_targets(anchors, np.zeros((0, 4)), (64, 64), cfg, np.random.default_rng(0))
    assert set(np.unique(t.labels)) <= {NEGATIVE, IGNORE}
    assert np.count_nonzero(t.labels == NEGATIVE) == cfg.rpn_batch_size
    assert not t.bbox_targets.any() and not t.inside_weights.any()
    assert np.all(t.matched_gt == NO_MATCH)


@pytest.mark.parametrize(
    "box, match",
    [
        ([5, 5, np.nan, 20], r"gt_boxes\[1\] = .*non-finite"),
        ([30, 5, 20, 20], r"gt_boxes\[1\] = \[30.0, 5.0, 20.0, 20.0\] is inverted"),
        ([5, 5, 120, 20], r"gt_boxes\[1\] = .*outside the image"),
    ],
)
def test_invalid_ground_truth_is_named(box, match):
    with pytest.raises(ValueError, match=match):
        targets_of([[0, 0, 10, 10]], [[0, 0, 10, 10], box])


def test_bad_rng_is_a_type_error():
    with pytest.raises(TypeError, match="rng"):
        anchor_targets(np.zeros((1, 4)) + [0, 0, 1, 1], np.zeros((0, 4)), (10, 10), Config(), 0)


def naive_labels(iou, pos, neg):
    """F8 a-d for one anchor at a time, written as plainly as possible."""
    num_anchors, num_gt = iou.shape
    labels = []
    for m in range(num_anchors):
        best_of_some_gt = any(iou[m, g] > 0 and iou[m, g] == max(iou[:, g]) for g in range(num_gt))
        if best_of_some_gt or (num_gt and max(iou[m]) >= pos):
            labels.append(POSITIVE)
        elif num_gt == 0 or max(iou[m]) < neg:
            labels.append(NEGATIVE)
        else:
            labels.append(IGNORE)
    return labels


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), num_gt=st.integers(0, 4))
def test_label_anchors_agrees_with_a_naive_per_anchor_version(seed, num_gt):
    rng = np.random.default_rng(seed)

    def boxes(n):  # integer corners on a coarse grid: ties happen often
        xy = rng.integers(0, 6, size=(n, 2)) * 4.0
        wh = rng.integers(1, 5, size=(n, 2)) * 4.0
        return np.concatenate([xy, xy + wh], axis=1)

    iou = box_iou(boxes(30), boxes(num_gt))
    labels = label_anchors(iou, Config())  # 0.7 / 0.3
    assert labels.tolist() == naive_labels(iou, 0.7, 0.3)


def test_paper_config_minibatch_on_a_real_grid():
    cfg = Config()
    anchors = grid_anchors(generate_base_anchors(), 38, 63, 16)
    gt = np.array([[100, 100, 300, 250], [500, 200, 900, 580], [40, 300, 120, 420]], dtype=float)
    t = anchor_targets(anchors, gt, (600, 1000), cfg, np.random.default_rng(0))
    num_pos = np.count_nonzero(t.labels == P)
    assert 0 < num_pos <= 128
    assert num_pos + np.count_nonzero(t.labels == N) == 256
    # Every sampled positive really is positive by F8, and every negative below 0.3.
    iou = box_iou(anchors, gt)  # (A, G)
    inside = (
        (anchors[:, 0] >= 0)
        & (anchors[:, 1] >= 0)
        & (anchors[:, 2] <= 1000)
        & (anchors[:, 3] <= 600)
    )
    best_of_gt = np.any(iou == iou[inside].max(axis=0), axis=1) & inside
    positive = t.labels == P
    assert np.all((iou[positive].max(axis=1) >= 0.7) | best_of_gt[positive])
    assert np.all(iou[t.labels == N].max(axis=1) < 0.3)
    # No sampled anchor crosses the image border.
    sampled = anchors[t.labels != IG]
    assert sampled[:, :2].min() >= 0 and sampled[:, 2].max() <= 1000 and sampled[:, 3].max() <= 600
    np.testing.assert_allclose(
        t.bbox_targets[positive], encode(anchors[positive], gt[t.matched_gt[positive]])
    )


def test_non_finite_anchors_are_named():
    anchors = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, np.nan, 20.0, 20.0]])
    with pytest.raises(ValueError, match=r"anchors\[1\] = \[5.0, nan, 20.0, 20.0\] has non-finite"):
        anchor_targets(anchors, np.zeros((0, 4)), (30, 30), Config(), np.random.default_rng(0))
