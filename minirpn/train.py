"""Training the tiny detector: a scheme's phases, each run by one loop with SGD and checkpoints.

A training scheme (:mod:`minirpn.schemes`, F20; approximate joint training by default) is a
plan of phases: one for joint training, four for alternating training. :func:`train` runs
them in order. Each phase is one run of :func:`run_phase`, the loop, which knows no scheme:
each iteration takes ``cfg.images_per_batch`` training images (:mod:`minirpn.batching`), lets
the phase's step run the stages forward, add the losses and backpropagate by hand, then
takes one SGD step on the step's trainable parameters.

Reproducibility is a design goal, so that ``--resume`` ends with the *same bits* as an
uninterrupted run, in whatever phase it was interrupted:

* every random draw of training (anchor and RoI sampling) comes from one
  ``np.random.Generator`` seeded with ``seed``; its state is saved in the checkpoint;
* the data order is a pure function of ``(seed, iteration)``
  (:func:`minirpn.batching.batch_indices`), so it needs no state at all;
* the learning rate is a pure function of the iteration in its phase (:func:`learning_rate`);
* the momentum buffers are saved with the weights, and what a phase does at its start
  (fresh weights, proposals) is seeded or saved in the run folder.

Every iteration's losses, learning rate and duration go to ``history.csv`` in the run folder
(:mod:`minirpn.history`), with the validation mAP every ``eval_every`` iterations when asked.

Ctrl-C (SIGINT) and SIGTERM are caught between iterations (never in the middle of an SGD
step, which would leave half-updated weights): the loop saves a checkpoint and returns. A
NaN or infinite loss stops training with :class:`TrainingDiverged` before the step, and the
checkpoint on disk (the last good one) is left alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from minirpn.batching import Batch, batch_indices, epoch_size, load_batch
from minirpn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.evaluation import evaluate_detector
from minirpn.fileio import atomic_write, folder_lock
from minirpn.history import IterationLog
from minirpn.malloc import keep_freed_memory
from minirpn.model import Detector
from minirpn.nn import SGD, step_lr
from minirpn.run_state import RunState
from minirpn.runs import CHECKPOINT_NAME, category_ids, open_split
from minirpn.schemes import DEFAULT_SCHEME, SCHEMES, STAGES, Phase, scheme_phases

PROGRESS_SMOOTHING = 0.95  # weight of the past in the progress bar's moving average
PLAIN_PROGRESS_LINES = 50  # lines a run prints when stderr is not a terminal
EVAL_IMAGES = 50  # validation images evaluated every eval_every iterations (the first ones)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says when and names the last good checkpoint."""


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    detector: the trained model (in eval mode).
    class_names: names of the labels 1..C.
    data: the data folder trained on, or None for the toy data.
    iteration: iterations finished (``cfg.max_iters`` unless interrupted).
    loss_names: the names of the losses, the columns of ``loss_history``.
    loss_history: (iteration, len(loss_names)) float array, the losses of every iteration.
    train_seconds: wall time spent in training iterations, summed over resumed sessions.
    stop_signal: the signal (SIGINT, SIGTERM) that stopped the run early, or None.
    log: the learning rate and seconds of every iteration and the validation results
        (``eval_every``), as ``history.csv`` holds them.
    """

    detector: Detector
    class_names: tuple[str, ...]
    data: str | None
    iteration: int
    loss_names: tuple[str, ...]
    loss_history: np.ndarray
    train_seconds: float
    stop_signal: int | None = None
    log: IterationLog | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop_signal is not None


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
def _stop_on_signals():
    """Turn the first SIGINT or SIGTERM into a request the loop checks between iterations.

    Yields a one-element list whose item becomes the signal's number. A second signal acts
    as usual (Ctrl-C raises ``KeyboardInterrupt``, SIGTERM ends the process): a way out if
    saving hangs. Outside the main thread (where Python cannot install signal handlers) the
    request simply never comes.
    """
    requested: list[int | None] = [None]

    def handler(signum, frame):
        requested[0] = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield requested
        return
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclasses.dataclass
class TrainingRun:
    """A training run in progress: what :func:`run_phase` reads and updates.

    The fields of the checkpoint's :class:`~minirpn.run_state.RunState` live here as they
    change (``history``, ``train_seconds``, ``phase``), next to the model, the data and the
    run's random generator.
    """

    cfg: Config
    run_dir: Path
    detector: Detector
    dataset: object
    state: RunState
    iteration: int
    rng: np.random.Generator
    history: list[list[float]]
    last_saved: int | None = None  # iteration of the checkpoint on disk written by this run
    samples: dict | None = None  # toy images drawn so far (drawing one costs a fifth of a step)
    log: IterationLog = dataclasses.field(default_factory=IterationLog)
    eval_every: int | None = None  # iterations between two validations (None: never)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    @property
    def epoch_size(self) -> int:
        """Images of one pass: the training split, with ``cfg.flip`` each one's mirror too."""
        return epoch_size(len(self.dataset), self.cfg.flip)

    def batch(self, indices: np.ndarray) -> Batch:
        """The images ``indices`` (of :attr:`epoch_size`) with their ground truth."""
        return load_batch(self.dataset, indices, self.samples, flip=self.cfg.flip)

    def save(self, momentum: dict[str, np.ndarray]) -> None:
        state = dataclasses.replace(
            self.state, loss_history=tuple(tuple(row) for row in self.history)
        )
        save_checkpoint(
            self.checkpoint_path,
            Checkpoint(
                config=self.cfg,
                params=self.detector.params,
                momentum=momentum,
                iteration=self.iteration,
                rng_state=self.rng.bit_generator.state,
                run=state,
            ),
        )
        self.state = state
        self.last_saved = self.iteration
        self.log.write(self.run_dir, state.loss_names, self.history)


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
    locked: bool = False,
    eval_every: int | None = None,
) -> TrainResult:
    """Train a detector on the training split; save ``run_dir/checkpoint.npz``.

    While it trains, the run folder is locked (:func:`minirpn.fileio.folder_lock`): a second
    training into it is refused naming this process; and a folder that already holds a run
    is refused unless ``resume`` continues it.

    Args:
        cfg: the configuration (``Config.tiny()`` for the toy data); with ``resume`` the
            checkpoint's configuration is used instead.
        run_dir: folder of the run (created if needed).
        data: a folder with COCO folders ``train`` and ``val`` or a Pascal VOC folder
            (:func:`minirpn.runs.open_split`); None trains on the built-in toy data.
        seed: seeds the weights, the sampling generator and the data order.
        resume: continue from ``run_dir/checkpoint.npz`` (its seed, config, scheme and data
            win), in whatever phase it stopped.
        progress: show a tqdm progress bar (the losses and iterations per second).
        checkpoint_every: iterations between checkpoints (one is also saved at the end of
            every phase).
        on_iteration: called after each finished iteration with ``(iteration, losses)``,
            ``iteration`` counting from 1 — for lessons that want to watch training.
        scheme: the training scheme's name (:data:`minirpn.schemes.SCHEMES`).
        locked: the caller already holds ``run_dir``'s folder lock (the ``minirpn train``
            command does, while it also writes the report); else ``train`` takes it.
        eval_every: every this many iterations, evaluate the detector on the first
            :data:`EVAL_IMAGES` validation images (``history.csv``'s ``val_map50`` and
            ``val_map``; the training itself is unchanged); None: never.

    Returns:
        a :class:`TrainResult`.

    Raises:
        TrainingDiverged: a loss became NaN or infinite.
        ValueError / FileNotFoundError: an unusable checkpoint to resume from, a folder that
            holds a run without ``resume``.
        FolderLocked: another training writes into ``run_dir``.
    """
    run_dir = Path(run_dir)
    with contextlib.nullcontext() if locked else folder_lock(run_dir):
        if not resume and os.path.lexists(run_dir / CHECKPOINT_NAME):
            raise ValueError(
                f"{str(run_dir)!r} already holds a run ({run_dir / CHECKPOINT_NAME}): continue "
                "it with resume=True, or train into another folder"
            )
        if eval_every is not None and (
            isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1
        ):
            raise ValueError(f"eval_every must be a positive int or None, got {eval_every!r}")
        run_dir.mkdir(parents=True, exist_ok=True)
        run, momentum = (
            _resumed_run(run_dir) if resume else (_new_run(cfg, run_dir, data, seed, scheme), {})
        )
        run.eval_every = eval_every
        return _train_run(run, momentum, progress, checkpoint_every, on_iteration)


