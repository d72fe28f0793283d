"""The ``minirpn`` command: train, evaluate and run the tiny detector; write the toy data.

    minirpn train [--out DIR [--overwrite]] [--data DIR] [--iters N] [--seed S]
                  [--batch-size B] [--lr LR] [--scheme NAME] [--roi-op pool|align]
                  [--flip | --no-flip] [--eval-every N]
    minirpn train --resume DIR
    minirpn eval --run RUN [--data DIR] [--val-images N] [--out FILE]
    minirpn detect --run RUN IMAGE... --out DIR [--score-threshold T]
    minirpn make-toy-data --out DIR [--split train|val|all] [--num-images N] [--format coco|voc]
    minirpn show KIND [--image PATH] [--box X1 Y1 X2 Y2] [--checkpoint RUN] [--out FILE]
    minirpn show data [--data DIR] [--split train|val] [--count N]
    minirpn --version

RUN is a run folder, or ``toy`` for the trained weights minirpn ships
(:func:`minirpn.runs.load_run`).

Without ``--data`` the detector trains on the built-in toy shapes; ``--data DIR`` names a
folder laid out as ``make-toy-data`` writes it -- COCO (``DIR/train`` and ``DIR/val``, each
PNG images plus one COCO JSON file) or Pascal VOC (``--format voc``) -- so your own data in
either layout trains the same way. Before training, every annotation and image of the data
is checked and all problems are listed at once (:mod:`minirpn.datacheck`), and a batch
or an image that would not fit in memory is refused (:mod:`minirpn.memory`) -- when
resuming too, and for the evaluation that follows training.

A run folder belongs to one process while it trains (:func:`minirpn.fileio.folder_lock`:
a second ``train`` into it is refused, naming the first one's process id), the default
``runs/<date-time>`` is never shared by two runs, and a folder that holds a run is only
trained into again with ``--resume`` (continue it) or ``--overwrite`` (start again).
``make-toy-data`` writes its folder whole or not at all.

Every failure a user can cause (a missing image, an unreadable file, a wrong checkpoint,
a diverging run, a bad option) ends with one line on stderr and a non-zero exit code,
never a traceback: 1 for an error, 2 for a bad command line, 130 for Ctrl-C (at any
moment: see :mod:`minirpn.__main__`).

NumPy (and everything that imports it) is imported inside the commands, so that
:func:`main` can choose the number of BLAS threads first (:data:`BLAS_THREADS`).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

# One BLAS thread unless the user sets OPENBLAS_NUM_THREADS. The tiny model's matrix
# products are too small to gain much from a second thread (on 2 cores: 30 ms per training
# iteration with two threads, 35 ms with one), and as soon as another program uses a core,
# OpenBLAS's spinning threads make training 2-3x slower (80 ms), while one thread stays at
# 35 ms. It only takes effect if NumPy is not imported yet.
BLAS_THREADS = "1"

# --run (and show's --checkpoint): a str, not a Path, so that "./toy" stays apart from "toy".
RUN_HELP = (
    "a run folder of 'minirpn train', or 'toy' for the trained weights minirpn ships "
    "(the name wins over a folder called toy: write ./toy for the folder)"
)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SIGNAL_BASE = 128  # the shell's code for "stopped by signal N" is 128 + N (SIGTERM: 143)


class UsageError(Exception):
    """A bad command line (raised instead of argparse's exit, so main() reports it in one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but words left over are blamed on the command they follow: its
        help is the one to read (``minirpn show anchors extra``: see 'minirpn show --help')."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = self.prog if command is None else f"{self.prog} {command}"
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see '{prog} --help')")
        return parsed


