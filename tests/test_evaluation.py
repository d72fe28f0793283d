"""Average precision and mAP on hand-worked cases (every expected number derived in a comment)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn.evaluation import (
    COCO_IOU_THRESHOLDS,
    average_precision,
    coco_summary,
    evaluate,
    match_classes,
)


def gt(boxes, labels):
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(labels, dtype=np.int64)


def det(boxes, scores, labels):
    return (
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(scores, dtype=np.float64),
        np.array(labels, dtype=np.int64),
    )


# --------------------------------------------------------------------- average_precision

# Ranked detections TP, FP, TP, TP against 4 ground truths:
#   TP count 1, 1, 2, 3 -> recall 0.25, 0.25, 0.50, 0.75; precision 1, 1/2, 2/3, 3/4.
PR_RECALL = [0.25, 0.25, 0.50, 0.75]
PR_PRECISION = [1.0, 0.5, 2 / 3, 0.75]


def test_all_point_ap_by_hand():
    # Envelope (best precision at this recall or beyond): 1 on (0, .25], .75 on (.25, .75],
    # nothing beyond .75. Area = .25 * 1 + .5 * .75 = 0.625.
    assert average_precision(PR_RECALL, PR_PRECISION) == pytest.approx(0.625, abs=1e-12)


def test_eleven_point_ap_by_hand():
    # Recall levels 0, .1, .2 -> best precision at recall >= r is 1 (3 levels);
    # .3 .. .7 -> 0.75 (5 levels); .8, .9, 1 -> never reached, 0.  (3 + 5 * .75) / 11.
    assert average_precision(PR_RECALL, PR_PRECISION, use_07_metric=True) == pytest.approx(
        6.75 / 11, abs=1e-12
    )


def test_ap_empty_curve_and_bad_input():
    assert average_precision([], []) == 0.0
    with pytest.raises(ValueError, match="recall and precision"):
        average_precision([0.5, 1.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        average_precision([0.5, np.nan], [1.0, 1.0])


# --------------------------------------------------------------------- evaluate


def test_perfect_detector_scores_one():
    rng = np.random.default_rng(0)
    truths, detections = [], []
    for _ in range(6):
        xy = rng.uniform(0, 100, size=(3, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 30, size=(3, 2))], axis=1)
        labels = rng.integers(1, 4, size=3)
        truths.append(gt(boxes, labels))
        detections.append(det(boxes, rng.uniform(0.1, 1, size=3), labels))
    result = evaluate(detections, truths, num_classes=3)
    assert result["map50"] == pytest.approx(1.0)
    assert result["map"] == pytest.approx(1.0)


def test_duplicate_detection_is_a_false_positive():
    # Two images, one ground truth each. Ranked: A (0.9, on gt 1) TP, A' (0.8, the same gt
    # again) FP, B (0.7, on gt 2) TP. Recall .5, .5, 1; precision 1, 1/2, 2/3.
    # All-point AP = .5 * 1 + .5 * 2/3 = 5/6; 11-point: levels 0...5 -> 1, .6...1 -> 2/3:
    # (6 + 5 * 2/3) / 11 = 28/33.
    truths = [gt([[0, 0, 10, 10]], [1]), gt([[20, 20, 40, 40]], [1])]
    detections = [
        det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [1, 1]),
        det([[20, 20, 40, 40]], [0.7], [1]),
    ]
    assert evaluate(detections, truths, 1)["map50"] == pytest.approx(5 / 6)
    assert evaluate(detections, truths, 1, use_07_metric=True)["map50"] == pytest.approx(28 / 33)
    # Without the duplicate the detector is perfect: the duplicate alone cost 1/6.
    clean = [det([[0, 0, 10, 10]], [0.9], [1]), detections[1]]
    assert evaluate(clean, truths, 1)["map50"] == pytest.approx(1.0)


def test_class_without_ground_truth_is_left_out():
    # Class 1: perfect (AP 1). Class 2: one gt, its only detection misses (AP 0).
    # Class 3: no ground truth but a detection -> AP None, not in the mean: mAP = (1 + 0) / 2.
    truths = [gt([[0, 0, 10, 10], [50, 50, 60, 60]], [1, 2])]
    detections = [
        det([[0, 0, 10, 10], [80, 80, 90, 90], [30, 30, 40, 40]], [0.9, 0.8, 0.7], [1, 2, 3])
    ]
    result = evaluate(detections, truths, num_classes=3)
    assert result["ap50_per_class"] == {1: 1.0, 2: 0.0, 3: None}
    assert result["ap_per_class"][3] is None
    assert result["map50"] == pytest.approx(0.5)
    assert result["num_ground_truth"] == {1: 1, 2: 1, 3: 0}
    assert result["num_detections"] == {1: 1, 2: 1, 3: 1}


def test_no_ground_truth_at_all_gives_none():
    result = evaluate([det([[0, 0, 1, 1]], [0.5], [1])], [gt([], [])], num_classes=2)
    assert result["map50"] is None and result["map"] is None


@pytest.mark.parametrize("height, expected", [(4.9, 0.0), (5.0, 1.0), (5.1, 1.0)])
def test_iou_below_at_and_above_the_threshold(height, expected):
    # gt 10 x 10; detection 10 x height inside it: IoU = 10 * height / 100 = 0.49, 0.5, 0.51.
    # At height 5 the IoU is exactly 0.5 in float64 (50 / 100), and VOC and COCO both count
    # IoU >= 0.5 as a hit: a ">" in the matching turns this AP from 1 into 0.
    truths = [gt([[0, 0, 10, 10]], [1])]
    detections = [det([[0, 0, 10, height]], [0.9], [1])]
    result = evaluate(detections, truths, num_classes=1)
    assert result["map50"] == expected


def test_iou_exactly_at_a_coco_threshold_is_a_hit():
    # IoU exactly 0.5 is a hit at 0.50 only (1 of the 10 COCO thresholds): mAP = 1 / 10.
    truths = [gt([[0, 0, 10, 10]], [1])]
    result = evaluate([det([[0, 0, 10, 5]], [0.9], [1])], truths, num_classes=1)
    assert result["map50"] == 1.0
    assert result["map"] == pytest.approx(0.1, abs=1e-12)


def test_coco_map_averages_over_thresholds():
    # IoU 0.72 (detection 10 x 7.2 inside a 10 x 10 gt) is a hit at 0.50, 0.55, ..., 0.70
    # (5 of the 10 thresholds) and a miss at 0.75 ... 0.95: mAP = 5 / 10.
    truths = [gt([[0, 0, 10, 10]], [1])]
    detections = [det([[0, 0, 10, 7.2]], [0.9], [1])]
    result = evaluate(detections, truths, num_classes=1)
    assert len(COCO_IOU_THRESHOLDS) == 10
    assert result["map50"] == 1.0
    assert result["map"] == pytest.approx(0.5)


def test_detection_takes_its_best_free_ground_truth():
    # Two overlapping gts of one class; the first detection takes gt a (IoU 1). The second
    # overlaps a best (IoU 0.9) but a is taken, so it takes b (IoU 0.727 >= 0.5): both are
    # true positives (the VOC devkit would call the second a false positive).
    a, b = [0, 0, 10, 10], [2, 0, 12, 10]
    truths = [gt([a, b], [1, 1])]
    detections = [det([a, [1, 0, 10, 10]], [0.9, 0.8], [1, 1])]
    # [1, 0, 10, 10]: IoU with a = 90 / 100 = 0.9; with b = 80 / (90 + 100 - 80) = 0.727.
    assert evaluate(detections, truths, 1)["map50"] == pytest.approx(1.0)


def test_ranking_decides_which_detection_is_the_duplicate():
    # Same boxes as in the duplicate test, but the duplicate now has the top score and the
    # exact box the lower score: the first ranked detection is the TP, whichever it is.
    # Here a loose box (IoU 0.6) outranks the exact one: TP, FP, then gt 2's TP -> 5/6.
    truths = [gt([[0, 0, 10, 10]], [1]), gt([[20, 20, 40, 40]], [1])]
    detections = [
        det([[0, 0, 10, 6], [0, 0, 10, 10]], [0.95, 0.9], [1, 1]),
        det([[20, 20, 40, 40]], [0.7], [1]),
    ]
    result = evaluate(detections, truths, 1, iou_thresholds=[0.5, 0.7])
    assert result["map50"] == pytest.approx(5 / 6)
    # At 0.7 the loose box misses, so the exact one is the TP: FP, TP, TP ->
    # recall 0, .5, 1; precision 0, 1/2, 2/3 -> AP = .5 * 2/3 + .5 * 2/3 = 2/3.
    assert result["map"] == pytest.approx((5 / 6 + 2 / 3) / 2)


def test_hand_worked_evaluation_over_images_classes_and_thresholds():
    """Three images, two classes, interleaved scores, a duplicate and a wrong-class hit.

    Ground truth: image A class 1 g1 = [0,0,10,10], g2 = [20,0,30,10]; image B class 1
    g3 = [0,0,20,20] and class 2 h1 = [40,40,60,60]; image C class 2 h2 = [0,0,10,10].

    Class 1 (G = 3), by decreasing score:
      d0 .99 C [0,0,10,10]    no class-1 truth in C (it is class 2's h2)    FP
      d1 .95 A [0,0,10,10]    g1, IoU 1                                      TP
      d2 .90 B [0,0,20,15.5]  g3, IoU 310/400 = 0.775                        TP if t <= .75
      d3 .80 A [0,0,10,10]    g1 again, already taken; g2 IoU 0             FP
      d4 .70 A [50,50,60,60]  nothing                                        FP
      d5 .60 A [20,0,30,7.25] g2, IoU 72.5/100 = 0.725                       TP if t <= .70
    t <= .70 (5 thresholds): FP TP TP FP FP TP. Recall 0, 1/3, 2/3, 2/3, 2/3, 1;
      precision 0, 1/2, 2/3, 1/2, 2/5, 1/2. Envelope at recall 1/3 and 2/3: 2/3, at 1: 1/2.
      All-point AP = (2/3 + 2/3 + 1/2) / 3 = 11/18.
      11-point: levels 0 .. .6 (7) -> 2/3, .7 .. 1 (4) -> 1/2: (14/3 + 2) / 11 = 20/33.
    t = .75: d5 misses: precision at recall 1/3, 2/3 is 1/2, 2/3 -> AP = 2 * (2/3) / 3 = 4/9.
    t >= .80 (4 thresholds): only d1: AP = (1/3) * (1/2) = 1/6.
    COCO AP = (5 * 11/18 + 4/9 + 4 * 1/6) / 10 = (55 + 8 + 12) / 180 = 5/12.

    Class 2 (G = 2):
      e1 .90 B [40,40,60,60]   h1, IoU 1       TP
      e2 .80 C [0,0,10,6.25]   h2, IoU 0.625   TP if t <= .60
      e3 .70 C [0,0,10,10]     h2, IoU 1       FP (duplicate) if e2 took h2, else TP
    t <= .60 (3): TP TP FP -> recall 1/2, 1, 1, precision 1, 1, 2/3: AP = 1 (11-point too).
    t >= .65 (7): TP FP TP -> recall 1/2, 1/2, 1, precision 1, 1/2, 2/3: AP = 1/2 + 1/3 = 5/6.
    COCO AP = (3 + 7 * 5/6) / 10 = 53/60.

    mAP@0.5 = (11/18 + 1) / 2 = 29/36; 11-point (20/33 + 1) / 2 = 53/66;
    COCO mAP = (5/12 + 53/60) / 2 = 13/20.
    """
    truths = [
        gt([[0, 0, 10, 10], [20, 0, 30, 10]], [1, 1]),
        gt([[40, 40, 60, 60], [0, 0, 20, 20]], [2, 1]),
        gt([[0, 0, 10, 10]], [2]),
    ]
    # Each image lists its detections out of score order and mixes the classes.
    detections = [
        det(
            [[20, 0, 30, 7.25], [0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10]],
            [0.60, 0.80, 0.70, 0.95],
            [1, 1, 1, 1],
        ),
        det([[0, 0, 20, 15.5], [40, 40, 60, 60]], [0.90, 0.90], [1, 2]),
        det([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 6.25]], [0.70, 0.99, 0.80], [2, 1, 2]),
    ]
    result = evaluate(detections, truths, num_classes=2)
    assert result["ap50_per_class"] == pytest.approx({1: 11 / 18, 2: 1.0}, abs=1e-12)
    assert result["ap_per_class"] == pytest.approx({1: 5 / 12, 2: 53 / 60}, abs=1e-12)
    assert result["map50"] == pytest.approx(29 / 36, abs=1e-12)
    assert result["map"] == pytest.approx(13 / 20, abs=1e-12)
    assert result["num_ground_truth"] == {1: 3, 2: 2}
    assert result["num_detections"] == {1: 6, 2: 3}
    eleven = evaluate(detections, truths, num_classes=2, use_07_metric=True)
    assert eleven["ap50_per_class"] == pytest.approx({1: 20 / 33, 2: 1.0}, abs=1e-12)
    assert eleven["map50"] == pytest.approx(53 / 66, abs=1e-12)


def all_point_ap_by_definition(hits, num_gt):
    """All-point AP from the ranked hit flags, written from the definition.

    Each true positive raises recall by 1 / G, and the interpolated precision at that recall
    is the best precision at its rank or any later one.
    """
    precisions, found = [], 0
    for rank, hit in enumerate(hits, start=1):
        found += hit
        precisions.append(found / rank)
    return sum(max(precisions[n:]) for n, hit in enumerate(hits) if hit) / num_gt


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_random_scenes_match_the_definition(data):
    # Each object is one image with one gt; a "found" object also gets an exact detection
    # (IoU 1: a hit at every threshold) and a stray one far away (IoU 0), a missed object
    # only a stray one. So the hits are known without any IoU, and AP at every threshold is
    # the all-point AP of the ranked hit flags; map == map50. Shuffling the images and
    # doubling the scores (distinct, so no ties) must give the same numbers.
    objects = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, 50),
                st.integers(0, 50),
                st.integers(1, 30),
                st.integers(1, 30),
                st.integers(1, 2),
                st.booleans(),
            ),
            min_size=1,
            max_size=8,
        )
    )
    ranks = data.draw(
        st.lists(
            st.integers(1, 10**6), min_size=2 * len(objects), max_size=2 * len(objects), unique=True
        )
    )
    truths, detections, ranked = [], [], {1: [], 2: []}
    for i, (x, y, w, h, label, found) in enumerate(objects):
        box = [x, y, x + w, y + h]
        stray = [x + 100, y + 100, x + 110, y + 110]
        truths.append(gt([box], [label]))
        boxes = [box, stray] if found else [stray]
        scores = [ranks[2 * i] / 10**6, ranks[2 * i + 1] / 10**6][: len(boxes)]
        detections.append(det(boxes, scores, [label] * len(boxes)))
        ranked[label] += [(s, b is box) for s, b in zip(scores, boxes, strict=True)]
    expected = {}
    for label, entries in ranked.items():
        num_gt = sum(obj[4] == label for obj in objects)
        hits = [hit for _, hit in sorted(entries, key=lambda e: -e[0])]
        expected[label] = all_point_ap_by_definition(hits, num_gt) if num_gt else None
    means = [ap for ap in expected.values() if ap is not None]
    order = np.random.default_rng(len(objects)).permutation(len(objects))
    for result in (
        evaluate(detections, truths, 2),
        evaluate([detections[i] for i in order], [truths[i] for i in order], 2),
        evaluate([(b, 2 * s, lab) for b, s, lab in detections], truths, 2),
    ):
        assert result["ap50_per_class"] == pytest.approx(expected, abs=1e-12)
        assert result["map50"] == pytest.approx(np.mean(means), abs=1e-12)
        assert result["map"] == pytest.approx(np.mean(means), abs=1e-12)


def test_bad_inputs_name_the_problem():
    truths = [gt([[0, 0, 10, 10]], [1])]
    with pytest.raises(ValueError, match="one entry per image"):
        evaluate([], truths, 1)
    with pytest.raises(ValueError, match=r"labels must be ints in 1\.\.2"):
        evaluate([det([[0, 0, 1, 1]], [0.5], [0])], truths, 2)
    with pytest.raises(ValueError, match="num_classes"):
        evaluate([det([], [], [])], truths, 0)
    with pytest.raises(ValueError, match="scores must be finite"):
        evaluate([det([[0, 0, 1, 1]], [np.nan], [1])], truths, 1)
    with pytest.raises(ValueError, match=r"detection boxes must have shape \(N, 4\), got \(1, 3\)"):
        evaluate([(np.zeros((1, 3)), np.ones(1), np.ones(1, np.int64))], truths, 1)
    with pytest.raises(ValueError, match="must include 0.5"):
        evaluate([det([], [], [])], truths, 1, iou_thresholds=[0.75])


# --------------------------------------------------------------------- difficult boxes


def test_detections_on_difficult_boxes_are_neither_true_nor_false_positives():
    # One ordinary object A, one difficult object D (both class 1). Detections by score:
    # on D (ignored), on A (TP), a second one on D (ignored, as VOC's devkit), stray (FP).
    # Without the ignored ones: TP, FP against G = 1 -> AP 1 (recall 1 at precision 1).
    a, d = [0, 0, 10, 10], [50, 50, 60, 60]
    boxes, labels = np.array([a, d], np.float64), np.array([1, 1])
    detections = [det([d, a, d, [80, 0, 90, 10]], [0.9, 0.8, 0.7, 0.6], [1, 1, 1, 1])]
    result = evaluate(detections, [(boxes, labels, np.array([False, True]))], num_classes=1)
    assert result["ap50_per_class"][1] == 1.0
    assert result["num_ground_truth"][1] == 1  # the difficult box is not counted
    # Without D in the ground truth the detections on it are false positives:
    # FP, TP, FP, FP -> precision 1/2 at recall 1 -> AP 0.5.
    unflagged = evaluate(detections, [gt([a], [1])], num_classes=1)
    assert unflagged["ap50_per_class"][1] == pytest.approx(0.5)


def test_a_free_ordinary_box_wins_over_a_difficult_one():
    # A detection overlapping both an ordinary and a difficult box takes the ordinary one.
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11]], np.float64)  # second one difficult
    result = evaluate(
        [det([[0, 0, 10, 10.5]], [1.0], [1])],
        [(boxes, np.array([1, 1]), np.array([False, True]))],
        num_classes=1,
    )
    assert result["ap50_per_class"][1] == 1.0


def test_a_detection_at_iou_exactly_the_threshold_with_a_difficult_box_is_ignored():
    # Difficult box [0, 0, 10, 10], detection [0, 0, 10, 5]: IoU 0.5 exactly, so ignored at
    # 0.5 (>=, as a hit would be), a false positive at 0.55. The ordinary box is found last.
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float64)
    result = evaluate(
        [det([[0, 0, 10, 5], [50, 50, 60, 60]], [0.9, 0.8], [1, 1])],
        [(boxes, np.array([1, 1]), np.array([True, False]))],
        num_classes=1,
        iou_thresholds=[0.5, 0.55],
    )
    # 0.5: ignored, TP -> AP 1. 0.55: FP, TP -> precision 1/2 at recall 1 -> AP 0.5.
    assert result["ap50_per_class"][1] == 1.0
    assert result["ap_per_class"][1] == pytest.approx((1.0 + 0.5) / 2)


def test_a_class_with_only_difficult_boxes_has_no_ap():
    result = evaluate(
        [det([[0, 0, 10, 10]], [1.0], [1])],
        [(np.array([[0, 0, 10, 10.0]]), np.array([1]), np.array([True]))],
        num_classes=1,
    )
    assert result["ap50_per_class"][1] is None and result["map50"] is None


def test_ground_truth_of_a_sample_puts_difficult_boxes_last():
    from minirpn.data import Sample
    from minirpn.evaluation import ground_truth

    sample = Sample(
        np.zeros((4, 4, 3), np.uint8),
        np.array([[0, 0, 1, 1]], np.float32),
        np.array([2]),
        "a.png",
        np.array([[1, 1, 2, 2], [2, 2, 3, 3]], np.float32),
        np.array([1, 3]),
    )
    boxes, labels, difficult = ground_truth(sample)
    np.testing.assert_array_equal(boxes, [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]])
    np.testing.assert_array_equal(labels, [2, 1, 3])
    np.testing.assert_array_equal(difficult, [False, True, True])
    plain = ground_truth(sample._replace(difficult_boxes=np.zeros((0, 4)), difficult_labels=[]))
    np.testing.assert_array_equal(plain[2], [False])


def test_a_bad_difficult_flag_is_refused():
    with pytest.raises(ValueError, match=r"difficult must be a bool array of shape \(1,\)"):
        evaluate([det([], [], [])], [(np.zeros((1, 4)), [1], [0])], num_classes=1)


def test_coco_summary_worked_by_hand_by_size_and_detection_count():
    """One image, class 1: s = [0,0,20,20] (area 400: small), m = [50,50,90,90] (1600: medium).

    Detections by score: d2 .95 [200,200,300,300] (area 10^4: large, matches nothing);
    d1 .90 = s (IoU 1); d3 .70 [50,50,90,80] (area 1200: medium; IoU with m 1200/1600 = .75);
    d4 .60 [300,0,310,10] (area 100: small, matches nothing).
    All sizes, t <= .75 (6 thresholds): FP TP TP FP, recall 0, 1/2, 1, 1, precision 0, 1/2,
      2/3, 1/2 -> AP 2/3; t > .75 (4): FP TP FP FP -> AP 1/2 * 1/2 = 1/4.
      AP = (6 * 2/3 + 4/4) / 10 = 1/2; AP50 = AP75 = 2/3 (a hit at exactly .75 counts).
    Small (m ignored): d2 large and unmatched: ignored; d1 TP; d3 overlaps the ignored m at
      t <= .75, and is medium and unmatched above: ignored; d4 small, unmatched: FP.
      TP FP -> AP 1 at every t; final recall 1.
    Medium (s ignored): d2 ignored, d1 on the ignored s: ignored; d3 TP at t <= .75 and an
      FP of the right size above; d4 ignored. AP = 6/10; recall 1 (6x), 0 (4x): AR 0.6.
    Large: no ground truth: None.
    AR100 = AR10: recall 1 at t <= .75, 1/2 above -> (6 + 2) / 10 = 0.8. AR1: only d2 is
    kept (the best score): recall 0.
    """
    truths = [gt([[0, 0, 20, 20], [50, 50, 90, 90]], [1, 1])]
    detections = [  # out of score order: the best are kept, not the first
        det(
            [[0, 0, 20, 20], [300, 0, 310, 10], [50, 50, 90, 80], [200, 200, 300, 300]],
            [0.90, 0.60, 0.70, 0.95],
            [1, 1, 1, 1],
        )
    ]
    summary = coco_summary(detections, truths, num_classes=1)
    expected = {
        "AP": 1 / 2,
        "AP50": 2 / 3,
        "AP75": 2 / 3,
        "AP_small": 1.0,
        "AP_medium": 0.6,
        "AP_large": None,
        "AR1": 0.0,
        "AR10": 0.8,
        "AR100": 0.8,
        "AR_small": 1.0,
        "AR_medium": 0.6,
        "AR_large": None,
    }
    assert summary.keys() == expected.keys()
    for key, value in expected.items():
        assert summary[key] == (None if value is None else pytest.approx(value, abs=1e-12)), key


def test_an_object_at_a_size_limit_counts_in_both_sizes_as_in_pycocotools():
    # 32 x 32 = 1024 = 32²: the end of "small" and the start of "medium", both included.
    truths = [gt([[0, 0, 32, 32], [0, 40, 31, 72]], [1, 1])]  # areas 1024 and 992
    detections = [det(np.zeros((0, 4)), [], [])]
    counts = {
        area: evaluate(detections, truths, 1, area=area)["num_ground_truth"][1]
        for area in ("small", "medium", "large", "all")
    }
    assert counts == {"small": 2, "medium": 1, "large": 0, "all": 2}


def test_classes_are_matched_by_name_and_refused_with_both_lists():
    to_run = match_classes(["square", "circle", "bar"], ["circle", "bar", "square"])
    assert to_run.tolist() == [0, 3, 1, 2]  # data label 1 (square) is the run's label 3
    with pytest.raises(ValueError, match=r"\['circle', 'dog'\] are not the run's \['circle'"):
        match_classes(["circle", "dog"], ["circle", "square"])