def _train_run(run: TrainingRun, momentum, progress, checkpoint_every, on_iteration) -> TrainResult:
    """:func:`train` of a new or resumed run, once its folder is held: its phases that remain."""
    keep_freed_memory()  # every iteration reuses the last one's pages (see minirpn.malloc)
    phases = scheme_phases(run.state.scheme, run.cfg)
    stop_signal = None
    bar = _progress_bar(run.cfg.max_iters, run.iteration, progress)
    run.detector.train()
    with bar, _stop_on_signals() as stop:
        for index in range(run.state.phase, len(phases)):
            if stop[0] is not None:  # between two phases: the last one's end is saved
                stop_signal = stop[0]
                break
            stop_signal = run_phase(
                run, phases, index, momentum, stop, bar, on_iteration, checkpoint_every
            )
            momentum = {}  # each phase its own solver
            if stop_signal is not None:
                break
    run.detector.eval()
    names = run.state.loss_names
    return TrainResult(
        detector=run.detector,
        class_names=run.state.class_names,
        data=run.state.data,
        iteration=run.iteration,
        loss_names=names,
        loss_history=np.asarray(run.history, dtype=np.float64).reshape(-1, len(names)),
        train_seconds=run.state.train_seconds,
        stop_signal=stop_signal,
        log=run.log,
    )


