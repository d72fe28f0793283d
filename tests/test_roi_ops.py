"""The RoI layers (F18, F19) and their registry: the layers are the ops with a cache, and a
third RoI op is one registry entry that the config, the CLI and the schemes all see."""

import numpy as np
import pytest
from conftest import run_main

from minirpn import Config, ops
from minirpn.cli import build_parser
from minirpn.model import Detector
from minirpn.roi_ops import ROI_OPS, RoIAlign, RoIPool, box_differentiable_ops, make_roi_op
from minirpn.runs import load_run
from minirpn.schemes import ApproximateJoint, NonApproximateJoint
from minirpn.train import train


def roi_scene():
    """A batch of two 3-channel 6 x 7 maps (stride 8) and four RoIs off the cell grid."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 3, 6, 7))
    rois = np.array(
        [[0, 3.3, 5.1, 40.2, 30.7], [1, 0.0, 0.0, 56.0, 48.0], [1, 20.4, 9.9, 33.1, 41.6],
         [0, 11.0, 2.5, 13.0, 4.5]]
    )  # fmt: skip
    return features, rois, rng.standard_normal((4, 3, 7, 7))


def test_the_registry_names_each_layer_and_the_config_builds_it():
    assert ROI_OPS == {"pool": RoIPool, "align": RoIAlign}
    assert all(op.name == name for name, op in ROI_OPS.items())
    assert box_differentiable_ops() == ["align"]
    pool = make_roi_op(Config.tiny())
    assert isinstance(pool, RoIPool) and (pool.output_size, pool.spatial_scale) == (7, 1 / 8)
    align = make_roi_op(
        Config.tiny(roi_op="align", roi_align_sampling_ratio=3, roi_align_aligned=False)
    )
    assert isinstance(align, RoIAlign)
    assert (align.output_size, align.spatial_scale, align.sampling_ratio, align.aligned) == (
        7, 1 / 8, 3, False,
    )  # fmt: skip


def test_the_layers_are_the_ops_with_a_cache():
    """Forward and backward are minirpn.ops's, the cache holding what the backward needs;
    RoIAlign gives the corners' gradient on request only, RoI pooling refuses it."""
    features, rois, dout = roi_scene()
    pool = RoIPool(7, 1 / 8)
    out, cache = pool.forward(features, rois)
    expected, argmax = ops.roi_pool(features, rois, 7, 1 / 8)
    np.testing.assert_array_equal(out, expected)
    dfeatures, drois = pool.backward(dout, cache)
    np.testing.assert_array_equal(
        dfeatures, ops.roi_pool_backward(dout, rois, argmax, features.shape)
    )
    assert drois is None
    with pytest.raises(ValueError, match="RoI layer 'pool' has no gradient for the box"):
        pool.backward(dout, cache, need_drois=True)

    align = RoIAlign(7, 1 / 8, 2)
    out, cache = align.forward(features, rois)
    np.testing.assert_array_equal(out, ops.roi_align(features, rois, 7, 1 / 8, 2, True))
    want_features, want_rois = ops.roi_align_backward(dout, features, rois, 7, 1 / 8, 2, True)
    dfeatures, drois = align.backward(dout, cache, need_drois=True)
    np.testing.assert_array_equal(dfeatures, want_features)
    np.testing.assert_array_equal(drois, want_rois)
    assert align.backward(dout, cache)[1] is None


@pytest.mark.parametrize("op", [RoIPool(7, 1 / 8), RoIAlign(7, 1 / 8, 2)], ids=["pool", "align"])
def test_zero_rois_give_empty_outputs_and_zero_gradients(op):
    """Issue 21 R10: an image with no RoI is an empty batch of RoIs, not an error."""
    features, _, _ = roi_scene()
    out, cache = op.forward(features, np.zeros((0, 5)))
    assert out.shape == (0, 3, 7, 7)
    dfeatures, drois = op.backward(out, cache, need_drois=op.box_differentiable)
    assert dfeatures.shape == features.shape and not dfeatures.any()
    assert drois is None if not op.box_differentiable else drois.shape == (0, 5)


class WideAlign(RoIAlign):
    """A third RoI op for the test: RoIAlign with 4 x 4 samples per bin, whatever the config."""

    name = "wide-align"

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.roi_pool_size, 1.0 / cfg.feat_stride, 4, cfg.roi_align_aligned)


@pytest.fixture
def wide_align(monkeypatch):
    monkeypatch.setitem(ROI_OPS, WideAlign.name, WideAlign)
    return WideAlign.name


def test_a_third_roi_op_is_one_registry_entry(
    wide_align, small_data, tmp_path, capsys, monkeypatch
):
    """Issue 20: registering an op (here a subclass with another name) is all it takes: the
    config accepts it, the CLI offers it (and lets the scheme that needs a box gradient use
    it), a detector built with it detects with it, and training runs and saves with it."""
    cfg = Config.tiny(roi_op=wide_align)
    assert wide_align in box_differentiable_ops()
    parser = build_parser()
    assert parser.parse_args(["train", "--roi-op", wide_align]).roi_op == wide_align
    seen = []

    def fake_train(cfg, run_dir, **kwargs):  # the options' effect, without the training
        seen.append((cfg.roi_op, kwargs["scheme"]))
        raise ValueError("stop here")

    with monkeypatch.context() as patch:
        patch.setattr("minirpn.train.train", fake_train)
        for argv in (
            ["--roi-op", wide_align],
            ["--roi-op", wide_align, "--scheme", "non-approximate-joint"],
        ):
            assert "stop here" in run_main(capsys, "train", "--out", tmp_path / "cli", *argv)[2]
    assert seen == [(wide_align, "approximate-joint"), (wide_align, "non-approximate-joint")]

    # detect: the same detections as RoIAlign with 4 x 4 samples and the same weights.
    detector = Detector(cfg, num_classes=3, seed=1).eval()
    assert type(detector.roi_head.roi_op) is WideAlign
    twin = Detector(Config.tiny(roi_op="align", roi_align_sampling_ratio=4), 3, seed=1).eval()
    image = np.random.default_rng(2).integers(0, 256, (96, 112, 3), dtype=np.uint8)
    found = detector.detect(image)
    assert len(found[0]) > 0
    for got, want in zip(found, twin.detect(image), strict=True):
        np.testing.assert_array_equal(got, want)

    # train: both joint schemes accept it (the box gradient is the registry's flag); a run
    # trains, saves and loads back with it.
    for step_type in (ApproximateJoint, NonApproximateJoint):
        assert step_type(detector).detector is detector
    run_dir = tmp_path / "run"
    result = train(
        Config.tiny(roi_op=wide_align, max_iters=2, images_per_batch=1, warmup_iters=0),
        run_dir, data=small_data, progress=False,
    )  # fmt: skip
    assert result.iteration == 2 and np.isfinite(result.loss_history).all()
    loaded = load_run(run_dir)
    assert loaded.detector.cfg.roi_op == wide_align
    assert type(loaded.detector.roi_head.roi_op) is WideAlign


def test_an_unregistered_roi_op_is_refused_everywhere(tmp_path, capsys):
    with pytest.raises(ValueError, match="roi_op"):
        Config.tiny(roi_op=WideAlign.name)
    code, _, err = run_main(capsys, "train", "--out", tmp_path, "--roi-op", WideAlign.name)
    assert code == 2 and "--roi-op" in err and "'align', 'pool'" in err
