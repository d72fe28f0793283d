"""What every stage picture shares: a figure without pyplot, images on pixel extents, boxes.

Coordinates. An (H, W) image is shown with ``extent=(0, W, H, 0)``, so pixel ``i`` spans
``[i, i + 1)`` on the axes, exactly as in the box convention: a box ``(x1, y1, x2, y2)`` is
the rectangle at ``(x1, y1)`` of size ``(x2 - x1, y2 - y1)``, with no half-pixel offset. A
feature map of h x w cells is shown the same way, in cell units.

Figures are made with matplotlib's object API on the Agg canvas (no pyplot, no global
state, no display needed); :func:`save_figure` writes one atomically.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from minirpn.fileio import atomic_write

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


def save_figure(figure: Figure, path: str | os.PathLike) -> None:
    """Save ``figure`` as PNG at :data:`DPI`, atomically (a failed save keeps the old file).

    The saved area is the figure's tight bounding box, so titles and legends placed
    outside the panels are never cut off."""
    with atomic_write(path) as f:
        figure.savefig(f, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)


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
        x, y, text, bbox=dict(facecolor="black", alpha=0.7, pad=1.5, edgecolor="none"), **kwargs
    )