def _new_run(cfg: Config, run_dir: Path, data, seed: int, scheme: str) -> TrainingRun:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    data = None if data is None else str(Path(data).resolve())
    dataset = open_split(data, "train")
    state = RunState(
        seed=seed,
        scheme=scheme,
        data=data,
        class_names=tuple(dataset.class_names),
        category_ids=tuple(category_ids(dataset)),
    )
    return TrainingRun(
        cfg=cfg,
        run_dir=run_dir,
        detector=Detector(cfg, num_classes=len(dataset.class_names), seed=seed),
        dataset=dataset,
        state=state,
        iteration=0,
        rng=np.random.default_rng(seed),
        history=[],
        samples={} if isinstance(dataset, ToyShapes) else None,
    )


def _resumed_run(run_dir: Path) -> tuple[TrainingRun, dict[str, np.ndarray]]:
    """The run in ``run_dir`` as its checkpoint left it, and the momentum of its solver."""
    path = run_dir / CHECKPOINT_NAME
    checkpoint = load_checkpoint(path)
    state = checkpoint.run
    if state.scheme not in SCHEMES:
        raise ValueError(f"checkpoint {str(path)!r} names an unknown scheme {state.scheme!r}")
    if state.phase > len(scheme_phases(state.scheme, checkpoint.config)):
        raise ValueError(f"checkpoint {str(path)!r} names phase {state.phase}, beyond its scheme's")
    if len(state.loss_history) != checkpoint.iteration:
        raise ValueError(
            f"checkpoint {str(path)!r} holds {len(state.loss_history)} rows of loss history "
            f"for {checkpoint.iteration} iterations"
        )
    dataset = open_split(state.data, "train")
    detector = Detector(checkpoint.config, num_classes=len(state.class_names), seed=state.seed)
    detector.load_params(checkpoint.params, source=f"checkpoint {str(path)!r}")
    rng = np.random.default_rng(state.seed)
    rng.bit_generator.state = checkpoint.rng_state
    run = TrainingRun(
        cfg=checkpoint.config,
        run_dir=run_dir,
        detector=detector,
        dataset=dataset,
        state=state,
        iteration=checkpoint.iteration,
        rng=rng,
        history=[list(row) for row in state.loss_history],
        last_saved=checkpoint.iteration,
        samples={} if isinstance(dataset, ToyShapes) else None,
        log=IterationLog.read(run_dir, checkpoint.iteration),
    )
    return run, checkpoint.momentum


