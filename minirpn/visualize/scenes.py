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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
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
from minirpn.visualize.axes import DPI, legend_line, new_figure, save_figure
from minirpn.visualize.detections import (
    DRAW_SCORE_THRESH,
    class_handles,
    draw_annotations,
    draw_detection_boxes,
    ground_truth_handle,
)
from minirpn.visualize.pooling import draw_pooled, draw_roi_bin_tiles, draw_roi_bins

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


def rescaled(original: np.ndarray, shown: np.ndarray, short_side: int) -> str:
    """``image W×H``, and where it was rescaled, from what and why (for a title)."""
    height, width = shown.shape[:2]
    text = f"image {width}×{height}"
    if shown.shape != original.shape:
        old_h, old_w = original.shape[:2]
        text += f" (the photo's {old_w}×{old_h} rescaled: short side {short_side})"
    return text


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
        f"the paper: VGG-16, stride {paper.feat_stride},\n{rescaled(photo, big, PAPER_SHORT_SIDE)}",
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
        f"the tiny model: stride {cfg.feat_stride},\n{rescaled(photo, small, TINY_SHORT_SIDE)}",
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
        setting=f"VGG-16, {rescaled(photo, big, PAPER_SHORT_SIDE)}, a {w}×{h} map (w×h)",
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


def erf_figure(images: np.ndarray, untrained, trained=None):
    """ERF of the centre cell of the backbone, the mean over ``images`` (N, H, W, 3) of one
    size (one image is noisy: its ReLUs gate the gradient), untrained and, when given,
    trained; the first image is shown under it."""
    images = np.asarray(images)
    if images.ndim == 3:  # one image
        images = images[None]
    detectors = [("untrained (seed 0)", untrained)]
    if trained is not None:
        detectors.append(("trained", trained))
    figure, axes = new_figure(len(detectors), (6.2 * len(detectors), 7.0))
    for (name, detector), ax in zip(detectors, axes, strict=True):
        (features,), _ = detector.features(images[:1])
        cell = (features.shape[2] // 2, features.shape[3] // 2)
        erf = np.mean(
            [
                effective_receptive_field(
                    detector.backbone, preprocess(image[None], detector.dtype), cell
                )
                for image in images
            ],
            axis=0,
        )
        stages.draw_effective_receptive_field(
            images[0],
            erf,
            receptive_field(detector.backbone),
            cell,
            label=f"{name} backbone, cell (row {cell[0]}, col {cell[1]})",
            images=len(images),
            ax=ax,
        )
    return figure


# --------------------------------------------------------------------------- mapping


def mapping_figure(image: np.ndarray, box, detector, box_name: str = "the box"):
    """A box on the image, projected onto the backbone's map (F18) and mapped back (F4).
    ``box_name`` names it in the legend ("your box" for a box a user gave)."""
    figure, (left, right) = new_figure(2, (13, 6.8))
    layers = detector.backbone
    rf = receptive_field(layers)
    feat_box = project_roi(layers, box)  # (4,) continuous cell coordinates
    cells = np.concatenate([np.floor(feat_box[:2]), np.ceil(feat_box[2:])])
    back = map_box(layers, cells, src=None, dst=0)
    stages.draw_mapping_image(image, box, back, rf.stride, box_name=box_name, ax=left)
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


def minibatch_setting(cfg) -> str:
    """The title line of a minibatch picture: the config's sampling numbers beside the paper's."""
    paper = Config()
    return (
        f"rpn_batch_size = {cfg.rpn_batch_size} anchors (the paper's: {paper.rpn_batch_size}), "
        f"at most {cfg.rpn_fg_fraction:.0%} positive"
    )


def labels_figure(image: np.ndarray, gt_boxes, detector, seed: int = SEED, gt_name="ground truth"):
    """Left: the sampled minibatch on the image. Right: every anchor's label as a mosaic.
    ``gt_name`` names the boxes ("your box" for a box a user gave)."""
    anchors, feat_shape, all_labels, inside, targets = labelled_anchors(
        detector, image, gt_boxes, seed
    )
    cfg = detector.cfg
    figure, (left, right) = new_figure(2, (13, 7.8))
    stages.draw_minibatch(
        image,
        anchors,
        targets.labels,
        np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4),
        max_iou=targets.max_iou,
        positive_overlap=cfg.rpn_positive_overlap,
        negative_overlap=cfg.rpn_negative_overlap,
        gt_name=gt_name,
        setting=minibatch_setting(cfg),
        ax=left,
    )
    stages.draw_label_map(
        stages.label_categories(all_labels, inside),
        targets.labels != -1,
        feat_shape,
        detector.rpn.base_anchors,
        len(cfg.anchor_ratios),
        ax=right,
    )
    return figure


