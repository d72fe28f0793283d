"""Config: the paper's defaults, every field checked on construction, the JSON round trip."""

import dataclasses
import math

import pytest

from minirpn import Config

BAD_VALUES = [
    ("learning_rate", -1, "-1"),
    ("learning_rate", 0.0, "0.0"),
    ("images_per_batch", 0, "0"),
    ("max_iters", -5, "-5"),
    ("max_iters", "many", "'many'"),
    ("max_iters", 2.5, "2.5"),
    ("max_iters", True, "True"),
    ("rpn_positive_overlap", math.nan, "nan"),
    ("rpn_negative_overlap", 1.5, "1.5"),
    ("roi_fg_fraction", -0.1, "-0.1"),
    ("test_score_thresh", math.inf, "inf"),
    ("momentum", "0.9", "'0.9'"),
    ("rpn_allowed_border", -1.0, "-1.0"),
    ("rpn_loss_normalization", "per_anchor", "'per_anchor'"),
    ("rpn_n_reg", 0, "0"),
    ("anchor_ratios", 0.5, "0.5"),
    ("anchor_ratios", (), "()"),
    ("anchor_ratios", ("x",), "'x'"),
    ("anchor_scales", (8.0, -16.0), "-16.0"),
    ("anchor_scales", "816", "'816'"),
    ("bbox_normalize_stds", (0.1, 0.1, 0.2), "(0.1, 0.1, 0.2)"),
    ("bbox_normalize_stds", (0.1, 0.1, 0.2, 0.0), "0.0"),
    ("lr_steps", (2000, 1000), "(2000, 1000)"),
    ("lr_steps", (1.5,), "1.5"),
    ("warmup_iters", -1, "-1"),
    ("feat_stride", None, "None"),
    ("roi_op", "max", "'max'"),
    ("alternating_iters", (1, 2, 3), "(1, 2, 3)"),
    ("alternating_iters", (1000, 500, 500, 0), "0"),
    ("alternating_iters", (1000, 500, 500, 400), "(1000, 500, 500, 400)"),
    ("roi_align_sampling_ratio", 0, "0"),
    ("roi_align_aligned", 1, "1"),
    ("roi_align_aligned", "yes", "'yes'"),
    ("anchor_center", "4", "'4'"),
    ("anchor_center", math.nan, "nan"),
    ("roi_coord_grad_weight", -0.1, "-0.1"),
]


@pytest.mark.parametrize("field, value, shown", BAD_VALUES)
def test_a_bad_field_is_refused_naming_the_field_and_the_value(field, value, shown):
    with pytest.raises(ValueError) as info:
        Config.tiny(**{field: value})
    message = str(info.value)
    assert field in message and shown in message, message


def test_replace_is_checked_too():
    with pytest.raises(ValueError, match="rpn_nms_thresh.*nan"):
        dataclasses.replace(Config(), rpn_nms_thresh=math.nan)


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="rpn_negative_overlap.*rpn_positive_overlap"):
        Config(rpn_negative_overlap=0.8, rpn_positive_overlap=0.7)
    with pytest.raises(ValueError, match="roi_bg_thresh_lo.*roi_bg_thresh_hi"):
        Config(roi_bg_thresh_lo=0.6, roi_bg_thresh_hi=0.5)


def test_values_are_normalised_and_round_trip_through_json():
    cfg = Config.tiny(anchor_ratios=[1, 2], learning_rate=1, lr_steps=[], rpn_n_reg=None)
    assert cfg.anchor_ratios == (1.0, 2.0) and isinstance(cfg.anchor_ratios[0], float)
    assert cfg.lr_steps == () and isinstance(cfg.learning_rate, float)
    assert Config.from_json(cfg.to_json()) == cfg
    assert Config.from_json(Config().to_json()) == Config()


def test_from_json_names_the_source_and_the_field():
    text = Config.tiny().to_json().replace('"max_iters": 2500', '"max_iters": "many"')
    with pytest.raises(ValueError, match=r"'runs/x/checkpoint.npz'.*max_iters.*'many'"):
        Config.from_json(text, source="runs/x/checkpoint.npz")
    with pytest.raises(ValueError, match="unknown fields.*'colour'"):
        Config.from_json('{"colour": 1}')
    with pytest.raises(ValueError, match="not valid JSON"):
        Config.from_json("{", source="c.npz")
    with pytest.raises(ValueError, match="must be a JSON object, got list"):
        Config.from_json("[]")


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
    # the paper's RoI max pooling (F19) unless RoIAlign is asked for
    assert (cfg.roi_op, cfg.roi_align_sampling_ratio, cfg.roi_align_aligned) == ("pool", 2, True)
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
    cfg = dataclasses.replace(
        Config.tiny(),
        anchor_scales=(1.0, 2.5),
        rpn_n_reg=100,
        roi_op="align",
        roi_align_aligned=False,
    )
    back = Config.from_json(cfg.to_json())
    assert back == cfg
    assert isinstance(back.anchor_scales, tuple) and isinstance(back.lr_steps, tuple)
    assert hash(back) == hash(cfg)  # frozen and hashable: only with tuples, not lists


def test_json_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown fields"):
        Config.from_json('{"no_such_field": 1}')
    with pytest.raises(ValueError, match="object"):
        Config.from_json("[1, 2]")
