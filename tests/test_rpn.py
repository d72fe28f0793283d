"""The RPN (F6-F8, F11-F16): the head's layout, the loss by hand, gradient checks of the head
and of the stage on several feature maps, and the stage on one map equal to the functions."""

import dataclasses

import numpy as np
import pytest

from minirpn import Config
from minirpn.anchor_target import IGNORE, POSITIVE, anchor_targets
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import clip_boxes, decode
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.proposal import proposal_layer
from minirpn.rpn import RegionProposalNetwork
from minirpn.rpn_head import (
    RPNHead,
    flatten_deltas,
    flatten_scores,
    rpn_loss,
    unflatten_deltas,
    unflatten_scores,
)

FEAT_H, FEAT_W, STRIDE = 4, 5, 8
IMAGE_SIZE = (FEAT_H * STRIDE, FEAT_W * STRIDE)  # (32, 40)
CFG = Config.tiny(anchor_scales=(2.0, 3.0), rpn_batch_size=24)  # A = 6 anchors per cell
GT = np.array([[2.0, 3.0, 19.0, 17.0], [20.0, 12.0, 38.0, 30.0]])


def scene(cfg=CFG, gt=GT, seed=0, feat_h=FEAT_H, feat_w=FEAT_W):
    base = generate_base_anchors(cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales)
    anchors = grid_anchors(base, feat_h, feat_w, STRIDE)
    return anchors, anchor_targets(anchors, gt, IMAGE_SIZE, cfg, np.random.default_rng(seed))


def test_flatten_follows_the_documented_channel_layout_and_grid_order():
    a = 3
    scores = np.random.default_rng(0).standard_normal((2 * a, FEAT_H, FEAT_W))
    deltas = np.random.default_rng(1).standard_normal((4 * a, FEAT_H, FEAT_W))
    flat_s, flat_d = flatten_scores(scores), flatten_deltas(deltas)
    assert flat_s.shape == (FEAT_H * FEAT_W * a, 2) and flat_d.shape == (FEAT_H * FEAT_W * a, 4)
    for i in range(FEAT_H):
        for j in range(FEAT_W):
            for k in range(a):
                row = (i * FEAT_W + j) * a + k  # grid_anchors order
                np.testing.assert_array_equal(flat_s[row], scores[2 * k : 2 * k + 2, i, j])
                np.testing.assert_array_equal(flat_d[row], deltas[4 * k : 4 * k + 4, i, j])
    np.testing.assert_array_equal(unflatten_scores(flat_s, FEAT_H, FEAT_W), scores)
    np.testing.assert_array_equal(unflatten_deltas(flat_d, FEAT_H, FEAT_W), deltas)


def test_head_shapes_and_parameters():
    head = RPNHead(3, 8, 9, rng=np.random.default_rng(0))
    (scores, deltas), cache = head.forward(np.zeros((2, 3, 5, 7), dtype=np.float32))
    assert scores.shape == (2, 18, 5, 7) and deltas.shape == (2, 36, 5, 7)
    assert scores.dtype == np.float32
    shapes = {name: p.shape for name, p, _ in head.named_parameters()}
    assert shapes == {
        "conv.weight": (8, 3, 3, 3),
        "conv.bias": (8,),
        "cls_score.weight": (18, 8, 1, 1),
        "cls_score.bias": (18,),
        "bbox_pred.weight": (36, 8, 1, 1),
        "bbox_pred.bias": (36,),
    }
    # Upstream gradient 1 everywhere: each sibling's bias gradient sums it over N * H * W.
    head.backward((np.ones_like(scores), np.ones_like(deltas)), cache)
    np.testing.assert_array_equal(head.grads["cls_score.bias"], np.full(18, 2 * 5 * 7))
    np.testing.assert_array_equal(head.grads["bbox_pred.bias"], np.full(36, 2 * 5 * 7))
    head.zero_grad()
    assert not any(g.any() for g in head.grads.values())


