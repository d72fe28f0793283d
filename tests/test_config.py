"""Config: every field checked on construction, the same check for a checkpoint's JSON."""

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
