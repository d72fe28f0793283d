"""Stage pictures draw exactly what the stages computed: rectangles, counts, grids.

The figures are drawn on matplotlib's Agg canvas (no pyplot, no display)."""

import re

import numpy as np
import pytest

from minirpn import Config
from minirpn.anchor_target import anchor_targets
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.backbone import preprocess
from minirpn.boxes import encode
from minirpn.data import ToyShapes
from minirpn.matching import NEGATIVE, POSITIVE
from minirpn.model import Detector
from minirpn.ops import roi_pool
from minirpn.ops.geometry import roi_pool_bins
from minirpn.proposal import proposal_layer
from minirpn.receptive_field import (
    effective_receptive_field,
    project_roi,
    receptive_field,
    vgg16_conv5_3,
)
from minirpn.visualize import boxes_of, scenes, stages
from minirpn.visualize.pooling import TILE_GAP, draw_pooled


@pytest.fixture(scope="module")
def detector():
    return Detector(Config.tiny(), num_classes=4, seed=0)


@pytest.fixture(scope="module")
def sample():
    return ToyShapes("val")[2]


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def count_in(texts, name):
    """The number in parentheses after ``name`` in a legend entry, e.g. 'positive (5)' -> 5."""
    for text in texts:
        match = re.fullmatch(rf"{re.escape(name)} \(([\d,]+)\)", text)
        if match:
            return int(match.group(1).replace(",", ""))
    raise AssertionError(f"no legend entry for {name!r} in {texts}")


def test_a_box_is_drawn_on_its_continuous_corners_without_offset():
    image = np.zeros((10, 12, 3), np.uint8)
    ax = stages.draw_minibatch(image, np.zeros((0, 4)), np.zeros(0, np.int64), [[2, 3, 7, 9]])
    np.testing.assert_array_equal(boxes_of(ax, "gt"), [[2, 3, 7, 9]])
    # The image spans [0, W] x [0, H]: pixel i covers [i, i + 1).
    assert ax.images[0].get_extent() == [0, 12, 10, 0]


