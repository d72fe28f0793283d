"""A picture of every stage of Faster R-CNN, drawn from the package's own arrays.

Each function draws one panel onto ``ax`` (or onto a new figure when ``ax`` is None) and
returns the Axes. It takes what a stage computed -- anchors, labels, proposals, pooled
grids -- and never computes it again: :mod:`minirpn.visualize.scenes` calls the stages
and then these functions, and a lesson can do the same with its own arrays.

Boxes are continuous corners ``(x1, y1, x2, y2)`` drawn as rectangles at ``(x1, y1)`` of
size ``(x2 - x1, y2 - y1)`` on images shown with ``extent=(0, W, H, 0)`` (pixel ``i``
spans ``[i, i + 1)``). Every rectangle carries a ``gid`` naming its role ("anchor", "gt",
"positive", ...), so :func:`minirpn.visualize.axes.boxes_of` reads back what was drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch

from minirpn.matching import IGNORE, NEGATIVE, POSITIVE
from minirpn.receptive_field import ReceptiveField
from minirpn.visualize.axes import (
    BLUE,
    GREEN,
    GROUND_TRUTH,
    ORANGE,
    OUTLINE,
    PURPLE,
    SKY,
    TEXT_OUTLINE,
    VERMILION,
    YELLOW,
    add_box,
    add_boxes,
    axes_or_new,
    legend_line,
    show_image,
)

SCALE_COLORS = (YELLOW, SKY, VERMILION, GREEN, PURPLE)
RATIO_STYLES = ("--", "-", ":", "-.")
ERF_VIEW = 3  # the ERF picture shows this many theoretical field sizes around the cell
LABEL_COLORS = {"positive": GREEN, "negative": BLUE, "neither": ORANGE, "outside": "0.6"}
MAX_RINGS = 64  # the label map rings its positive anchors when there are at most this many


def _width_height(box) -> str:
    x1, y1, x2, y2 = box
    return f"{x2 - x1:g}×{y2 - y1:g}"


def _gt_boxes(ax: Axes, gt_boxes) -> None:
    for box in np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4):
        add_box(ax, box, "gt", edgecolor=GROUND_TRUTH, linewidth=2, outline=True)


def _cell_size(stride: float) -> str:
    return f"{stride:g}×{stride:g}"


# --------------------------------------------------------------------------- anchors (F7)


def draw_anchors(
    image: np.ndarray,
    cell_anchors: np.ndarray,
    num_ratios: int,
    all_anchors: np.ndarray | None = None,
    feat_shape: tuple[int, int] | None = None,
    stride: float | None = None,
    *,
    setting: str = "",
    ax: Axes | None = None,
) -> Axes:
    """The k anchors of one cell over the image (F7), and every cell's centre.

    image:        (H, W, 3) uint8, the network's (rescaled) input.
    cell_anchors: (k, 4) the anchors of one cell, ratio-major as
                  :func:`minirpn.anchors.generate_base_anchors` orders them (k = R * S).
    num_ratios:   R; anchor ``a`` has ratio index ``a // S`` (line style) and scale index
                  ``a % S`` (colour).
    all_anchors:  (h * w * k, 4) every anchor of the image (grid order) or None; the
                  centres of their cells are dotted and the count is in the title.
    feat_shape:   (h, w) of the feature map, needed with ``all_anchors``.
    stride:       feature stride in pixels; draws the cell itself as a small square.
    setting:      first line of the title, e.g. "VGG-16, stride 16".
    The axes grow to hold anchors that reach outside the image (grey around it).
    """
    ax = axes_or_new(ax)
    cell_anchors = np.asarray(cell_anchors, dtype=np.float64)
    k = len(cell_anchors)
    if num_ratios < 1 or k % num_ratios:
        raise ValueError(f"num_ratios must divide the {k} anchors, got {num_ratios!r}")
    num_scales = k // num_ratios
    height, width = image.shape[:2]
    show_image(ax, image)
    ax.set_facecolor("0.85")
    cx = (cell_anchors[0, 0] + cell_anchors[0, 2]) / 2
    cy = (cell_anchors[0, 1] + cell_anchors[0, 3]) / 2

    title = [setting] if setting else []
    if all_anchors is not None:
        title.append(_draw_cell_centres(ax, all_anchors, feat_shape, k))
    else:
        title.append(f"{k} anchors of one cell (F7)")
    if stride is not None:
        half = stride / 2
        add_box(
            ax,
            (cx - half, cy - half, cx + half, cy + half),
            "cell",
            facecolor="white",
            edgecolor="black",
            fill=True,
            zorder=3,
        )
        title.append(f"white square: one {_cell_size(stride)} cell")

    handles = []
    for a, box in enumerate(cell_anchors):
        ratio, scale = divmod(a, num_scales)
        color = SCALE_COLORS[scale % len(SCALE_COLORS)]
        style = RATIO_STYLES[ratio % len(RATIO_STYLES)]
        add_box(ax, box, "anchor", edgecolor=color, linestyle=style, linewidth=2)
        handles.append(legend_line(color, _width_height(box), linestyle=style))
    ax.plot([cx], [cy], marker="+", color="black", markersize=7, markeredgewidth=1.2, zorder=4)

    x_lo = min(0.0, cell_anchors[:, 0].min())
    x_hi = max(float(width), cell_anchors[:, 2].max())
    y_lo = min(0.0, cell_anchors[:, 1].min())
    y_hi = max(float(height), cell_anchors[:, 3].max())
    margin = 0.03 * max(x_hi - x_lo, y_hi - y_lo)
    ax.set_xlim(x_lo - margin, x_hi + margin)
    ax.set_ylim(y_hi + margin, y_lo - margin)
    ax.set_title("\n".join(title), fontsize=11)
    # One legend column per ratio, one row per scale (matplotlib fills columns first).
    ax.legend(
        handles=handles,
        ncol=num_ratios,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize=9,
        title="w×h in pixels: colour = scale, line = ratio h/w",
        title_fontsize=9,
        frameon=False,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _draw_cell_centres(ax: Axes, all_anchors, feat_shape, k: int) -> str:
    """Dot the centre of every cell (its anchor 0's centre); return the title's count line."""
    all_anchors = np.asarray(all_anchors, dtype=np.float64)
    h, w = feat_shape
    if all_anchors.shape != (h * w * k, 4):
        raise ValueError(
            f"all_anchors must have shape ({h * w * k}, 4) for feat_shape {feat_shape} and "
            f"{k} anchors per cell, got {all_anchors.shape}"
        )
    first = all_anchors.reshape(h * w, k, 4)[:, 0]  # (h*w, 4): anchor 0 of every cell
    ax.scatter(
        (first[:, 0] + first[:, 2]) / 2,
        (first[:, 1] + first[:, 3]) / 2,
        s=4,
        color="white",
        edgecolors="black",
        linewidths=0.3,
        zorder=3,
        gid="centers",
    )
    return f"{w}×{h} cells (w×h) × {k} = {h * w * k:,} anchors (F7)"


# --------------------------------------------------------------------------- receptive fields


def draw_receptive_field(
    image: np.ndarray,
    fields: Mapping[str, ReceptiveField],
    cell: tuple[int, int],
    *,
    setting: str = "",
    ax: Axes | None = None,
) -> Axes:
    """The theoretical receptive field (F3) and centre (F4) of one cell over the image.

    image:  (H, W, 3) uint8, the network's input.
    fields: name -> :class:`minirpn.receptive_field.ReceptiveField` of the last map (e.g.
            "conv5_3" and "conv5_3 + RPN 3×3"); all must share one stride and offset.
    cell:   (row, col) of the cell on the last map.
    Each field is a square ``interval(col) x interval(row)``; the cell's own footprint
    (``stride`` pixels) is the small filled square at the centre.
    """
    ax = axes_or_new(ax)
    show_image(ax, image)
    row, col = cell
    colors = (YELLOW, SKY, VERMILION, GREEN)
    parts = []
    for (name, rf), color in zip(fields.items(), colors, strict=False):
        x1, x2 = rf.interval(col)
        y1, y2 = rf.interval(row)
        add_box(ax, (x1, y1, x2, y2), "field", edgecolor=color, linewidth=2.5, label=name)
        parts.append(f"{rf.size}")
    rf = next(iter(fields.values()))
    cx, cy = float(rf.center(col)), float(rf.center(row))
    half = rf.stride / 2
    cell_patch = add_box(
        ax,
        (cx - half, cy - half, cx + half, cy + half),
        "cell",
        facecolor="white",
        edgecolor="black",
        fill=True,
        zorder=3,
    )
    cell_patch.set_label(f"the cell: {_cell_size(rf.stride)} px (stride)")
    ax.plot([cx], [cy], marker="+", color="black", markersize=10, markeredgewidth=1.5, zorder=4)
    height, width = image.shape[:2]
    lo = min(0.0, *(f.interval(col)[0] for f in fields.values()))
    ax.set_xlim(min(lo, 0.0) - 5, max(width, *(f.interval(col)[1] for f in fields.values())) + 5)
    ax.set_ylim(
        max(height, *(f.interval(row)[1] for f in fields.values())) + 5,
        min(0.0, *(f.interval(row)[0] for f in fields.values())) - 5,
    )
    ax.set_facecolor("0.85")
    title = [setting] if setting else []
    title.append(
        f"cell (row {row}, col {col}) sees {' / '.join(parts)} px (F3), "
        f"centre ({cx:g}, {cy:g}) (F4)"
    )
    ax.set_title("\n".join(title), fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=9, frameon=False, ncol=1)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def draw_receptive_field_growth(
    networks: Mapping[str, tuple[Sequence[int], Sequence[int]]],
    *,
    notes: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Receptive-field size (F3) and effective stride after every conv / pool layer.

    networks: name -> (sizes, strides), one entry per spatial layer counted from the
              image, e.g. from ``receptive_field(layers[:m])`` for m = 1..n.
    notes:    name -> a remark for the legend, e.g. "196 at conv5_3".
    Sizes are solid lines, strides dashed, on one logarithmic axis; the last values are
    written at the end of each line.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax = axes_or_new(ax)
    notes = notes or {}
    colors = (VERMILION, BLUE, GREEN, PURPLE)
    for (name, (sizes, strides)), color in zip(networks.items(), colors, strict=False):
        layers = np.arange(1, len(sizes) + 1)
        note = f" ({notes[name]})" if name in notes else ""
        ax.plot(layers, sizes, "-o", color=color, markersize=3.5, label=f"{name}: size{note}")
        ax.plot(layers, strides, "--", color=color, linewidth=1.2, label=f"{name}: stride")
        ax.annotate(
            f"{sizes[-1]} px",
            (layers[-1], sizes[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            color=color,
            fontsize=9,
            fontweight="bold",
        )
        ax.annotate(
            f"{strides[-1]}",
            (layers[-1], strides[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            color=color,
            fontsize=9,
        )
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("conv / pool layers from the image (the last: the RPN's 3×3 conv)")
    ax.set_ylabel("pixels of the input image")
    ax.set_title("receptive field r = (r' − 1)·s + k (F3) and stride, layer by layer", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    ax.margins(x=0.12)
    return ax


def central_mass_side(heat: np.ndarray, center: tuple[float, float], fraction: float) -> int:
    """Side (pixels) of the smallest square centred on ``center`` (x, y) holding ``fraction``
    of the total of the non-negative map ``heat`` (H, W)."""
    total = heat.sum()
    if total <= 0:
        return 0
    height, width = heat.shape
    cx, cy = center
    for half in range(1, max(height, width) + 1):
        x1, x2 = max(int(np.floor(cx - half)), 0), min(int(np.ceil(cx + half)), width)
        y1, y2 = max(int(np.floor(cy - half)), 0), min(int(np.ceil(cy + half)), height)
        if heat[y1:y2, x1:x2].sum() >= fraction * total:
            return 2 * half
    return 2 * max(height, width)


ERF_FLOOR = 0.01  # gradients below this fraction of the maximum are not coloured
ERF_MASSES = (0.5, 0.9)  # the squares drawn hold these fractions of the gradient


def draw_effective_receptive_field(
    image: np.ndarray,
    erf: np.ndarray,
    rf: ReceptiveField,
    cell: tuple[int, int],
    *,
    label: str = "",
    images: int = 1,
    ax: Axes | None = None,
) -> Axes:
    """The effective receptive field of one cell as a heat map over the image.

    image:  (H, W, 3) uint8 input; shown in grey under the heat map.
    erf:    (H, W) ``|d out / d x|`` from :func:`minirpn.receptive_field.effective_receptive_field`,
            or its mean over ``images`` images of one size (less noisy).
    rf:     the theoretical field of the same network, drawn dashed (F3).
    cell:   (row, col) the ERF was taken at.
    The solid and dotted squares are the smallest centred squares holding half and 90 % of
    the gradient (:func:`central_mass_side`); where the gradient is below :data:`ERF_FLOOR` of its
    maximum the grey image shows through. The view is cropped to :data:`ERF_VIEW` times the
    field's size around the cell.
    """
    ax = axes_or_new(ax)
    erf = np.asarray(erf, dtype=np.float64)
    if erf.shape != image.shape[:2]:
        raise ValueError(f"erf must have the image's shape {image.shape[:2]}, got {erf.shape}")
    gray = image.astype(np.float64).mean(axis=2)
    show_image(ax, gray, cmap="gray", vmin=0, vmax=255)
    peak = erf.max()
    heat = erf / peak if peak > 0 else erf
    masked = np.ma.masked_less(heat, ERF_FLOOR)  # let the image show through where little flows
    height, width = erf.shape
    image_artist = ax.imshow(
        masked,
        extent=(0, width, height, 0),
        cmap="inferno",
        vmin=0,
        vmax=1,
        alpha=0.85,
        interpolation="nearest",
    )
    row, col = cell
    x1, x2 = rf.interval(col)
    y1, y2 = rf.interval(row)
    add_box(ax, (x1, y1, x2, y2), "field", edgecolor=SKY, linewidth=2, linestyle="--")
    cx, cy = float(rf.center(col)), float(rf.center(row))
    handles = [legend_line(SKY, f"theoretical field {rf.size}×{rf.size} px (F3)", linestyle="--")]
    for mass, style in zip(ERF_MASSES, ("-", ":"), strict=True):
        side = central_mass_side(erf, (cx, cy), mass)
        half = side / 2
        square = (cx - half, cy - half, cx + half, cy + half)
        add_box(ax, square, "mass", edgecolor=GREEN, linewidth=2, linestyle=style)
        handles.append(
            legend_line(
                GREEN, f"{side}×{side} px: holds {mass:.0%} of the gradient", linestyle=style
            )
        )
    ax.plot([cx], [cy], marker="+", color=SKY, markersize=10, markeredgewidth=2)
    # On a large image the field is small: show ERF_VIEW field sizes around the cell.
    view = ERF_VIEW * rf.size / 2
    ax.set_xlim(max(cx - view, 0), min(cx + view, width))
    ax.set_ylim(min(cy + view, height), max(cy - view, 0))
    over = f"mean over {images} images" if images > 1 else "one image"
    ax.set_title(f"{label}\n|∂out/∂x| of the cell's output, {over}", fontsize=10)
    handles.append(Patch(facecolor="0.6", label=f"grey: below {ERF_FLOOR:.0%} of the maximum"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        fontsize=9,
        frameon=False,
    )
    ax.figure.colorbar(image_artist, ax=ax, shrink=0.7, label="|gradient| / max")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------- coordinate mapping


def draw_mapping_image(
    image: np.ndarray,
    box,
    back_box,
    stride: float,
    *,
    box_name: str = "the box",
    back_name: str = "its cells, mapped back (F4)",
    ax: Axes | None = None,
) -> Axes:
    """The image side of F4 / F18: a box, the feature grid's cells, and the cells mapped back.

    image:    (H, W, 3) uint8.
    box:      (4,) the box in image pixels; ``box_name`` in the legend ("your box" for one
              a user gave).
    back_box: (4,) the feature cells the projected box touches, mapped back to the image;
              ``back_name`` in the legend.
    stride:   cell size in pixels; grid lines are drawn every ``stride`` pixels.
    """
    ax = axes_or_new(ax)
    show_image(ax, image)
    height, width = image.shape[:2]
    for x in np.arange(0, width + 1e-9, stride):
        ax.axvline(x, color="white", alpha=0.35, linewidth=0.6)
    for y in np.arange(0, height + 1e-9, stride):
        ax.axhline(y, color="white", alpha=0.35, linewidth=0.6)
    add_box(ax, box, "box", edgecolor=GROUND_TRUTH, linewidth=2, outline=True, label=box_name)
    add_box(ax, back_box, "back", edgecolor=YELLOW, linewidth=2, linestyle="--", label=back_name)
    ax.set_title(
        f"image: box {_corners(box)}, {_width_height(box)} px\n"
        f"grid: one {_cell_size(stride)} cell per feature-map cell",
        fontsize=10,
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=9, frameon=False, ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _corners(box) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in box) + ")"


def draw_mapping_map(
    feat_shape: tuple[int, int],
    feat_box,
    cells,
    *,
    spatial_scale: float,
    ax: Axes | None = None,
) -> Axes:
    """The feature-map side of F18: the projected box over the h x w cells, in cell units.

    feat_shape: (h, w) of the map.
    feat_box:   (4,) the box projected onto the map (continuous cell coordinates).
    cells:      (4,) ``(col1, row1, col2, row2)``, the block of whole cells it touches
                (``col2``, ``row2`` exclusive), shaded.
    """
    ax = axes_or_new(ax)
    h, w = feat_shape
    ax.set_facecolor("0.95")
    c1, r1, c2, r2 = (int(v) for v in cells)
    shaded = add_box(ax, (c1, r1, c2, r2), "cells", facecolor=YELLOW, alpha=0.45)
    shaded.set_fill(True)
    shaded.set_label(f"{c2 - c1}×{r2 - r1} cells touched")
    for x in range(w + 1):
        ax.axvline(x, color="0.6", linewidth=0.6)
    for y in range(h + 1):
        ax.axhline(y, color="0.6", linewidth=0.6)
    add_box(ax, feat_box, "projected", edgecolor="black", linewidth=2, label="box × scale (F18)")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_title(
        f"feature map {w}×{h} (w×h): box × {spatial_scale:g} = {_corners(np.round(feat_box, 2))}",
        fontsize=10,
    )
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=9, frameon=False, ncol=2)
    return ax


# ------------------------------------------------------------------ anchor labels (F8, F13)


def label_categories(labels: np.ndarray, inside: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the four kinds of anchor before sampling: positive, negative, neither, outside.

    labels: (A,) POSITIVE / NEGATIVE / IGNORE from :func:`minirpn.anchor_target.anchor_targets`
            with a minibatch large enough to keep every anchor (F8 only).
    inside: (A,) bool, :func:`minirpn.anchor_target.inside_image` (F8 e).
    """
    return {
        "positive": labels == POSITIVE,
        "negative": labels == NEGATIVE,
        "neither": (labels == IGNORE) & inside,
        "outside": ~inside,
    }


def draw_minibatch(
    image: np.ndarray,
    anchors: np.ndarray,
    sampled_labels: np.ndarray,
    gt_boxes: np.ndarray,
    *,
    max_iou: np.ndarray | None = None,
    positive_overlap: float = 0.7,
    negative_overlap: float = 0.3,
    gt_name: str = "ground truth",
    setting: str = "",
    ax: Axes | None = None,
) -> Axes:
    """The sampled RPN minibatch (F13) on the image: its positive and negative anchors.

    image:          (H, W, 3) uint8.
    anchors:        (A, 4) every anchor of the image.
    sampled_labels: (A,) labels after sampling (``AnchorTargets.labels``): POSITIVE and
                    NEGATIVE are the minibatch, IGNORE the rest.
    gt_boxes:       (G, 4) ground truth, in white (``gt_name`` in the legend).
    max_iou:        (A,) each anchor's best IoU, if given: positives with IoU >= the
                    ``positive_overlap`` (rule F8 b) are solid, those positive only as
                    the best anchor of a box (rule F8 a, IoU below it) dashed.
    negative_overlap: the IoU below which an anchor is negative, for the legend.
    setting:        a line for the title, e.g. the preset's minibatch size.
    """
    ax = axes_or_new(ax)
    show_image(ax, image)
    positive = np.flatnonzero(sampled_labels == POSITIVE)
    negative = np.flatnonzero(sampled_labels == NEGATIVE)
    by_best = (
        np.zeros(len(positive), bool) if max_iou is None else max_iou[positive] < positive_overlap
    )
    add_boxes(ax, anchors[negative], "negative", edgecolors=BLUE, linewidths=0.7, alpha=0.6)
    _gt_boxes(ax, gt_boxes)
    for i, best in zip(positive, by_best, strict=True):  # a black rim: shapes of any colour
        style = "--" if best else "-"
        add_box(
            ax, anchors[i], "positive", edgecolor=GREEN, linewidth=2, linestyle=style, outline=True
        )
    height, width = image.shape[:2]
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    title = f"minibatch (F13): {positive.size} positive + {negative.size} negative "
    title += f"= {positive.size + negative.size} of {len(anchors):,} anchors"
    ax.set_title(title + (f"\n{setting}" if setting else ""), fontsize=10)
    handles = [
        legend_line(GROUND_TRUTH, f"{gt_name} ({len(gt_boxes)})", path_effects=TEXT_OUTLINE),
        legend_line(
            GREEN, f"positive: IoU ≥ {positive_overlap:g} (F8 b) ({int((~by_best).sum())})"
        ),
    ]
    if by_best.any():
        handles.append(
            legend_line(
                GREEN,
                f"positive as the best anchor of its box, IoU < {positive_overlap:g} "
                f"(F8 a) ({int(by_best.sum())})",
                linestyle="--",
            )
        )
    handles.append(
        legend_line(BLUE, f"negative: IoU < {negative_overlap:g} ({negative.size})", linewidth=1)
    )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=2,
        fontsize=9,
        frameon=False,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def draw_label_map(
    categories: Mapping[str, np.ndarray],
    sampled: np.ndarray,
    feat_shape: tuple[int, int],
    cell_anchors: np.ndarray,
    num_ratios: int,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Every anchor's label (F8) as a mosaic: one h x w tile per anchor shape.

    categories: :func:`label_categories` of the A = h * w * k anchors (grid order).
    sampled:    (A,) bool, the anchors of the minibatch (F13), marked with a dot.
    feat_shape: (h, w).
    cell_anchors: (k, 4) the anchors of one cell (tile titles give their w×h).
    num_ratios: R; tiles are laid out R rows (ratios) by S columns (scales).
    Returns the Axes; the mosaic is its first image, in cell units, with ``gap`` cells
    between tiles.
    """
    ax = axes_or_new(ax)
    h, w = feat_shape
    k = len(cell_anchors)
    num_scales = k // num_ratios
    names = list(LABEL_COLORS)
    index = np.full(h * w * k, -1, dtype=np.int64)
    for code, name in enumerate(names):
        index[np.asarray(categories[name], dtype=bool)] = code
    if (index < 0).any():
        raise ValueError("categories must give every anchor exactly one kind")
    per_shape = index.reshape(h, w, k)  # (h, w, k)
    gap = max(1, round(0.25 * max(h, w)))
    mosaic = np.full(
        (num_ratios * h + (num_ratios - 1) * gap, num_scales * w + (num_scales - 1) * gap), np.nan
    )
    sampled = np.asarray(sampled, dtype=bool).reshape(h, w, k)
    positive = np.asarray(categories["positive"], dtype=bool).reshape(h, w, k)
    dots, rings = ([], []), ([], [])
    for a in range(k):
        ratio, scale = divmod(a, num_scales)
        top, left = ratio * (h + gap), scale * (w + gap)
        mosaic[top : top + h, left : left + w] = per_shape[:, :, a]
        for mask, (xs, ys) in ((sampled, dots), (positive, rings)):
            rows, cols = np.nonzero(mask[:, :, a])
            xs += list(left + cols + 0.5)
            ys += list(top + rows + 0.5)
        ax.text(
            left + w / 2,
            top - 0.15 * gap,
            _width_height(cell_anchors[a]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    cmap = ListedColormap([LABEL_COLORS[n] for n in names]).with_extremes(bad="white")
    mh, mw = mosaic.shape
    ax.imshow(
        np.ma.masked_invalid(mosaic),
        cmap=cmap,
        norm=Normalize(-0.5, len(names) - 0.5),
        extent=(0, mw, mh, 0),
        interpolation="nearest",
    )
    # A positive anchor is one cell of its tile: a ring makes a few findable at a glance
    # (many make a green area of their own, which rings would only cover).
    ringed = len(rings[0]) <= MAX_RINGS
    if ringed:
        ring = dict(marker="o", facecolors="none", edgecolors="black", linewidths=1.5)
        ax.scatter(*rings, s=70, gid="positive-ring", **ring)
    ax.scatter(*dots, s=4, color="black", gid="sampled")
    ax.set_xlim(0, mw)
    ax.set_ylim(mh, -gap)
    total = h * w * k
    handles = [
        Patch(color=LABEL_COLORS[n], label=f"{n} ({int(np.sum(categories[n])):,})") for n in names
    ]
    dot = dict(linestyle="none", markeredgecolor="black")
    handles.append(
        legend_line(
            "black", f"in the minibatch ({int(sampled.sum())})", marker="o", markersize=3, **dot
        )
    )
    if ringed:
        handles.append(legend_line("none", "positive, ringed", marker="o", markersize=8, **dot))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    ax.set_title(
        f"labels of all {total:,} anchors (F8): {w}×{h} cells (w×h) per tile,\n"
        f"rows = ratio h/w, columns = scale",
        fontsize=10,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------- regression (F10)


def draw_regression(
    image: np.ndarray,
    anchor,
    gt,
    targets,
    decoded,
    *,
    iou: float | None = None,
    why: str = "",
    gt_name: str = "ground truth",
    ax: Axes | None = None,
) -> Axes:
    """One anchor, its ground truth, the targets t* (F10) and the box decoded back.

    anchor, gt, decoded: (4,) boxes; ``decoded = decode(anchor, targets)``.
    targets: (4,) ``(t_x, t_y, t_w, t_h)`` = ``encode(anchor, gt)``.
    iou:     the anchor's IoU with ``gt``, for the title.
    why:     a second title line, e.g. which labelling rule made the anchor positive (F8).
    gt_name: the legend's name of ``gt`` ("your box" for a box a user gave).
    The view is cropped around the boxes; the formulas are written with their numbers.
    """
    ax = axes_or_new(ax)
    show_image(ax, image)
    anchor, gt, decoded = (np.asarray(b, dtype=np.float64) for b in (anchor, gt, decoded))
    tx, ty, tw, th = (float(t) for t in targets)
    add_box(ax, gt, "gt", edgecolor=GROUND_TRUTH, linewidth=3, outline=True, label=gt_name)
    # Black rims keep the boxes visible on toy shapes of any colour.
    add_box(
        ax,
        anchor,
        "anchor",
        edgecolor=YELLOW,
        linewidth=2.5,
        linestyle="--",
        outline=True,
        label="anchor",
    )
    add_box(
        ax,
        decoded,
        "decoded",
        edgecolor=VERMILION,
        linewidth=1.5,
        linestyle=":",
        label="decode(anchor, t*) = the box again",
    )
    ax_, ay_ = (anchor[:2] + anchor[2:]) / 2
    gx, gy = (gt[:2] + gt[2:]) / 2
    aw, ah = anchor[2:] - anchor[:2]
    gw, gh = gt[2:] - gt[:2]
    ax.plot([ax_], [ay_], "o", color=YELLOW, markeredgecolor="black", markersize=6)
    ax.plot([gx], [gy], "o", color="white", markeredgecolor="black", markersize=6)
    arrow = ax.annotate(
        "",
        xy=(gx, gy),
        xytext=(ax_, ay_),
        arrowprops=dict(arrowstyle="-|>", color=YELLOW, linewidth=2, shrinkA=4, shrinkB=4),
    )
    arrow.arrow_patch.set_path_effects(OUTLINE)
    lines = [
        f"t*x = (x − xa)/wa = ({gx:g} − {ax_:g})/{aw:g} = {tx:+.3f}",
        f"t*y = (y − ya)/ha = ({gy:g} − {ay_:g})/{ah:g} = {ty:+.3f}",
        f"t*w = log(w/wa) = log({gw:g}/{aw:g}) = {tw:+.3f}",
        f"t*h = log(h/ha) = log({gh:g}/{ah:g}) = {th:+.3f}",
        f"decode(anchor, t*) = {_corners(np.round(decoded, 3))}",
    ]
    both = np.vstack([anchor, gt, decoded])
    x1, y1 = both[:, :2].min(axis=0)
    x2, y2 = both[:, 2:].max(axis=0)
    margin = 0.25 * max(x2 - x1, y2 - y1)
    height, width = image.shape[:2]
    ax.set_xlim(max(x1 - margin, 0), min(x2 + margin, width))
    ax.set_ylim(min(y2 + margin, height), max(y1 - margin, 0))
    title = f"F10: anchor {_width_height(anchor)} → {gt_name} {_width_height(gt)}"
    if iou is not None:
        title += f" (IoU {iou:.2f})"
    ax.set_title(title + (f"\n{why}" if why else ""), fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=9, frameon=False)
    ax.text(
        0.5,
        -0.13,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="center",
        va="top",
        family="monospace",
        fontsize=9.5,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------- proposals (F15, F16)


def objectness_cmap():
    """Objectness 0 -> 1 as dark blue -> purple -> orange (matplotlib's plasma without its
    palest end): every colour stays darker than the lightened image under the proposals."""
    from matplotlib import colormaps

    return ListedColormap(colormaps["plasma"](np.linspace(0.0, 0.85, 256)), name="objectness")


def draw_proposals(
    image: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    *,
    title: str,
    gt_boxes: np.ndarray | None = None,
    gt_name: str = "ground truth",
    ax: Axes | None = None,
):
    """Proposals coloured by objectness (low scores first, so the best are on top) over the
    image turned into light grey, so that boxes of every score stand out from any image.

    boxes: (P, 4) proposals; scores: (P,) their objectness in [0, 1]. Colour
    (:func:`objectness_cmap`) and line width grow with the objectness; the count is written
    large in the corner. ``gt_boxes`` are drawn dashed black (``gt_name`` in the legend).
    :func:`objectness_colorbar` adds the colour scale for a whole figure.
    """
    ax = axes_or_new(ax)
    luminance = np.asarray(image, dtype=np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])
    show_image(ax, 0.6 + 0.4 * luminance / 255, cmap="gray", vmin=0, vmax=1)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(boxes),):
        raise ValueError(f"scores must have shape ({len(boxes)},), got {scores.shape}")
    order = np.argsort(scores, kind="stable")
    colors = objectness_cmap()(scores[order])  # (P, 4) RGBA
    colors[:, 3] = 0.45 + 0.55 * scores[order]
    add_boxes(ax, boxes[order], "proposal", edgecolors=colors, linewidths=0.5 + 1.5 * scores[order])
    handles = [
        legend_line(objectness_cmap()(0.7), f"proposals ({len(boxes):,}): colour = objectness")
    ]
    if gt_boxes is not None:
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        for box in gt_boxes:
            add_box(ax, box, "gt", edgecolor="black", linewidth=1.5, linestyle="--")
        handles.append(
            legend_line("black", f"{gt_name} ({len(gt_boxes)})", linestyle="--", linewidth=1.5)
        )
    ax.text(
        0.02,
        0.98,
        f"{len(boxes):,}",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=16,
        fontweight="bold",
        bbox=dict(facecolor="white", alpha=0.85, edgecolor="black", pad=3),
    )
    height, w = image.shape[:2]
    ax.set_xlim(0, w)
    ax.set_ylim(height, 0)
    ax.set_title(title, fontsize=10)
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=9, frameon=False
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def objectness_colorbar(figure, axes: Sequence[Axes]) -> None:
    """One colour bar, 0 to 1 in :func:`objectness_cmap`, for panels of :func:`draw_proposals`."""
    from matplotlib import cm

    mappable = cm.ScalarMappable(norm=Normalize(0, 1), cmap=objectness_cmap())
    figure.colorbar(mappable, ax=list(axes), shrink=0.8, label="objectness (F15 step 1)")
