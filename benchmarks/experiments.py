"""Training runs shared by the benchmark reports (``schemes.py``, ``paper_claims.py``).

A :class:`Job` is one training run of the tiny detector on the built-in toy data: a row of an
experiment, a seed, the config fields it changes from ``Config.tiny()`` and the training
scheme. :func:`run_jobs` trains the jobs that have no result yet in parallel worker processes
(one BLAS thread each, so two workers use the two cores of the reference machine), scores
each on the validation split and keeps the result as JSON beside the run's checkpoint. A
report run that stops half-way therefore loses nothing: run it again and only the missing
jobs train. Delete the folder (or pass a new one) to start over.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RESULT_NAME = "result.json"


@dataclass(frozen=True)
class Job:
    """One training run: ``Config.tiny(**overrides)``, ``scheme``, ``seed``."""

    experiment: str
    row: str
    seed: int
    overrides: dict = field(default_factory=dict, hash=False)
    scheme: str = "approximate-joint"

    @property
    def name(self) -> str:
        """Folder name of the run: what it trains, so that equal runs are shared."""
        parts = [self.scheme] + [f"{k}={_short(v)}" for k, v in sorted(self.overrides.items())]
        return "__".join(parts) + f"__seed={self.seed}"


def _short(value) -> str:
    if isinstance(value, (tuple, list)):
        return "-".join(_short(v) for v in value)
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return str(value)


def run_job(job: Job, runs_dir: str) -> dict:
    """Train and score one job in this process; write and return its result."""
    from minirpn.blas import corename
    from minirpn.config import Config
    from minirpn.evaluation import evaluate_detector
    from minirpn.fileio import atomic_write
    from minirpn.runs import open_split
    from minirpn.train import train

    cfg = Config.tiny(**job.overrides)
    run_dir = Path(runs_dir) / job.name
    tic = time.perf_counter()
    result = train(
        cfg,
        run_dir,
        seed=job.seed,
        progress=False,
        checkpoint_every=cfg.max_iters,
        scheme=job.scheme,
    )
    metrics = evaluate_detector(result.detector, open_split(None, "val"), result.class_names)
    out = {
        "name": job.name,
        "scheme": job.scheme,
        "seed": job.seed,
        "overrides": {k: _short(v) for k, v in job.overrides.items()},
        "iterations": result.iteration,
        "train_seconds": result.train_seconds,
        "wall_seconds": time.perf_counter() - tic,
        "map50": metrics["map50"],
        "map": metrics["map"],
        "blas": corename(),  # the OpenBLAS kernel: training depends on it (minirpn.blas)
    }
    with atomic_write(run_dir / RESULT_NAME) as f:
        f.write(json.dumps(out, indent=1).encode())
    return out


def _worker(args):
    job, runs_dir = args
    return run_job(job, runs_dir)


def run_jobs(jobs: list[Job], runs_dir: str | Path, workers: int = 2) -> dict[str, dict]:
    """Results of every job by :attr:`Job.name`, training those without one in ``workers``
    processes (each pinned to one BLAS thread). Equal jobs of two experiments train once."""
    runs_dir = Path(runs_dir)
    results, todo = {}, {}
    for job in jobs:
        result = load_result(runs_dir, job)
        if result is not None:
            results[job.name] = result
        else:
            todo.setdefault(job.name, job)
    if todo:
        print(f"training {len(todo)} runs ({len(results)} already done) in {runs_dir}", flush=True)
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
        context = multiprocessing.get_context("spawn")  # fresh interpreters see the env
        with context.Pool(workers) as pool:
            tasks = [(job, str(runs_dir)) for job in todo.values()]
            for done in pool.imap_unordered(_worker, tasks):
                results[done["name"]] = done
                print(
                    f"  {done['name']}: mAP@0.5 {done['map50']:.4f}, COCO mAP {done['map']:.4f}, "
                    f"{done['train_seconds']:.0f} s",
                    flush=True,
                )
    return results


def load_result(runs_dir: str | Path, job: Job) -> dict | None:
    """The job's result if it was trained in ``runs_dir``, else None."""
    path = Path(runs_dir) / job.name / RESULT_NAME
    return json.loads(path.read_text()) if path.exists() else None


def mean_spread(values) -> tuple[float, float]:
    """Mean and half the range (max - min) / 2: with 2 seeds, each seed is mean +- spread."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.max() - values.min()) / 2


def summarise(jobs: list[Job], results: dict, papers: dict | None = None) -> list[dict]:
    """One entry per row of ``jobs`` (in their order): over the row's seeds, the mean,
    spread and each value of mAP@0.5 (``map50``), COCO mAP (``map``) and training seconds,
    plus ``paper``, the row's figure from ``papers`` (None if it has none)."""
    runs_of: dict[str, list[dict]] = {}
    for job in jobs:
        runs_of.setdefault(job.row, []).append(results[job.name])
    rows = []
    for label, runs in runs_of.items():
        entry = {"row": label, "paper": (papers or {}).get(label), "seeds": len(runs)}
        for key in ("map50", "map", "train_seconds"):
            entry[key], entry[key + "_spread"] = mean_spread([r[key] for r in runs])
            entry[key + "_each"] = [r[key] for r in runs]
        rows.append(entry)
    return rows


def machine() -> str:
    """One line naming the machine a report was made on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
