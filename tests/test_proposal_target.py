"""Proposal targets (F17): a scene worked by hand, sampling proportions, edge cases."""

import dataclasses

import numpy as np
import pytest

from minirpn import Config
from minirpn.boxes import decode
from minirpn.proposal_target import proposal_targets

NUM_CLASSES = 3  # C, the object classes; the head has C + 1 outputs with background
STDS = np.array([0.1, 0.1, 0.2, 0.2])
GT = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], dtype=float)
GT_LABELS = np.array([2, 1])
PROPOSALS = np.array(
    [
        [0, 0, 10, 12],  # IoU 100 / 120 with gt 0: foreground, class 2
        [0, 0, 10, 20],  # 0.5 exactly: foreground (>= 0.5)
        [0, 0, 10, 25],  # 0.4: background
        [20, 20, 40, 100],  # 400 / 1600 = 0.25 with gt 1: background
        [20, 20, 40, 220],  # 0.1 exactly: background (the lower bound is inclusive)
        [60, 60, 70, 70],  # 0: neither (below 0.1)
        [25, 20, 45, 40],  # 300 / 500 = 0.6 with gt 1: foreground, class 1
    ],
    dtype=float,
)
# Candidate -> (expected label, matched gt or None for background); gt boxes are appended.
EXPECTED = {
    0: (2, 0),
    1: (2, 0),
    2: (0, None),
    3: (0, None),
    4: (0, None),
    6: (1, 1),
    7: (2, 0),
    8: (1, 1),
}
KEEP_ALL = dataclasses.replace(Config(), roi_batch_size=1000, roi_fg_fraction=1.0)


def candidate_index(roi, candidates):
    return int(np.flatnonzero(np.all(candidates == roi, axis=1))[0])


def test_hand_scene_labels_targets_and_weights():
    t = proposal_targets(PROPOSALS, GT, GT_LABELS, NUM_CLASSES, KEEP_ALL, np.random.default_rng(0))
    candidates = np.concatenate([PROPOSALS, GT])
    chosen = [candidate_index(roi, candidates) for roi in t.rois]
    assert sorted(chosen) == sorted(EXPECTED)
    assert t.candidates.tolist() == chosen  # each RoI's row among [proposals; gt]
    num_fg = np.count_nonzero(t.labels)
    assert (
        num_fg == 5 and np.all(t.labels[:num_fg] > 0) and np.all(t.labels[num_fg:] == 0)
    )  # fg first
    for r, c in enumerate(chosen):
        label, gt_index = EXPECTED[c]
        assert t.labels[r] == label
        columns = slice(4 * label, 4 * label + 4)
        if gt_index is None:
            assert not t.bbox_targets[r].any() and not t.inside_weights[r].any()
            continue
        expected_weights = np.zeros(4 * (NUM_CLASSES + 1))
        expected_weights[columns] = 1.0
        np.testing.assert_array_equal(t.inside_weights[r], expected_weights)
        np.testing.assert_array_equal(t.outside_weights[r], expected_weights)
        assert not np.delete(t.bbox_targets[r], np.arange(4 * label, 4 * label + 4)).any()
        # The normalised targets, un-normalised and applied to the RoI, give its gt box back.
        np.testing.assert_allclose(
            decode(t.rois[r : r + 1], t.bbox_targets[r : r + 1, columns], stds=STDS)[0],
            GT[gt_index],
            atol=1e-9,
        )
    # One by hand: RoI [0, 0, 10, 12] -> gt [0, 0, 10, 10]: t = (0, -1/12, 0, log(10/12)) / stds.
    r = chosen.index(0)
    np.testing.assert_allclose(
        t.bbox_targets[r, 8:12], [0, -1 / 12 / 0.1, 0, np.log(10 / 12) / 0.2], rtol=1e-12
    )


def test_background_lower_bound_zero_admits_every_low_overlap_proposal():
    cfg = dataclasses.replace(KEEP_ALL, roi_bg_thresh_lo=0.0)
    t = proposal_targets(PROPOSALS, GT, GT_LABELS, NUM_CLASSES, cfg, np.random.default_rng(0))
    assert len(t.rois) == len(EXPECTED) + 1
    assert any(np.array_equal(roi, PROPOSALS[5]) for roi in t.rois[t.labels == 0])


def cluster_proposals(rng, n, gt):
    """n jittered copies of the gt boxes: a mix of foreground and background IoUs."""
    base = gt[rng.integers(0, len(gt), size=n)]
    sizes = np.concatenate([base[:, 2:] - base[:, :2]] * 2, axis=1)
    return base + rng.uniform(-0.6, 0.6, size=(n, 4)) * sizes


