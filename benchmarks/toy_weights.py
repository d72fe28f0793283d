"""Make the toy weights minirpn ships (``minirpn/weights/toy.npz``, ``minirpn.pretrained("toy")``).

    python benchmarks/toy_weights.py [--runs DIR] [--out PATH]

Trains the main job exactly as ``minirpn train`` does by default -- ``Config.tiny()``,
seed 0, approximate joint training, RoI pooling, on the built-in toy data, one BLAS thread
-- and writes its weights as float16 (:func:`minirpn.shipped.save_weights`) with the config,
the class names, the category ids and a note of how they were made (this command, the seed,
the iterations, the OpenBLAS kernel the training ran on, the NumPy version). The training
run is kept in ``--runs`` (default ``benchmarks/.runs/toy_weights``), so a second call only
rewrites the file. It prints the validation mAP of the float32 run and of the float16 file
as read back: rounding the weights to float16 must not cost accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from experiments import Job, load_result, run_job

from minirpn.blas import use_one_thread
from minirpn.evaluation import evaluate_detector
from minirpn.runs import load_run, open_split
from minirpn.shipped import SHIPPED, read_weights, save_weights

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs" / "toy_weights"
SEED = 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folder")
    parser.add_argument("--out", type=Path, default=SHIPPED["toy"], help="weights file")
    args = parser.parse_args(argv)
    use_one_thread()

    job = Job("toy weights", "main job", SEED)
    result = load_result(args.runs, job) or run_job(job, str(args.runs))
    run = load_run(args.runs / job.name)
    made = {
        "command": "python benchmarks/toy_weights.py",
        "training": "minirpn.train.train(Config.tiny(), seed=0), approximate joint, RoI pooling",
        "seed": SEED,
        "iterations": result["iterations"],
        "blas_kernel": result["blas"],
        "numpy": np.__version__,
    }
    save_weights(args.out, run.detector, run.class_names, run.category_ids, made)
    shipped = read_weights(args.out)
    half = evaluate_detector(shipped.detector, open_split(None, "val"), shipped.class_names)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {made}")
    print(f"float32 run:      mAP@0.5 {result['map50']:.4f}  COCO mAP {result['map']:.4f}")
    print(f"float16 weights:  mAP@0.5 {half['map50']:.4f}  COCO mAP {half['map']:.4f}")


if __name__ == "__main__":
    main()
