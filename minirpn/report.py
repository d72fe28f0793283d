"""The run folder's report: metrics on the validation split and pictures of what was learned.

:func:`write_report` writes ``metrics.json``, ``loss_curve.png``, ``val_detections.png`` and
the stage pictures ``anchors.png``, ``labels.png`` and ``proposals.png`` into a finished
run's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from minirpn.evaluation import evaluate_detector
from minirpn.fileio import atomic_write
from minirpn.model import Detector
from minirpn.runs import open_split
from minirpn.train import TrainResult
from minirpn.visualize import (
    draw_detections,
    image_grid,
    plot_loss_curves,
    save_png,
)

METRICS_NAME = "metrics.json"
LOSS_CURVE_NAME = "loss_curve.png"
DETECTIONS_GRID_NAME = "val_detections.png"
GRID_IMAGES, GRID_COLUMNS = 16, 4  # validation images shown in the detections grid
# Pictures show detections scoring at least DRAW_SCORE_THRESH (the metrics use all of them
# above cfg.test_score_thresh); images smaller than DRAW_MIN_SIDE are enlarged DRAW_SCALE
# times so that the labels fit.
DRAW_SCORE_THRESH = 0.5
DRAW_MIN_SIDE, DRAW_SCALE = 256, 2


def draw_result(
    image: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names,
    gt: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A picture of one image's detections (score >= DRAW_SCORE_THRESH), enlarged for reading.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes, scores, labels: the detections, as :meth:`Detector.detect` returns them.
        class_names: names of the labels 1..C.
        gt: optional ground truth ``(boxes (G, 4), labels (G,))``, drawn as white outlines.

    Returns:
        (s H, s W, 3) uint8 with s = ``DRAW_SCALE`` for images smaller than
        ``DRAW_MIN_SIDE`` pixels (so the labels fit), else s = 1.
    """
    scale = DRAW_SCALE if max(image.shape[:2]) < DRAW_MIN_SIDE else 1
    picture = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)  # nearest-neighbour
    if gt is not None:
        picture = draw_detections(
            picture, gt[0] * scale, gt[1], style="ground_truth", show_text=False
        )
    shown = scores >= DRAW_SCORE_THRESH
    return draw_detections(
        picture, boxes[shown] * scale, labels[shown], scores[shown], class_names=class_names
    )


def detections_grid(
    detector: Detector, dataset, class_names, count: int = GRID_IMAGES
) -> np.ndarray:
    """A grid of the first ``count`` images of ``dataset``: ground truth (white) and detections."""
    tiles = []
    for index in range(min(count, len(dataset))):
        sample = dataset[index]
        tiles.append(
            draw_result(
                sample.image,
                *detector.detect(sample.image),
                class_names,
                gt=(sample.boxes, sample.labels),
            )
        )
    return image_grid(tiles, ncols=GRID_COLUMNS)


def write_report(run_dir: str | Path, result: TrainResult, val_images: int | None = None) -> dict:
    """Evaluate a finished run on the validation split; write metrics and pictures.

    Writes ``metrics.json`` (mAP@0.5, COCO mAP, per-class APs, train time, seconds per
    iteration, iterations), ``loss_curve.png`` and ``val_detections.png`` into
    ``run_dir``; returns the metrics. ``val_images`` limits the evaluation to the first
    images of the split (None: all).
    """
    run_dir = Path(run_dir)
    val = open_split(result.data, "val")
    metrics = evaluate_detector(result.detector, val, result.class_names, val_images)
    metrics.update(
        train_seconds=result.train_seconds,
        iterations=result.iteration,
        seconds_per_iteration=result.train_seconds / max(result.iteration, 1),
        images_per_batch=result.detector.cfg.images_per_batch,
        class_names=list(result.class_names),  # labels 1..C, from the data
    )
    with atomic_write(run_dir / METRICS_NAME) as f:
        f.write(json.dumps(metrics, indent=1).encode("utf-8"))
    if len(result.loss_history):
        plot_loss_curves(
            dict(zip(result.loss_names, result.loss_history.T, strict=True)),
            run_dir / LOSS_CURVE_NAME,
        )
    save_png(
        detections_grid(result.detector, val, result.class_names), run_dir / DETECTIONS_GRID_NAME
    )
    # matplotlib loads here, not when the package is imported
    from minirpn.visualize import write_stage_pictures

    write_stage_pictures(run_dir, result.detector, val)  # anchors, labels, proposals .png
    return metrics
