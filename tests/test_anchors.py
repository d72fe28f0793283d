"""Anchors (F7): the original's 9 base anchors to the integer, and the grid order."""

import numpy as np
import pytest

from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.receptive_field import receptive_field, vgg16_conv5_3

# FORMULAS.md: py-faster-rcnn's anchors for base size 16, ratios (0.5, 1, 2), scales
# (8, 16, 32), with x2, y2 one larger (continuous corners).
PAPER_ANCHORS = np.array(
    [
        [-84, -40, 100, 56],
        [-176, -88, 192, 104],
        [-360, -184, 376, 200],
        [-56, -56, 72, 72],
        [-120, -120, 136, 136],
        [-248, -248, 264, 264],
        [-36, -80, 52, 96],
        [-80, -168, 96, 184],
        [-168, -344, 184, 360],
    ],
    dtype=np.float64,
)


def test_base_anchors_match_the_original_to_the_integer():
    anchors = generate_base_anchors(16, (0.5, 1, 2), (8, 16, 32))
    assert anchors.shape == (9, 4) and anchors.dtype == np.float64
    np.testing.assert_array_equal(anchors, PAPER_ANCHORS)


def test_base_anchors_follow_the_rounding_rule_for_other_sizes():
    # Written out independently: w = round(sqrt(S / r)), h = round(w r), then scaled.
    base, ratios, scales = 10, (0.5, 1.0, 3.0), (1.0, 2.5)
    anchors = generate_base_anchors(base, ratios, scales)
    rows = []
    for r in ratios:
        w0 = round((base * base / r) ** 0.5)
        h0 = round(w0 * r)
        for s in scales:
            w, h = w0 * s, h0 * s
            rows.append([5 - w / 2, 5 - h / 2, 5 + w / 2, 5 + h / 2])
    np.testing.assert_allclose(anchors, np.array(rows), rtol=0, atol=1e-12)


def test_base_anchors_ratio_is_height_over_width_and_center_is_movable():
    anchors = generate_base_anchors(16, (2.0,), (1.0,), center=3.5)
    w, h = anchors[0, 2] - anchors[0, 0], anchors[0, 3] - anchors[0, 1]
    assert (w, h) == (11.0, 22.0)  # round(sqrt(128)) = 11, round(22) = 22
    assert (anchors[0, 0] + anchors[0, 2]) / 2 == 3.5 == (anchors[0, 1] + anchors[0, 3]) / 2


def test_grid_order_is_cell_major_with_anchors_fastest():
    base = generate_base_anchors()
    feat_h, feat_w, stride = 3, 4, 16
    grid = grid_anchors(base, feat_h, feat_w, stride)
    assert grid.shape == (feat_h * feat_w * 9, 4)
    for i in range(feat_h):
        for j in range(feat_w):
            for a in range(9):
                expected = base[a] + np.array([j, i, j, i]) * stride
                np.testing.assert_array_equal(grid[(i * feat_w + j) * 9 + a], expected)


def test_grid_anchors_are_centred_on_vgg_receptive_field_centres():
    # VGG-16 conv5_3 cell (i, j) looks at the image point (16 j + 8, 16 i + 8) (F4).
    grid = grid_anchors(generate_base_anchors(), 2, 3, 16).reshape(2, 3, 9, 4)
    centres_x = (grid[..., 0] + grid[..., 2]) / 2
    centres_y = (grid[..., 1] + grid[..., 3]) / 2
    np.testing.assert_array_equal(
        centres_x, np.broadcast_to((16 * np.arange(3) + 8)[None, :, None], (2, 3, 9))
    )
    np.testing.assert_array_equal(
        centres_y, np.broadcast_to((16 * np.arange(2) + 8)[:, None, None], (2, 3, 9))
    )


def test_anchor_centres_equal_the_receptive_field_module_centres():
    # The same fact from the receptive-field module (F3, F4): VGG-16 conv5_3 cells are
    # centred at offset + stride * index, and the anchors follow with no extra shift.
    rf = receptive_field(vgg16_conv5_3())
    grid = grid_anchors(generate_base_anchors(rf.stride), 3, 4, rf.stride).reshape(3, 4, 9, 4)
    np.testing.assert_array_equal(
        (grid[0, :, 0, 0] + grid[0, :, 0, 2]) / 2, rf.center(np.arange(4))
    )
    np.testing.assert_array_equal(
        (grid[:, 0, 0, 1] + grid[:, 0, 0, 3]) / 2, rf.center(np.arange(3))
    )
    # A backbone whose cell 0 is centred elsewhere passes its centre explicitly.
    shifted = generate_base_anchors(8, (1.0,), (2.0,), center=5.5)
    np.testing.assert_array_equal(shifted, [[-2.5, -2.5, 13.5, 13.5]])


def test_grid_keeps_dtype():
    base = generate_base_anchors().astype(np.float32)
    assert grid_anchors(base, 2, 2, 16).dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(base_size=0), "base_size"),
        (dict(ratios=(0.5, -1)), "ratios"),
        (dict(scales=()), "scales"),
        (dict(center=float("nan")), "center"),
    ],
)
def test_base_anchor_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_base_anchors(**kwargs)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((9, 3)), 2, 2, 16), "base_anchors"),
        ((np.zeros((9, 4)), 0, 2, 16), "feat_h"),
        ((np.zeros((9, 4)), 2, 2.5, 16), "feat_w"),
        ((np.zeros((9, 4)), 2, 2, 0), "stride"),
    ],
)
def test_grid_arguments_are_checked(args, match):
    with pytest.raises(ValueError, match=match):
        grid_anchors(*args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(base_size="x"), "base_size must be a positive number, got 'x'"),
        (dict(ratios="x"), "ratios must be a non-empty sequence of positive numbers, got 'x'"),
        (dict(scales=[[1], [2, 3]]), r"scales must be .* got \[\[1\], \[2, 3\]\]"),
        (dict(center="c"), "center must be a finite number, got 'c'"),
    ],
)
def test_bad_arguments_are_named_with_their_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_base_anchors(**kwargs)
