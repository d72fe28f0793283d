"""RoI max pooling (F18, F19) drawn so that its 7 x 7 sub-windows can be counted.

Three panels, each a function drawing on an Axes:

* :func:`draw_roi_bins` -- the feature map with the RoI times the scale (dashed), the cells
  RoI pooling really reads after rounding (solid), the 7 x 7 grid of sub-windows numbered
  along two sides, and each sub-window's maximum;
* :func:`draw_roi_bin_tiles` -- the same sub-windows pulled apart, each with its own cells
  (neighbours may share a row or column: Caffe's floor / ceil bin edges) and its maximum;
* :func:`draw_pooled` -- the pooled 7 x 7 output, one value per sub-window.

Sub-window (i, j) is row i, column j everywhere, so a value of the output can be traced
back to its tile and to its place on the map.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from minirpn.ops.geometry import round_half_away_from_zero
from minirpn.visualize.axes import (
    GREEN,
    SKY,
    TEXT_OUTLINE,
    VERMILION,
    YELLOW,
    add_box,
    axes_or_new,
    legend_line,
)

CMAP = "magma"
GRID_COLOR = SKY
TILE_GAP = 0.6  # cells between two pulled-apart sub-windows


def pooled_region(roi_on_map, ph: int, pw: int) -> tuple[np.ndarray, float, float]:
    """Where RoI pooling reads (F18, F19, Caffe's rule): the corners times the scale rounded
    half away from zero, the end cell included (the ``+ 1`` of Caffe's ``roi_end - roi_start
    + 1``). Returns the region ``(x1, y1, x2, y2)`` in cells (x2, y2 exclusive) and the
    nominal sub-window width and height (region size / pw, / ph)."""
    x1, y1, x2, y2 = round_half_away_from_zero(np.asarray(roi_on_map, dtype=np.float64))
    width, height = max(x2 - x1 + 1, 1.0), max(y2 - y1 + 1, 1.0)
    return np.array([x1, y1, x1 + width, y1 + height]), width / pw, height / ph


def draw_roi_bins(
    feature_map: np.ndarray,
    roi_on_map,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    argmax: np.ndarray,
    *,
    channel: int,
    vmax: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One channel of the map, the RoI on it, the 7 x 7 sub-windows and their maxima (F19).

    feature_map: (h, w) the channel shown, in cell units.
    roi_on_map:  (4,) the RoI times the spatial scale (continuous, before rounding; F18).
    bins:        ``(h_start, h_end, w_start, w_end)`` of :func:`minirpn.ops.geometry.roi_pool_bins`
                 for this RoI, each (ph,) or (pw,): sub-window (i, j) covers rows
                 ``h_start[i]:h_end[i]`` and columns ``w_start[j]:w_end[j]``.
    argmax:      (ph, pw) flat index ``row * w + col`` of each maximum from
                 :func:`minirpn.ops.roi_pool` (-1: an empty sub-window).
    The grid lines are the nominal sub-window edges (region start + k x region size / 7);
    a sub-window's cells are those its floor / ceil edges reach, so its maximum (a dot,
    joined to the sub-window's centre) may lie one cell into a neighbour. A maximum outside
    the dashed RoI x scale is ringed: rounding moved the region there.
    """
    ax = axes_or_new(ax)
    feature_map = np.asarray(feature_map)
    h, w = feature_map.shape
    vmax = float(feature_map.max()) if vmax is None else vmax
    artist = ax.imshow(
        feature_map, extent=(0, w, h, 0), cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest"
    )
    roi_on_map = np.asarray(roi_on_map, dtype=np.float64)
    ph, pw = len(bins[0]), len(bins[2])
    region, bin_w, bin_h = pooled_region(roi_on_map, ph, pw)
    x1, y1, x2, y2 = region
    xs, ys = x1 + bin_w * np.arange(pw + 1), y1 + bin_h * np.arange(ph + 1)
    ax.vlines(xs, y1, y2, color=GRID_COLOR, linewidth=1, gid="bin-edges")
    ax.hlines(ys, x1, x2, color=GRID_COLOR, linewidth=1)
    number = dict(fontsize=8, color="white", path_effects=TEXT_OUTLINE)  # legible on the map
    for j in range(pw):
        ax.text((xs[j] + xs[j + 1]) / 2, y1, f"{j}", ha="center", va="bottom", **number)
    for i in range(ph):
        ax.text(x1, (ys[i] + ys[i + 1]) / 2, f"{i} ", ha="right", va="center", **number)
    add_box(ax, region, "region", edgecolor="white", linewidth=2, outline=True)
    add_box(ax, roi_on_map, "roi", edgecolor=YELLOW, linewidth=2, linestyle="--")
    outside = _draw_maxima(ax, np.asarray(argmax), w, xs, ys, roi_on_map)
    lo_x, lo_y = min(roi_on_map[0], x1), min(roi_on_map[1], y1)
    hi_x, hi_y = max(roi_on_map[2], x2), max(roi_on_map[3], y2)
    ax.set_xlim(max(lo_x - 1.5, 0), min(hi_x + 1.5, w))
    ax.set_ylim(min(hi_y + 1.5, h), max(lo_y - 1.5, 0))
    ax.set_title(
        f"channel {channel} of the {w}×{h} map (F18, F19):\n"
        f"{ph}×{pw} sub-windows of {bin_h:.3g}×{bin_w:.3g} cells (h×w), numbered",
        fontsize=10,
    )
    _roi_bins_legend(ax, roi_on_map, region, outside)
    ax.figure.colorbar(artist, ax=ax, shrink=0.7, label=f"channel {channel}")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return ax


def _draw_maxima(ax: Axes, argmax: np.ndarray, w: int, xs, ys, roi_on_map) -> int:
    """A dot on each sub-window's maximum, joined to the sub-window's centre; a ring on those
    outside the RoI x scale. Returns how many are outside."""
    ph, pw = argmax.shape
    rows, cols = np.divmod(argmax, w)  # (ph, pw) each
    used = argmax >= 0
    centres_x = np.broadcast_to((xs[:-1] + xs[1:]) / 2, (ph, pw))
    centres_y = np.broadcast_to(((ys[:-1] + ys[1:]) / 2)[:, None], (ph, pw))
    for cx, cy, col, row in zip(
        centres_x[used], centres_y[used], cols[used], rows[used], strict=True
    ):
        ax.plot([cx, col + 0.5], [cy, row + 0.5], color=GREEN, linewidth=0.8)
    ax.scatter(
        cols[used] + 0.5,
        rows[used] + 0.5,
        s=20,
        color=GREEN,
        edgecolors="black",
        zorder=3,
        gid="max",
    )
    # Rounding moves a corner by at most half a cell, so the cells read never lie wholly left
    # of or above the dashed box; the end cell counted (+ 1) can lie wholly right or below.
    outside = used & ((cols >= roi_on_map[2]) | (rows >= roi_on_map[3]))
    ax.scatter(
        cols[outside] + 0.5,
        rows[outside] + 0.5,
        s=90,
        facecolors="none",
        edgecolors=VERMILION,
        linewidths=1.8,
        zorder=4,
        gid="max-outside",
    )
    return int(outside.sum())


def _roi_bins_legend(ax: Axes, roi_on_map, region, outside: int) -> None:
    """The legend of :func:`draw_roi_bins`, titled with how far the cells read reach past the
    RoI x scale on each side and why."""
    x1, y1, x2, y2 = region
    reach = (x1 - roi_on_map[0], y1 - roi_on_map[1], x2 - roi_on_map[2], y2 - roi_on_map[3])
    ax.legend(
        handles=[
            legend_line(YELLOW, f"RoI × scale = {_corners(roi_on_map)}", linestyle="--"),
            legend_line("white", f"cells read: {_corners(region)}", path_effects=TEXT_OUTLINE),
            legend_line(GRID_COLOR, "sub-window edges", linewidth=1),
            legend_line(
                GREEN,
                "maximum of each (joined to its sub-window)",
                marker="o",
                markeredgecolor="black",
                linewidth=0.8,
            ),
            legend_line(
                VERMILION,
                f"maximum outside RoI × scale ({outside})",
                marker="o",
                markerfacecolor="none",
                linestyle="none",
                markersize=8,
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.07),
        fontsize=8,
        frameon=False,
        ncol=2,
        title=(
            "RoI pooling rounds the corners to whole cells and counts the end cell (Caffe's\n"
            f"+ 1): the cells read reach {reach[2]:.3g} / {reach[3]:.3g} cells past the dashed "
            f"box on the right / bottom,\n{-reach[0]:.3g} / {-reach[1]:.3g} on the left / top "
            "(negative: inside it), so a maximum may lie outside it"
        ),
        title_fontsize=8,
    )


def _corners(box) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in box) + ")"


def draw_roi_bin_tiles(
    feature_map: np.ndarray,
    bins: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    argmax: np.ndarray,
    *,
    vmax: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The ph x pw sub-windows pulled apart: each tile holds the cells of one sub-window
    (same colours as :func:`draw_roi_bins`), its maximum outlined; rows and columns numbered.

    Arguments as :func:`draw_roi_bins`. A cell two sub-windows share appears in both tiles.
    """
    ax = axes_or_new(ax)
    feature_map = np.asarray(feature_map, dtype=np.float64)
    h, w = feature_map.shape
    vmax = float(feature_map.max()) if vmax is None else vmax
    h_start, h_end, w_start, w_end = (np.asarray(b, dtype=np.int64) for b in bins)
    ph, pw = len(h_start), len(w_start)
    tall = max(int((h_end - h_start).max()), 1)
    wide = max(int((w_end - w_start).max()), 1)
    step_y, step_x = tall + TILE_GAP, wide + TILE_GAP
    for i in range(ph):
        for j in range(pw):
            top, left = i * step_y, j * step_x
            cells = feature_map[h_start[i] : h_end[i], w_start[j] : w_end[j]]
            for (r, c), value in np.ndenumerate(cells):
                ax.add_patch(_cell(left + c, top + r, value, vmax))
            if argmax[i, j] >= 0:
                row, col = divmod(int(argmax[i, j]), w)
                r, c = row - h_start[i], col - w_start[j]
                add_box(
                    ax,
                    (left + c, top + r, left + c + 1, top + r + 1),
                    "tile-max",
                    edgecolor=GREEN,
                    linewidth=2.2,
                )
            else:
                ax.text(left + 0.5, top + 0.5, "empty", fontsize=6, ha="center", va="center")
    ax.set_xlim(-TILE_GAP, pw * step_x)
    ax.set_ylim(ph * step_y, -TILE_GAP)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(pw) * step_x + wide / 2, [str(j) for j in range(pw)])
    ax.set_yticks(np.arange(ph) * step_y + tall / 2, [str(i) for i in range(ph)])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(f"the {ph}×{pw} sub-windows pulled apart: each one's cells", fontsize=10)
    ax.legend(
        handles=[legend_line(GREEN, "its maximum: the pooled value (F19)", linewidth=2.2)],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize=8,
        frameon=False,
    )
    return ax


def _cell(x: float, y: float, value: float, vmax: float):
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    color = colormaps[CMAP](min(max(value / vmax, 0.0), 1.0) if vmax > 0 else 0.0)
    return Rectangle((x, y), 1, 1, facecolor=color, edgecolor="0.5", linewidth=0.3)


def draw_pooled(
    pooled: np.ndarray,
    *,
    channel: int,
    vmax: float | None = None,
    argmax: np.ndarray | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The pooled ph x pw output of one channel (F19), its values written in the cells.

    pooled: (ph, pw) ``roi_pool(...)[0][r, channel]``; same colour scale as :func:`draw_roi_bins`.
    argmax: (ph, pw) the kernel's argmax, if given: empty sub-windows (-1) are counted apart.
    Below the grid, why the zeros are zero: the ReLU before the pooling makes every
    response >= 0 and sets the negative ones to exactly 0 -- a sub-window whose cells are
    all 0 pools to 0 (an empty sub-window too).
    """
    ax = axes_or_new(ax)
    pooled = np.asarray(pooled)
    ph, pw = pooled.shape
    vmax = float(pooled.max()) if vmax is None else vmax
    ax.imshow(pooled, extent=(0, pw, ph, 0), cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    for i in range(ph):
        for j in range(pw):
            value = pooled[i, j]
            ax.text(
                j + 0.5,
                i + 0.5,
                f"{value:.1f}",
                ha="center",
                va="center",
                fontsize=8,
                color="black" if value > 0.6 * vmax else "white",
            )
    ax.set_xticks(np.arange(pw) + 0.5, [str(j) for j in range(pw)])
    ax.set_yticks(np.arange(ph) + 0.5, [str(i) for i in range(ph)])
    ax.set_title(f"pooled {ph}×{pw} output, channel {channel} (F19)", fontsize=10)
    zeros = int((pooled == 0).sum())
    empty = 0 if argmax is None else int((np.asarray(argmax) < 0).sum())
    if zeros:
        note = (
            f"{zeros - empty} of {ph * pw} values are 0: every cell of those sub-windows is 0 in "
            "this channel\n(the ReLU before the pooling sets negative responses to 0)"
        )
        if empty:
            note += f"; {empty} sub-windows are empty (off the map) and give 0"
        ax.set_xlabel(note, fontsize=8)
    return ax