def run_phase(
    run: TrainingRun,
    phases: list[Phase],
    index: int,
    momentum: dict[str, np.ndarray],
    stop: list,
    bar,
    on_iteration=None,
    checkpoint_every: int = 200,
) -> int | None:
    """The training loop: the iterations of ``phases[index]`` that remain; the stop signal
    that ended it early, or None.

    Builds the phase's step and a new SGD solver (its momentum restored from ``momentum``
    when the phase was under way), then runs iterations until the phase ends or a stop is
    requested, saving a checkpoint every ``checkpoint_every`` iterations and when it returns.
    """
    phase = phases[index]
    first = sum(p.iterations for p in phases[:index])  # the phase's first iteration
    step = _start_phase(run, phase, first)
    optimizer = SGD(
        step.parameters(),
        lr=run.cfg.learning_rate,
        momentum=run.cfg.momentum,
        weight_decay=run.cfg.weight_decay,
    )
    if momentum:
        try:
            optimizer.load_state(momentum)
        except ValueError as error:
            raise ValueError(f"checkpoint {str(run.checkpoint_path)!r}: momentum {error}") from None
    smoothed: dict[str, float] = {}
    while run.iteration < first + phase.iterations:
        # Not before a phase's first iteration: its start (fresh weights) must not be saved
        # as if it were the previous phase's end.
        if stop[0] is not None and run.iteration > first:
            run.save(optimizer.state())
            return stop[0]
        tic = time.perf_counter()
        losses = _iterate(run, step, optimizer, phase, run.iteration - first)
        _record(run, losses, optimizer.lr, time.perf_counter() - tic)
        if on_iteration is not None:
            on_iteration(run.iteration, losses)
        _show_progress(bar, smoothed, losses)
        if run.eval_every and run.iteration % run.eval_every == 0:
            _validate(run, bar)
        if run.iteration % checkpoint_every == 0:
            run.save(optimizer.state())
    last = index == len(phases) - 1
    run.state = dataclasses.replace(run.state, phase=index + 1)
    run.save(optimizer.state() if last else {})  # the next phase starts a new solver
    return None


def _record(run: TrainingRun, losses: dict[str, float], rate: float, seconds: float) -> None:
    """Count a finished iteration: its losses, learning rate and time."""
    run.iteration += 1
    run.state = dataclasses.replace(run.state, train_seconds=run.state.train_seconds + seconds)
    if not run.state.loss_names:
        run.state = dataclasses.replace(run.state, loss_names=tuple(losses))
    run.history.append([losses[name] for name in run.state.loss_names])
    run.log.add(rate, seconds)


def _validate(run: TrainingRun, bar) -> None:
    """Evaluate the detector as it is now on the first EVAL_IMAGES validation images; keep
    and show the result. Training is unaffected (no random draw, the weights untouched)."""
    val = open_split(run.state.data, "val")
    run.detector.eval()
    metrics = evaluate_detector(run.detector, val, run.state.class_names, EVAL_IMAGES, False)
    run.detector.train()
    # None: no ground truth in these images (NaN: an empty cell in history.csv).
    map50, coco = (math.nan if metrics[k] is None else metrics[k] for k in ("map50", "map"))
    run.log.validation[run.iteration] = (map50, coco)
    if not bar.disable:
        bar.write(
            f"iteration {run.iteration}: validation mAP@0.5 {map50:.4f}, COCO mAP {coco:.4f} "
            f"(first {metrics['num_images']} images)",
            file=sys.stderr,
        )


def _iterate(run: TrainingRun, step, optimizer: SGD, phase: Phase, in_phase: int):
    """One iteration: a batch forward and backward, then one SGD step; the losses by name."""
    cfg = run.cfg
    indices = batch_indices(run.state.seed, run.iteration, cfg.images_per_batch, run.epoch_size)
    batch = run.batch(indices)
    # A diverging run overflows before its loss turns NaN; the check below reports that in
    # one clear message, NumPy's overflow warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        run.detector.zero_grad()
        losses, tape = step.forward(batch, run.rng)
        if not all(math.isfinite(v) for v in losses.values()):
            raise TrainingDiverged(_diverged_message(run, losses, phase, in_phase))
        step.backward(tape)
        optimizer.lr = learning_rate(phase.schedule, in_phase)
        optimizer.step()
    return losses


def _diverged_message(run: TrainingRun, losses, phase: Phase, in_phase: int) -> str:
    kept = (
        "no checkpoint was written"
        if run.last_saved is None
        else f"the last good checkpoint (iteration {run.last_saved}) is kept in "
        f"{run.checkpoint_path}"
    )
    values = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
    rate = learning_rate(phase.schedule, in_phase)
    now = "" if rate == phase.schedule.learning_rate else f"; at this iteration {rate:g}"
    return (
        f"training diverged at iteration {run.iteration + 1} ({values}); {kept}; try a lower "
        f"learning rate (the base rate was {phase.schedule.learning_rate:g}{now})"
    )


