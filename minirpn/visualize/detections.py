"""Boxes with class names on an image: the detector's detections, and a data set's annotations.

:func:`draw_detection_boxes` is the one picture of detections: ``minirpn show detections``,
``minirpn detect``, the run folder's ``val_detections.png`` and the lessons all draw with
it. :func:`draw_annotations` draws a data set's own boxes (``minirpn show data``). Both
write their tags with :func:`minirpn.visualize.axes.add_tags` (no two overlap, none covers
a title) and give every mark a legend entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from minirpn.visualize import DRAW_SCORE_THRESH
from minirpn.visualize.axes import (
    GROUND_TRUTH,
    TEXT_OUTLINE,
    add_box,
    add_tags,
    axes_or_new,
    class_color,
    legend_line,
    show_image,
)


def draw_detection_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    gt_boxes: np.ndarray | None = None,
    gt_name: str = "ground truth",
    score_thresh: float = DRAW_SCORE_THRESH,
    tags: bool = True,
    legend: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Detections scoring at least ``score_thresh`` in their class colour, each tagged
    "class score", over the ground truth (dashed white with a dark rim: visible on any image).

    image:        (H, W, 3) uint8.
    boxes (D, 4), scores (D,), labels (D,) in 1..C: what ``detector.detect`` returns.
    class_names:  names of the labels 1..C.
    gt_boxes:     (G, 4) boxes to compare with, or None; ``gt_name`` names them in the
                  legend ("ground truth", or "your box" for a box a user gave).
    tags:         write "class score" beside each detection (:func:`add_tags`).
    legend:       a legend below the panel (off in a grid that has one for the figure).
    title:        the panel's title; None: the counts (shown, and returned by the detector).
    """
    ax = axes_or_new(ax)
    show_image(ax, image)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores, labels = np.asarray(scores), np.asarray(labels)
    if gt_boxes is not None:
        for box in np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4):
            add_box(
                ax, box, "gt", edgecolor=GROUND_TRUTH, linewidth=1.5, linestyle="--", outline=True
            )
    shown = np.flatnonzero(scores >= score_thresh)
    for i in shown:
        add_box(ax, boxes[i], "detection", edgecolor=class_color(labels[i]), linewidth=2)
    if title is None:
        title = f"{shown.size} detections scoring ≥ {score_thresh:g} (of {len(boxes)} returned)"
    ax.set_title(title, fontsize=10)
    if legend:
        handles = [
            legend_line(class_color(c), class_names[c - 1]) for c in sorted(set(labels[shown]))
        ]
        if gt_boxes is not None:
            handles.append(ground_truth_handle(gt_name))
        if handles:
            ax.legend(
                handles=handles,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.01),
                ncol=min(len(handles), 4),
                fontsize=9,
                frameon=False,
                title="tag: class and score" if tags and shown.size else None,
                title_fontsize=9,
            )
    if tags:
        add_tags(ax, boxes[shown], [f"{class_names[labels[i] - 1]} {scores[i]:.2f}" for i in shown])
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def ground_truth_handle(name: str = "ground truth"):
    """The legend entry of boxes drawn as :func:`draw_detection_boxes` draws ground truth."""
    return legend_line(GROUND_TRUTH, name, linestyle="--", path_effects=TEXT_OUTLINE)


def draw_annotations(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    difficult: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
    ax: Axes | None = None,
) -> Axes:
    """A data set's annotated boxes (K, 4) with labels (K,) in 1..C, in their class colours
    with a dark rim, each tagged with its class name (no legend: a grid of them shares one).
    ``difficult``: (boxes (M, 4), labels (M,)) marked difficult (VOC), drawn dashed."""
    ax = axes_or_new(ax)
    show_image(ax, image)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = [int(label) for label in labels]
    hard_boxes, hard_labels = difficult if difficult is not None else (np.zeros((0, 4)), [])
    hard_boxes = np.asarray(hard_boxes, dtype=np.float64).reshape(-1, 4)
    hard_labels = [int(label) for label in hard_labels]
    for box, label, style in [
        *((b, lab, "-") for b, lab in zip(boxes, labels, strict=True)),
        *((b, lab, "--") for b, lab in zip(hard_boxes, hard_labels, strict=True)),
    ]:
        add_box(
            ax,
            box,
            "annotation",
            edgecolor=class_color(label),
            linewidth=2,
            linestyle=style,
            outline=True,
        )
    ax.set_title(title, fontsize=9)
    add_tags(
        ax,
        np.concatenate([boxes, hard_boxes]),
        [class_names[label - 1] for label in labels + hard_labels],
        fontsize=7,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def class_handles(class_names: Sequence[str], counts: Sequence[int] | None = None) -> list:
    """Legend entries of the class colours (with a count each, if given)."""
    return [
        legend_line(
            class_color(label), name if counts is None else f"{name} ({counts[label - 1]:,})"
        )
        for label, name in enumerate(class_names, start=1)
    ]
