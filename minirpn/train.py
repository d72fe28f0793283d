"""The training loop of the tiny detector: SGD with momentum, checkpoints, exact resume.

One iteration (approximate joint training, F20): take ``cfg.images_per_batch`` training
images, run the detector forward (backbone → RPN → proposals → RoI sampling → head),
add the four losses, backpropagate by hand, take one SGD step.

Reproducibility is a design goal, so that ``--resume`` ends with the *same bits* as an
uninterrupted run:

* every random draw of training (anchor and RoI sampling) comes from one
  ``np.random.Generator`` seeded with ``seed``; its state is saved in the checkpoint;
* the data order is a pure function of ``(seed, iteration)`` (:func:`batch_indices`), so
  it needs no state at all;
* the learning rate is a pure function of the iteration (:func:`learning_rate`);
* the momentum buffers are saved with the weights.

Ctrl-C is caught between iterations (never in the middle of an SGD step, which would
leave half-updated weights): the loop saves a checkpoint and returns. A NaN or infinite
loss stops training with :class:`TrainingDiverged` before the step, and the checkpoint
on disk (the last good one) is left alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from minirpn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minirpn.config import Config
from minirpn.data import ToyShapes, open_folder
from minirpn.evaluation import evaluate, ground_truth
from minirpn.fileio import atomic_write
from minirpn.model import LOSS_NAMES, PIXEL_MEAN, UINT8_MAX, Detector
from minirpn.nn import SGD, step_lr
from minirpn.visualize import draw_detections, image_grid, plot_loss_curves, save_png

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.json"
LOSS_CURVE_NAME = "loss_curve.png"
DETECTIONS_GRID_NAME = "val_detections.png"
GRID_IMAGES, GRID_COLUMNS = 16, 4  # validation images shown in the detections grid
PROGRESS_SMOOTHING = 0.95  # weight of the past in the progress bar's moving average
# Pictures show detections scoring at least DRAW_SCORE_THRESH (the metrics use all of them
# above cfg.test_score_thresh); images smaller than DRAW_MIN_SIDE are enlarged DRAW_SCALE
# times so that the labels fit.
DRAW_SCORE_THRESH = 0.5
DRAW_MIN_SIDE, DRAW_SCALE = 256, 2
# Images of different sizes in one batch are padded at the bottom and right with this grey
# (128), which preprocess() maps to about 0; the boxes do not move.
PAD_VALUE = round(PIXEL_MEAN * UINT8_MAX)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says when and names the last good checkpoint."""


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    detector: the trained model (in eval mode).
    class_names: names of the labels 1..C.
    data: the COCO data folder trained on, or None for the toy data.
    iteration: iterations finished (``cfg.max_iters`` unless interrupted).
    loss_history: (iteration, 4) float array, the four losses of every iteration so far
        (columns in the order of :data:`minirpn.model.LOSS_NAMES`).
    train_seconds: wall time spent in training iterations, summed over resumed sessions.
    interrupted: True if Ctrl-C stopped the run early.
    """

    detector: Detector
    class_names: tuple[str, ...]
    data: str | None
    iteration: int
    loss_history: np.ndarray
    train_seconds: float
    interrupted: bool


def learning_rate(cfg: Config, iteration: int) -> float:
    """The learning rate of ``iteration``: a linear warm-up, then the step schedule.

    Training from scratch (no pre-trained backbone exists here, unlike the paper's
    ImageNet-initialised VGG, F14) with a high rate from the first step can blow up the
    randomly initialised layers, so the rate grows linearly from ``cfg.warmup_factor *
    lr`` to ``lr`` over the first ``cfg.warmup_iters`` iterations.
    """
    lr = step_lr(cfg.learning_rate, iteration, cfg.lr_steps, cfg.lr_gamma)
    if iteration < cfg.warmup_iters:
        alpha = iteration / cfg.warmup_iters
        lr *= cfg.warmup_factor * (1.0 - alpha) + alpha
    return lr


def batch_indices(seed: int, iteration: int, batch_size: int, num_images: int) -> np.ndarray:
    """Indices of the training images of ``iteration``: epochs of shuffled passes.

    A pure function of its arguments (each epoch's permutation comes from a generator
    seeded with ``(seed, epoch)``), so a resumed run sees exactly the same images.
    """
    first = iteration * batch_size
    positions = np.arange(first, first + batch_size)
    epochs = positions // num_images
    indices = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        permutation = np.random.default_rng((seed, int(epoch))).permutation(num_images)
        here = epochs == epoch
        indices[here] = permutation[positions[here] % num_images]
    return indices


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """Turn the first Ctrl-C into a flag the loop checks between iterations.

    Yields a one-element list whose item becomes True on SIGINT. A second Ctrl-C raises
    ``KeyboardInterrupt`` as usual (a way out if saving hangs). Outside the main thread
    (where Python cannot install signal handlers) the flag simply never turns True.
    """
    requested = [False]

    def handler(signum, frame):
        requested[0] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield requested
        return
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def open_split(data: str | Path | None, split: str):
    """The "train" or "val" split: the toy data (``data`` None) or that of the folder ``data``.

    A data folder is laid out as ``minirpn make-toy-data --out DIR [--format voc]`` writes
    it: COCO (``DIR/train`` and ``DIR/val``) or Pascal VOC (:func:`minirpn.data.open_folder`).
    """
    return ToyShapes(split) if data is None else open_folder(data, split)


def category_ids(dataset) -> tuple[int, ...]:
    """The COCO category id of each label 1..C (the toy data's ids are the labels)."""
    return getattr(dataset, "category_ids", None) or tuple(range(1, len(dataset.class_names) + 1))


def load_batch(dataset, indices: np.ndarray, cache: dict | None):
    """Pack the images of ``indices`` into the detector's input and list their boxes.

    Images of different sizes are padded to the largest (bottom and right, PAD_VALUE).
    ``cache`` (index → sample), if given, keeps every image drawn so far: drawing a toy
    image takes about as long as a fifth of a training step, and each is seen several
    times (the 2000 toy training images take ~100 MB).
    """
    if cache is None:
        samples = [dataset[int(i)] for i in indices]
    else:
        for i in indices:
            if int(i) not in cache:
                cache[int(i)] = dataset[int(i)]
        samples = [cache[int(i)] for i in indices]
    height = max(s.image.shape[0] for s in samples)
    width = max(s.image.shape[1] for s in samples)
    images = np.full((len(samples), height, width, 3), PAD_VALUE, dtype=np.uint8)  # (B, H, W, 3)
    for b, s in enumerate(samples):
        images[b, : s.image.shape[0], : s.image.shape[1]] = s.image
    return images, [s.boxes for s in samples], [s.labels for s in samples]


def train(
    cfg: Config,
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    checkpoint_every: int = 200,
    on_iteration: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a detector on the training split; save ``run_dir/checkpoint.npz``.

    Args:
        cfg: the configuration (``Config.tiny()`` for the toy data); with ``resume`` the
            checkpoint's configuration is used instead.
        run_dir: folder of the run (created if needed).
        data: a folder with COCO folders ``train`` and ``val`` (see :func:`open_split`);
            None trains on the built-in toy data.
        seed: seeds the weights, the sampling generator and the data order.
        resume: continue from ``run_dir/checkpoint.npz`` (its seed, config and data win).
        progress: show a tqdm progress bar (the four losses and iterations per second).
        checkpoint_every: iterations between checkpoints (one is always saved at the end).
        on_iteration: called after each finished iteration with ``(iteration, losses)``,
            ``iteration`` counting from 1 — for lessons that want to watch training.

    Returns:
        a :class:`TrainResult`.

    Raises:
        TrainingDiverged: a loss became NaN or infinite.
        ValueError / FileNotFoundError: an unusable checkpoint to resume from.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    if resume:
        state = load_checkpoint(checkpoint_path)
        try:
            cfg, seed, data = state.config, int(state.extra["seed"]), state.extra["data"]
            history = [[float(v) for v in row] for row in state.extra["loss_history"]]
            train_seconds = float(state.extra["train_seconds"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} holds no training state to "
                f"resume from (missing or bad {error})"
            ) from None
        dataset = open_split(data, "train")
        detector = Detector(cfg, num_classes=len(dataset.class_names), seed=seed)
        detector.load_params(state.params, source=f"checkpoint {str(checkpoint_path)!r}")
        start = state.iteration
    else:
        data = None if data is None else str(Path(data).resolve())
        dataset = open_split(data, "train")
        detector = Detector(cfg, num_classes=len(dataset.class_names), seed=seed)
        start, history, train_seconds = 0, [], 0.0
    last_saved = start if resume else None  # iteration of the checkpoint on disk from this run
    # One generator for every random draw of training (sampling anchors and RoIs).
    rng = np.random.default_rng(seed)
    optimizer = SGD(
        list(detector.named_parameters()),
        lr=cfg.learning_rate,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
    )
    if resume:
        rng.bit_generator.state = state.rng_state
        optimizer.load_state(state.momentum)

    def save(iteration: int) -> None:
        nonlocal last_saved
        save_checkpoint(
            checkpoint_path,
            Checkpoint(
                config=cfg,
                params=detector.params,
                momentum=optimizer.state(),
                iteration=iteration,
                rng_state=rng.bit_generator.state,
                extra={
                    "seed": seed,
                    "data": data,
                    "class_names": list(dataset.class_names),
                    "category_ids": list(category_ids(dataset)),
                    "loss_history": history,
                    "train_seconds": train_seconds,
                },
            ),
        )
        last_saved = iteration

    # Toy images are drawn on the fly: keep them. Files on disk are read each time.
    samples: dict | None = {} if isinstance(dataset, ToyShapes) else None
    smoothed: dict[str, float] = {}
    detector.train()
    iteration = start
    interrupted = False
    bar = tqdm(
        total=cfg.max_iters,
        initial=start,
        disable=not progress,
        unit="it",
        desc="train",
        dynamic_ncols=True,
    )
    with bar, _stop_on_ctrl_c() as stop_requested:
        while iteration < cfg.max_iters:
            if stop_requested[0]:
                interrupted = True
                break
            tic = time.perf_counter()
            images, boxes, labels = load_batch(
                dataset, batch_indices(seed, iteration, cfg.images_per_batch, len(dataset)), samples
            )
            # A diverging run overflows before its loss turns NaN; the check below reports
            # that in one clear message, NumPy's overflow warnings would only be noise.
            with np.errstate(over="ignore", invalid="ignore"):
                detector.zero_grad()
                losses = detector.forward_train(images, boxes, labels, rng)
                if not all(math.isfinite(v) for v in losses.values()):
                    kept = (
                        "no checkpoint was written"
                        if last_saved is None
                        else f"the last good checkpoint (iteration {last_saved}) is kept in "
                        f"{checkpoint_path}"
                    )
                    values = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
                    raise TrainingDiverged(
                        f"training diverged at iteration {iteration + 1} ({values}); {kept}; "
                        f"try a lower learning rate (it was {learning_rate(cfg, iteration):g})"
                    )
                detector.backward()
                optimizer.lr = learning_rate(cfg, iteration)
                optimizer.step()
            iteration += 1
            train_seconds += time.perf_counter() - tic
            history.append([losses[name] for name in LOSS_NAMES])
            if on_iteration is not None:
                on_iteration(iteration, losses)
            for name, value in losses.items():  # the bar shows a moving average (less jumpy)
                smoothed[name] = (
                    value
                    if name not in smoothed
                    else (PROGRESS_SMOOTHING * smoothed[name] + (1 - PROGRESS_SMOOTHING) * value)
                )
            bar.update(1)
            bar.set_postfix(
                {name: f"{value:.3f}" for name, value in smoothed.items()}, refresh=False
            )
            if iteration % checkpoint_every == 0:
                save(iteration)
        save(iteration)
    detector.eval()
    loss_history = np.asarray(history, dtype=np.float64).reshape(-1, len(LOSS_NAMES))
    return TrainResult(
        detector=detector,
        class_names=tuple(dataset.class_names),
        data=data,
        iteration=iteration,
        loss_history=loss_history,
        train_seconds=train_seconds,
        interrupted=interrupted,
    )


class Run(NamedTuple):
    """A trained run as :func:`load_run` reads it.

    detector: the detector, in eval mode.
    class_names: names of the labels 1..C.
    category_ids: COCO category id of each label 1..C (for results files).
    data: the COCO data folder it was trained on, or None for the toy data.
    """

    detector: Detector
    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    data: str | None


def load_run(run_dir: str | Path) -> Run:
    """The trained detector and what it was trained on, from ``run_dir/checkpoint.npz``."""
    path = Path(run_dir) / CHECKPOINT_NAME
    state = load_checkpoint(path)
    class_names = state.extra.get("class_names")
    if not isinstance(class_names, list) or not class_names:
        raise ValueError(f"checkpoint {str(path)!r} does not list its class names")
    ids = state.extra.get("category_ids", list(range(1, len(class_names) + 1)))
    detector = Detector(state.config, num_classes=len(class_names))
    detector.load_params(state.params, source=f"checkpoint {str(path)!r}")
    return Run(detector.eval(), tuple(class_names), tuple(ids), state.extra.get("data"))


def evaluate_detector(
    detector: Detector, dataset, class_names, num_images: int | None = None
) -> dict:
    """Run ``detector`` over ``dataset`` (its first ``num_images``, None: all).

    Returns mAP@0.5, COCO mAP and per-class APs by class name (:mod:`minirpn.evaluation`).
    """
    count = len(dataset) if num_images is None else min(num_images, len(dataset))
    detections, ground_truths = [], []
    for index in range(count):
        sample = dataset[index]
        detections.append(detector.detect(sample.image))
        ground_truths.append(ground_truth(sample))  # difficult boxes flagged, to be ignored
    result = evaluate(detections, ground_truths, num_classes=len(class_names))
    return {
        "map50": result["map50"],
        "map": result["map"],
        "per_class_ap50": {
            name: result["ap50_per_class"][label] for label, name in enumerate(class_names, start=1)
        },
        "per_class_ap": {
            name: result["ap_per_class"][label] for label, name in enumerate(class_names, start=1)
        },
        "num_images": count,
    }


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
        class_names=list(result.class_names),  # labels 1..C, from the data (issue 13)
    )
    with atomic_write(run_dir / METRICS_NAME) as f:
        f.write(json.dumps(metrics, indent=1).encode("utf-8"))
    if len(result.loss_history):
        plot_loss_curves(
            dict(zip(LOSS_NAMES, result.loss_history.T, strict=True)), run_dir / LOSS_CURVE_NAME
        )
    save_png(
        detections_grid(result.detector, val, result.class_names), run_dir / DETECTIONS_GRID_NAME
    )
    return metrics
