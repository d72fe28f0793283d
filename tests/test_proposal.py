"""Proposal layer (F15, F16): a case worked by hand, and invariants on random predictions."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import Config
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import clip_boxes, decode
from minirpn.proposal import objectness, proposal_layer


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# A 1x1 feature map with A = 5 hand-placed anchors in a 40 x 40 image.
HAND_ANCHORS = np.array(
    [
        [0, 0, 10, 10],  # a0: zero deltas, object logit 2
        [1, 0, 11, 10],  # a1: zero deltas, logit 3; IoU with a0 = 90 / 110 > 0.7
        [20, 20, 30, 30],  # a2: t_w = t_h = log 2 -> [15, 15, 35, 35], logit 1
        [
            30,
            30,
            40,
            40,
        ],  # a3: t_x = 0.5 -> [35, 30, 45, 40], clipped to [35, 30, 40, 40], logit -1
        [0, 30, 10, 40],  # a4: t_w = log 0.3 -> 3 pixels wide, logit 5
    ],
    dtype=float,
)
HAND_LOGITS = np.array([2.0, 3.0, 1.0, -1.0, 5.0])
HAND_DELTAS = np.array(
    [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, np.log(2), np.log(2)],
        [0.5, 0, 0, 0],
        [0, 0, np.log(0.3), 0],
    ]
)
HAND_CFG = dataclasses.replace(Config(), rpn_min_size=4.0)


def hand_inputs():
    scores = np.zeros((1, 10, 1, 1))
    scores[0, 1::2, 0, 0] = HAND_LOGITS  # channel 2a + 1 = object, 2a = background (0)
    deltas = HAND_DELTAS.reshape(1, 20, 1, 1)  # channel 4a + c
    return scores, deltas


def test_hand_computed_case():
    scores, deltas = hand_inputs()
    boxes, probs = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), HAND_CFG, train=False)
    # a4 is too small (3 < 4), a0 loses NMS to a1; the rest by decreasing probability.
    np.testing.assert_allclose(
        boxes, [[1, 0, 11, 10], [15, 15, 35, 35], [35, 30, 40, 40]], atol=1e-12
    )
    np.testing.assert_allclose(probs, sigmoid(np.array([3.0, 1.0, -1.0])), rtol=1e-12)


def test_hand_case_anchor_indices():
    """return_indices: the anchor each proposal was decoded from (a1, a2, a3 here)."""
    scores, deltas = hand_inputs()
    boxes, probs, index = proposal_layer(
        scores, deltas, HAND_ANCHORS, (40, 40), HAND_CFG, train=False, return_indices=True
    )
    assert index.tolist() == [1, 2, 3] and index.dtype == np.int64
    expected = clip_boxes(decode(HAND_ANCHORS[index], HAND_DELTAS[index]), (40, 40))
    np.testing.assert_array_equal(boxes, expected)
    plain = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), HAND_CFG, train=False)
    np.testing.assert_array_equal(plain[0], boxes)
    np.testing.assert_array_equal(plain[1], probs)


def test_hand_case_min_size_scales_with_the_image_scale():
    scores, deltas = hand_inputs()
    boxes, probs = proposal_layer(
        scores, deltas, HAND_ANCHORS, (40, 40), HAND_CFG, train=False, image_scale=0.5
    )
    # min size 4 * 0.5 = 2 pixels: the 3-pixel box of a4 now survives and comes first.
    np.testing.assert_allclose(boxes[0], [3.5, 30, 6.5, 40], atol=1e-12)
    np.testing.assert_allclose(probs, sigmoid(np.array([5.0, 3.0, 1.0, -1.0])), rtol=1e-12)


def test_hand_case_top_n_before_and_after_nms():
    scores, deltas = hand_inputs()
    # Keep the 2 best before NMS (a1, a0): NMS removes a0, one proposal is left.
    cfg = dataclasses.replace(HAND_CFG, rpn_pre_nms_top_n_test=2)
    boxes, _ = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), cfg, train=False)
    np.testing.assert_allclose(boxes, [[1, 0, 11, 10]])
    # The training values are separate: with train=True nothing is capped here...
    boxes, _ = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), cfg, train=True)
    assert len(boxes) == 3
    # ... and post_nms_top_n keeps the first survivors.
    cfg = dataclasses.replace(HAND_CFG, rpn_post_nms_top_n_train=2)
    boxes, _ = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), cfg, train=True)
    np.testing.assert_allclose(boxes, [[1, 0, 11, 10], [15, 15, 35, 35]], atol=1e-12)


def test_objectness_is_a_stable_softmax():
    scores = np.array([1000.0, -1000.0, -5.0, 5.0]).reshape(1, 4, 1, 1)  # two anchors
    np.testing.assert_allclose(objectness(scores), [0.0, sigmoid(10.0)], rtol=1e-12)


@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1), train=st.booleans(), nms_thresh=st.sampled_from([0.3, 0.5, 0.7])
)
def test_invariants_on_random_predictions(seed, train, nms_thresh):
    rng = np.random.default_rng(seed)
    cfg = Config.tiny(
        rpn_nms_thresh=nms_thresh,
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=40,
        rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=20,
    )
    feat_h, feat_w, a = 6, 8, cfg.num_anchors
    image_size = (feat_h * cfg.feat_stride - 3, feat_w * cfg.feat_stride)
    anchors = grid_anchors(
        generate_base_anchors(cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales),
        feat_h,
        feat_w,
        cfg.feat_stride,
    )
    # float64, so that the comparison with the float64 reference below has no rounding ties.
    scores = rng.standard_normal((1, 2 * a, feat_h, feat_w))
    deltas = rng.standard_normal((1, 4 * a, feat_h, feat_w)) * 0.5
    image_scale = rng.uniform(0.5, 2.0)
    boxes, probs = proposal_layer(
        scores, deltas, anchors, image_size, cfg, train=train, image_scale=image_scale
    )

    assert boxes.shape == (len(probs), 4)
    assert len(boxes) <= (cfg.rpn_post_nms_top_n_train if train else cfg.rpn_post_nms_top_n_test)
    assert len(boxes) > 0
    height, width = image_size
    assert (
        boxes[:, [0, 1]].min() >= 0 and boxes[:, 2].max() <= width and boxes[:, 3].max() <= height
    )
    min_size = cfg.rpn_min_size * image_scale
    assert (boxes[:, 2] - boxes[:, 0]).min() >= min_size - 1e-4 and (
        boxes[:, 3] - boxes[:, 1]
    ).min() >= min_size - 1e-4
    assert np.all(np.diff(probs) <= 0)
    assert all(
        naive_iou(boxes[i], boxes[j]) <= nms_thresh
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
    )
    ref_boxes, ref_probs = naive_proposals(
        scores, deltas, anchors, image_size, cfg, train, image_scale
    )
    np.testing.assert_allclose(boxes, ref_boxes, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-12)


def naive_proposals(scores, deltas, anchors, image_size, cfg, train, image_scale):
    """F15 and F16 one anchor at a time, in float64, with a plain greedy NMS."""
    _, _, feat_h, feat_w = scores.shape
    a_per_cell = scores.shape[1] // 2
    height, width = image_size
    candidates = []
    for i in range(feat_h):
        for j in range(feat_w):
            for a in range(a_per_cell):
                x1, y1, x2, y2 = anchors[(i * feat_w + j) * a_per_cell + a]
                tx, ty, tw, th = (float(v) for v in deltas[0, 4 * a : 4 * a + 4, i, j])
                w, h = x2 - x1, y2 - y1
                cx, cy, w, h = (
                    x1 + w / 2 + tx * w,
                    y1 + h / 2 + ty * h,
                    w * np.exp(tw),
                    h * np.exp(th),
                )
                box = [
                    min(max(cx - w / 2, 0), width),
                    min(max(cy - h / 2, 0), height),
                    min(max(cx + w / 2, 0), width),
                    min(max(cy + h / 2, 0), height),
                ]
                prob = 1 / (
                    1 + np.exp(float(scores[0, 2 * a, i, j]) - float(scores[0, 2 * a + 1, i, j]))
                )
                if min(box[2] - box[0], box[3] - box[1]) >= cfg.rpn_min_size * image_scale:
                    candidates.append((prob, box))
    candidates.sort(key=lambda c: -c[0])  # stable: ties keep the grid order
    pre_n, post_n = (
        (cfg.rpn_pre_nms_top_n_train, cfg.rpn_post_nms_top_n_train)
        if train
        else (cfg.rpn_pre_nms_top_n_test, cfg.rpn_post_nms_top_n_test)
    )
    kept = []
    for prob, box in candidates[:pre_n]:
        if all(naive_iou(box, other) <= cfg.rpn_nms_thresh for _, other in kept):
            kept.append((prob, box))
    kept = kept[:post_n]
    return np.array([b for _, b in kept]).reshape(-1, 4), np.array([p for p, _ in kept])


def naive_iou(a, b):
    """F9 for two boxes in plain Python floats (not ``ops.box_iou``, which is under test)."""
    inter_w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    inter_h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_float32_in_float32_out():
    scores, deltas = hand_inputs()
    boxes, probs = proposal_layer(
        scores.astype(np.float32),
        deltas.astype(np.float32),
        HAND_ANCHORS,
        (40, 40),
        HAND_CFG,
        train=True,
    )
    assert boxes.dtype == np.float32 and probs.dtype == np.float32
    np.testing.assert_allclose(
        boxes, [[1, 0, 11, 10], [15, 15, 35, 35], [35, 30, 40, 40]], atol=1e-5
    )


def test_nothing_survives_gives_empty_arrays():
    scores, deltas = hand_inputs()
    cfg = dataclasses.replace(HAND_CFG, rpn_min_size=100.0)
    boxes, probs = proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), cfg, train=True)
    assert boxes.shape == (0, 4) and probs.shape == (0,)


def test_bad_arguments_raise():
    scores, deltas = hand_inputs()
    with pytest.raises(ValueError, match="anchors must have shape"):
        proposal_layer(scores, deltas, HAND_ANCHORS[:4], (40, 40), HAND_CFG, train=True)
    with pytest.raises(ValueError, match="image_scale"):
        proposal_layer(scores, deltas, HAND_ANCHORS, (40, 40), HAND_CFG, train=True, image_scale=0)
    with pytest.raises(ValueError, match="image_size"):
        proposal_layer(scores, deltas, HAND_ANCHORS, (40, -1), HAND_CFG, train=True)
    with pytest.raises(ValueError, match="deltas must be finite"):
        proposal_layer(
            scores, np.full_like(deltas, np.nan), HAND_ANCHORS, (40, 40), HAND_CFG, train=True
        )