def _number(text: str, kind, what: str, valid) -> int | float:
    """``text`` read as ``kind`` and accepted by ``valid``; argparse's error names the value
    and what was expected (not a Python function's name)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _number(text, int, "a positive integer", lambda v: v > 0)


def _non_negative_int(text: str) -> int:
    return _number(text, int, "a non-negative integer", lambda v: v >= 0)


def _positive_float(text: str) -> float:
    return _number(text, float, "a positive finite number", lambda v: math.isfinite(v) and v > 0)


def _probability(text: str) -> float:
    return _number(text, float, "a number from 0 to 1", lambda v: 0 <= v <= 1)


def build_parser() -> argparse.ArgumentParser:
    from minirpn import __version__

    parser = _Parser(
        prog="minirpn",
        description="Train, evaluate and run the tiny Faster R-CNN detector; write the toy data.",
    )
    parser.add_argument("--version", action="version", version=f"minirpn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train_parser(sub)
    _add_eval_parser(sub)
    _add_detect_parser(sub)
    _add_toy_data_parser(sub)
    from minirpn.visualize.show import add_show_parser  # no NumPy / matplotlib at import

    add_show_parser(sub)
    return parser


def _add_train_parser(sub) -> None:
    from minirpn.config import Config
    from minirpn.roi_ops import ROI_OPS
    from minirpn.schemes import SCHEMES
    from minirpn.train import EVAL_IMAGES

    tiny = Config.tiny()
    p = sub.add_parser(
        "train",
        help="train the tiny detector (on the toy data, or on --data)",
        description="Train the tiny detector, then evaluate it on the validation split and "
        "write its run folder: checkpoint, metrics, history.csv and pictures.",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default: runs/<date-time>)")
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="train and evaluate on the train and val splits of DIR (COCO: DIR/train and "
        "DIR/val, or Pascal VOC: DIR/Annotations, DIR/JPEGImages, DIR/ImageSets/Main; as "
        "make-toy-data writes them; default: the built-in toy data)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run in DIR from its checkpoint (same seed and config)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="train into an --out folder that already holds a run, replacing its "
        "checkpoint, metrics, history and pictures (without it such a folder is refused)",
    )
    _add_schedule_options(p, tiny)
    p.add_argument(
        "--val-images",
        type=_positive_int,
        metavar="N",
        help="validation images to evaluate at the end, the first N (default: the whole split)",
    )
    p.add_argument(
        "--eval-every",
        type=_positive_int,
        metavar="N",
        help=f"every N iterations, evaluate on the first {EVAL_IMAGES} validation images "
        "(history.csv and loss_curve.png show it; the training is unchanged; default: never)",
    )
    p.add_argument(
        "--scheme",
        choices=sorted(SCHEMES),
        help="training scheme of F20 (default: approximate-joint; alternating: the "
        "original's 4 steps; non-approximate-joint: gradient through the RoI coordinates)",
    )
    p.add_argument(
        "--roi-op",
        choices=sorted(ROI_OPS),
        help="the head's RoI layer: pool = RoI max pooling as in the paper (F19, the "
        "default), align = RoIAlign (bilinear sampling; non-approximate-joint always uses it)",
    )
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        help="train on every image and its mirror image, as the paper's code does "
        f"(default: {'--flip' if tiny.flip else '--no-flip'}, the tiny preset's)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        default=200,
        metavar="N",
        help="iterations between checkpoints (default: %(default)s; one is always written "
        "at the end)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (nor progress lines when the output is not a terminal)",
    )


def _add_schedule_options(p, tiny) -> None:
    """train's --iters, --seed, --batch-size and --lr, with the tiny preset's defaults."""
    p.add_argument(
        "--iters",
        type=_positive_int,
        metavar="N",
        help=f"training iterations (default: {tiny.max_iters}, the tiny preset's; --scheme "
        "alternating: 240/70 of it, the original code's budget for its 4 steps)",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="S",
        help="seed of weights, sampling and data order (default: 0)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="B",
        help=f"images per iteration (default: {tiny.images_per_batch})",
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        metavar="LR",
        help=f"base learning rate (default: {tiny.learning_rate:g}, after a warm-up of "
        f"{tiny.warmup_iters} iterations from {tiny.warmup_factor:.3g} of it; x{tiny.lr_gamma:g} "
        f"at iteration {', '.join(str(i) for i in tiny.lr_steps)})",
    )


def _add_eval_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained run on the validation split",
        description="Evaluate a trained run on a validation split: mAP@0.5, COCO mAP, the "
        "AP of each class and COCO's summary (AP by IoU and object size, AR by detections "
        "per image). Classes are matched by name between the run and the data.",
    )
    p.add_argument("--run", required=True, metavar="RUN", help=RUN_HELP)
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="evaluate on the val split of DIR (COCO or Pascal VOC, as for train; "
        "default: the validation split of the run's own data)",
    )
    p.add_argument(
        "--val-images",
        type=_positive_int,
        metavar="N",
        help="evaluate the first N validation images (default: the whole split)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="also write the results as JSON to FILE (default: print only)",
    )


def _add_detect_parser(sub) -> None:
    from minirpn.visualize import DRAW_SCORE_THRESH

    p = sub.add_parser(
        "detect",
        help="detect objects in images with a trained run",
        description="Detect objects in image files with a trained run: a picture per image "
        "and every detection in detections.json (COCO results format, with class names). "
        "An image that cannot be read is reported by name and the others are processed.",
    )
    p.add_argument("--run", required=True, metavar="RUN", help=RUN_HELP)
    p.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help="image files (PNG, JPEG, ...; grayscale and RGBA are converted), each at its own size",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for a picture per image (NAME_detections.png) and detections.json",
    )
    p.add_argument(
        "--score-threshold",
        type=_probability,
        default=DRAW_SCORE_THRESH,
        metavar="T",
        help="detections scoring at least T are drawn and counted (default: %(default)s); "
        "detections.json keeps every detection above the model's own threshold, for "
        "evaluation",
    )


def _add_toy_data_parser(sub) -> None:
    p = sub.add_parser(
        "make-toy-data",
        help="write the toy data as PNG images + COCO JSON or Pascal VOC XML",
        description="Write the built-in toy data (circles, squares, triangles, bars) to disk "
        "in the layout --data reads: a template for your own data.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write")
    p.add_argument(
        "--split",
        choices=("train", "val", "all"),
        default="all",
        help="which split; 'all' writes both (default: %(default)s)",
    )
    p.add_argument(
        "--num-images",
        type=_positive_int,
        metavar="N",
        help="images per split (default: the whole split, 2000 train and 200 val)",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        metavar="S",
        help="which toy data set (default: %(default)s, the one training uses)",
    )
    p.add_argument(
        "--format",
        choices=("coco", "voc"),
        default="coco",
        help="coco: DIR/train and DIR/val, each images/ + annotations.json (default); "
        "voc: one Pascal VOC folder DIR with Annotations/, JPEGImages/ (PNG files) and "
        "ImageSets/Main/{train,val}.txt",
    )


# Training options and the Config fields they set, to name the option in a config error.
TRAIN_OPTIONS = {
    "max_iters": "--iters",
    "images_per_batch": "--batch-size",
    "learning_rate": "--lr",
    "roi_op": "--roi-op",
    "flip": "--flip",
}


def _train(args) -> int | None:
    from minirpn.fileio import folder_lock
    from minirpn.report import write_report
    from minirpn.schemes import DEFAULT_SCHEME
    from minirpn.train import train

    if args.resume is not None:
        from minirpn.runs import load_run

        run = load_run(_folder(_resumable(args), "--resume"))
        cfg, data = run.detector.cfg, (None if run.data is None else Path(run.data))
        if _finished(args.resume):
            print(
                f"run {str(args.resume)!r} is complete ({cfg.max_iters} of {cfg.max_iters} "
                "iterations): nothing to resume",
                file=sys.stderr,
            )
            metrics = _saved_metrics(args.resume)
            if metrics is not None:
                return _print_run_folder(args.resume, metrics)
            # else it stopped while writing its report: that is written again below
    else:
        cfg, data = _config(args), args.data
        if args.out is not None:  # refused early, and again below under the lock
            _refuse_a_run_in(_folder(args.out, "--out"), args.overwrite)
    _check_data_and_memory(cfg, data, progress=not args.no_progress)  # issues 13, 21
    run_dir = args.resume or args.out or _new_run_folder()
    with folder_lock(run_dir):
        if args.resume is None:
            _refuse_a_run_in(run_dir, args.overwrite)
            if args.overwrite:
                _start_over(run_dir)
        result = train(
            cfg,
            run_dir,
            data=data,
            seed=0 if args.seed is None else args.seed,
            resume=args.resume is not None,
            progress=not args.no_progress,
            scheme=args.scheme or DEFAULT_SCHEME,
            checkpoint_every=args.checkpoint_every,
            locked=True,
            eval_every=args.eval_every,
        )
        if result.interrupted:
            print(
                f"interrupted at iteration {result.iteration}; checkpoint saved, continue with "
                f"'minirpn train --resume {run_dir}'",
                file=sys.stderr,
            )
            return EXIT_SIGNAL_BASE + result.stop_signal
        metrics = write_report(run_dir, result, val_images=args.val_images)
    _print_run_folder(run_dir, metrics)


def _finished(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` trained all its phases (its checkpoint says so)."""
    from minirpn.checkpoint import load_checkpoint
    from minirpn.runs import CHECKPOINT_NAME
    from minirpn.schemes import scheme_phases

    checkpoint = load_checkpoint(run_dir / CHECKPOINT_NAME)
    return checkpoint.run.phase >= len(scheme_phases(checkpoint.run.scheme, checkpoint.config))