def test_anchors_figure_draws_the_paper_and_the_tiny_anchors(detector):
    photo = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    figure = scenes.anchors_figure(photo, detector)
    paper, tiny = figure.axes[:2]
    # The paper: 600 px short side (100 -> 600, 120 -> 720), VGG-16's map in Caffe's ceil
    # mode (720 -> 45, 600 -> 38), the 9 anchors of Config() on the centre cell.
    h, w = 45, 38
    base = generate_base_anchors()  # Config() defaults
    cell = (h // 2) * w + w // 2
    expected = grid_anchors(base, h, w, 16)[cell * 9 : (cell + 1) * 9]
    np.testing.assert_array_equal(boxes_of(paper, "anchor"), expected)
    assert f"= {h * w * 9:,} anchors" in paper.get_title()
    assert legend_texts(paper)[:3] == ["184×96", "368×192", "736×384"]
    # The tiny model: 128 px short side (100 -> 128, 120 -> 154), stride 8.
    h, w = 154 // 8, 128 // 8
    cell = (h // 2) * w + w // 2
    expected = detector.rpn.anchors(h, w)[cell * 9 : (cell + 1) * 9]
    np.testing.assert_array_equal(boxes_of(tiny, "anchor"), expected)
    assert f"= {h * w * 9:,} anchors" in tiny.get_title()
    centers = tiny.collections[0].get_offsets()
    assert len(centers) == h * w  # one dot per cell
    np.testing.assert_array_equal(centers[1], [4.0 + 8, 4.0])  # cell (0, 1) centred at (12, 4)


def test_receptive_field_figure_draws_the_fields_of_the_centre_cell(detector):
    photo = np.zeros((600, 600, 3), np.uint8)  # already at the paper's scale
    figure = scenes.receptive_field_figure(photo, detector)
    left, right = figure.axes[:2]
    rf = receptive_field(vgg16_conv5_3())
    with_rpn = receptive_field(vgg16_conv5_3() + [(3, 1, 1)])
    row = col = 38 // 2  # 600 px -> a 38 x 38 map
    expected = [(*f.interval(col), *f.interval(row)) for f in (rf, with_rpn)]  # x1 x2 y1 y2
    expected = np.asarray(expected)[:, [0, 2, 1, 3]]  # -> x1 y1 x2 y2
    np.testing.assert_array_equal(boxes_of(left, "field"), expected)
    assert (expected[0][2] - expected[0][0], expected[1][2] - expected[1][0]) == (196, 228)
    assert "196 / 228 px" in left.get_title()
    # The last size of each network's curve: the paper's 228 (VGG-16), 171 (ZF), tiny 54.
    sizes = {line.get_label().split(":")[0]: line.get_ydata()[-1] for line in right.lines[::2]}
    assert sizes == {"VGG-16": 228, "ZF": 171, "tiny": 54}


def test_erf_picture_is_the_mean_gradient_map_with_its_squares(detector):
    """The heat map is the mean of the images' ERFs (each computed alone), over the first
    image; the theoretical square and the squares holding 50 % and 90 % of it are drawn."""
    toy = ToyShapes("val")
    images = np.stack([toy[i].image for i in (2, 3, 4)])
    figure = scenes.erf_figure(images, detector)
    ax = figure.axes[0]
    erf = np.mean(
        [
            effective_receptive_field(
                detector.backbone, preprocess(im[None], detector.dtype), (8, 8)
            )
            for im in images
        ],
        axis=0,
    )
    heat = ax.images[1].get_array()
    shown = ~np.ma.getmaskarray(heat)
    np.testing.assert_allclose(heat[shown], (erf / erf.max())[shown])
    assert shown.sum() == np.sum(erf / erf.max() >= stages.ERF_FLOOR)
    np.testing.assert_array_equal(ax.images[0].get_array(), images[0].mean(axis=2))
    rf = receptive_field(detector.backbone)  # 38 px, cell 8 centred at 68
    np.testing.assert_array_equal(boxes_of(ax, "field"), [[49, 49, 87, 87]])
    sides = [stages.central_mass_side(erf, (68, 68), mass) for mass in (0.5, 0.9)]
    np.testing.assert_array_equal(
        boxes_of(ax, "mass"), [[68 - s / 2, 68 - s / 2, 68 + s / 2, 68 + s / 2] for s in sides]
    )
    texts = legend_texts(ax)
    assert f"theoretical field {rf.size}×{rf.size} px (F3)" in texts
    assert f"{sides[0]}×{sides[0]} px: holds 50% of the gradient" in texts
    assert "mean over 3 images" in ax.get_title()


def test_mapping_projects_the_box_onto_the_map_and_back(detector, sample):
    box = scenes.largest_box(sample.boxes)
    figure = scenes.mapping_figure(sample.image, box, detector)
    left, right = figure.axes[:2]
    projected = project_roi(detector.backbone, box)
    np.testing.assert_allclose(projected, np.asarray(box) / 8)  # F18: spatial scale 1/8
    np.testing.assert_allclose(boxes_of(right, "projected"), [projected])
    cells = boxes_of(right, "cells")[0]
    np.testing.assert_array_equal(
        cells,
        [
            np.floor(projected[0]),
            np.floor(projected[1]),
            np.ceil(projected[2]),
            np.ceil(projected[3]),
        ],
    )
    np.testing.assert_allclose(boxes_of(left, "back"), [cells * 8])  # F4: cell i -> [8i, 8i+8)
    np.testing.assert_array_equal(boxes_of(left, "box"), [box])


def test_labels_picture_counts_and_boxes_equal_the_anchor_targets(detector, sample):
    figure = scenes.labels_figure(sample.image, sample.boxes, detector)
    left, right = figure.axes[:2]
    anchors = detector.rpn.anchors(16, 16)
    targets = anchor_targets(
        anchors, sample.boxes, (128, 128), detector.cfg, np.random.default_rng(0)
    )
    positive = np.flatnonzero(targets.labels == POSITIVE)
    negative = np.flatnonzero(targets.labels == NEGATIVE)
    np.testing.assert_allclose(boxes_of(left, "positive"), anchors[positive])
    np.testing.assert_allclose(boxes_of(left, "negative"), anchors[negative])
    texts = legend_texts(left)
    # Each positive counted under the rule that made it (F8 b: IoU >= 0.7; F8 a: the best).
    by_iou = int(np.sum(targets.max_iou[positive] >= 0.7))
    assert count_in(texts, "positive: IoU ≥ 0.7 (F8 b)") == by_iou
    best = "positive as the best anchor of its box, IoU < 0.7 (F8 a)"
    assert count_in(texts, best) == positive.size - by_iou > 0
    styles = [p.get_linestyle() for p in left.patches if p.get_gid() == "positive"]
    assert styles == ["-" if iou >= 0.7 else "--" for iou in targets.max_iou[positive]]
    assert count_in(texts, "negative: IoU < 0.3") == negative.size
    assert positive.size + negative.size == detector.cfg.rpn_batch_size == 128
    title = left.get_title()
    assert "= 128 of 2,304 anchors" in title  # the tiny preset's number, and the paper's:
    assert "rpn_batch_size = 128 anchors (the paper's: 256), at most 50% positive" in title

    # The mosaic: every anchor in one of the four kinds, the counts in the legend.
    texts = legend_texts(right)
    counts = {n: count_in(texts, n) for n in ("positive", "negative", "neither", "outside")}
    assert sum(counts.values()) == len(anchors)
    assert counts["positive"] >= positive.size  # sampling keeps at most half positives
    assert count_in(texts, "in the minibatch") == detector.cfg.rpn_batch_size
    mosaic = right.images[0].get_array()
    # Tile of anchor 4 (ratio 1, scale 1: 32x32) at rows 1 * (16 + gap): its cell (0, 0)
    # reaches outside the image, the code of "outside" is 3.
    gap = round(0.25 * 16)
    assert mosaic[16 + gap, 16 + gap] == 3
    assert np.sum(mosaic == 0) == counts["positive"]
    # Each positive cell (one cell of a 16 x 16 tile) is ringed, so that it can be found.
    rings = next(c for c in right.collections if c.get_gid() == "positive-ring").get_offsets()
    rows, cols = np.nonzero(mosaic == 0)
    np.testing.assert_array_equal(
        sorted(map(tuple, rings)), sorted(zip(cols + 0.5, rows + 0.5, strict=True))
    )


def test_many_positives_are_not_ringed_over():
    """Rings find a few positive cells; a thousand would only cover their green area."""
    h = w = 10
    cell_anchors = np.array([[0, 0, 8, 8]], np.float64)  # one anchor per cell
    for positives, ringed in ((stages.MAX_RINGS, True), (stages.MAX_RINGS + 1, False)):
        labels = np.full(h * w, NEGATIVE)
        labels[:positives] = POSITIVE
        categories = stages.label_categories(labels, np.ones(h * w, bool))
        ax = stages.draw_label_map(categories, np.zeros(h * w, bool), (h, w), cell_anchors, 1)
        gids = [c.get_gid() for c in ax.collections]
        assert ("positive-ring" in gids) is ringed
        assert ("positive, ringed" in legend_texts(ax)) is ringed


def test_regression_writes_the_targets_and_decodes_back_to_the_ground_truth(detector, sample):
    figure = scenes.regression_figure(sample.image, sample.boxes, detector)
    ax = figure.axes[0]
    anchor, gt, decoded = (boxes_of(ax, gid)[0] for gid in ("anchor", "gt", "decoded"))
    np.testing.assert_allclose(decoded, gt, atol=1e-9)
    assert any(np.allclose(gt, b) for b in sample.boxes)
    t = encode(anchor[None], gt[None])[0]
    text = ax.texts[-1].get_text()
    for name, value in zip(("t*x", "t*y", "t*w", "t*h"), t, strict=True):
        assert re.search(rf"{re.escape(name)} = .* = {re.escape(f'{value:+.3f}')}", text), text
    # The lowest-IoU positive of this image is positive by rule F8 a, and the title says so.
    iou = float(re.search(r"IoU (\d\.\d+)\)", ax.get_title()).group(1))
    assert iou < 0.7 and "positive by F8 a: the best anchor for this box" in ax.get_title()


def test_the_rule_that_made_an_anchor_positive_is_named():
    cfg = Config.tiny()
    assert scenes.positive_rule(0.7, 1, cfg).startswith("positive by F8 b: IoU ≥")
    below = scenes.positive_rule(0.69, 3, cfg, "your box")
    assert below.startswith("positive by F8 a: the best anchor for this box (your box)")
    assert "one of 3 anchors tied at that IoU" in below


def test_proposal_panels_are_the_proposal_layer_outputs(detector, sample):
    figure = scenes.proposals_figure(sample.image, detector, sample.boxes)
    before, after, final = figure.axes[:3]
    features, _ = detector.features(sample.image[None])
    (scores,), (deltas,), (anchors,) = detector.rpn.forward(features)[0]
    boxes, probs = proposal_layer(scores, deltas, anchors, (128, 128), detector.cfg, train=False)
    drawn = boxes_of(final, "proposal")  # drawn lowest score first
    np.testing.assert_allclose(drawn, boxes[np.argsort(probs, kind="stable")], rtol=1e-6)
    assert f"the best {len(boxes)} survivors" in final.get_title()
    assert len(boxes_of(before, "proposal")) == detector.cfg.rpn_pre_nms_top_n_test
    kept = len(boxes_of(after, "proposal"))
    assert len(boxes) <= kept < detector.cfg.rpn_pre_nms_top_n_test
    assert f"{kept:,} left" in after.get_title()


def test_roi_pool_picture_is_the_pooled_output_its_bins_and_maxima(detector, sample):
    box = scenes.largest_box(sample.boxes)
    figure = scenes.roi_pool_figure(sample.image, box, detector)
    image_ax, map_ax, tiles_ax, pooled_ax = (
        ax for ax in figure.axes if ax.get_label() != "<colorbar>"
    )
    channel = int(re.search(r"channel (\d+)", pooled_ax.get_title()).group(1))
    (features,), _ = detector.features(sample.image[None])
    rois = np.concatenate([[0.0], box])[None].astype(np.float32)
    pooled, argmax = roi_pool(features, rois, 7, 1 / 8)
    np.testing.assert_array_equal(pooled_ax.images[0].get_array(), pooled[0, channel])
    bins = roi_pool_bins(np.asarray([box], np.float64), (7, 7), 1 / 8, 16, 16)
    h_start, h_end, w_start, w_end = (b[0] for b in bins)
    # The map: the RoI times the scale, the region read (rounded corners, the end cell
    # counted: Caffe's + 1), 8 x 8 sub-window edges, a dot on each maximum.
    np.testing.assert_allclose(boxes_of(map_ax, "roi"), [box / 8])
    x1, y1, x2, y2 = np.floor(box / 8 + 0.5)  # corners here are positive: half rounds up
    np.testing.assert_array_equal(boxes_of(map_ax, "region"), [[x1, y1, x2 + 1, y2 + 1]])
    assert (w_start[0], h_start[0], w_end[-1], h_end[-1]) == (x1, y1, x2 + 1, y2 + 1)
    edges = next(c for c in map_ax.collections if c.get_gid() == "bin-edges")
    np.testing.assert_allclose(
        [seg[0, 0] for seg in edges.get_segments()], x1 + (x2 + 1 - x1) / 7 * np.arange(8)
    )
    dots = next(c for c in map_ax.collections if c.get_gid() == "max").get_offsets()
    rows, cols = np.divmod(argmax[0, channel].ravel(), 16)
    np.testing.assert_array_equal(dots, np.stack([cols + 0.5, rows + 0.5], axis=1))
    # A maximum outside RoI x scale is ringed: here the rounding moved the region right.
    roi = box / 8
    outside = (cols + 1 <= roi[0]) | (cols >= roi[2]) | (rows + 1 <= roi[1]) | (rows >= roi[3])
    assert not ((cols + 1 <= roi[0]) | (rows + 1 <= roi[1])).any()  # rounding: <= half a cell
    rings = next(c for c in map_ax.collections if c.get_gid() == "max-outside").get_offsets()
    np.testing.assert_array_equal(rings, dots[outside])
    assert outside.any()
    # The tiles: the 49 sub-windows pulled apart, each with its maximum outlined.
    maxima = boxes_of(tiles_ax, "tile-max")
    step_x = (w_end - w_start).max() + TILE_GAP  # a tile's width and the gap after it
    step_y = (h_end - h_start).max() + TILE_GAP
    for k, (i, j) in enumerate(np.ndindex(7, 7)):
        row, col = divmod(int(argmax[0, channel, i, j]), 16)
        cells = features[0, channel, h_start[i] : h_end[i], w_start[j] : w_end[j]]
        assert cells.max() == pooled[0, channel, i, j] == features[0, channel, row, col]
        x, y = j * step_x + col - w_start[j], i * step_y + row - h_start[i]
        np.testing.assert_allclose(maxima[k], [x, y, x + 1, y + 1], atol=1e-9)
    assert [t.get_text() for t in tiles_ax.get_xticklabels()] == [str(j) for j in range(7)]


def test_the_pooled_panel_says_why_outputs_are_zero():
    """3 of the 4 values are 0: two sub-windows whose cells are all 0 (ReLU), one empty."""
    pooled = np.array([[0.0, 2.0], [0.0, 0.0]])
    argmax = np.array([[5, 6], [-1, 9]])
    ax = draw_pooled(pooled, channel=3, argmax=argmax)
    label = ax.get_xlabel()
    assert label.startswith("2 of 4 values are 0: every cell of those sub-windows is 0")
    assert "ReLU" in label and "1 sub-windows are empty" in label
    assert draw_pooled(np.ones((2, 2)), channel=0).get_xlabel() == ""


def test_pictures_are_deterministic(detector, sample):
    first = scenes.labels_figure(sample.image, sample.boxes, detector)
    second = scenes.labels_figure(sample.image, sample.boxes, detector)
    for a, b in zip(first.axes[:2], second.axes[:2], strict=True):
        for gid in ("positive", "negative"):
            np.testing.assert_array_equal(boxes_of(a, gid), boxes_of(b, gid))
        assert legend_texts(a) == legend_texts(b)


def test_write_stage_pictures(tmp_path, detector):
    paths = scenes.write_stage_pictures(tmp_path, detector, ToyShapes("val", num_images=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "anchors.png",
        "labels.png",
        "proposals.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
