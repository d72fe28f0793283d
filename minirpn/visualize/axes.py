"""What every stage picture shares: a figure without pyplot, images on pixel extents, boxes.

Coordinates. An (H, W) image is shown with ``extent=(0, W, H, 0)``, so pixel ``i`` spans
``[i, i + 1)`` on the axes, exactly as in the box convention: a box ``(x1, y1, x2, y2)`` is
the rectangle at ``(x1, y1)`` of size ``(x2 - x1, y2 - y1)``, with no half-pixel offset. A
feature map of h x w cells is shown the same way, in cell units.

Figures are made with matplotlib's object API on the Agg canvas (no pyplot, no global
state, no display needed); :func:`save_figure` writes one atomically, as PNG, PDF or SVG
by the file's suffix. :func:`add_tags` writes small labels next to boxes so that no two
overlap and none leaves its panel (where it would cover a title).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from minirpn.fileio import atomic_write
from minirpn.visualize import FIGURE_FORMATS

DPI = 100
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
GROUND_TRUTH = "white"
# Distinct, saturated colours for the classes: label k uses PALETTE[(k - 1) % len] (RGB 0-255).
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)

# A thin black rim around white lines and text keeps them visible on light backgrounds.
OUTLINE = [patheffects.withStroke(linewidth=3.5, foreground="black")]
TEXT_OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="black")]


def new_figure(ncols: int = 1, size: tuple[float, float] = (6.0, 6.0), **subplot_kw):
    """A figure of ``ncols`` panels side by side (``size`` inches), on the Agg canvas.

    Returns ``(figure, [axes, ...])``.
    """
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols, squeeze=False, subplot_kw=subplot_kw)[0]
    return figure, list(axes)


def axes_or_new(ax: Axes | None, size: tuple[float, float] = (6.0, 6.0)) -> Axes:
    """``ax`` itself, or the single panel of a new figure."""
    return new_figure(1, size)[1][0] if ax is None else ax


def class_color(label: int) -> tuple[float, float, float]:
    """The matplotlib colour (RGB in [0, 1]) of class ``label`` (1..C) in :data:`PALETTE`."""
    return tuple(c / 255 for c in PALETTE[(int(label) - 1) % len(PALETTE)])


def figure_format(path: str | os.PathLike) -> str:
    """The format of an output file by its suffix, one of :data:`FIGURE_FORMATS`; ValueError
    naming the file otherwise (a PNG written under the name x.jpg would mislead). Something
    already there that is not a file is written through as PNG (``/dev/null``, a FIFO), or
    refused by :func:`minirpn.fileio.atomic_write` naming it (a folder)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS and os.path.exists(path) and not os.path.isfile(path):
        return "png"
    if suffix not in FIGURE_FORMATS:
        raise ValueError(
            f"cannot write a picture as {str(path)!r}: its name must end in "
            + ", ".join(f".{name}" for name in FIGURE_FORMATS)
        )
    return suffix


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Save ``figure`` atomically (a failed save keeps the old file), as PNG (at :data:`DPI`),
    PDF or SVG by the suffix of ``path`` (:func:`figure_format`).

    The saved area is the figure's tight bounding box, so titles and legends placed
    outside the panels are never cut off."""
    kind = figure_format(path)
    with atomic_write(path) as f:
        figure.savefig(f, format=kind, dpi=DPI, bbox_inches="tight", pad_inches=0.15)


def show_image(ax: Axes, image: np.ndarray, **kwargs) -> None:
    """Show an (H, W, 3) or (H, W) image so that pixel ``i`` spans ``[i, i + 1)``."""
    height, width = np.asarray(image).shape[:2]
    kwargs.setdefault("interpolation", "nearest")
    ax.imshow(image, extent=(0, width, height, 0), **kwargs)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)


def add_box(ax: Axes, box, gid: str, *, outline: bool = False, **style) -> Rectangle:
    """Draw box ``(x1, y1, x2, y2)`` as an unfilled rectangle tagged ``gid`` (tests find it).

    ``outline`` adds a black rim (for white boxes on light images).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    style.setdefault("fill", False)
    patch = Rectangle((x1, y1), x2 - x1, y2 - y1, gid=gid, **style)
    if outline:
        patch.set_path_effects(OUTLINE)
    ax.add_patch(patch)
    return patch


