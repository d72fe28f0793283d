"""Make the toy weights minirpn ships (``minirpn/weights/toy.npz``, ``minirpn.pretrained("toy")``).

    python benchmarks/toy_weights.py [--runs DIR] [--out PATH]
    python benchmarks/toy_weights.py --compare default Haswell Prescott

Trains the main job exactly as ``minirpn train`` does by default -- ``Config.tiny()``,
seed 0, approximate joint training, RoI pooling, on the built-in toy data, one BLAS thread
-- and writes its weights as float16 (:func:`minirpn.shipped.save_weights`) with the config,
the class names, the category ids and a note of how they were made (this command, the seed,
the iterations, the OpenBLAS kernel the training ran on, the NumPy version). The training
run is kept in ``--runs`` (default ``benchmarks/.runs/toy_weights``), so a second call only
rewrites the file. It prints the validation mAP of the float32 run and of the float16 file
as read back: rounding the weights to float16 must not cost accuracy.

``--compare CORETYPE...`` checks what shipping weights is for: it scores the float32 run and
the float16 file on the validation split in a fresh process per OpenBLAS core type
("default": the CPU's own kernel) and prints, against the first, on how many images the
float16 model's detections (count and labels) differ, and on the others the largest score
and box-corner differences, telling boxes that moved (taken from another, near-tied
proposal) from rounding.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from experiments import Job, load_result, run_job

from minirpn.blas import corename, use_one_thread
from minirpn.evaluation import evaluate, evaluate_detector, ground_truth
from minirpn.runs import load_run, open_split
from minirpn.shipped import SHIPPED, read_weights, save_weights

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs" / "toy_weights"
SEED = 0
JOB = Job("toy weights", "main job", SEED)
# A box further than this from its twin came from another proposal (an NMS near-tie), not
# from rounding.
BOX_TOLERANCE = 0.01  # pixels


def make(runs: Path, out: Path) -> None:
    """Train (or reuse) the main job's run, write its float16 weights, print both mAPs."""
    result = load_result(runs, JOB) or run_job(JOB, str(runs))
    run = load_run(runs / JOB.name)
    made = {
        "command": "python benchmarks/toy_weights.py",
        "training": "minirpn.train.train(Config.tiny(), seed=0), approximate joint, RoI pooling",
        "seed": SEED,
        "iterations": result["iterations"],
        "blas_kernel": result["blas"],
        "numpy": np.__version__,
    }
    save_weights(out, run.detector, run.class_names, run.category_ids, made)
    shipped = read_weights(out)
    half = evaluate_detector(shipped.detector, open_split(None, "val"), shipped.class_names)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {made}")
    print(f"float32 run:      mAP@0.5 {result['map50']:.4f}  COCO mAP {result['map']:.4f}")
    print(f"float16 weights:  mAP@0.5 {half['map50']:.4f}  COCO mAP {half['map']:.4f}")


def score(runs: Path, weights: Path, detections: Path) -> None:
    """In this process: both models' mAPs as one JSON line; the float16 model's detections
    of every validation image into ``detections`` (.npz)."""
    val = open_split(None, "val")
    truth = [ground_truth(val[i]) for i in range(len(val))]
    line = {"kernel": corename()}
    for name, detector in (
        ("float32", load_run(runs / JOB.name).detector),
        ("float16", read_weights(weights).detector),
    ):
        found = [detector.detect(val[i].image) for i in range(len(val))]
        metrics = evaluate(found, truth, num_classes=len(val.class_names))
        line[name] = {"map50": metrics["map50"], "map": metrics["map"]}
    arrays = {f"{i}/{k}": a for i, d in enumerate(found) for k, a in zip("bsl", d, strict=True)}
    np.savez(detections, **arrays)  # boxes, scores, labels of image i
    print(json.dumps(line))


def compare(coretypes: list[str], runs: Path, weights: Path) -> None:
    """Score both models under each core type in fresh processes; compare the detections."""
    lines, found = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for coretype in coretypes:
            env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
            if coretype != "default":
                env["OPENBLAS_CORETYPE"] = coretype
            path = Path(tmp) / f"{coretype}.npz"
            argv = ["--runs", str(runs), "--out", str(weights), "--score", str(path)]
            proc = subprocess.run(
                [sys.executable, __file__, *argv], env=env, capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise RuntimeError(f"scoring under {coretype} failed:\n{proc.stderr[-3000:]}")
            lines[coretype] = json.loads(proc.stdout.splitlines()[-1])
            with np.load(path) as archive:
                found[coretype] = {k: archive[k] for k in archive.files}
    print(f"{'core type':11s} {'kernel':11s} {'float32 mAP@0.5':>15s} {'COCO':>6s}  "
          f"{'float16 mAP@0.5':>15s} {'COCO':>6s}")  # fmt: skip
    for coretype, line in lines.items():
        f32, f16 = line["float32"], line["float16"]
        print(
            f"{coretype:11s} {line['kernel']:11s} {f32['map50']:15.4f} {f32['map']:6.4f}  "
            f"{f16['map50']:15.4f} {f16['map']:6.4f}"
        )
    first = coretypes[0]
    images = len({key.split("/")[0] for key in found[first]})
    for coretype in coretypes[1:]:
        differ, score_gap, box_gaps = 0, 0.0, []
        for i in range(images):
            a, b = (found[c] for c in (first, coretype))
            if not np.array_equal(a[f"{i}/l"], b[f"{i}/l"]):
                differ += 1
                continue
            score_gap = max(score_gap, float(np.abs(a[f"{i}/s"] - b[f"{i}/s"]).max(initial=0)))
            box_gaps.append(float(np.abs(a[f"{i}/b"] - b[f"{i}/b"]).max(initial=0)))
        moved = [gap for gap in box_gaps if gap > BOX_TOLERANCE]
        print(
            f"float16 detections, {coretype} against {first}: {differ} of {images} images differ "
            f"in count or labels; on the others scores agree to {score_gap:.1e}, boxes to "
            f"{max(set(box_gaps) - set(moved), default=0):.1e} px except on {len(moved)} images "
            f"where a box moved by up to {max(moved, default=0):.1f} px"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folder")
    parser.add_argument("--out", type=Path, default=SHIPPED["toy"], help="weights file")
    parser.add_argument("--compare", nargs="+", metavar="CORETYPE", help="see above")
    parser.add_argument("--score", type=Path, help=argparse.SUPPRESS)  # --compare's worker
    args = parser.parse_args(argv)
    use_one_thread()
    if args.score:
        score(args.runs, args.out, args.score)
    elif args.compare:
        compare(args.compare, args.runs, args.out)
    else:
        make(args.runs, args.out)


if __name__ == "__main__":
    main()