def test_proportions_with_plenty_of_foreground():
    cfg = Config()
    gt = np.array([[50, 50, 150, 150], [300, 100, 420, 300], [100, 300, 200, 380]], dtype=float)
    labels = np.array([1, 2, 3])
    proposals = cluster_proposals(np.random.default_rng(0), 2000, gt)
    for seed in range(10):
        t = proposal_targets(proposals, gt, labels, NUM_CLASSES, cfg, np.random.default_rng(seed))
        assert len(t.rois) == cfg.roi_batch_size == 128
        assert np.count_nonzero(t.labels) == 32  # round(0.25 * 128)
        assert np.all(t.max_iou[:32] >= 0.5)
        assert np.all((t.max_iou[32:] >= 0.1) & (t.max_iou[32:] < 0.5))
        np.testing.assert_array_equal(t.labels[:32], labels[t.matched_gt[:32]])


def test_foreground_is_sampled_uniformly_over_seeds():
    gt = np.array([[0, 0, 100, 100]], dtype=float)
    # 64 foreground proposals (IoU 0.8 to 1) and 500 background ones (IoU 0.1 to 0.45).
    fg = np.array([[0, 0, 100, 100 - (k + 1) * 0.3] for k in range(64)])
    bg = np.array([[0, 0, 100, 250 + k] for k in range(500)], dtype=float)
    proposals = np.concatenate([fg, bg])
    cfg = dataclasses.replace(Config(), roi_bg_thresh_lo=0.0)
    counts = np.zeros(len(proposals) + 1)
    seeds = 200
    for seed in range(seeds):
        t = proposal_targets(proposals, gt, np.array([1]), 1, cfg, np.random.default_rng(seed))
        assert np.count_nonzero(t.labels) == 32 and len(t.rois) == 128
        for roi in t.rois:
            counts[candidate_index(roi, np.concatenate([proposals, gt]))] += 1
    # 65 fg candidates (with the gt) share 32 places: rate 32/65, sd over 200 seeds ~0.035.
    fg_rate = counts[list(range(64)) + [564]] / seeds
    bg_rate = counts[64:564] / seeds
    assert abs(fg_rate.mean() - 32 / 65) < 1e-12 and 0.33 < fg_rate.min() and fg_rate.max() < 0.66
    assert abs(bg_rate.mean() - 96 / 500) < 1e-12 and 0.08 < bg_rate.min() and bg_rate.max() < 0.32


def test_too_few_candidates_give_fewer_rois():
    t = proposal_targets(
        PROPOSALS[:3], GT, GT_LABELS, NUM_CLASSES, Config(), np.random.default_rng(0)
    )
    # Candidates: 3 proposals + 2 gt boxes -> fg {p0, p1, gt0, gt1}, bg {p2}.
    assert len(t.rois) == 5 and np.count_nonzero(t.labels) == 4
    t = proposal_targets(
        np.zeros((0, 4)), GT, GT_LABELS, NUM_CLASSES, Config(), np.random.default_rng(0)
    )
    assert len(t.rois) == 2 and np.all(t.labels > 0)  # the gt boxes themselves
    np.testing.assert_allclose(t.bbox_targets, 0, atol=1e-12)  # a gt box regresses onto itself


def test_no_ground_truth_gives_only_background():
    proposals = cluster_proposals(np.random.default_rng(1), 300, GT)
    t = proposal_targets(
        proposals,
        np.zeros((0, 4)),
        np.zeros(0, dtype=np.int64),
        NUM_CLASSES,
        Config(),
        np.random.default_rng(0),
    )
    assert len(t.rois) == 128 and not t.labels.any()
    assert not t.bbox_targets.any() and not t.inside_weights.any() and not t.outside_weights.any()
    assert t.bbox_targets.shape == (128, 4 * (NUM_CLASSES + 1))
    t = proposal_targets(
        np.zeros((0, 4)), np.zeros((0, 4)), [], NUM_CLASSES, Config(), np.random.default_rng(0)
    )
    assert t.rois.shape == (0, 4) and t.labels.shape == (0,)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.array([2, 0]), r"gt_labels\[1\] = 0"),
        (np.array([2, 4]), r"gt_labels\[1\] = 4"),
        (np.array([2]), "one per gt box"),
        (np.array([2.0, 1.0]), "integers"),
    ],
)
def test_bad_labels_raise(labels, match):
    with pytest.raises(ValueError, match=match):
        proposal_targets(PROPOSALS, GT, labels, NUM_CLASSES, Config(), np.random.default_rng(0))


def test_bad_gt_box_is_named():
    with pytest.raises(ValueError, match=r"gt_boxes\[1\]"):
        proposal_targets(
            PROPOSALS,
            np.array([[0, 0, 10, 10], [5, 5, 1, 9]], float),
            GT_LABELS,
            NUM_CLASSES,
            Config(),
            np.random.default_rng(0),
        )


def test_non_finite_proposals_are_named():
    proposals = PROPOSALS.copy()
    proposals[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"proposals\[2\] = .*inf\] has non-finite coordinates"):
        proposal_targets(proposals, GT, GT_LABELS, NUM_CLASSES, Config(), np.random.default_rng(0))