def add_boxes(ax: Axes, boxes, gid: str, **style) -> PolyCollection:
    """Draw many boxes (K, 4) at once as one collection of unfilled rectangles tagged ``gid``.

    Much faster than K patches (a thousand proposals draw in a fraction of a second);
    ``edgecolors``, ``linewidths`` and ``alpha`` may be given per box.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    corners = np.stack(
        [
            np.stack([x1, y1], 1),
            np.stack([x2, y1], 1),
            np.stack([x2, y2], 1),
            np.stack([x1, y2], 1),
        ],
        axis=1,
    )  # (K, 4, 2)
    style.setdefault("facecolors", "none")
    collection = PolyCollection(corners, closed=True, gid=gid, **style)
    ax.add_collection(collection)
    return collection


def boxes_of(ax: Axes, gid: str) -> np.ndarray:
    """The ``(x1, y1, x2, y2)`` of every box tagged ``gid`` on ``ax`` (rectangles drawn by
    :func:`add_box` and collections drawn by :func:`add_boxes`), in drawing order: (K, 4)."""
    rows = [
        (p.get_x(), p.get_y(), p.get_x() + p.get_width(), p.get_y() + p.get_height())
        for p in ax.patches
        if p.get_gid() == gid
    ]
    for collection in ax.collections:
        if collection.get_gid() == gid and isinstance(collection, PolyCollection):
            for path in collection.get_paths():
                corners = path.vertices[:4]
                rows.append((*corners.min(axis=0), *corners.max(axis=0)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def legend_line(color, label: str, **style) -> Line2D:
    """A legend entry for boxes drawn in ``color`` (a short line of their style)."""
    style.setdefault("linewidth", 2)
    return Line2D([], [], color=color, label=label, **style)


def box_text(ax: Axes, x: float, y: float, text: str, **kwargs):
    """Small text on a dark patch, readable on any image."""
    kwargs.setdefault("fontsize", 9)
    kwargs.setdefault("color", "white")
    return ax.text(
        x,
        y,
        text,
        bbox=dict(facecolor="black", alpha=0.75, pad=TAG_PAD_POINTS, edgecolor="none"),
        **kwargs,
    )


TAG_PAD_POINTS = 1.5  # a tag's dark patch reaches this far around its text


def add_tags(ax: Axes, boxes, texts, *, fontsize: float = 8, gid: str = "tag") -> int:
    """Write ``texts[k]`` next to box ``boxes[k]`` (K, 4), each where it overlaps no other tag
    and stays inside the panel (so it never covers the title above it): above the box's
    top-left corner, else inside it at the top, below it, inside at the bottom. A tag that
    fits nowhere is left out. Returns the number left out.

    The places are measured on the figure's layout as it is when called: add the figure's
    own titles, legends and colour bars first.
    """
    figure = ax.figure
    figure.draw_without_rendering()  # the layout engine places the panels now
    panel = ax.get_window_extent()
    pad = TAG_PAD_POINTS * figure.dpi / 72 + 0.5  # the patch, and half a pixel of rounding
    placed, left_out = [], 0
    for box, text in zip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), texts, strict=True):
        x1, y1, x2, y2 = box
        tag = box_text(ax, x1, y1, text, fontsize=fontsize, gid=gid, clip_on=False)
        for y, va in ((y1, "bottom"), (y1, "top"), (y2, "top"), (y2, "bottom")):
            tag.set_position((x1, y))
            tag.set_verticalalignment(va)
            extent = tag.get_window_extent().padded(pad)
            inside = (
                extent.x0 >= panel.x0
                and extent.x1 <= panel.x1
                and extent.y0 >= panel.y0
                and extent.y1 <= panel.y1
            )
            if not inside:  # slide it left into the panel, if that is all it takes
                shift = min(panel.x1 - extent.x1, 0.0)
                extent = extent.translated(shift, 0)
                x_data = ax.transData.inverted().transform((extent.x0 + pad, 0))[0]
                tag.set_x(x_data)
                inside = extent.x0 >= panel.x0 and panel.y0 <= extent.y0 <= extent.y1 <= panel.y1
            if inside and not any(extent.overlaps(other) for other in placed):
                placed.append(extent)
                break
        else:
            tag.remove()
            left_out += 1
    return left_out
