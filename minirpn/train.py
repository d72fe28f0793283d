"""The training loop of the tiny detector: SGD with momentum, checkpoints, exact resume.

One iteration: take ``cfg.images_per_batch`` training images (:mod:`minirpn.batching`), let
the training scheme (:mod:`minirpn.schemes`, F20; approximate joint training by default)
run the stages forward, add the losses and backpropagate by hand, then take one SGD step
on the scheme's trainable parameters.

Reproducibility is a design goal, so that ``--resume`` ends with the *same bits* as an
uninterrupted run:

* every random draw of training (anchor and RoI sampling) comes from one
  ``np.random.Generator`` seeded with ``seed``; its state is saved in the checkpoint;
* the data order is a pure function of ``(seed, iteration)``
  (:func:`minirpn.batching.batch_indices`), so it needs no state at all;
* the learning rate is a pure function of the iteration (:func:`learning_rate`);
* the momentum buffers are saved with the weights.

Ctrl-C is caught between iterations (never in the middle of an SGD step, which would
leave half-updated weights): the loop saves a checkpoint and returns. A NaN or infinite
loss stops training with :class:`TrainingDiverged` before the step, and the checkpoint
on disk (the last good one) is left alone.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from minirpn.batching import batch_indices, load_batch
from minirpn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.model import Detector
from minirpn.nn import SGD, step_lr
from minirpn.runs import CHECKPOINT_NAME, category_ids, open_split
from minirpn.schemes import LOSS_NAMES, STAGED_SCHEMES, make_scheme

DEFAULT_SCHEME = "approximate-joint"
PROGRESS_SMOOTHING = 0.95  # weight of the past in the progress bar's moving average


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says when and names the last good checkpoint."""


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    detector: the trained model (in eval mode).
    class_names: names of the labels 1..C.
    data: the COCO data folder trained on, or None for the toy data.
    iteration: iterations finished (``cfg.max_iters`` unless interrupted).
    loss_history: (iteration, 4) float array, the four losses of every iteration so far
        (columns in the order of :data:`minirpn.schemes.LOSS_NAMES`).
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
    scheme: str = DEFAULT_SCHEME,
) -> TrainResult:
    """Train a detector on the training split; save ``run_dir/checkpoint.npz``.

    Args:
        cfg: the configuration (``Config.tiny()`` for the toy data); with ``resume`` the
            checkpoint's configuration is used instead.
        run_dir: folder of the run (created if needed).
        data: a folder with COCO folders ``train`` and ``val``
            (:func:`minirpn.runs.open_split`); None trains on the built-in toy data.
        seed: seeds the weights, the sampling generator and the data order.
        resume: continue from ``run_dir/checkpoint.npz`` (its seed, config and data win).
        progress: show a tqdm progress bar (the four losses and iterations per second).
        checkpoint_every: iterations between checkpoints (one is always saved at the end).
        on_iteration: called after each finished iteration with ``(iteration, losses)``,
            ``iteration`` counting from 1 — for lessons that want to watch training.
        scheme: the training scheme's name (:data:`minirpn.schemes.SCHEMES`); with
            ``resume`` the checkpoint's scheme is used. A scheme in steps
            (:data:`minirpn.schemes.STAGED_SCHEMES`, alternating training) is told where
            each iteration falls (``begin_iteration``), gets a new SGD solver at each step
            and sets the learning rate; its runs cannot be resumed (ValueError).

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
            scheme = str(state.extra.get("scheme", DEFAULT_SCHEME))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} holds no training state to "
                f"resume from (missing or bad {error})"
            ) from None
        if scheme in STAGED_SCHEMES:
            raise ValueError(
                f"checkpoint {str(checkpoint_path)!r} is from an {scheme!r} run, which cannot "
                "be resumed (its step networks and proposals are not saved): start it again"
            )
        dataset = open_split(data, "train")
        detector = Detector(cfg, num_classes=len(dataset.class_names), seed=seed)
        detector.load_params(state.params, source=f"checkpoint {str(checkpoint_path)!r}")
        start = state.iteration
    else:
        data = None if data is None else str(Path(data).resolve())
        dataset = open_split(data, "train")
        detector = Detector(cfg, num_classes=len(dataset.class_names), seed=seed)
        start, history, train_seconds = 0, [], 0.0
    staged = scheme in STAGED_SCHEMES  # a scheme in steps, each with its own solver
    trainer = make_scheme(scheme, detector, **({"seed": seed} if staged else {}))
    last_saved = start if resume else None  # iteration of the checkpoint on disk from this run
    # One generator for every random draw of training (sampling anchors and RoIs).
    rng = np.random.default_rng(seed)

    def new_optimizer() -> SGD:
        return SGD(
            trainer.parameters(),
            lr=cfg.learning_rate,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )

    # A staged scheme names its trainable parameters when its first step starts.
    optimizer = None if staged else new_optimizer()
    if resume:
        rng.bit_generator.state = state.rng_state
        optimizer.load_state(state.momentum)

    def step_images(step: int) -> list[int]:
        """Every dataset index the iterations of a step load (the order is seeded)."""
        return sorted(
            {
                int(i)
                for it in trainer.step_range(step)
                for i in batch_indices(seed, it, cfg.images_per_batch, len(dataset))
            }
        )

    def load_image(index: int) -> np.ndarray:
        return load_batch(dataset, np.array([index]), samples)[0][0]

    def save(iteration: int) -> None:
        nonlocal last_saved
        save_checkpoint(
            checkpoint_path,
            Checkpoint(
                config=cfg,
                params=detector.params,
                momentum={} if optimizer is None else optimizer.state(),
                iteration=iteration,
                rng_state=rng.bit_generator.state,
                extra={
                    "seed": seed,
                    "scheme": scheme,
                    "scheme_step": getattr(trainer, "step", None),
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
            indices = batch_indices(seed, iteration, cfg.images_per_batch, len(dataset))
            if staged and trainer.begin_iteration(iteration, indices, step_images, load_image):
                optimizer = new_optimizer()  # a new step: a new solver, as the original
            images, boxes, labels = load_batch(dataset, indices, samples)
            # A diverging run overflows before its loss turns NaN; the check below reports
            # that in one clear message, NumPy's overflow warnings would only be noise.
            with np.errstate(over="ignore", invalid="ignore"):
                detector.zero_grad()
                losses = trainer.forward(images, boxes, labels, rng)
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
                trainer.backward()
                optimizer.lr = learning_rate(cfg, iteration)
                if staged:  # each step its own schedule
                    optimizer.lr = learning_rate(*trainer.schedule(iteration))
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
