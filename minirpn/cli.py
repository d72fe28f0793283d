"""The ``minirpn`` command: train, evaluate and run the tiny detector; write the toy data.

    minirpn train [--out DIR [--overwrite]] [--data DIR] [--iters N] [--seed S]
                  [--batch-size B] [--lr LR] [--scheme NAME] [--roi-op pool|align]
    minirpn train --resume DIR
    minirpn eval --run RUN [--data DIR]
    minirpn detect --run RUN IMAGE... --out DIR
    minirpn make-toy-data --out DIR [--split train|val|all] [--num-images N] [--format coco|voc]
    minirpn show KIND [--image PATH] [--checkpoint RUN] [--out PNG]

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


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minirpn",
        description="Train, evaluate and run the tiny Faster R-CNN detector; write the toy data.",
    )
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

    p = sub.add_parser("train", help="train the tiny detector on the toy data")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<date-time>)")
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="train and evaluate on the train and val splits of DIR (COCO: DIR/train and "
        "DIR/val, or Pascal VOC: DIR/Annotations, DIR/JPEGImages, DIR/ImageSets/Main; as "
        "make-toy-data writes them) instead of the built-in toy data",
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
        "checkpoint and metrics (without it such a folder is refused)",
    )
    p.add_argument(
        "--iters",
        type=_positive_int,
        help="training iterations (default: the config's 2500; --scheme alternating: 240/70 "
        "of it, the original code's budget for its 4 steps)",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        help="seed of weights, sampling and data order (default: 0)",
    )
    p.add_argument("--batch-size", type=_positive_int, help="images per iteration")
    p.add_argument("--lr", type=_positive_float, help="base learning rate")
    p.add_argument(
        "--val-images",
        type=_positive_int,
        help="validation images to evaluate at the end (default: the whole split)",
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
        f"(default: {'--flip' if Config.tiny().flip else '--no-flip'}, the tiny preset's)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        default=200,
        metavar="N",
        help="iterations between checkpoints (one is always written at the end)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run on the validation split")
    p.add_argument("--run", required=True, metavar="RUN", help=RUN_HELP)
    p.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="evaluate on DIR/val (default: the validation split of the run's data)",
    )
    p.add_argument(
        "--val-images",
        type=_positive_int,
        help="validation images to evaluate (default: the whole split)",
    )


def _add_detect_parser(sub) -> None:
    p = sub.add_parser("detect", help="detect objects in images with a trained run")
    p.add_argument("--run", required=True, metavar="RUN", help=RUN_HELP)
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for a PNG per image (detections scoring >= 0.5) and "
        "detections.json (every detection, COCO results format)",
    )


def _add_toy_data_parser(sub) -> None:
    p = sub.add_parser(
        "make-toy-data", help="write the toy data as PNG images + COCO JSON or Pascal VOC XML"
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--split",
        choices=("train", "val", "all"),
        default="all",
        help="which split; 'all' writes DIR/train and DIR/val (default)",
    )
    p.add_argument(
        "--num-images", type=_positive_int, help="images per split (default: the whole split)"
    )
    p.add_argument("--seed", type=_non_negative_int, default=0)
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
        )
        if result.interrupted:
            print(
                f"interrupted at iteration {result.iteration}; checkpoint saved, continue with "
                f"'minirpn train --resume {run_dir}'",
                file=sys.stderr,
            )
            return EXIT_SIGNAL_BASE + result.stop_signal
        metrics = write_report(run_dir, result, val_images=args.val_images)
    print(f"run folder: {run_dir}")
    _print_metrics(metrics)


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
    """Remove the old run's checkpoint and metrics: the folder never mixes two runs."""
    from minirpn.report import METRICS_NAME
    from minirpn.runs import CHECKPOINT_NAME

    for name in (CHECKPOINT_NAME, METRICS_NAME):
        (run_dir / name).unlink(missing_ok=True)


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
    print(
        f"validation mAP@0.5 = {_ap_text(metrics['map50'])}   "
        f"COCO mAP@[.5:.95] = {_ap_text(metrics['map'])}"
    )
    for name, ap in metrics["per_class_ap50"].items():
        print(f"  AP@0.5 {name:<10} {_ap_text(ap)}")


def _ap_text(ap: float | None) -> str:
    """An AP to 4 decimals; None (a class without ground truth in the images) said in words."""
    return "n/a (no ground truth in these images)" if ap is None else f"{ap:.4f}"


def _eval(args) -> None:
    from minirpn.data import TOY_IMAGE_SIZE
    from minirpn.evaluation import evaluate_detector
    from minirpn.runs import load_run, open_split

    run = load_run(args.run)
    data = run.data if args.data is None else args.data
    height = width = TOY_IMAGE_SIZE
    if data is not None:
        height, width = _check_data(Path(data), ("val",), progress=True)["val"].max_image_size
    val = open_split(data, "val")
    if tuple(val.class_names) != run.class_names:  # labels are positions in these lists
        raise ValueError(
            f"the data's classes {list(val.class_names)} are not the run's "
            f"{list(run.class_names)} (names in label order): its detections would be "
            "scored against other classes"
        )
    _check_val_memory(run.detector, None if data is None else Path(data), height, width)
    _print_metrics(evaluate_detector(run.detector, val, run.class_names, args.val_images))


def _detect(args) -> None:
    from minirpn.fileio import atomic_write
    from minirpn.image import decode_image
    from minirpn.memory import check_inference_memory
    from minirpn.report import draw_result
    from minirpn.runs import load_run
    from minirpn.visualize import save_png

    run = load_run(args.run)
    images = []
    for path in args.images:  # every image checked before anything is written
        image, note = decode_image(path)
        height, width = image.shape[:2]
        side = run.detector.min_image_size
        if min(height, width) < side:
            raise ValueError(
                f"image {str(path)!r} is {width}x{height} pixels; the network needs at "
                f"least {side}x{side}"
            )
        check_inference_memory(run.detector, height, width, f"image {str(path)!r}")
        if note is not None:
            print(f"minirpn: warning: {path}: {note}", file=sys.stderr)
        images.append(image)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    pictures = _picture_names(args.images)
    for image_id, (path, image) in enumerate(zip(args.images, images, strict=True), start=1):
        boxes, scores, labels = run.detector.detect(image)
        picture = args.out / pictures[image_id - 1]
        save_png(draw_result(image, boxes, scores, labels, run.class_names), picture)
        for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
            x1, y1, x2, y2 = box
            # COCO results format, with the category ids of the training data's COCO file.
            results.append(
                {
                    "image_id": image_id,
                    "file_name": str(path),
                    "category_id": run.category_ids[label - 1],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
        print(f"{path}: {len(boxes)} detections, drawn in {picture}")
    with atomic_write(args.out / "detections.json") as f:
        f.write(json.dumps(results, indent=1).encode("utf-8"))
    print(f"wrote {args.out / 'detections.json'}")


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
    from minirpn.visualize.show import run_show

    return run_show(args)


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
