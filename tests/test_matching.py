"""The shared matching rules (F8, F13, F17): best ground truth, thresholds, balanced sampling."""

import numpy as np

from minirpn.matching import (
    IGNORE,
    NEGATIVE,
    NO_MATCH,
    POSITIVE,
    best_for_each_gt,
    match,
    max_positive,
    sample_balanced,
    threshold_labels,
)

P, N, IG = POSITIVE, NEGATIVE, IGNORE


def test_match_picks_the_first_best_ground_truth_and_handles_none():
    iou = np.array([[0.1, 0.4, 0.4], [0.0, 0.0, 0.0], [0.9, 0.2, 0.95]])
    matched, best = match(iou)
    np.testing.assert_array_equal(matched, [1, 0, 2])  # ties go to the first column
    np.testing.assert_array_equal(best, [0.4, 0.0, 0.95])
    matched, best = match(np.zeros((3, 0)))
    np.testing.assert_array_equal(matched, [NO_MATCH] * 3)
    np.testing.assert_array_equal(best, [0.0] * 3)


def test_thresholds_hit_exactly():
    # Anchors (F8): positive at >= 0.7, negative in [0, 0.3); 0.3 itself is neither.
    max_iou = np.array([0.0, 0.2999, 0.3, 0.6999, 0.7, 1.0])
    np.testing.assert_array_equal(threshold_labels(max_iou, 0.7, (0.0, 0.3)), [N, N, IG, IG, P, P])
    # RoIs (F17): foreground at >= 0.5, background in [0.1, 0.5): 0.5 is foreground,
    # 0.1 background, just below 0.1 neither.
    max_iou = np.array([0.0999, 0.1, 0.4999, 0.5])
    np.testing.assert_array_equal(threshold_labels(max_iou, 0.5, (0.1, 0.5)), [IG, N, N, P])


def test_best_for_each_gt_keeps_ties_and_skips_untouched_ground_truth():
    iou = np.array(
        [
            [0.2, 0.0, 0.0],
            [0.2, 0.1, 0.0],  # ties with row 0 for gt 0
            [0.1, 0.05, 0.0],
        ]
    )
    # gt 2 touches no anchor: it makes nobody positive (the original would make all three).
    np.testing.assert_array_equal(best_for_each_gt(iou), [True, True, False])
    assert best_for_each_gt(np.zeros((4, 0))).tolist() == [False] * 4


def test_max_positive_rounds():
    assert max_positive(0.5, 256) == 128
    assert max_positive(0.25, 128) == 32
    assert max_positive(0.25, 10) == 2  # 2.5 rounds to even, as np.round does
    assert max_positive(0.25, 14) == 4  # 3.5


def test_subsampling_caps_positives_and_fills_with_negatives():
    labels = np.array([P] * 300 + [N] * 5000 + [IG] * 100)
    for seed in range(5):
        out = sample_balanced(labels, 256, 128, np.random.default_rng(seed))
        assert np.count_nonzero(out == P) == 128 and np.count_nonzero(out == N) == 128
        assert np.all(out[labels == IG] == IG)  # nothing is promoted
        assert np.all(labels[out == P] == P) and np.all(labels[out == N] == N)
    few = np.array([P] * 20 + [N] * 5000)
    out = sample_balanced(few, 256, 128, np.random.default_rng(0))
    assert np.count_nonzero(out == P) == 20 and np.count_nonzero(out == N) == 236
    tiny = np.array([P] * 3 + [N] * 10)
    np.testing.assert_array_equal(sample_balanced(tiny, 256, 128, np.random.default_rng(0)), tiny)


def test_subsampling_is_uniform_over_many_seeds_and_seeded():
    labels = np.array([P] * 300 + [N] * 1000)
    seeds = 200
    chosen = np.zeros(labels.size)
    for seed in range(seeds):
        chosen += sample_balanced(labels, 256, 128, np.random.default_rng(seed)) != IG
    # Each positive stays with probability 128/300, each negative 128/1000: Binomial counts
    # (sd about 7 and 5); a biased sampler (e.g. always the first ones) gives 0 or 200.
    pos_rate, neg_rate = chosen[:300] / seeds, chosen[300:] / seeds
    assert abs(pos_rate.mean() - 128 / 300) < 1e-12 and abs(neg_rate.mean() - 128 / 1000) < 1e-12
    assert 0.25 < pos_rate.min() and pos_rate.max() < 0.61
    assert 0.03 < neg_rate.min() and neg_rate.max() < 0.24
    a = sample_balanced(labels, 256, 128, np.random.default_rng(7))
    b = sample_balanced(labels, 256, 128, np.random.default_rng(7))
    c = sample_balanced(labels, 256, 128, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
