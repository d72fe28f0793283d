"""Charts of numbers a lesson computed: map sizes, timings, signal scale through depth,
loss curves with their switch points, and the data-flow diagram of the detector's
parts with the shapes a lesson measured.

Each function draws onto an ``Axes`` and returns it. It takes the numbers a lesson
computed with the package and only draws them: no computation happens here that a
learner would need to read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def map_sizes(ax, names: Sequence[str], heights: Sequence[int], widths: Sequence[int]):
    """Height and width of each layer's output map, one step per layer (F1).

    Args:
        ax: matplotlib ``Axes``.
        names: one label per layer (``"image"`` first), shown under the x axis.
        heights, widths: the map size after each layer, the image's first.
    """
    x = np.arange(len(names))
    ax.step(x, widths, where="mid", marker="o", label="width")
    ax.step(x, heights, where="mid", marker="s", label="height")
    for xi, (h, w) in enumerate(zip(heights, widths, strict=True)):
        if xi == 0 or (h, w) != (heights[xi - 1], widths[xi - 1]):
            ax.annotate(f"{h}x{w}", (xi, w), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_yscale("log", base=2)
    ticks = 2 ** np.arange(np.floor(np.log2(min(heights))), np.ceil(np.log2(max(widths))) + 1)
    ax.set_yticks(ticks, [f"{t:.0f}" for t in ticks])
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("cells (log scale)")
    ax.set_title("Map size after each layer")
    ax.legend()
    return ax


def timing_bars(ax, labels: Sequence[str], seconds: Sequence[float]):
    """Horizontal bars of run times on a log axis, each labelled with its time.

    Args:
        ax: matplotlib ``Axes``.
        labels: one name per bar, top to bottom.
        seconds: the time of each, in seconds.
    """
    y = np.arange(len(labels))[::-1]
    ax.barh(y, seconds, color=[f"C{i}" for i in range(len(labels))])
    for yi, s in zip(y, seconds, strict=True):
        ax.text(s, yi, f"  {_format_seconds(s)}", va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_yticks(y, labels)
    ax.set_xlabel("seconds (log scale)")
    ax.set_xlim(min(seconds) / 3, max(seconds) * 10)  # room for the labels
    ax.set_title("Run time")
    return ax


def activation_scale(
    ax, scales: Mapping[str, Sequence[float]], ylabel: str = "RMS activation", first_depth=0
):
    """Root mean square of a signal after each layer, one line per initialisation.

    Args:
        ax: matplotlib ``Axes``.
        scales: label -> one RMS value per depth; a label starting with "predicted" is
            drawn dashed, without markers.
        ylabel: what is measured (activations, weight gradients...).
        first_depth: the depth of the first value (0: the input).
    """
    for label, values in scales.items():
        depth = first_depth + np.arange(len(values))
        if label.startswith("predicted"):
            ax.plot(depth, values, "k--", lw=1, label=label)
        else:
            ax.plot(depth, values, marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("depth (conv + ReLU layers)")
    ax.set_ylabel(f"{ylabel} (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return ax


def curves_with_switch_points(
    ax,
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    switch_points: Mapping[str, float],
    ylabel: str = "loss",
):
    """Functions of one variable, each with the points ``±x0`` where its formula changes.

    Drawn for the smooth L1 loss (F12) and its derivative: one line per curve, and for every
    label in ``switch_points`` two dotted vertical lines at ``-x0`` and ``+x0`` in the colour
    of the curve with the same label (a label without a curve is drawn in grey).

    Args:
        ax: matplotlib ``Axes``.
        x: the abscissae shared by every curve.
        curves: label -> values at ``x``.
        switch_points: label -> x0 > 0, where that curve changes formula.
        ylabel: what the curves are.
    """
    colors = {}
    for label, values in curves.items():
        (line,) = ax.plot(x, values, lw=2, label=label)
        colors[label] = line.get_color()
    for label, x0 in switch_points.items():
        for sign in (-1, 1):
            ax.axvline(sign * x0, color=colors.get(label, "0.5"), ls=":", lw=1.5, gid="switch")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("x = prediction − target")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()


FLOW_STEP = 1.0  # vertical distance between two nodes of data_flow, in axes data units
FLOW_BOX = (4.4, 0.6)  # width, height of a node's box
FLOW_ARC_X = -FLOW_BOX[0] / 2 - 0.35  # x of the arcs that skip nodes, left of the boxes


def data_flow(
    ax,
    nodes: Sequence[str],
    edges: Sequence[tuple[int, int, str]],
    *,
    plain: Sequence[int] = (),
    dashed: Sequence[int] = (),
    title: str | None = None,
):
    """A top-to-bottom diagram of boxes (the stages) and arrows (the arrays between them).

    Node ``i`` is drawn at ``(0, -i * FLOW_STEP)``. An arrow between neighbours (``j == i + 1``)
    runs straight down with its label to its right; an arrow that skips nodes bends round
    the left side with its label on its left (e.g. the shared map going to RoI pooling).

    Args:
        ax: matplotlib ``Axes``.
        nodes: the text of each node, top to bottom (may hold line breaks).
        edges: ``(from, to, label)`` with node indices ``from < to``; the label says what
            flows, e.g. a shape the lesson measured.
        plain: indices of nodes drawn without a box (data, such as the image).
        dashed: indices into ``edges`` drawn dashed (e.g. "no gradient flows back here").
        title: the Axes title.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    width, height = FLOW_BOX
    for i, text in enumerate(nodes):
        y = -i * FLOW_STEP
        if i not in plain:
            ax.add_patch(
                FancyBboxPatch(
                    (-width / 2, y - height / 2),
                    width,
                    height,
                    boxstyle="round,pad=0.02",
                    facecolor=f"C{i % 10}",
                    alpha=0.25,
                    edgecolor="black",
                    gid="node",
                )
            )
        ax.text(0, y, text, ha="center", va="center", fontsize=9, weight="bold", gid="node-text")
    for index, (start, end, label) in enumerate(edges):
        if not 0 <= start < end < len(nodes):
            raise ValueError(f"edges[{index}] = {(start, end)} must go down between two nodes")
        y0, y1 = -start * FLOW_STEP - height / 2, -end * FLOW_STEP + height / 2
        style = dict(
            arrowstyle="-|>",
            mutation_scale=14,
            linewidth=1.3,
            color="black",
            linestyle="--" if index in dashed else "-",
            gid="edge",
        )
        if end == start + 1:
            ax.add_patch(FancyArrowPatch((0, y0), (0, y1), **style))
            ax.text(0.1, (y0 + y1) / 2, label, ha="left", va="center", fontsize=8.5)
        else:  # out of the first box's left side, down beside the boxes, into the last one's
            left, ystart, yend = -width / 2, -start * FLOW_STEP, -end * FLOW_STEP
            ax.plot(
                [left, FLOW_ARC_X, FLOW_ARC_X],
                [ystart, ystart, yend],
                color="black",
                linewidth=1.3,
                linestyle=style["linestyle"],
                gid="edge-path",
            )
            ax.add_patch(FancyArrowPatch((FLOW_ARC_X, yend), (left, yend), **style))
            ax.text(
                FLOW_ARC_X - 0.08, (ystart + yend) / 2, label, ha="right", va="center", fontsize=8.5
            )
    ax.set_xlim(FLOW_ARC_X - 2.2, width / 2 + 0.2)
    ax.set_ylim(-(len(nodes) - 1) * FLOW_STEP - 0.5, 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def _format_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"
