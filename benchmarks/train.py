"""The main job, timed: `minirpn train` with its defaults, then where one iteration's time goes.

    python benchmarks/train.py [--out DIR] [--skip-train] [--iterations N]

1. Runs ``minirpn train --out DIR`` (the README's main command, defaults: Config.tiny())
   as a separate process and prints its wall time, the validation mAP@0.5 and COCO mAP
   and the seconds per training iteration (from ``metrics.json``).
   Targets: <= 5 minutes on a 2-core machine, mAP@0.5 >= 0.90.
2. Loads the trained weights and times ``--iterations`` more training iterations with a
   stopwatch around every stage object: backbone forward / backward, the RPN stage's head,
   the training step's sampling (anchor targets, proposal layer, RoI sampling), the RoI
   head (RoI pooling + fc layers) forward / backward, and the rest (losses, SGD step, glue).
   The stages are objects of their own, so the stopwatch wraps their methods on the
   instances; no module is patched.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the minirpn command does (see cli.py)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minirpn.batching import batch_indices, load_batch  # noqa: E402
from minirpn.data import ToyShapes  # noqa: E402
from minirpn.nn import SGD  # noqa: E402
from minirpn.report import METRICS_NAME  # noqa: E402
from minirpn.runs import CHECKPOINT_NAME, load_run  # noqa: E402
from minirpn.schemes import ApproximateJoint  # noqa: E402
from minirpn.train import learning_rate  # noqa: E402

TIME_LIMIT_S = 300
TARGET_MAP50 = 0.90


def run_default_training(out: Path) -> None:
    command = [sys.executable, "-m", "minirpn.cli", "train", "--out", str(out)]
    print("$ minirpn", " ".join(command[3:]), flush=True)
    tic = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - tic
    metrics = json.loads((out / METRICS_NAME).read_text())
    print()
    print(f"{'wall time of minirpn train':<34}{wall:9.1f} s   (target <= {TIME_LIMIT_S} s)")
    print(f"{'  of which training iterations':<34}{metrics['train_seconds']:9.1f} s")
    print(
        f"{'iterations x images per batch':<34}{metrics['iterations']:>9} x "
        f"{metrics['images_per_batch']}"
    )
    print(f"{'seconds per iteration':<34}{metrics['seconds_per_iteration']:9.4f} s")
    print(f"{'validation mAP@0.5':<34}{metrics['map50']:9.4f}     (target >= {TARGET_MAP50})")
    print(f"{'validation COCO mAP@[.5:.95]':<34}{metrics['map']:9.4f}")
    for name, ap in metrics["per_class_ap50"].items():
        print(f"{'  AP@0.5 ' + name:<34}{ap:9.4f}")


class Stopwatch:
    """Accumulates seconds per stage name; ``wrap`` puts a function under a stage."""

    def __init__(self):
        self.seconds = defaultdict(float)

    def wrap(self, stage: str, function):
        def timed(*args, **kwargs):
            tic = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - tic

        return timed


def instrument(step: ApproximateJoint, watch: Stopwatch) -> None:
    """Put every stage object of the step's detector, and its sampling, under the stopwatch."""
    detector = step.detector
    for stage, name in (
        (detector.backbone, "backbone"),
        (detector.rpn, "RPN head"),
        (detector.roi_head, "RoI head (pooling + fc)"),
    ):
        stage.forward = watch.wrap(f"{name} fwd", stage.forward)
        stage.backward = watch.wrap(f"{name} bwd", stage.backward)
    step.sample = watch.wrap("sampling (anchors, proposals, RoIs)", step.sample)


def time_iterations(run_dir: Path, iterations: int) -> None:
    detector = load_run(run_dir).detector
    cfg = detector.cfg
    detector.train()
    dataset = ToyShapes("train")
    step = ApproximateJoint(detector)
    optimizer = SGD(
        step.parameters(),
        lr=learning_rate(cfg, cfg.max_iters),
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
    )
    rng = np.random.default_rng(0)
    batches = [
        load_batch(dataset, batch_indices(0, it, cfg.images_per_batch, len(dataset)), None)
        for it in range(iterations)
    ]

    def iterate(batch):
        detector.zero_grad()
        _, tape = step.forward(batch, rng)
        step.backward(tape)
        optimizer.step()

    iterate(batches[0])  # warm up (first-call allocations)
    watch = Stopwatch()
    instrument(step, watch)
    tic = time.perf_counter()
    for batch in batches:
        iterate(batch)
    total = (time.perf_counter() - tic) / iterations
    per_iteration = {stage: s / iterations for stage, s in watch.seconds.items()}
    per_iteration["other (losses, SGD step, glue)"] = total - sum(per_iteration.values())

    print()
    print(
        f"one training iteration ({cfg.images_per_batch} images, trained weights, "
        f"mean of {iterations}; images drawn beforehand):"
    )
    print(f"{'stage':<34}{'ms':>9}{'share':>9}")
    for stage, seconds in sorted(per_iteration.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<34}{1e3 * seconds:9.2f}{100 * seconds / total:8.1f}%")
    print(f"{'total':<34}{1e3 * total:9.2f}{100.0:8.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"))
    parser.add_argument(
        "--skip-train", action="store_true", help="reuse the run in --out instead of training again"
    )
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    if not args.skip_train:
        run_default_training(args.out)
    if not (args.out / CHECKPOINT_NAME).exists():
        sys.exit(f"no checkpoint in {args.out}; run without --skip-train first")
    time_iterations(args.out, args.iterations)


if __name__ == "__main__":
    main()
