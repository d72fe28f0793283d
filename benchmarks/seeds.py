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

from experiments import Job, machine, mean_spread, run_jobs, summarise

from minirpn.paper_claims import claims_table

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs" / "seeds"
DEFAULT_CORETYPES = ("default", "Haswell", "Prescott")
ACCEPTANCE_MAP50 = 0.98


def results_under(coretype: str, seeds: int, runs: Path, workers: int) -> tuple[dict, list[dict]]:
    """The main job's summary row (:func:`experiments.summarise`) and its results for seeds
    0..seeds-1, trained with ``OPENBLAS_CORETYPE`` = ``coretype`` (unset for "default") in
    fresh processes."""
    jobs = [Job("seeds", coretype, seed) for seed in range(seeds)]
    saved = os.environ.pop("OPENBLAS_CORETYPE", None)
    if coretype != "default":
        os.environ["OPENBLAS_CORETYPE"] = coretype
    try:
        results = run_jobs(jobs, runs / coretype, workers)
    finally:
        os.environ.pop("OPENBLAS_CORETYPE", None)
        if saved is not None:
            os.environ["OPENBLAS_CORETYPE"] = saved
    return summarise(jobs, results)[0], [results[job.name] for job in jobs]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1 (default 4)")
    parser.add_argument(
        "--coretypes",
        nargs="+",
        default=DEFAULT_CORETYPES,
        metavar="NAME",
        help="OpenBLAS core types; 'default' = the CPU's own (default: %(default)s)",
    )
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folder")
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once")
    args = parser.parse_args(argv)

    rows, runs = [], []
    for coretype in args.coretypes:
        row, results = results_under(coretype, args.seeds, args.runs, args.workers)
        rows.append(row)
        runs += [(coretype, r) for r in results]
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
    print(claims_table(rows, time=True))
    for key, label in (("map50", "mAP@0.5"), ("map", "COCO mAP")):
        values = [r[key] for _, r in runs]
        mean, spread = mean_spread(values)
        print(
            f"all {len(values)} runs: {label} {mean:.3f} ± {spread:.3f} "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    low = sum(r["map50"] < ACCEPTANCE_MAP50 for _, r in runs)
    print(f"runs below the acceptance mAP@0.5 >= {ACCEPTANCE_MAP50}: {low} of {len(runs)}")


if __name__ == "__main__":
    main()
