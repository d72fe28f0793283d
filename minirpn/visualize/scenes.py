"""Scenes: run the stages on one image, then draw them (what ``minirpn show`` and the lessons use).

Each ``*_figure`` function computes with the package's own stage functions (anchors,
receptive fields, anchor targets, the proposal layer, RoI pooling, the detector) and hands
the arrays to the drawing functions of :mod:`minirpn.visualize.stages`; it returns the
matplotlib Figure. :func:`write_stage_pictures` writes three of them into a run folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from minirpn.anchor_target import anchor_targets, inside_image
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.backbone import preprocess
from minirpn.boxes import decode
from minirpn.config import Config
from minirpn.matching import POSITIVE
from minirpn.ops import roi_pool
from minirpn.ops.geometry import roi_pool_bins, round_half_away_from_zero
from minirpn.proposal import proposal_layer
from minirpn.receptive_field import (
    effective_receptive_field,
    layer_specs,
    map_box,
    output_size,
    project_roi,
    receptive_field,
    vgg16_conv5_3,
    zf_conv5,
)
from minirpn.visualize import stages
from minirpn.visualize.axes import new_figure, save_figure

# The paper's input scale (F7): short side 600 pixels, long side at most 1000.
PAPER_SHORT_SIDE, PAPER_MAX_SIDE = 600, 1000
TINY_SHORT_SIDE = 128  # the toy images the tiny model is trained on
RPN_CONV = (3, 1, 1)  # the RPN's 3x3 sliding window (F6)
SEED = 0
CONFIDENT = 0.5  # objectness counted in the proposal pictures' titles
STAGE_PICTURES = ("anchors.png", "labels.png", "proposals.png")


def resize(image: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """``image`` resized by about ``scale`` (bilinear); returns it and the exact x scale used."""
    height, width = image.shape[:2]
    new_w, new_h = max(round(width * scale), 1), max(round(height * scale), 1)
    if (new_w, new_h) == (width, height):
        return image, 1.0
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.asarray(resized), new_w / width


def paper_scale(image: np.ndarray, short_side=PAPER_SHORT_SIDE, max_side=PAPER_MAX_SIDE):
    """The image rescaled as Faster R-CNN does: short side 600 unless the long side passes 1000."""
    height, width = image.shape[:2]
    return resize(image, min(short_side / min(height, width), max_side / max(height, width)))[0]


def feature_shape(layers, height: int, width: int, ceil_mode: bool = False) -> tuple[int, int]:
    """(h, w) of the last map for an ``height`` x ``width`` input (F1 layer by layer).

    ``ceil_mode`` rounds the poolings up as Caffe does (VGG-16 in the original code)."""
    sizes = []
    for size, axis in ((height, "y"), (width, "x")):
        for kernel, stride, padding in layer_specs(layers, axis):
            size = output_size(size, kernel, stride, padding, ceil_mode=ceil_mode and stride > 1)
        sizes.append(size)
    return sizes[0], sizes[1]


def largest_box(boxes: np.ndarray) -> np.ndarray:
    """The ground-truth box of largest area (a readable subject for one-box pictures)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("the picture needs a box: the image has no ground truth")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(areas))]


# --------------------------------------------------------------------------- anchors


