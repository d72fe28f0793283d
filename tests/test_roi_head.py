"""The second stage on its own (F17-F19): shapes, loss by the formula, gradient check."""

import dataclasses

import numpy as np
import pytest

from minirpn import Config, ops
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.proposal_target import proposal_targets
from minirpn.roi_head import RoIHead, roi_head_loss
from minirpn.roi_ops import RoIAlign, RoIPool

NUM_CLASSES = 3
CFG = Config.tiny(fc_channels=12, roi_pool_size=3, roi_batch_size=12)


def scene(dtype=np.float64):
    """A 2-image batch of 4-channel 6x7 maps, and 12 sampled RoIs with their targets."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 4, 6, 7)).astype(dtype)
    gt = np.array([[4.0, 6.0, 30.0, 26.0], [20.0, 10.0, 50.0, 44.0]])
    proposals = np.array(
        [[5, 5, 28, 28], [18, 12, 52, 40], [0, 0, 20, 16], [30, 2, 55, 47], [10, 20, 40, 44]],
        dtype=float,
    )
    targets = proposal_targets(proposals, gt, np.array([1, 3]), NUM_CLASSES, CFG, rng)
    half = len(targets.rois) // 2  # first half on image 0, the rest on image 1
    batch_index = (np.arange(len(targets.rois)) >= half).astype(float)[:, None]
    rois = np.hstack([batch_index, targets.rois]).astype(dtype)
    return features, rois, targets


def test_shapes_and_parameter_names():
    head = RoIHead(64, NUM_CLASSES, Config.tiny(), rng=np.random.default_rng(0))
    shapes = {name: p.shape for name, p in head.params.items()}
    assert shapes == {
        "fc6.weight": (256, 64 * 7 * 7),
        "fc6.bias": (256,),
        "fc7.weight": (256, 256),
        "fc7.bias": (256,),
        "cls_score.weight": (NUM_CLASSES + 1, 256),
        "cls_score.bias": (NUM_CLASSES + 1,),
        "bbox_pred.weight": (4 * (NUM_CLASSES + 1), 256),
        "bbox_pred.bias": (4 * (NUM_CLASSES + 1),),
    }
    features = np.zeros((1, 64, 16, 16), np.float32)
    (cls_logits, box_deltas), _ = head.forward(features, np.array([[0, 0, 0, 64, 48]], np.float32))
    assert isinstance(head.roi_op, RoIPool) and head.roi_op.output_size == 7
    assert cls_logits.shape == (1, NUM_CLASSES + 1) and box_deltas.shape == (1, 16)
    # The new layers follow F14's Gaussian: cls_score std 0.01, bbox_pred 0.001.
    assert head.params["cls_score.weight"].std() == pytest.approx(0.01, rel=0.1)
    assert head.params["bbox_pred.weight"].std() == pytest.approx(0.001, rel=0.1)
    with pytest.raises(ValueError, match="num_classes"):
        RoIHead(64, 0, Config.tiny())


def test_loss_matches_the_formula_written_with_loops():
    features, rois, targets = scene()
    head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    (cls_logits, box_deltas), _ = head.forward(features, rois)
    loss = roi_head_loss(cls_logits, box_deltas, targets, CFG)
    num_rois = len(rois)
    assert (targets.labels > 0).any() and (targets.labels == 0).any()
    log_loss = reg = 0.0
    for r in range(num_rois):
        logits = cls_logits[r]
        label = targets.labels[r]
        log_loss -= logits[label] - np.log(np.sum(np.exp(logits)))
        if label > 0:  # smooth L1 (sigma 1) on the 4 deltas of the RoI's own class only
            for c in range(4):
                x = box_deltas[r, 4 * label + c] - targets.bbox_targets[r, 4 * label + c]
                reg += 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5
    assert loss.loss_cls == pytest.approx(log_loss / num_rois, rel=1e-12)
    assert loss.loss_reg == pytest.approx(reg / num_rois, rel=1e-12)


def test_gradient_check_of_the_head_alone_float64():
    """Parameters and the feature map against centred differences (expected error < 1e-7).

    RoI pooling routes each bin's gradient to its max (F19); with continuous random
    features no two cells tie, so the loss is smooth at this point.
    """
    features, rois, targets = scene()
    head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    for param in head.params.values():  # larger weights: gradients well above the noise
        param += np.random.default_rng(2).normal(0.0, 0.3, size=param.shape)

    def total_loss():
        out = roi_head_loss(*head.forward(features, rois)[0], targets, CFG)
        return out.loss_cls + out.loss_reg

    head.zero_grad()
    outputs, cache = head.forward(features, rois)
    loss = roi_head_loss(*outputs, targets, CFG)
    dfeatures, drois = head.backward((loss.dcls_logits, loss.dbox_deltas), cache)
    assert drois is None  # not asked for
    for name, param in head.params.items():
        numeric = numerical_gradient(total_loss, param)
        assert np.abs(numeric).max() > 1e-6, name
        assert relative_error(head.grads[name], numeric) < 1e-7, name
    numeric = numerical_gradient(total_loss, features)
    assert relative_error(dfeatures, numeric) < 1e-7
    # Only the cells that won a max get gradient: most of the map gets none.
    assert 0 < np.count_nonzero(dfeatures) < dfeatures.size


def test_loss_refuses_targets_of_another_batch():
    features, rois, targets = scene()
    head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    (cls_logits, box_deltas), _ = head.forward(features, rois[:-1])
    with pytest.raises(ValueError, match="targets are for"):
        roi_head_loss(cls_logits, box_deltas, targets, CFG)


def test_backward_refuses_the_cache_of_another_forward():
    """The cache is the tape of one call: the gradients of R RoIs with the cache of a forward
    on R - 1 are refused, and nothing is added to the gradients."""
    features, rois, targets = scene()
    head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    loss = roi_head_loss(*head.forward(features, rois)[0], targets, CFG)
    _, other = head.forward(features, rois[:-1])
    head.zero_grad()
    num_rois = len(rois)
    with pytest.raises(
        ValueError, match=rf"dout has shape \({num_rois}, 4\), expected \({num_rois - 1}, 4\)"
    ):
        head.backward((loss.dcls_logits, loss.dbox_deltas), other)
    assert not any(grad.any() for grad in head.grads.values())


ALIGN_CFG = dataclasses.replace(CFG, roi_op="align")


def align_scene():
    """scene() with the RoI corners moved off the grid: RoIAlign's bilinear kinks lie where a
    sample crosses a cell edge, and the integer boxes of scene() put samples exactly there."""
    features, rois, targets = scene()
    rois = rois.copy()
    rois[:, 1:] += np.random.default_rng(3).uniform(-0.37, 0.37, size=(len(rois), 4))
    return features, rois, targets


def align_head():
    head = RoIHead(4, NUM_CLASSES, ALIGN_CFG, rng=np.random.default_rng(1), dtype=np.float64)
    for param in head.params.values():  # larger weights: gradients well above the noise
        param += np.random.default_rng(2).normal(0.0, 0.3, size=param.shape)
    return head


def test_align_head_uses_roi_align_and_its_gradient_check_float64():
    """roi_op "align": parameters and the feature map against centred differences."""
    features, rois, targets = align_scene()
    head = align_head()
    pool_head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    for name, param in pool_head.params.items():
        param[...] = head.params[name]
    assert isinstance(head.roi_op, RoIAlign) and head.roi_op.sampling_ratio == 2
    (cls_align, _), _ = head.forward(features, rois)
    (cls_pool, _), _ = pool_head.forward(features, rois)
    assert np.abs(cls_align - cls_pool).max() > 1e-3  # the two layers really differ
    pooled = ops.roi_align(features, rois, 3, 1 / CFG.feat_stride, 2, aligned=True)
    p = head.params
    hidden = np.maximum(pooled.reshape(len(rois), -1) @ p["fc6.weight"].T + p["fc6.bias"], 0)
    hidden = np.maximum(hidden @ p["fc7.weight"].T + p["fc7.bias"], 0)
    np.testing.assert_allclose(cls_align, hidden @ p["cls_score.weight"].T + p["cls_score.bias"])

    def total_loss():
        out = roi_head_loss(*head.forward(features, rois)[0], targets, ALIGN_CFG)
        return out.loss_cls + out.loss_reg

    head.zero_grad()
    outputs, cache = head.forward(features, rois)
    loss = roi_head_loss(*outputs, targets, ALIGN_CFG)
    dfeatures, _ = head.backward((loss.dcls_logits, loss.dbox_deltas), cache)
    for name, param in head.params.items():
        numeric = numerical_gradient(total_loss, param)
        assert np.abs(numeric).max() > 1e-6, name
        assert relative_error(head.grads[name], numeric) < 1e-7, name
    numeric = numerical_gradient(total_loss, features)
    assert relative_error(dfeatures, numeric) < 1e-7


def test_align_head_gradient_with_respect_to_the_roi_corners():
    """need_drois: d loss / d (x1, y1, x2, y2) against centred differences (F20)."""
    features, rois, targets = align_scene()
    head = align_head()

    def total_loss():
        out = roi_head_loss(*head.forward(features, rois)[0], targets, ALIGN_CFG)
        return out.loss_cls + out.loss_reg

    head.zero_grad()
    outputs, cache = head.forward(features, rois)
    loss = roi_head_loss(*outputs, targets, ALIGN_CFG)
    dout = (loss.dcls_logits, loss.dbox_deltas)
    dfeatures, drois = head.backward(dout, cache, need_drois=True)
    assert drois.shape == rois.shape and drois.dtype == np.float64
    assert not drois[:, 0].any()  # the batch index is no coordinate
    numeric = numerical_gradient(total_loss, rois[:, 1:], h=1e-6)
    assert np.abs(numeric).max() > 1e-4
    assert relative_error(drois[:, 1:], numeric) < 1e-6
    # The same features gradient as without the flag, from the same cache.
    np.testing.assert_array_equal(head.backward(dout, cache).dfeatures, dfeatures)


def test_pool_head_has_no_gradient_for_the_corners():
    features, rois, targets = scene()
    head = RoIHead(4, NUM_CLASSES, CFG, rng=np.random.default_rng(1), dtype=np.float64)
    outputs, cache = head.forward(features, rois)
    loss = roi_head_loss(*outputs, targets, CFG)
    dout = (loss.dcls_logits, loss.dbox_deltas)
    assert not head.roi_op.box_differentiable
    with pytest.raises(ValueError, match="RoI layer 'pool' has no gradient for the box coord"):
        head.backward(dout, cache, need_drois=True)
    assert head.backward(dout, cache).drois is None  # the same cache, without the request
