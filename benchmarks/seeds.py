"""The main job's accuracy over seeds and BLAS kernels: the README's mAP figures.

    python benchmarks/seeds.py [--seeds 4] [--coretypes default Haswell Prescott] [--runs DIR]

Trains the default main job (``minirpn train``: ``Config.tiny()``, approximate joint
training, RoI pooling) once per seed under each OpenBLAS core type, scores each run on the
toy validation split and prints mAP@0.5 and COCO mAP@[.5:.95] per run, then the mean and
spread (half the range) per core type and over every run. A float32 training run depends on
the last bits of its matrix products, and those depend on the kernel OpenBLAS picks for the
CPU (``minirpn.blas``), so a figure of one run on one machine says little; these do.

Each core type is set with ``OPENBLAS_CORETYPE`` in fresh worker processes ("default" leaves
it unset: the kernel OpenBLAS picks for this CPU); the kernel a run really got is printed
beside it. The runs go two at a time, one BLAS thread each, and are kept in
``--runs/CORETYPE`` (default ``benchmarks/.runs/seeds``) with their results, so a second
call prints the table at once. A run below the main job's acceptance (mAP@0.5 >= 0.98) is
flagged.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from experiments import Job, machine, mean_spread, run_jobs

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs" / "seeds"
DEFAULT_CORETYPES = ("default", "Haswell", "Prescott")
ACCEPTANCE_MAP50 = 0.98


def results_under(
    coretype: str, seeds: int, runs: Path, workers: int, overrides: dict | None = None
) -> list[dict]:
    """The main job's results for seeds 0..seeds-1 (``Config.tiny(**overrides)``), trained
    with ``OPENBLAS_CORETYPE`` = ``coretype`` (unset for "default") in fresh processes."""
    jobs = [Job("seeds", coretype, seed, overrides or {}) for seed in range(seeds)]
    saved = os.environ.pop("OPENBLAS_CORETYPE", None)
    if coretype != "default":
        os.environ["OPENBLAS_CORETYPE"] = coretype
    try:
        results = run_jobs(jobs, runs / coretype, workers)
    finally:
        os.environ.pop("OPENBLAS_CORETYPE", None)
        if saved is not None:
            os.environ["OPENBLAS_CORETYPE"] = saved
    return [results[job.name] for job in jobs]


def summary(results: list[dict], key: str) -> str:
    """``mAP@0.5 0.993 ± 0.005 (min 0.987)`` over ``results``: mean ± half the range."""
    values = [r[key] for r in results]
    mean, spread = mean_spread(values)
    label = {"map50": "mAP@0.5", "map": "COCO mAP"}[key]
    return f"{label} {mean:.3f} ± {spread:.3f} (min {min(values):.3f})"


def run_options(description: str, runs: Path, coretypes) -> argparse.ArgumentParser:
    """The options of a benchmark that trains the main job over seeds and core types."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1 (default 4)")
    parser.add_argument(
        "--coretypes",
        nargs="+",
        default=coretypes,
        metavar="NAME",
        help="OpenBLAS core types; 'default' = the CPU's own (default: %(default)s)",
    )
    parser.add_argument("--runs", type=Path, default=runs, help="run folder")
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once")
    return parser


def main(argv=None) -> None:
    parser = run_options(__doc__.split("\n")[0], DEFAULT_RUNS, DEFAULT_CORETYPES)
    args = parser.parse_args(argv)

    runs = []
    for coretype in args.coretypes:
        runs += [
            (coretype, r) for r in results_under(coretype, args.seeds, args.runs, args.workers)
        ]
    print("\nmain job (Config.tiny(), approximate joint, RoI pooling), toy validation split")
    print(f"{machine()}\n")
    print(f"{'core type':10s}  {'kernel':10s}  {'seed':>4s}  {'mAP@0.5':>7s}  {'COCO mAP':>8s}")
    for coretype, r in runs:
        flag = f"  below {ACCEPTANCE_MAP50}" if r["map50"] < ACCEPTANCE_MAP50 else ""
        print(
            f"{coretype:10s}  {r.get('blas') or '?':10s}  {r['seed']:4d}  "
            f"{r['map50']:7.4f}  {r['map']:8.4f}{flag}"
        )
    print()
    for coretype in args.coretypes:
        mine = [r for c, r in runs if c == coretype]
        print(f"{coretype:10s}  " + "   ".join(summary(mine, key) for key in ("map50", "map")))
    every = [r for _, r in runs]
    print(f"all {len(every)} runs: " + "   ".join(summary(every, k) for k in ("map50", "map")))
    low = sum(r["map50"] < ACCEPTANCE_MAP50 for _, r in runs)
    print(f"runs below the acceptance mAP@0.5 >= {ACCEPTANCE_MAP50}: {low} of {len(runs)}")


if __name__ == "__main__":
    main()