def _saved_metrics(run_dir: Path) -> dict | None:
    """The metrics a finished run wrote, or None if they are missing or unreadable."""
    from minirpn.report import METRICS_NAME

    try:
        metrics = json.loads((run_dir / METRICS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) and "coco" in metrics else None


def _print_run_folder(run_dir: Path, metrics: dict) -> None:
    """The end of a training run: the folder's files, the metrics and what to run next."""
    from minirpn.report import RUN_FILES

    print(f"run folder: {run_dir}")
    width = max(len(name) for name in RUN_FILES)
    for name, what in RUN_FILES.items():
        if (run_dir / name).exists():
            print(f"  {name:<{width}}  {what}")
    _print_metrics(metrics)
    print(
        "  mAP@0.5 counts a box as found when it overlaps its object by half (IoU >= 0.5); "
        "COCO's mAP\n  averages over IoU 0.5, 0.55, ..., 0.95, so it also asks for tight "
        f"boxes (AP at IoU 0.75: {_ap_text(metrics['coco']['AP75'])})."
    )
    print("next:")
    print(f"  minirpn eval --run {run_dir}                       # COCO's full summary")
    print(f"  minirpn detect --run {run_dir} IMAGE... --out DIR  # your own images")
    print(f"  minirpn show detections --checkpoint {run_dir}     # one picture, step by step")


def _resumable(args) -> Path:
    """The folder of ``--resume``; UsageError for an option that would change the run."""
    if args.out is not None and args.out != args.resume:
        raise UsageError("--resume continues in its own folder; leave out --out")
    given = (
        ("--iters", args.iters),
        ("--batch-size", args.batch_size),
        ("--lr", args.lr),
        ("--seed", args.seed),
        ("--data", args.data),
        ("--scheme", args.scheme),
        ("--roi-op", args.roi_op),
        ("--flip", args.flip),
        ("--overwrite", args.overwrite or None),
        ("--val-images", args.val_images),
    )
    changed = [flag for flag, value in given if value is not None]
    if changed:
        raise UsageError(
            f"{', '.join(changed)} cannot change when resuming "
            "(the checkpoint's config, seed and data are used)"
        )
    return args.resume


def _config(args):
    """The tiny config with the command line's overrides; a bad value is a usage error
    naming the option (``--lr inf``), not only the config field."""
    from minirpn.config import Config
    from minirpn.roi_ops import box_differentiable_ops
    from minirpn.schemes import DEFAULT_SCHEME, SCHEMES

    overrides = {
        field: value
        for field, value in (
            ("max_iters", args.iters),
            ("images_per_batch", args.batch_size),
            ("learning_rate", args.lr),
            ("roi_op", args.roi_op),
            ("flip", args.flip),
        )
        if value is not None
    }
    scheme = SCHEMES[args.scheme or DEFAULT_SCHEME]
    if scheme.needs_box_gradient:  # the RoI layer must be differentiable in the boxes
        usable = box_differentiable_ops()
        if args.roi_op is not None and args.roi_op not in usable:
            raise UsageError(
                f"--scheme {scheme.name} needs a --roi-op with a gradient with respect to "
                f"the box coordinates ({', '.join(usable)}); {args.roi_op} has none"
            )
        overrides.setdefault("roi_op", usable[0])
    try:
        cfg = dataclasses.replace(Config.tiny(), **overrides)
    except ValueError as error:
        field = str(error).split()[0]
        if field in overrides:
            raise UsageError(f"{TRAIN_OPTIONS[field]} {overrides[field]}: {error}") from None
        raise
    if args.scheme == "alternating" and args.iters is None:
        from minirpn.schemes.alternating import original_budget

        cfg = original_budget(cfg)  # 240/70 of joint training's iterations, as the original
    return cfg


def _new_run_folder() -> Path:
    """A new folder ``runs/<date-time>`` (``-2``, ``-3``, ... when that exists), created
    here: ``mkdir`` is atomic, so two runs started in the same second never share one."""
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    for number in itertools.count(1):
        folder = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder


def _folder(path: Path, option: str) -> Path:
    """``path`` if nothing or a folder is there; ValueError naming ``option`` otherwise."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a file, not a run folder")
    return path


def _refuse_a_run_in(run_dir: Path, overwrite: bool) -> None:
    """ValueError if ``run_dir`` holds a run (a checkpoint) and ``overwrite`` is not set."""
    from minirpn.runs import CHECKPOINT_NAME

    checkpoint = run_dir / CHECKPOINT_NAME
    if os.path.lexists(checkpoint) and not overwrite:
        raise ValueError(
            f"{str(run_dir)!r} already holds a run ({checkpoint}): continue it with "
            f"'minirpn train --resume {run_dir}', or start again with --overwrite"
        )


def _start_over(run_dir: Path) -> None:
    """Remove the old run's files (checkpoint, metrics, history, pictures, proposals of
    alternating training): the folder never mixes two runs."""
    from minirpn.report import RUN_FILES

    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for proposals in run_dir.glob("proposals-*.npz"):
        proposals.unlink()


def _check_data_and_memory(cfg, data: Path | None, progress: bool) -> None:
    """Before training: every image and annotation of ``data``, the memory of a batch and
    of the evaluation after training (the largest validation image).

    Prints the data's warnings; raises DataError (all the data's errors) or ValueError
    (a batch that cannot fit, naming --batch-size; a validation image too large).
    """
    from minirpn.data import TOY_IMAGE_SIZE
    from minirpn.memory import check_batch_memory
    from minirpn.model import Detector
    from minirpn.runs import open_split

    if data is None:
        sizes = {"train": (TOY_IMAGE_SIZE,) * 2, "val": (TOY_IMAGE_SIZE,) * 2}
    else:
        reports = _check_data(data, ("train", "val"), progress)
        sizes = {split: report.max_image_size for split, report in reports.items()}
    classes = len(open_split(data, "train").class_names)
    detector = Detector(cfg, num_classes=classes)  # the memory estimate runs its layers
    check_batch_memory(detector, *sizes["train"])
    _check_val_memory(detector, data, *sizes["val"])


def _check_val_memory(detector, data: Path | None, height: int, width: int) -> None:
    from minirpn.memory import check_inference_memory

    where = "the toy data" if data is None else repr(str(data))
    check_inference_memory(detector, height, width, f"the largest validation image of {where}")


def _check_data(data: Path, splits, progress: bool):
    """Check the splits of a data folder (minirpn.datacheck); print its warnings to stderr."""
    from minirpn.datacheck import check_data_folder

    reports = check_data_folder(data, splits, progress=progress)
    _print_warnings([w for report in reports.values() for w in report.warnings])
    return reports


def _print_warnings(warnings) -> None:
    from minirpn.datacheck import format_problems

    for line in format_problems(warnings):
        print(f"minirpn: warning: {line}", file=sys.stderr)


def _print_metrics(metrics: dict) -> None:
    shown = metrics["num_images"]
    print(
        f"validation mAP@0.5 = {_ap_text(metrics['map50'])}   "
        f"COCO mAP@[.5:.95] = {_ap_text(metrics['map'])}   "
        f"({shown} of the split's {metrics['split_images']} images)"
    )
    for name, ap in metrics["per_class_ap50"].items():
        print(f"  AP@0.5 {name:<10} {_ap_text(ap)}")


# COCO's summary as pycocotools prints it: what each number averages over.
COCO_LINES = {
    "AP": "IoU 0.50:0.95, every size, at most 100 detections per image and class",
    "AP50": "IoU 0.50",
    "AP75": "IoU 0.75",
    "AP_small": "objects of area < 32² pixels",
    "AP_medium": "objects of area 32² to 96²",
    "AP_large": "objects of area > 96²",
    "AR1": "recall with at most 1 detection per image and class, IoU 0.50:0.95",
    "AR10": "at most 10",
    "AR100": "at most 100",
    "AR_small": "at most 100, objects of area < 32²",
    "AR_medium": "objects of area 32² to 96²",
    "AR_large": "objects of area > 96²",
}


def _print_summary(summary: dict) -> None:
    print("COCO summary (AP computed as above, all-point):")
    for name, what in COCO_LINES.items():
        value = summary[name]
        text = "n/a   " if value is None else f"{value:.4f}"
        print(f"  {name:<9} {text}  {what}{' (no object of this size)' if value is None else ''}")


def _ap_text(ap: float | None) -> str:
    """An AP to 4 decimals; None (a class without ground truth in the images) said in words."""
    return "n/a (no ground truth in these images)" if ap is None else f"{ap:.4f}"


def _eval(args) -> None:
    from minirpn.data import TOY_IMAGE_SIZE
    from minirpn.evaluation import evaluate_detector
    from minirpn.fileio import atomic_write
    from minirpn.runs import load_run, open_split

    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {str(args.out)!r} is a folder; give a file name (results.json)")
    run = load_run(args.run)
    data = run.data if args.data is None else args.data
    height = width = TOY_IMAGE_SIZE
    if data is not None:
        height, width = _check_data(Path(data), ("val",), progress=True)["val"].max_image_size
    val = open_split(data, "val")
    _check_val_memory(run.detector, None if data is None else Path(data), height, width)
    if args.val_images is not None and args.val_images > len(val):
        print(
            f"minirpn: warning: --val-images {args.val_images}: the validation split has "
            f"{len(val)} images; all are evaluated",
            file=sys.stderr,
        )
    metrics = evaluate_detector(run.detector, val, run.class_names, args.val_images)
    _print_metrics(metrics)
    _print_summary(metrics["coco"])
    if args.out is not None:
        record = {"run": str(args.run), "data": None if data is None else str(data), **metrics}
        with atomic_write(args.out) as f:
            f.write(json.dumps(record, indent=1).encode("utf-8"))
        print(f"wrote {args.out}")


def _detect(args) -> int | None:
    from minirpn.runs import load_run, read_input_image

    run = load_run(args.run)
    results, failed = [], []
    pictures = _picture_names(args.images)
    for image_id, path in enumerate(args.images, start=1):
        try:
            image, note = read_input_image(path, run.detector)
        except ValueError as error:  # named, and the other images go on
            print(f"minirpn: error: {_one_line(error)}", file=sys.stderr)
            failed.append(path)
            continue
        if note is not None:
            print(f"minirpn: warning: {path}: {note}", file=sys.stderr)
        results += _detect_one(run, image, image_id, path, args.out / pictures[image_id - 1], args)
    if len(failed) == len(args.images):
        return EXIT_ERROR
    from minirpn.fileio import atomic_write

    with atomic_write(args.out / "detections.json") as f:
        f.write(json.dumps(results, indent=1).encode("utf-8"))
    print(f"wrote {args.out / 'detections.json'}")
    if failed:
        print(
            f"minirpn: error: {len(failed)} of {len(args.images)} images could not be used "
            f"(named above): {', '.join(str(p) for p in failed)}",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _detect_one(run, image, image_id: int, path: Path, picture: Path, args) -> list[dict]:
    """Detect objects in one image, draw them into ``picture``; its COCO results entries."""
    from minirpn.visualize import save_figure
    from minirpn.visualize.scenes import detections_figure

    boxes, scores, labels = run.detector.detect(image)
    threshold = args.score_threshold
    figure = detections_figure(
        image,
        run.detector,
        run.class_names,
        score_thresh=threshold,
        detections=(boxes, scores, labels),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    save_figure(figure, picture)
    shown = int((scores >= threshold).sum())
    print(f"{path}: {len(boxes)} detections, {shown} scoring >= {threshold:g} drawn in {picture}")
    entries = []
    for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
        x1, y1, x2, y2 = box
        # COCO results format, with the category ids of the training data's COCO file.
        entries.append(
            {
                "image_id": image_id,
                "file_name": str(path),
                "category_id": run.category_ids[label - 1],
                "category_name": run.class_names[label - 1],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(score),
            }
        )
    return entries


def _picture_names(paths: list[Path]) -> list[str]:
    """``NAME_detections.png`` per image; if two images share a name (``a/x.png``,
    ``b/x.png``, ``a/x.jpg``), every picture is numbered by its image id instead
    (``1_x_detections.png``, ...), so that none overwrites another."""
    stems = [path.stem for path in paths]
    if len(set(stems)) == len(stems):
        return [f"{stem}_detections.png" for stem in stems]
    return [f"{image_id}_{stem}_detections.png" for image_id, stem in enumerate(stems, 1)]


def _make_toy_data(args) -> None:
    from minirpn.data import COCO_IMAGE_DIR, VOC_IMAGE_DIR, make_toy_data
    from minirpn.fileio import atomic_folder

    splits = ("train", "val") if args.split == "all" else (args.split,)
    written = []
    with atomic_folder(args.out) as folder:  # the whole data set appears at once, or nothing
        for split in splits:
            if args.format == "voc":  # one folder for every split, as VOC is laid out
                path = make_toy_data(folder, split, args.num_images, seed=args.seed, format="voc")
                written.append(
                    f"{split}: images in {args.out / VOC_IMAGE_DIR}, image list "
                    f"{args.out / path.relative_to(folder)}"
                )
                continue
            where = Path(split) if args.split == "all" else Path()
            path = make_toy_data(
                folder / where, split=split, num_images=args.num_images, seed=args.seed
            )
            written.append(
                f"{split}: images in {args.out / where / COCO_IMAGE_DIR}, annotations in "
                f"{args.out / path.relative_to(folder)}"
            )
    print("\n".join(written))


def _show(args) -> int:
    from minirpn.visualize.show import OptionError, run_show

    try:
        return run_show(args)
    except OptionError as error:
        raise UsageError(str(error)) from None


COMMANDS = {
    "train": _train,
    "eval": _eval,
    "detect": _detect,
    "make-toy-data": _make_toy_data,
    "show": _show,
}


class Terminated(Exception):
    """SIGTERM arrived while a command ran (``kill``, ``docker stop``, a cluster's scheduler)."""


def _raise_terminated(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Entry point of the commands; returns the exit code.

    Ctrl-C raises KeyboardInterrupt and SIGTERM :class:`Terminated` while a command runs (so
    that it can save and leave every file whole; training catches both itself and saves a
    checkpoint), and either ends with one line and the shell's code (130, 143); a second
    signal while that line is written is ignored.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", BLAS_THREADS)
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_terminated}
    previous = {sig: _set_handler(sig, handler) for sig, handler in handlers.items()}
    try:
        return _run(argv)
    except (KeyboardInterrupt, Terminated) as stop:
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        for sig in handlers:  # shutting down: a second signal changes nothing
            _set_handler(sig, signal.SIG_IGN)
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        print(f"minirpn: {word}", file=sys.stderr)
        return EXIT_SIGNAL_BASE + signum
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                _set_handler(sig, handler)


def _run(argv) -> int:
    from minirpn.data import DataError  # NumPy loads here, after BLAS_THREADS is set
    from minirpn.train import TrainingDiverged

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args) or 0
    except UsageError as error:
        print(f"minirpn: usage error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as error:  # one line per problem: a list is easier to read than a line
        _print_warnings(error.warnings)
        print(f"minirpn: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, OSError, TrainingDiverged) as error:
        print(f"minirpn: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR


def _set_handler(sig, handler):
    """Install a signal handler, return the previous one (None outside the main thread)."""
    try:
        return signal.signal(sig, handler)
    except ValueError:  # not the main thread: Python handles signals there only
        return None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