def _show_progress(bar, smoothed: dict[str, float], losses: dict[str, float]) -> None:
    """Advance the bar, showing each loss as a moving average (less jumpy than the values)."""
    for name, value in losses.items():
        smoothed[name] = (
            value
            if name not in smoothed
            else PROGRESS_SMOOTHING * smoothed[name] + (1 - PROGRESS_SMOOTHING) * value
        )
    bar.set_postfix({name: f"{value:.3f}" for name, value in smoothed.items()}, refresh=False)
    bar.update(1)


def _progress_bar(total: int, initial: int, progress: bool):
    """A tqdm bar on a terminal; :class:`PlainProgress` lines when stderr is a file or a pipe
    (tqdm's carriage returns would make one huge line of a log); nothing without progress."""
    if progress and not sys.stderr.isatty():
        return PlainProgress(total, initial)
    return tqdm(
        total=total,
        initial=initial,
        disable=not progress,
        unit="it",
        desc="train",
        dynamic_ncols=True,
    )


class PlainProgress:
    """Training progress as plain lines on stderr, :data:`PLAIN_PROGRESS_LINES` per run: the
    iteration, the speed and the smoothed losses. Has the parts of tqdm's interface the
    loop uses (``update``, ``set_postfix``, ``write``, ``disable``, a context manager)."""

    disable = False

    def __init__(self, total: int, initial: int):
        self.total, self.n, self.postfix = total, initial, {}
        self.every = max(1, math.ceil(total / PLAIN_PROGRESS_LINES))
        self._start, self._start_n = time.perf_counter(), initial

    def set_postfix(self, values: dict, refresh: bool = False) -> None:
        self.postfix = dict(values)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.every and self.n != self.total:
            return
        speed = (self.n - self._start_n) / max(time.perf_counter() - self._start, 1e-9)
        losses = ", ".join(f"{name} {value}" for name, value in self.postfix.items())
        self.write(f"train: iteration {self.n}/{self.total}, {speed:.1f} it/s, {losses}")

    def write(self, text: str, file=None) -> None:
        print(text, file=file or sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _start_phase(run: TrainingRun, phase: Phase, first: int):
    """The phase's step. At the phase's very start (not when resuming inside it) its
    proposals are made and its fresh stages re-initialised, in that order; a resumed phase
    reads its proposals back from the run folder."""
    starting = run.iteration == first
    proposals = None
    if phase.given_proposals:
        path = run.run_dir / f"proposals-{phase.name}.npz"
        if starting:
            images = _phase_images(run, first, phase.iterations)
            proposals = _make_proposals(run, images)
            _save_proposals(path, proposals)
        else:
            proposals = _load_proposals(path)
    if starting and phase.fresh:
        det = run.detector
        fresh = Detector(
            run.cfg, det.num_classes, seed=run.state.seed + phase.seed_offset, dtype=det.dtype
        )
        for name, param in det.params.items():
            if name.split(".", 1)[0] in phase.fresh:
                param[...] = fresh.params[name]
    frozen = set(STAGES) - set(phase.trains)
    return phase.step(run.detector, frozen=frozen, proposals=proposals)


def _phase_images(run: TrainingRun, first: int, iterations: int) -> list[int]:
    """Every dataset index the iterations of a phase load (the order is seeded)."""
    cfg = run.cfg
    return sorted(
        {
            int(i)
            for it in range(first, first + iterations)
            for i in batch_indices(run.state.seed, it, cfg.images_per_batch, run.epoch_size)
        }
    )


def _make_proposals(run: TrainingRun, indices: list[int]) -> dict[int, np.ndarray]:
    """Proposals of each image (F15, F16, training top-N) from the network as it is now."""
    det = run.detector
    out = {}
    for index in indices:
        batch = run.batch(np.array([index]))
        features, _ = det.features(batch.images)
        rpn_out, _ = det.rpn.forward(features)
        (proposals,) = det.rpn.propose(rpn_out, batch.images.shape[1:3], train=True)
        out[index] = proposals.boxes
    return out


def _save_proposals(path: Path, proposals: dict[int, np.ndarray]) -> None:
    with atomic_write(path) as f:
        np.savez(f, **{f"image/{index}": boxes for index, boxes in proposals.items()})


def _load_proposals(path: Path) -> dict[int, np.ndarray]:
    if not path.is_file():
        raise ValueError(
            f"the run stopped inside a phase whose proposals file {str(path)!r} is missing; "
            "start the run again"
        )
    with np.load(path, allow_pickle=False) as archive:
        return {int(key.split("/", 1)[1]): archive[key] for key in archive.files}
