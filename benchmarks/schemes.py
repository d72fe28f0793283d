"""The three training schemes of F20 side by side on the toy data: time and accuracy.

    python benchmarks/schemes.py [--seeds 2] [--runs DIR]

Trains the tiny detector with approximate joint training (the default), 4-step alternating
training and non-approximate joint training, first all with the same
``Config.tiny().max_iters`` iterations (alternating splits them 2:1:2:1 over its four steps),
then alternating with the original code's budget, which ``minirpn train --scheme
alternating`` uses by default (:func:`minirpn.schemes.alternating.original_budget`):
py-faster-rcnn trains its alternating steps 80k + 40k + 80k + 40k = 240k iterations where
its end-to-end (approximate joint) solver runs 70k, so that row gets 240/70 times the
iterations. It prints, per scheme, the training time (summed over the iterations; the runs
go two at a time, one core each), validation mAP@0.5 and COCO mAP@[.5:.95], mean and spread
over the seeds, beside the paper's claim: approximate joint training reaches a close mAP in
25-50% less training time than alternating training.

The runs are kept in ``--runs`` (default ``benchmarks/.runs``) with their results, so a
second call prints the table at once; ``benchmarks/paper_claims.py`` shares them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from experiments import Job, machine, run_jobs

from minirpn.config import Config
from minirpn.schemes.alternating import original_budget

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs"
PAPER_CLAIM = "approximate joint: close mAP, 25-50% less training time than alternating"


def scheme_rows() -> list[tuple[str, str, dict]]:
    """``(row, scheme, config overrides)`` of the comparison."""
    budget = original_budget(Config.tiny())
    return [
        ("approximate joint", "approximate-joint", {}),
        # The RoI layer alone, to tell it apart from the scheme (non-approximate needs it).
        ("approximate joint, RoIAlign", "approximate-joint", {"roi_op": "align"}),
        (f"alternating, the same {Config.tiny().max_iters} its", "alternating", {}),
        (
            f"alternating, original budget ({budget.max_iters} its, the CLI's default)",
            "alternating",
            {"max_iters": budget.max_iters, "lr_steps": budget.lr_steps},
        ),
        ("non-approximate joint", "non-approximate-joint", {"roi_op": "align"}),
    ]


def scheme_jobs(seeds: int) -> list[Job]:
    return [
        Job("schemes", row, seed, overrides, scheme)
        for row, scheme, overrides in scheme_rows()
        for seed in range(seeds)
    ]


def summary(jobs: list[Job], results: dict) -> list[dict]:
    """Per row: mean and spread (max - min / 2) of time, mAP@0.5 and COCO mAP over seeds."""
    rows = {}
    for job in jobs:
        rows.setdefault(job.row, []).append(results[job.name])
    out = []
    for row, runs in rows.items():
        entry = {"row": row, "seeds": len(runs)}
        for key in ("train_seconds", "map50", "map"):
            values = np.array([r[key] for r in runs])
            entry[key] = float(values.mean())
            entry[key + "_spread"] = float(values.max() - values.min()) / 2
        out.append(entry)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per scheme (default 2)")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folder")
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once")
    args = parser.parse_args(argv)
    jobs = scheme_jobs(args.seeds)
    rows = summary(jobs, run_jobs(jobs, args.runs, args.workers))
    base = rows[0]["train_seconds"]
    print(f"\ntoy data, {args.seeds} seed(s), {machine()}")
    width = max(len(r["row"]) for r in rows)
    print(
        f"{'scheme':{width}s} {'train s':>11s} {'x joint':>8s} {'mAP@0.5':>15s} {'COCO mAP':>15s}"
    )
    for r in rows:
        print(
            f"{r['row']:{width}s} {r['train_seconds']:5.0f} ± {r['train_seconds_spread']:<3.0f}"
            f" {r['train_seconds'] / base:7.2f}x"
            f" {r['map50']:.4f} ± {r['map50_spread']:.4f} {r['map']:.4f} ± {r['map_spread']:.4f}"
        )
    print(f"the paper: {PAPER_CLAIM}")


if __name__ == "__main__":
    main()