def test_initialisation_is_gaussian_with_std_001():
    """F14: every weight from N(0, 0.01**2), every bias 0.

    For n independent draws the sample std has standard error about sigma / sqrt(2 n) and
    the mean sigma / sqrt(n); we allow 5 standard errors (a fixed seed, so no flakiness,
    and a wrong std such as 0.001, sqrt(0.01) or He's sqrt(2 / fan_in) is far outside).
    """
    head = RPNHead(64, 128, 9, rng=np.random.default_rng(0))
    for name, param, _ in head.named_parameters():
        if name.endswith("bias"):
            assert not param.any(), name
            continue
        n = param.size  # 73,728 for conv, 2,304 and 4,608 for the siblings
        assert abs(param.std() - 0.01) < 5 * 0.01 / np.sqrt(2 * n), name
        assert abs(param.mean()) < 5 * 0.01 / np.sqrt(n), name


def test_head_backward_by_hand():
    # One channel, one hidden unit, one anchor, a 1x1 map holding x = 2. On a 1x1 map with
    # padding 1 only the centre tap of the 3x3 conv sees the pixel (0.5), bias 0.1:
    # hidden = relu(0.5 * 2 + 0.1) = 1.1. cls weights (0.3, -0.2), reg weights 0.1 .. 0.4.
    head = RPNHead(1, 1, 1, rng=np.random.default_rng(0), dtype=np.float64)
    head.params["conv.weight"][...] = 0.0
    head.params["conv.weight"][0, 0, 1, 1] = 0.5
    head.params["conv.bias"][...] = 0.1
    head.params["cls_score.weight"][:, 0, 0, 0] = [0.3, -0.2]
    head.params["bbox_pred.weight"][:, 0, 0, 0] = [0.1, 0.2, 0.3, 0.4]
    (scores, deltas), cache = head.forward(np.full((1, 1, 1, 1), 2.0))
    np.testing.assert_allclose(scores.ravel(), [0.33, -0.22], rtol=1e-12)
    np.testing.assert_allclose(deltas.ravel(), [0.11, 0.22, 0.33, 0.44], rtol=1e-12)
    dfeatures = head.backward(
        (np.array([1.0, 2.0]).reshape(1, 2, 1, 1), np.ones((1, 4, 1, 1))), cache
    )
    # siblings: d weight = upstream * hidden, d bias = upstream
    np.testing.assert_allclose(head.grads["cls_score.weight"].ravel(), [1.1, 2.2], rtol=1e-12)
    np.testing.assert_allclose(head.grads["cls_score.bias"], [1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(head.grads["bbox_pred.weight"].ravel(), [1.1] * 4, rtol=1e-12)
    np.testing.assert_allclose(head.grads["bbox_pred.bias"], [1.0] * 4, rtol=1e-12)
    # hidden gets the sum of both siblings: 0.3 * 1 - 0.2 * 2 + (0.1 + 0.2 + 0.3 + 0.4) = 0.9;
    # the ReLU is open (1.1 > 0); conv: d bias = 0.9, d centre tap = 0.9 * 2, others 0
    # (they see padding); d x = 0.9 * 0.5.
    np.testing.assert_allclose(head.grads["conv.bias"], [0.9], rtol=1e-12)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 1.8
    np.testing.assert_allclose(head.grads["conv.weight"], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dfeatures.ravel(), [0.45], rtol=1e-12)


def naive_rpn_loss(scores, deltas, targets, cfg):
    """F11 for one image with explicit loops over maps, cells and anchors, indexing the head
    outputs directly. scores, deltas: lists with the image's (1, 2A, H, W) and (1, 4A, H, W)
    outputs on each map; the anchors' rows run over the maps in turn."""
    cls_terms, reg_sum, offset, cells = [], 0.0, 0, 0
    inv_s2 = 1.0 / cfg.rpn_sigma**2
    for map_scores, map_deltas in zip(scores, deltas, strict=True):
        _, two_a, feat_h, feat_w = map_scores.shape
        a_per_cell = two_a // 2
        for i in range(feat_h):
            for j in range(feat_w):
                for a in range(a_per_cell):
                    row = offset + (i * feat_w + j) * a_per_cell + a
                    label = targets.labels[row]
                    if label == IGNORE:
                        continue
                    logits = map_scores[0, 2 * a : 2 * a + 2, i, j]
                    cls_terms.append(-(logits[label] - np.log(np.exp(logits).sum())))
                    if label == POSITIVE:
                        for c in range(4):
                            x = map_deltas[0, 4 * a + c, i, j] - targets.bbox_targets[row, c]
                            reg_sum += (
                                0.5 * x * x / inv_s2 if abs(x) < inv_s2 else abs(x) - 0.5 * inv_s2
                            )
        offset += feat_h * feat_w * a_per_cell
        cells += feat_h * feat_w
    loss_cls = np.mean(cls_terms) if cls_terms else 0.0
    if cfg.rpn_loss_normalization == "anchor_locations":
        return loss_cls, cfg.rpn_lambda * reg_sum / (cfg.rpn_n_reg or cells)
    return loss_cls, reg_sum / max(len(cls_terms), 1)


@pytest.mark.parametrize("normalization", ["anchor_locations", "minibatch"])
def test_loss_matches_the_formula_written_with_loops(normalization):
    cfg = dataclasses.replace(CFG, rpn_loss_normalization=normalization)
    _, targets = scene(cfg)
    assert np.count_nonzero(targets.labels == POSITIVE) >= 2
    rng = np.random.default_rng(3)
    a = CFG.num_anchors
    scores = rng.standard_normal((1, 2 * a, FEAT_H, FEAT_W))
    deltas = rng.standard_normal((1, 4 * a, FEAT_H, FEAT_W)) * 0.3  # both smooth-L1 branches
    loss_cls, loss_reg, _, _ = rpn_loss(scores, deltas, targets, cfg)
    ref_cls, ref_reg = naive_rpn_loss([scores], [deltas], targets, cfg)
    np.testing.assert_allclose([loss_cls, loss_reg], [ref_cls, ref_reg], rtol=1e-12)
    assert ref_reg > 0


def assert_away_from_kinks(head, features, deltas, labels, bbox_targets, cfg):
    """A gradient check's point must lie > 1e-3 from every ReLU and smooth-L1 kink (a finite
    difference there straddles two pieces), and reach both smooth-L1 branches.

    features: the maps the head ran on; deltas (K, 4): the predicted rows of their anchors,
    with their labels (K,) and bbox_targets (K, 4)."""
    for feature in features:
        pre_relu, _ = head.conv.forward(feature)
        assert np.abs(pre_relu).min() > 1e-3, "a ReLU input sits on its kink; pick another seed"
    residual = np.abs(deltas - bbox_targets)[labels == POSITIVE]
    edge = 1 / cfg.rpn_sigma**2
    assert np.abs(residual - edge).min() > 1e-3, "a smooth-L1 input sits on its kink"
    assert (residual < edge).any() and (residual > edge).any()


def assert_gradients_match(total_loss, pairs):
    """``(name, analytic, array)`` pairs: analytic d total_loss / d array against centred
    differences (float64), relative error < 1e-6."""
    for name, analytic, array in pairs:
        err = relative_error(analytic, numerical_gradient(total_loss, array))
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("normalization", ["anchor_locations", "minibatch"])
def test_head_and_loss_gradient_check_from_the_feature_map(normalization):
    """d(loss_cls + loss_reg) / d(features and every parameter) by centred differences.

    float64, h = 1e-5; expected relative error ~1e-9, required < 1e-6. The sampling is
    fixed (targets computed once). Points are checked to lie away from the kinks of ReLU
    and smooth L1, where a finite difference straddles two pieces.
    """
    cfg = dataclasses.replace(CFG, rpn_loss_normalization=normalization)
    _, targets = scene(cfg)
    rng = np.random.default_rng(3)  # a seed whose point is > 5e-3 from every kink
    features = rng.standard_normal((1, 3, FEAT_H, FEAT_W))
    head = RPNHead(3, 4, cfg.num_anchors, std=0.3, rng=rng, dtype=np.float64)

    def total_loss():
        (scores, deltas), _ = head.forward(features)
        loss_cls, loss_reg, _, _ = rpn_loss(scores, deltas, targets, cfg)
        return loss_cls + loss_reg

    (scores, deltas), cache = head.forward(features)
    assert_away_from_kinks(
        head, [features], flatten_deltas(deltas[0]), targets.labels, targets.bbox_targets, cfg
    )
    head.zero_grad()
    _, _, dscores, ddeltas = rpn_loss(scores, deltas, targets, cfg)
    dfeatures = head.backward((dscores, ddeltas), cache)
    assert_gradients_match(
        total_loss,
        [
            ("features", dfeatures, features),
            *((name, grad, param) for name, param, grad in head.named_parameters()),
        ],
    )


SECOND_MAP = (3, 4)  # another size than (FEAT_H, FEAT_W), inside the same 32 x 40 image


def test_head_on_two_maps_of_different_sizes_gradient_check():
    """Issue 20: one RPNHead applied to two maps of different sizes, both caches held, one
    loss over both (each map's RPN loss with its own anchor targets, added), both backwards
    called: the weights, the biases and both maps against centred differences (float64). A
    head that kept one cache on itself, or overwrote its gradients, fails."""
    sizes = ((FEAT_H, FEAT_W), SECOND_MAP)
    targets = [scene(feat_h=h, feat_w=w)[1] for h, w in sizes]
    rng = np.random.default_rng(3)
    features = [rng.standard_normal((1, 3, h, w)) for h, w in sizes]
    head = RPNHead(3, 4, CFG.num_anchors, std=0.3, rng=rng, dtype=np.float64)

    def total_loss():
        total = 0.0
        for feature, map_targets in zip(features, targets, strict=True):
            (scores, deltas), _ = head.forward(feature)
            loss_cls, loss_reg, _, _ = rpn_loss(scores, deltas, map_targets, CFG)
            total += loss_cls + loss_reg
        return total

    outputs = [head.forward(feature) for feature in features]  # both caches held
    assert_away_from_kinks(
        head,
        features,
        np.concatenate([flatten_deltas(deltas[0]) for (_, deltas), _ in outputs]),
        np.concatenate([t.labels for t in targets]),
        np.concatenate([t.bbox_targets for t in targets]),
        CFG,
    )
    head.zero_grad()
    dfeatures = []
    for ((scores, deltas), cache), map_targets in zip(outputs, targets, strict=True):
        _, _, dscores, ddeltas = rpn_loss(scores, deltas, map_targets, CFG)
        dfeatures.append(head.backward((dscores, ddeltas), cache))
    assert_gradients_match(
        total_loss,
        [
            ("features 0", dfeatures[0], features[0]),
            ("features 1", dfeatures[1], features[1]),
            *((name, grad, param) for name, param, grad in head.named_parameters()),
        ],
    )


def test_no_ground_truth_gives_zero_regression_loss_and_no_nan():
    for normalization in ("anchor_locations", "minibatch"):
        cfg = dataclasses.replace(CFG, rpn_loss_normalization=normalization)
        _, targets = scene(cfg, gt=np.zeros((0, 4)))
        rng = np.random.default_rng(0)
        a = cfg.num_anchors
        scores = rng.standard_normal((1, 2 * a, FEAT_H, FEAT_W)).astype(np.float32)
        deltas = rng.standard_normal((1, 4 * a, FEAT_H, FEAT_W)).astype(np.float32)
        loss_cls, loss_reg, dscores, ddeltas = rpn_loss(scores, deltas, targets, cfg)
        assert loss_reg == 0.0 and not ddeltas.any()
        assert np.isfinite(loss_cls) and loss_cls > 0 and np.all(np.isfinite(dscores))
        assert dscores.dtype == np.float32 and ddeltas.dtype == np.float32


def test_nothing_sampled_gives_zero_losses():
    _, targets = scene()
    targets = targets._replace(
        labels=np.full_like(targets.labels, IGNORE),
        inside_weights=np.zeros_like(targets.inside_weights),
    )
    a = CFG.num_anchors
    loss_cls, loss_reg, dscores, ddeltas = rpn_loss(
        np.ones((1, 2 * a, FEAT_H, FEAT_W)),
        np.ones((1, 4 * a, FEAT_H, FEAT_W)),
        targets,
        dataclasses.replace(CFG, rpn_loss_normalization="minibatch"),
    )
    assert (loss_cls, loss_reg) == (0.0, 0.0) and not dscores.any() and not ddeltas.any()


def test_bad_arguments_raise():
    _, targets = scene()
    a = CFG.num_anchors
    scores, deltas = np.zeros((1, 2 * a, FEAT_H, FEAT_W)), np.zeros((1, 4 * a, FEAT_H, FEAT_W))
    with pytest.raises(ValueError, match="rpn_loss_normalization"):
        rpn_loss(scores, deltas, targets, dataclasses.replace(CFG, rpn_loss_normalization="paper"))
    with pytest.raises(ValueError, match="deltas must have shape"):
        rpn_loss(scores, deltas[:, :-4], targets, CFG)
    with pytest.raises(ValueError, match="targets are for"):
        rpn_loss(scores[:, :, :-1], deltas[:, :, :-1], targets, CFG)
    with pytest.raises(ValueError, match="one image"):
        rpn_loss(np.concatenate([scores, scores]), np.concatenate([deltas, deltas]), targets, CFG)
    with pytest.raises(ValueError, match="num_anchors"):
        RPNHead(3, 4, 0)


# ------------------------------------------------------------------------------- the stage
CENTER = 4.0  # the tiny backbone's cell-0 receptive-field centre
SMALL = dataclasses.replace(CFG, rpn_channels=4)  # few weights: quick finite differences


def stage(dtype, seed=0, cfg=CFG):
    """A RegionProposalNetwork on 3-channel maps with weights large enough to matter."""
    rng = np.random.default_rng(seed)
    rpn = RegionProposalNetwork(cfg, 3, CENTER, rng=rng, dtype=dtype)
    for param in rpn.params.values():
        param += rng.normal(0.0, 0.3, size=param.shape).astype(dtype)
    return rpn


def test_the_stage_on_one_map_is_the_head_the_proposal_layer_and_rpn_loss_bit_for_bit():
    """With one map the stage's outputs, proposals, anchor targets, loss, its gradients and
    the backward are those of the functions it puts together, to the last bit (float32, a
    batch of two images; top-N and minibatch sizes that select and sample)."""
    cfg = dataclasses.replace(
        CFG, rpn_batch_size=8, rpn_pre_nms_top_n_test=40, rpn_post_nms_top_n_test=8
    )
    rpn = stage(np.float32, cfg=cfg)
    features = np.random.default_rng(1).standard_normal((2, 3, FEAT_H, FEAT_W)).astype(np.float32)
    out, cache = rpn.forward([features])
    (scores, deltas), head_cache = rpn.head.forward(features)
    np.testing.assert_array_equal(out.scores[0], scores)
    np.testing.assert_array_equal(out.deltas[0], deltas)
    base = generate_base_anchors(
        cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales, center=CENTER
    )
    anchors = grid_anchors(base, FEAT_H, FEAT_W, cfg.feat_stride)
    np.testing.assert_array_equal(out.anchors[0], anchors)
    for train in (True, False):
        for b, proposals in enumerate(rpn.propose(out, IMAGE_SIZE, train=train)):
            expected = proposal_layer(
                scores[b : b + 1], deltas[b : b + 1], anchors, IMAGE_SIZE, cfg,
                train=train, return_indices=True,
            )  # fmt: skip
            assert (len(expected[0]) > 8) == train  # the test top-N is 8
            for got, want in zip(proposals, expected, strict=True):
                np.testing.assert_array_equal(got, want)
    # Anchor targets: image by image from the one generator.
    gt = [GT, GT[:1]]
    targets = rpn.anchor_targets(out, gt, IMAGE_SIZE, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    expected = [anchor_targets(anchors, boxes, IMAGE_SIZE, cfg, rng) for boxes in gt]
    for got, want in zip(targets, expected, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    # The loss: the mean of the images' rpn_loss, each image's gradient halved (exactly).
    loss = rpn.loss(out, targets)
    refs = [rpn_loss(scores[b : b + 1], deltas[b : b + 1], expected[b], cfg) for b in (0, 1)]
    assert loss.losses == pytest.approx(
        {"rpn_cls": (refs[0].loss_cls + refs[1].loss_cls) / 2,
         "rpn_reg": (refs[0].loss_reg + refs[1].loss_reg) / 2},
        rel=1e-6,
    )  # fmt: skip
    for b, ref in enumerate(refs):
        np.testing.assert_array_equal(loss.dscores[0][b], ref.dscores[0] / 2)
        np.testing.assert_array_equal(loss.ddeltas[0][b], ref.ddeltas[0] / 2)
    # One image: the losses themselves, bit for bit.
    single = rpn.loss(out._replace(scores=[scores[:1]], deltas=[deltas[:1]]), expected[:1])
    assert single.losses == {"rpn_cls": refs[0].loss_cls, "rpn_reg": refs[0].loss_reg}
    # The backward is the head's.
    rpn.zero_grad()
    (dfeatures,) = rpn.backward(loss.dscores, loss.ddeltas, cache)
    grads = {name: grad.copy() for name, grad in rpn.grads.items()}
    rpn.zero_grad()
    np.testing.assert_array_equal(
        rpn.head.backward((loss.dscores[0], loss.ddeltas[0]), head_cache), dfeatures
    )
    for name, grad in rpn.grads.items():
        np.testing.assert_array_equal(grad, grads[name], err_msg=name)


@pytest.mark.parametrize("normalization", ["anchor_locations", "minibatch"])
def test_the_stage_on_two_maps_of_different_sizes_gradient_check(normalization):
    """The stage on a list of two maps of different sizes (a batch of two images): the loss
    is F11 over the anchors of both maps (N_reg: the cells of both), checked against the
    loops; forward, loss and backward checked end to end by centred differences (float64)
    for both maps and every parameter; each proposal is its anchor's box, from either map."""
    cfg = dataclasses.replace(SMALL, rpn_loss_normalization=normalization)
    rpn = stage(np.float64, seed=3, cfg=cfg)
    rng = np.random.default_rng(4)
    features = [rng.standard_normal((2, 3, h, w)) for h, w in ((FEAT_H, FEAT_W), SECOND_MAP)]
    out, cache = rpn.forward(features)
    first_map_rows = FEAT_H * FEAT_W * cfg.num_anchors
    targets = rpn.anchor_targets(out, [GT, GT[1:]], IMAGE_SIZE, np.random.default_rng(1))
    for image_targets in targets:  # both maps have sampled anchors
        sampled = np.flatnonzero(image_targets.labels != IGNORE)
        assert sampled.min() < first_map_rows <= sampled.max()

    loss = rpn.loss(out, targets)
    naive = [
        naive_rpn_loss([s[b : b + 1] for s in out.scores], [d[b : b + 1] for d in out.deltas],
                       targets[b], cfg)
        for b in (0, 1)
    ]  # fmt: skip
    np.testing.assert_allclose(
        [loss.losses["rpn_cls"], loss.losses["rpn_reg"]], np.mean(naive, axis=0), rtol=1e-12
    )

    def total_loss():
        return sum(rpn.loss(rpn.forward(features)[0], targets).losses.values())

    assert_away_from_kinks(
        rpn.head,
        features,
        np.concatenate([out.rows(b)[1] for b in (0, 1)]),
        np.concatenate([t.labels for t in targets]),
        np.concatenate([t.bbox_targets for t in targets]),
        cfg,
    )
    rpn.zero_grad()
    dfeatures = rpn.backward(loss.dscores, loss.ddeltas, cache)
    assert_gradients_match(
        total_loss,
        [
            ("features 0", dfeatures[0], features[0]),
            ("features 1", dfeatures[1], features[1]),
            *((name, grad, param) for name, param, grad in rpn.named_parameters()),
        ],
    )

    # Proposals over both maps: each is its anchor row decoded and clipped, bit for bit.
    for b, proposals in enumerate(rpn.propose(out, IMAGE_SIZE, train=True)):
        _, deltas, anchors = out.rows(b)
        rows = proposals.anchor_rows
        assert rows.min() < first_map_rows <= rows.max()
        expected = clip_boxes(decode(anchors[rows], deltas[rows]), IMAGE_SIZE)
        np.testing.assert_array_equal(proposals.boxes, expected)
        # rows() and scatter_rows() are inverses.
        grads = [np.zeros_like(s) for s in out.scores]
        out.scatter_rows(out.rows(b)[0], grads, b)
        for grad, scores in zip(grads, out.scores, strict=True):
            np.testing.assert_array_equal(grad[b], scores[b])
