"""Config: the paper's defaults, the tiny preset, and the JSON round trip checkpoints rely on."""

import dataclasses

import pytest

from minirpn import Config


def test_defaults_are_the_papers():
    cfg = Config()
    # anchors (F7): base 16, ratios h/w 0.5 1 2, scales 8 16 32 -> k = 9
    assert (cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales) == (
        16,
        (0.5, 1.0, 2.0),
        (8.0, 16.0, 32.0),
    )
    assert cfg.num_anchors == 9 and cfg.feat_stride == 16
    # anchor labels and minibatch (F8, F13): >= 0.7 positive, < 0.3 negative, 256, half fg
    assert (cfg.rpn_positive_overlap, cfg.rpn_negative_overlap) == (0.7, 0.3)
    assert (cfg.rpn_batch_size, cfg.rpn_fg_fraction) == (256, 0.5)
    # RPN loss (F11, F12): sigma 3, lambda 10
    assert (cfg.rpn_sigma, cfg.rpn_lambda) == (3.0, 10.0)
    # proposals (F15, F16): NMS 0.7, 12000 -> 2000 training, 6000 -> 300 test
    assert cfg.rpn_nms_thresh == 0.7
    assert (cfg.rpn_pre_nms_top_n_train, cfg.rpn_post_nms_top_n_train) == (12000, 2000)
    assert (cfg.rpn_pre_nms_top_n_test, cfg.rpn_post_nms_top_n_test) == (6000, 300)
    # second stage (F17, F19): 128 RoIs, a quarter fg at IoU >= 0.5, bg in [0.1, 0.5), 7x7
    assert (cfg.roi_batch_size, cfg.roi_fg_fraction, cfg.roi_fg_thresh) == (128, 0.25, 0.5)
    assert (cfg.roi_bg_thresh_lo, cfg.roi_bg_thresh_hi, cfg.roi_pool_size) == (0.1, 0.5, 7)
    assert cfg.bbox_normalize_stds == (0.1, 0.1, 0.2, 0.2)
    # optimisation and init (F14)
    assert (cfg.learning_rate, cfg.momentum, cfg.weight_decay, cfg.init_std) == (
        0.001,
        0.9,
        0.0005,
        0.01,
    )


@pytest.mark.parametrize(
    "ratios, scales, k", [((0.5, 1.0, 2.0), (8.0,), 3), ((1.0, 2.0), (2.0, 4.0, 8.0), 6)]
)
def test_num_anchors_is_ratios_times_scales(ratios, scales, k):
    assert Config(anchor_ratios=ratios, anchor_scales=scales).num_anchors == k


def test_tiny_preset_and_overrides():
    tiny = Config.tiny(max_iters=7)
    assert (tiny.feat_stride, tiny.anchor_base_size, tiny.num_anchors) == (8, 8, 9)
    assert tiny.max_iters == 7 and tiny.rpn_sigma == 3.0  # the rest keeps the defaults


def test_json_round_trip_gives_an_equal_config():
    cfg = dataclasses.replace(Config.tiny(), anchor_scales=(1.0, 2.5), rpn_n_reg=100)
    back = Config.from_json(cfg.to_json())
    assert back == cfg
    assert isinstance(back.anchor_scales, tuple) and isinstance(back.lr_steps, tuple)
    assert hash(back) == hash(cfg)  # frozen and hashable: only with tuples, not lists


def test_json_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown fields"):
        Config.from_json('{"no_such_field": 1}')
    with pytest.raises(ValueError, match="object"):
        Config.from_json("[1, 2]")
