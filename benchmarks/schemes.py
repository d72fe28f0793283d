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

from experiments import Job, machine, run_jobs, summarise

from minirpn.config import Config
from minirpn.paper_claims import claims_table
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per scheme (default 2)")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folder")
    parser.add_argument("--workers", type=int, default=2, help="runs trained at once")
    args = parser.parse_args(argv)
    jobs = scheme_jobs(args.seeds)
    rows = summarise(jobs, run_jobs(jobs, args.runs, args.workers))
    print(f"\ntoy data, {args.seeds} seed(s), {machine()}; x first: time / approximate joint's")
    print(claims_table(rows, time=True))
    print(f"the paper: {PAPER_CLAIM}")


if __name__ == "__main__":
    main()