def positive_rule(max_iou: float, ties: int, cfg, gt_name: str = "ground truth") -> str:
    """Which rule of F8 makes an anchor of best IoU ``max_iou`` positive, in words."""
    if max_iou >= cfg.rpn_positive_overlap:
        return f"positive by F8 b: IoU ≥ rpn_positive_overlap = {cfg.rpn_positive_overlap:g}"
    tied = f" (one of {ties} anchors tied at that IoU)" if ties > 1 else ""
    return (
        f"positive by F8 a: the best anchor for this box ({gt_name}){tied};\n"
        f"its IoU is below rpn_positive_overlap = {cfg.rpn_positive_overlap:g} (F8 b)"
    )


def regression_figure(
    image: np.ndarray, gt_boxes, detector, seed: int = SEED, gt_name="ground truth"
):
    """The positive anchor of lowest IoU (the largest correction) and its targets t* (F10),
    with the rule of F8 that made it positive."""
    anchors, _, _, _, targets = labelled_anchors(detector, image, gt_boxes, seed)
    positive = np.flatnonzero(targets.labels == POSITIVE)
    if positive.size == 0:
        raise ValueError("no anchor is positive for this box; try a larger --box")
    chosen = positive[np.argmin(targets.max_iou[positive])]
    anchor = anchors[chosen]
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)[targets.matched_gt[chosen]]
    t = targets.bbox_targets[chosen]
    decoded = decode(anchor[None], t[None])[0]
    iou = float(targets.max_iou[chosen])
    ties = int(
        np.sum((targets.max_iou == iou) & (targets.matched_gt == targets.matched_gt[chosen]))
    )
    figure, (ax,) = new_figure(1, (7, 8))
    stages.draw_regression(
        image,
        anchor,
        gt,
        t,
        decoded,
        iou=iou,
        why=positive_rule(iou, ties, detector.cfg, gt_name),
        gt_name=gt_name,
        ax=ax,
    )
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


def proposals_figure(image: np.ndarray, detector, gt_boxes=None, gt_name="ground truth"):
    """Proposals before NMS, after NMS and the final top N, side by side with counts."""
    cfg = detector.cfg
    (b0, s0), (b1, s1), (b2, s2) = proposal_stages(detector, image)
    figure, axes = new_figure(3, (16, 6.8))
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
        stages.draw_proposals(
            image, boxes, scores, title=title, gt_boxes=gt_boxes, gt_name=gt_name, ax=ax
        )
    stages.objectness_colorbar(figure, axes)
    return figure


# --------------------------------------------------------------------------- RoI pooling


def roi_pool_figure(image: np.ndarray, box, detector, box_name: str = "the box"):
    """One RoI pooled from the backbone's map (F18, F19) in a new figure of four panels
    (:func:`draw_roi_pooling`): what ``minirpn show roi-pool`` draws."""
    figure = Figure(figsize=(15, 15), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2, gridspec_kw={"width_ratios": (1, 1.2)})
    draw_roi_pooling(image, box, detector, axes, box_name)
    return figure


def draw_roi_pooling(image: np.ndarray, box, detector, axes, box_name: str = "the box") -> None:
    """One RoI pooled from the backbone's map (F18, F19) on the 2 x 2 ``axes``: the RoI on
    the image; the map with its 7 x 7 sub-windows and their maxima; the sub-windows pulled
    apart; the pooled grid. The channel shown is the one responding most inside the RoI."""
    cfg = detector.cfg
    (features,), _ = detector.features(image[None])  # (1, C, h, w)
    scale = 1.0 / cfg.feat_stride
    rois = np.concatenate([[0.0], np.asarray(box, dtype=np.float64)])[None]  # (1, 5)
    pooled, argmax = roi_pool(features, rois.astype(features.dtype), cfg.roi_pool_size, scale)
    _, _, h, w = features.shape
    bins = tuple(b[0] for b in roi_pool_bins(rois[:, 1:], (cfg.roi_pool_size,) * 2, scale, h, w))
    channel = int(np.argmax(pooled[0].sum(axis=(1, 2))))
    vmax = float(features[0, channel].max()) or 1.0
    (image_ax, map_ax), (tiles_ax, pooled_ax) = np.asarray(axes).reshape(2, 2)
    stages.draw_mapping_image(
        image,
        box,
        map_box(detector.backbone, _snap(box, scale), src=None, dst=0),
        cfg.feat_stride,
        box_name=box_name,
        back_name="its cells after rounding (F18)",
        ax=image_ax,
    )
    draw_roi_bins(
        features[0, channel],
        np.asarray(box) * scale,
        bins,
        argmax[0, channel],
        channel=channel,
        vmax=vmax,
        ax=map_ax,
    )
    draw_roi_bin_tiles(features[0, channel], bins, argmax[0, channel], vmax=vmax, ax=tiles_ax)
    draw_pooled(
        pooled[0, channel], channel=channel, vmax=vmax, argmax=argmax[0, channel], ax=pooled_ax
    )


