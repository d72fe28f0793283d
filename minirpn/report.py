"""The run folder's report: metrics on the validation split and pictures of what was learned.

:func:`write_report` writes ``metrics.json``, ``loss_curve.png``, ``val_detections.png`` and
the stage pictures ``anchors.png``, ``labels.png`` and ``proposals.png`` into a finished
run's folder (``history.csv`` and ``checkpoint.npz`` are written by training itself).
:data:`RUN_FILES` says what each file of a run folder holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from minirpn.evaluation import evaluate_detector
from minirpn.fileio import atomic_write
from minirpn.history import HISTORY_NAME
from minirpn.runs import CHECKPOINT_NAME, open_split
from minirpn.train import TrainResult

METRICS_NAME = "metrics.json"
LOSS_CURVE_NAME = "loss_curve.png"
DETECTIONS_GRID_NAME = "val_detections.png"
GRID_IMAGES = 16  # validation images shown in the detections grid
# What a finished run folder holds, in the order `minirpn train` lists it at the end.
RUN_FILES = {
    CHECKPOINT_NAME: "the weights, config and training state (--resume, eval, detect, show)",
    METRICS_NAME: "the validation metrics printed below",
    HISTORY_NAME: "losses, learning rate and seconds of every iteration (a spreadsheet)",
    LOSS_CURVE_NAME: "the losses by iteration, the learning-rate drops, the validation mAP",
    DETECTIONS_GRID_NAME: "detections on the first validation images, with their ground truth",
    "anchors.png": "the anchors of one cell (F7)",
    "labels.png": "the anchors' labels and the sampled minibatch (F8, F13)",
    "proposals.png": "proposals before NMS, after it and the final top N (F15, F16)",
}


def write_report(run_dir: str | Path, result: TrainResult, val_images: int | None = None) -> dict:
    """Evaluate a finished run on the validation split; write metrics and pictures.

    Writes ``metrics.json`` (mAP@0.5, COCO mAP, per-class APs, the COCO summary, the images
    evaluated, train time, seconds per iteration, iterations), ``loss_curve.png`` and
    ``val_detections.png`` into ``run_dir``; returns the metrics. ``val_images`` limits the
    evaluation to the first images of the split (None: all).
    """
    # matplotlib loads here, not when the package is imported
    from minirpn.visualize import plot_loss_curves, save_figure, write_stage_pictures
    from minirpn.visualize.scenes import detections_grid_figure

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
        log = result.log
        plot_loss_curves(
            dict(zip(result.loss_names, result.loss_history.T, strict=True)),
            run_dir / LOSS_CURVE_NAME,
            learning_rates=None if log is None else log.rates,
            validation=None if log is None else log.validation,
        )
    grid = detections_grid_figure(result.detector, val, result.class_names, GRID_IMAGES)
    save_figure(grid, run_dir / DETECTIONS_GRID_NAME)
    write_stage_pictures(run_dir, result.detector, val)  # anchors, labels, proposals .png
    return metrics