def anchors_panel(image, base_anchors, num_ratios, stride, feat_shape, setting, ax):
    """Anchors of the centre cell and every cell's centre (calls :func:`grid_anchors`)."""
    h, w = feat_shape
    all_anchors = grid_anchors(base_anchors, h, w, stride)  # (h*w*k, 4)
    k = len(base_anchors)
    cell = (h // 2) * w + w // 2
    return stages.draw_anchors(
        image,
        all_anchors[cell * k : (cell + 1) * k],
        num_ratios,
        all_anchors,
        feat_shape,
        stride,
        setting=setting,
        ax=ax,
    )


def anchors_figure(photo: np.ndarray, detector):
    """Left: the paper's setting (VGG-16, stride 16, 600 px, ``Config()``'s 9 anchors).
    Right: the tiny model's (``detector.cfg``, stride 8) on the photo at 128 px."""
    figure, (left, right) = new_figure(2, (14, 8.2))
    paper = Config()
    big = paper_scale(photo)
    base = generate_base_anchors(paper.anchor_base_size, paper.anchor_ratios, paper.anchor_scales)
    h, w = big.shape[:2]
    anchors_panel(
        big,
        base,
        len(paper.anchor_ratios),
        paper.feat_stride,
        feature_shape(vgg16_conv5_3(), h, w, ceil_mode=True),
        f"the paper: VGG-16, stride {paper.feat_stride}, image {w}×{h}",
        left,
    )
    small = paper_scale(
        photo, TINY_SHORT_SIDE, TINY_SHORT_SIDE * PAPER_MAX_SIDE // PAPER_SHORT_SIDE
    )
    cfg = detector.cfg
    h, w = small.shape[:2]
    anchors_panel(
        small,
        detector.rpn.base_anchors,
        len(cfg.anchor_ratios),
        cfg.feat_stride,
        feature_shape(detector.backbone, h, w),
        f"the tiny model: stride {cfg.feat_stride}, image {w}×{h}",
        right,
    )
    return figure


# --------------------------------------------------------------------------- receptive field


def growth(layers) -> tuple[list[int], list[int]]:
    """Receptive-field size and stride after each spatial layer (F3): :func:`receptive_field`."""
    specs = [spec for spec in layer_specs(layers) if spec != (1, 1, 0)]  # drop neuron layers
    fields = [receptive_field(specs[: m + 1]) for m in range(len(specs))]
    return [f.size for f in fields], [f.stride for f in fields]


def receptive_field_figure(photo: np.ndarray, detector):
    """Left: a cell of VGG-16's conv5_3 on the photo at 600 px, its field with and without
    the RPN's 3x3 conv. Right: size and stride layer by layer for VGG-16, ZF and the tiny
    backbone (each with the RPN's 3x3 conv last)."""
    figure, (left, right) = new_figure(2, (14, 7.2))
    big = paper_scale(photo)
    h, w = feature_shape(vgg16_conv5_3(), *big.shape[:2], ceil_mode=True)
    fields = {
        "conv5_3": receptive_field(vgg16_conv5_3()),
        "conv5_3 + RPN 3×3 (the paper's 228)": receptive_field(vgg16_conv5_3() + [RPN_CONV]),
    }
    stages.draw_receptive_field(
        big,
        fields,
        (h // 2, w // 2),
        setting=f"VGG-16 on a {big.shape[1]}×{big.shape[0]} image ({w}×{h} map, w×h)",
        ax=left,
    )
    tiny = [spec for spec in layer_specs(detector.backbone) if spec != (1, 1, 0)]
    stages.draw_receptive_field_growth(
        {
            "VGG-16": growth(vgg16_conv5_3() + [RPN_CONV]),
            "ZF": growth(zf_conv5() + [RPN_CONV]),
            "tiny": growth(tiny + [RPN_CONV]),
        },
        notes={
            "VGG-16": f"{receptive_field(vgg16_conv5_3()).size} at conv5_3",
            "ZF": f"{receptive_field(zf_conv5()).size} at conv5",
            "tiny": f"{receptive_field(tiny).size} at the backbone's end",
        },
        ax=right,
    )
    return figure


# --------------------------------------------------------------------------- effective RF


def erf_figure(image: np.ndarray, untrained, trained=None):
    """ERF of the centre cell of the backbone: untrained, and trained when given."""
    detectors = [("untrained (seed 0)", untrained)]
    if trained is not None:
        detectors.append(("trained", trained))
    figure, axes = new_figure(len(detectors), (6.2 * len(detectors), 6.2))
    for (name, detector), ax in zip(detectors, axes, strict=True):
        x = preprocess(image[None], detector.dtype)
        (features,), _ = detector.features(image[None])
        cell = (features.shape[2] // 2, features.shape[3] // 2)
        erf = effective_receptive_field(detector.backbone, x, cell)
        rf = receptive_field(detector.backbone)
        stages.draw_effective_receptive_field(
            image,
            erf,
            rf,
            cell,
            label=f"{name} backbone, cell (row {cell[0]}, col {cell[1]})",
            ax=ax,
        )
    return figure


# --------------------------------------------------------------------------- mapping


def mapping_figure(image: np.ndarray, box, detector):
    """A box on the image, projected onto the backbone's map (F18) and mapped back (F4)."""
    figure, (left, right) = new_figure(2, (13, 6.8))
    layers = detector.backbone
    rf = receptive_field(layers)
    feat_box = project_roi(layers, box)  # (4,) continuous cell coordinates
    cells = np.concatenate([np.floor(feat_box[:2]), np.ceil(feat_box[2:])])
    back = map_box(layers, cells, src=None, dst=0)
    stages.draw_mapping_image(image, box, back, rf.stride, ax=left)
    stages.draw_mapping_map(
        feature_shape(layers, *image.shape[:2]),
        feat_box,
        cells,
        spatial_scale=1 / rf.stride,
        ax=right,
    )
    return figure


# --------------------------------------------------------------------------- labels and targets


def image_anchors(detector, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """All anchors of ``image`` for ``detector`` and the feature map's (h, w)."""
    feat_shape = feature_shape(detector.backbone, *image.shape[:2])
    return detector.rpn.anchors(*feat_shape), feat_shape


def labelled_anchors(detector, image, gt_boxes, seed: int = SEED):
    """``(anchors, feat_shape, all_labels, inside, targets)``: F8 labels of every anchor
    (``anchor_targets`` with a minibatch that keeps them all), the border mask, and the
    real targets with the sampled minibatch (F13)."""
    cfg = detector.cfg
    anchors, feat_shape = image_anchors(detector, image)
    size = image.shape[:2]
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    keep_all = dataclasses.replace(cfg, rpn_batch_size=2 * len(anchors), rpn_fg_fraction=0.5)
    all_labels = anchor_targets(anchors, gt_boxes, size, keep_all, np.random.default_rng(seed))
    targets = anchor_targets(anchors, gt_boxes, size, cfg, np.random.default_rng(seed))
    inside = inside_image(anchors, size, cfg.rpn_allowed_border)
    return anchors, feat_shape, all_labels.labels, inside, targets


def labels_figure(image: np.ndarray, gt_boxes, detector, seed: int = SEED):
    """Left: the sampled minibatch on the image. Right: every anchor's label as a mosaic."""
    anchors, feat_shape, all_labels, inside, targets = labelled_anchors(
        detector, image, gt_boxes, seed
    )
    figure, (left, right) = new_figure(2, (13, 7.4))
    stages.draw_minibatch(image, anchors, targets.labels, gt_boxes, ax=left)
    stages.draw_label_map(
        stages.label_categories(all_labels, inside),
        targets.labels != -1,
        feat_shape,
        detector.rpn.base_anchors,
        len(detector.cfg.anchor_ratios),
        ax=right,
    )
    return figure


def regression_figure(image: np.ndarray, gt_boxes, detector, seed: int = SEED):
    """The positive anchor of lowest IoU (the largest correction) and its targets t* (F10)."""
    anchors, _, _, _, targets = labelled_anchors(detector, image, gt_boxes, seed)
    positive = np.flatnonzero(targets.labels == POSITIVE)
    if positive.size == 0:
        raise ValueError("no anchor is positive for this box; try a larger --box")
    chosen = positive[np.argmin(targets.max_iou[positive])]
    anchor = anchors[chosen]
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)[targets.matched_gt[chosen]]
    t = targets.bbox_targets[chosen]
    decoded = decode(anchor[None], t[None])[0]
    figure, (ax,) = new_figure(1, (7, 8))
    stages.draw_regression(image, anchor, gt, t, decoded, iou=targets.max_iou[chosen], ax=ax)
    return figure


# --------------------------------------------------------------------------- proposals


def rpn_outputs(detector, image: np.ndarray):
    """The RPN's output for ``image``: scores (1, 2A, h, w), deltas (1, 4A, h, w), anchors."""
    features, _ = detector.features(image[None])
    rpn_out, _ = detector.rpn.forward(features)
    return rpn_out.scores[0], rpn_out.deltas[0], rpn_out.anchors[0]


def proposal_stages(detector, image: np.ndarray, train: bool = False):
    """Proposals at three points of the proposal layer, each from :func:`proposal_layer`:

    before NMS (its top N by objectness: NMS threshold 1 removes nothing, F15), after NMS
    (every survivor, F16) and the final top M. Returns three ``(boxes, scores)`` pairs.
    """
    cfg = detector.cfg
    scores, deltas, anchors = rpn_outputs(detector, image)
    size = image.shape[:2]
    pre = cfg.rpn_pre_nms_top_n_train if train else cfg.rpn_pre_nms_top_n_test
    top_n = "rpn_post_nms_top_n_train" if train else "rpn_post_nms_top_n_test"
    variants = (
        dataclasses.replace(cfg, rpn_nms_thresh=1.0, **{top_n: pre}),
        dataclasses.replace(cfg, **{top_n: pre}),
        cfg,
    )
    return [proposal_layer(scores, deltas, anchors, size, c, train=train) for c in variants]


def proposals_figure(image: np.ndarray, detector, gt_boxes=None):
    """Proposals before NMS, after NMS and the final top N, side by side with counts."""
    cfg = detector.cfg
    (b0, s0), (b1, s1), (b2, s2) = proposal_stages(detector, image)
    figure, axes = new_figure(3, (16, 6.2))
    titles = (
        f"before NMS: the {len(b0):,} best by objectness\n"
        f"(pre-NMS top N = {cfg.rpn_pre_nms_top_n_test:,}, F15)",
        f"after NMS at IoU {cfg.rpn_nms_thresh:g}: {len(b1):,} left (F16)",
        f"final: the best {len(b2):,} survivors\n"
        f"(post-NMS top N = {cfg.rpn_post_nms_top_n_test:,})",
    )
    titles = [
        f"{title}\n{int(np.sum(s >= CONFIDENT))} with objectness ≥ {CONFIDENT:g}"
        for title, s in zip(titles, (s0, s1, s2), strict=True)
    ]
    for (boxes, scores), title, ax in zip(
        ((b0, s0), (b1, s1), (b2, s2)), titles, axes, strict=True
    ):
        stages.draw_proposals(image, boxes, scores, title=title, gt_boxes=gt_boxes, ax=ax)
    stages.objectness_colorbar(figure, axes)
    return figure


# --------------------------------------------------------------------------- RoI pooling


def roi_pool_figure(image: np.ndarray, box, detector):
    """One RoI pooled from the backbone's map: image, sub-windows on the map, pooled grid."""
    cfg = detector.cfg
    (features,), _ = detector.features(image[None])  # (1, C, h, w)
    scale = 1.0 / cfg.feat_stride
    rois = np.concatenate([[0.0], np.asarray(box, dtype=np.float64)])[None]  # (1, 5)
    pooled, argmax = roi_pool(features, rois.astype(features.dtype), cfg.roi_pool_size, scale)
    _, _, h, w = features.shape
    bins = roi_pool_bins(rois[:, 1:], (cfg.roi_pool_size,) * 2, scale, h, w)
    # The channel that responds most inside the RoI: the clearest picture of max pooling.
    channel = int(np.argmax(pooled[0].sum(axis=(1, 2))))
    vmax = float(features[0, channel].max()) or 1.0
    figure, (left, middle, right) = new_figure(3, (17, 6.2))
    stages.draw_mapping_image(
        image,
        box,
        map_box(detector.backbone, _snap(box, scale), src=None, dst=0),
        cfg.feat_stride,
        ax=left,
    )
    left.legend_.texts[1].set_text("its cells after rounding (F18)")
    stages.draw_roi_bins(
        features[0, channel],
        np.asarray(box) * scale,
        tuple(b[0] for b in bins),
        argmax[0, channel],
        channel=channel,
        vmax=vmax,
        ax=middle,
    )
    stages.draw_pooled(pooled[0, channel], channel=channel, vmax=vmax, ax=right)
    return figure


def _snap(box, scale) -> np.ndarray:
    """The map cells RoI pooling uses: corners times the scale, rounded, end cell included."""
    x1, y1, x2, y2 = round_half_away_from_zero(np.asarray(box, dtype=np.float64) * scale)
    return np.array([x1, y1, x2 + 1, y2 + 1])


# --------------------------------------------------------------------------- detections


def detections_figure(image: np.ndarray, detector, class_names, gt_boxes=None):
    """The detector's final detections on the image (``detector.detect``)."""
    boxes, scores, labels = detector.detect(image)
    figure, (ax,) = new_figure(1, (7, 7.4))
    stages.draw_detection_boxes(image, boxes, scores, labels, class_names, gt_boxes=gt_boxes, ax=ax)
    return figure


# --------------------------------------------------------------------------- run folder


def write_stage_pictures(run_dir, detector, dataset, index: int = 0) -> list[Path]:
    """Write anchors.png, labels.png and proposals.png for image ``index`` of ``dataset``
    into ``run_dir``, drawn with the (trained) ``detector``; returns the paths."""
    run_dir = Path(run_dir)
    sample = dataset[index]
    figures = (
        anchors_figure(sample.image, detector),
        labels_figure(sample.image, sample.boxes, detector),
        proposals_figure(sample.image, detector, sample.boxes),
    )
    paths = [run_dir / name for name in STAGE_PICTURES]
    for figure, path in zip(figures, paths, strict=True):
        save_figure(figure, path)
    return paths