def _snap(box, scale) -> np.ndarray:
    """The map cells RoI pooling uses: corners times the scale, rounded, end cell included."""
    x1, y1, x2, y2 = round_half_away_from_zero(np.asarray(box, dtype=np.float64) * scale)
    return np.array([x1, y1, x2 + 1, y2 + 1])


# --------------------------------------------------------------------------- detections


def panel_size(image: np.ndarray, least: float = 6.0, most: float = 14.0) -> tuple[float, float]:
    """Inches of a one-panel figure showing ``image`` about at its pixel size, between
    ``least`` and ``most`` inches wide (small images are enlarged so that tags fit), with
    room for the title and the legend."""
    height, width = image.shape[:2]
    inches = min(max(width / DPI, least), most)
    return inches, inches * height / width + 1.4


def detections_figure(
    image: np.ndarray,
    detector,
    class_names,
    gt_boxes=None,
    gt_name: str = "ground truth",
    score_thresh: float = DRAW_SCORE_THRESH,
    detections=None,
):
    """The detector's detections on the image (``detector.detect``, or ``detections`` =
    ``(boxes, scores, labels)`` already computed) scoring at least ``score_thresh``, and the
    boxes ``gt_boxes`` to compare with: what ``minirpn show detections`` and ``minirpn
    detect`` draw."""
    boxes, scores, labels = detector.detect(image) if detections is None else detections
    figure, (ax,) = new_figure(1, panel_size(image))
    draw_detection_boxes(
        image,
        boxes,
        scores,
        labels,
        class_names,
        gt_boxes=gt_boxes,
        gt_name=gt_name,
        score_thresh=score_thresh,
        title=(
            f"{int(np.sum(scores >= score_thresh))} detections scoring ≥ {score_thresh:g} "
            f"(of {len(boxes)} above the model's {detector.cfg.test_score_thresh:g})"
        ),
        ax=ax,
    )
    return figure


GRID_COLUMNS = 4


def grid_figure(count: int, title: str, handles: list):
    """A figure of ``count`` square panels, :data:`GRID_COLUMNS` a row, under ``title`` and
    over one legend of ``handles``; returns it and the panels (extra ones hidden)."""
    cols = min(GRID_COLUMNS, count)
    rows = -(-count // cols)
    figure = Figure(figsize=(3.4 * cols, 3.5 * rows + 1.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    figure.suptitle(title, fontsize=12)
    figure.legend(
        handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=10
    )
    return figure, list(axes[:count])


def detections_grid_figure(
    detector, dataset, class_names, count: int = 16, score_thresh=DRAW_SCORE_THRESH
):
    """The first ``count`` images of ``dataset``: detections scoring at least ``score_thresh``
    (class colour, tag "class score") over the ground truth (dashed): ``val_detections.png``."""
    count = min(count, len(dataset))
    handles = [*class_handles(class_names), ground_truth_handle()]
    figure, axes = grid_figure(
        count,
        f"the first {count} of {len(dataset)} validation images: detections scoring "
        f"≥ {score_thresh:g} in their class's colour (tag: class and score), ground truth dashed",
        handles,
    )
    for index, ax in enumerate(axes):
        sample = dataset[index]
        boxes, scores, labels = detector.detect(sample.image)
        shown = int(np.sum(scores >= score_thresh))
        draw_detection_boxes(
            sample.image,
            boxes,
            scores,
            labels,
            class_names,
            gt_boxes=sample.boxes,
            score_thresh=score_thresh,
            legend=False,
            title=f"{sample.file_name}: {shown} shown, {len(sample.boxes)} objects",
            ax=ax,
        )
    return figure


def data_figure(dataset, count: int, where: str):
    """The first ``count`` images of ``dataset`` with their annotated boxes and class names
    (difficult ones dashed): ``minirpn show data``, the first look at a data set."""
    count = min(count, len(dataset))
    samples = [dataset[index] for index in range(count)]
    names = dataset.class_names
    counts = [
        sum(int(np.sum(s.labels == label)) for s in samples) for label in range(1, len(names) + 1)
    ]
    handles = class_handles(names, counts)
    if any(len(s.difficult_boxes) for s in samples):
        handles.append(legend_line("0.3", "difficult (ignored by evaluation)", linestyle="--"))
    figure, axes = grid_figure(
        count,
        f"{where}: the first {count} of {len(dataset):,} images, {len(names)} classes "
        "(boxes per class in these images)",
        handles,
    )
    for sample, ax in zip(samples, axes, strict=True):
        draw_annotations(
            sample.image,
            sample.boxes,
            sample.labels,
            names,
            difficult=(sample.difficult_boxes, sample.difficult_labels),
            title=f"{sample.file_name} ({sample.image.shape[1]}×{sample.image.shape[0]})",
            ax=ax,
        )
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
