"""``minirpn show KIND``: draw one stage picture into a PNG, PDF or SVG file.

    minirpn show KIND [--image PATH] [--box X1 Y1 X2 Y2] [--checkpoint RUN] [--out FILE]
    minirpn show data [--data DIR] [--split train|val] [--count N]

The photograph kinds (anchors, receptive-field) default to matplotlib's sample photograph
``grace_hopper.jpg`` (shipped with matplotlib, nothing to download) and rescale it as the
paper does, saying so in the title; the other kinds default to a validation image of the
toy data and draw its ground truth. An image of yours (``--image``) is read as ``minirpn
detect`` reads it (:func:`minirpn.runs.read_input_image`: its own size, its own pixel
coordinates) and has no ground truth: the kinds about one object ask for ``--box``, drawn
as "your box", the others draw none. An option a kind does not use is refused, never
silently ignored.

Everything this module needs from the model and the training code goes through
:func:`load_trained` and :func:`untrained_detector`, so that the
rest of the package does not depend on where those live.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

TOY_IMAGE_INDEX = 2  # a validation image with a triangle, a square and a bar
ERF_IMAGES = 8  # toy images the effective receptive field is averaged over
DATA_COUNT = 8  # images `show data` draws by default
SEED = 0
NONE, OPTIONAL, NEEDED = "none", "optional", "needed"  # how a kind uses a box or a model


# --------------------------------------------------------------------------- model access


def untrained_detector(num_classes: int = 4, seed: int = SEED):
    """The tiny detector with fixed-seed initial weights (``Config.tiny()``)."""
    from minirpn.config import Config
    from minirpn.model import Detector

    return Detector(Config.tiny(), num_classes=num_classes, seed=seed)


def load_trained(run):
    """``(detector, class_names)`` of the run folder or shipped weights ``run``
    (:func:`minirpn.runs.load_run`); ValueError if unusable."""
    from minirpn.runs import load_run

    run = load_run(run)
    return run.detector, run.class_names


# --------------------------------------------------------------------------- the kinds


class Inputs(NamedTuple):
    """What a kind draws from.

    images: (N, H, W, 3) uint8: the image drawn (and, for the ERF, the others it averages
    over); boxes (G, 4) the boxes on it and ``box_name`` what they are ("ground truth" for
    the toy image, "your box" for ``--box``); detector: the trained detector, or None;
    class_names of the trained run.
    """

    images: np.ndarray
    boxes: np.ndarray
    box_name: str
    detector: object | None
    class_names: tuple[str, ...]

    @property
    def image(self) -> np.ndarray:
        return self.images[0]

    @property
    def box(self) -> np.ndarray:
        from minirpn.visualize.scenes import largest_box

        return largest_box(self.boxes)


class Kind(NamedTuple):
    help: str
    photo: bool  # default image: the photograph (True) or a toy validation image
    model: str  # NONE: --checkpoint refused; OPTIONAL: drawn beside/with it; NEEDED
    box: str  # NONE: --box refused; OPTIONAL: drawn to compare; NEEDED with --image
    draw: object  # Inputs -> Figure


def _anchors(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.anchors_figure(inputs.image, untrained_detector())


def _receptive_field(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.receptive_field_figure(inputs.image, untrained_detector())


def _erf(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.erf_figure(inputs.images, untrained_detector(), inputs.detector)


def _mapping(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.mapping_figure(inputs.image, inputs.box, untrained_detector(), inputs.box_name)


def _labels(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.labels_figure(
        inputs.image, inputs.boxes, untrained_detector(), gt_name=inputs.box_name
    )


def _regression(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.regression_figure(
        inputs.image, inputs.boxes, untrained_detector(), gt_name=inputs.box_name
    )


def _proposals(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.proposals_figure(
        inputs.image, inputs.detector, _or_none(inputs.boxes), inputs.box_name
    )


def _roi_pool(inputs: Inputs):
    from minirpn.visualize import scenes

    detector = inputs.detector or untrained_detector()
    return scenes.roi_pool_figure(inputs.image, inputs.box, detector, inputs.box_name)


def _detections(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.detections_figure(
        inputs.image,
        inputs.detector,
        inputs.class_names,
        _or_none(inputs.boxes),
        inputs.box_name,
    )


def _or_none(boxes: np.ndarray) -> np.ndarray | None:
    return boxes if len(boxes) else None


KINDS = {
    "anchors": Kind(
        "the 9 anchors of one cell on the photograph (F7): VGG-16 at 600 px and the tiny model",
        True,
        NONE,
        NONE,
        _anchors,
    ),
    "receptive-field": Kind(
        "one cell's receptive field (F3) and centre (F4); size and stride layer by layer",
        True,
        NONE,
        NONE,
        _receptive_field,
    ),
    "erf": Kind(
        "effective receptive field as a heat map, untrained beside trained (--checkpoint)",
        False,
        OPTIONAL,
        NONE,
        _erf,
    ),
    "mapping": Kind(
        "a box projected onto the feature grid and its cells mapped back (F4, F18)",
        False,
        NONE,
        NEEDED,
        _mapping,
    ),
    "labels": Kind(
        "anchor labels (F8) and the sampled minibatch (F13) for the boxes of an image",
        False,
        NONE,
        NEEDED,
        _labels,
    ),
    "regression": Kind(
        "one positive anchor, its box, the targets t* (F10) and the box decoded back",
        False,
        NONE,
        NEEDED,
        _regression,
    ),
    "proposals": Kind(
        "proposals before NMS, after NMS and the final top N (F15, F16); needs --checkpoint",
        False,
        NEEDED,
        OPTIONAL,
        _proposals,
    ),
    "roi-pool": Kind(
        "one RoI on the feature map, its 7x7 sub-windows and maxima, the pooled grid (F18, F19)",
        False,
        OPTIONAL,
        NEEDED,
        _roi_pool,
    ),
    "detections": Kind(
        "the final detections of a trained model; needs --checkpoint",
        False,
        NEEDED,
        OPTIONAL,
        _detections,
    ),
    "data": Kind(
        "annotated images of a data folder (--data) with their class names: look before training",
        False,
        NONE,
        NONE,
        None,
    ),
}
BOX_ROLE = {
    "mapping": "the box to project onto the map",
    "labels": "the object whose anchors are labelled",
    "regression": "the object an anchor regresses to",
    "roi-pool": "the RoI to pool",
}


# --------------------------------------------------------------------------- command line


def add_show_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``show`` on the ``minirpn`` command's subparsers."""
    from minirpn.visualize import FIGURE_FORMATS

    lines = "\n".join(f"  {name:<16} {kind.help}" for name, kind in KINDS.items())
    parser = subparsers.add_parser(
        "show",
        help="draw a picture of one stage (anchors, receptive field, labels, ...) or of data",
        description=f"Draw a picture of one stage of Faster R-CNN, or of a data set, into a "
        f"file.\n\nkinds:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=list(KINDS), metavar="KIND", help="what to draw (above)")
    parser.add_argument(
        "--image",
        type=Path,
        metavar="PATH",
        help="an image of yours, at its own size (default: matplotlib's grace_hopper.jpg for "
        "anchors and receptive-field, a toy validation image and its ground truth for the others)",
    )
    parser.add_argument(
        "--box",
        type=float,
        nargs=4,
        metavar=("X1", "Y1", "X2", "Y2"),
        help="a box on --image, in its pixels: needed by mapping, labels, regression and "
        "roi-pool on your image, drawn for comparison by proposals and detections",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="RUN",
        help="a run folder of 'minirpn train', or 'toy' for the trained weights minirpn ships "
        "(./toy for a folder called toy): needed by proposals and detections, used by erf "
        "(trained beside untrained) and roi-pool (trained features; default: untrained)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help=f"output file, its format by its suffix: {', '.join(FIGURE_FORMATS)} "
        "(default: KIND.png)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="show data: a COCO or Pascal VOC folder, as train --data takes "
        "(default: the built-in toy data)",
    )
    parser.add_argument(
        "--split",
        choices=("train", "val"),
        help="show data: which split (default: train)",
    )
    parser.add_argument(
        "--count",
        type=int,
        metavar="N",
        help=f"show data: how many images, the first N (default: {DATA_COUNT})",
    )
    return parser


def run_show(args) -> int:
    """Draw ``args.kind`` and save it; errors a user can cause raise ValueError (one line),
    options the kind cannot use :class:`OptionError`."""
    from minirpn.visualize.axes import figure_format, save_figure

    kind = KINDS[args.kind]
    out = args.out or Path(f"{args.kind}.png")
    try:
        figure_format(out)
    except ValueError as error:
        _usage(f"--out: {error}")
    _check_options(args, kind)
    if args.kind == "data":
        figure = _data_figure(args)
    else:
        detector, class_names = (None, ())
        if args.checkpoint is not None:
            detector, class_names = load_trained(args.checkpoint)
        figure = kind.draw(_inputs(args, kind, detector, class_names))
    save_figure(figure, out)
    print(f"wrote {out}")
    return 0


class OptionError(ValueError):
    """Options that do not go together (``minirpn`` reports it as a usage error, exit 2)."""


def _usage(message: str):
    raise OptionError(f"{message} (see 'minirpn show --help')")


def _check_options(args, kind: Kind) -> None:
    """Refuse an option the kind does not use, and a kind missing what it needs."""
    name = f"'show {args.kind}'"
    if args.kind != "data":
        given = [flag for flag in ("data", "split", "count") if getattr(args, flag) is not None]
        if given:
            _usage(f"--{given[0]} is for 'show data', not {name}")
    elif args.image is not None:
        _usage("'show data' draws the images of --data: leave out --image")
    if args.count is not None and args.count < 1:
        _usage(f"--count must be a positive integer, got {args.count}")
    if kind.model == NONE and args.checkpoint is not None:
        _usage(
            f"{name} does not use a trained model (it depends only on the tiny preset's "
            "anchors and layers): leave out --checkpoint"
        )
    if kind.model == NEEDED and args.checkpoint is None:
        raise ValueError(
            f"'{args.kind}' needs a trained model: pass --checkpoint RUN (a run folder of "
            "'minirpn train', or toy for the weights minirpn ships)"
        )
    if args.box is not None and kind.box == NONE:
        _usage(f"{name} draws no box: leave out --box")
    if args.box is not None and args.image is None:
        _usage("--box is a box on your --image (the toy image has its own ground truth)")
    if kind.box == NEEDED and args.image is not None and args.box is None:
        _usage(f"{name} on your image needs --box X1 Y1 X2 Y2: {BOX_ROLE[args.kind]}")


def _inputs(args, kind: Kind, detector, class_names) -> Inputs:
    from minirpn.image import read_image
    from minirpn.runs import read_input_image

    if args.image is None and kind.photo:
        return Inputs(read_image(photograph_path())[None], np.zeros((0, 4)), "", None, ())
    if args.image is None:
        from minirpn.data import ToyShapes

        toy = ToyShapes("val")
        count = ERF_IMAGES if args.kind == "erf" else 1
        samples = [toy[TOY_IMAGE_INDEX + k] for k in range(count)]
        images = np.stack([sample.image for sample in samples])
        return Inputs(images, samples[0].boxes, "ground truth", detector, class_names)
    if kind.photo:
        image = read_image(args.image)
    else:
        image, note = read_input_image(args.image, detector or untrained_detector())
        if note is not None:
            print(f"minirpn: warning: {args.image}: {note}", file=sys.stderr)
    boxes = np.zeros((0, 4))
    if args.box is not None:
        boxes = user_box(args.box, image.shape[:2])[None]
    return Inputs(image[None], boxes, "your box", detector, class_names)


def user_box(box, image_size: tuple[int, int]) -> np.ndarray:
    """``--box`` checked against the image: finite and not inverted, not entirely outside;
    a box reaching outside is clipped to the image with a warning. ValueError otherwise."""
    height, width = image_size
    x1, y1, x2, y2 = (float(v) for v in box)
    shown = f"--box ({x1:g}, {y1:g}, {x2:g}, {y2:g})"
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"{shown} has a coordinate that is not a finite number")
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{shown} is inverted or empty: it needs X2 > X1 and Y2 > Y1")
    clipped = np.clip([x1, y1, x2, y2], 0, [width, height, width, height])
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(
            f"{shown} lies entirely outside the {width}x{height} image [0, {width}] x [0, {height}]"
        )
    if (clipped != [x1, y1, x2, y2]).any():
        print(
            f"minirpn: warning: {shown} reaches outside the {width}x{height} image; clipped to "
            f"({', '.join(f'{v:g}' for v in clipped)})",
            file=sys.stderr,
        )
    return clipped


def _data_figure(args):
    from minirpn.runs import open_split
    from minirpn.visualize.scenes import data_figure

    split = args.split or "train"
    dataset = open_split(args.data, split)
    if args.data is None:
        where = f"the built-in toy data, split {split}"
    else:
        from minirpn.data import data_format

        where = f"{data_format(args.data).upper()} folder {str(args.data)!r}, split {split}"
    return data_figure(dataset, args.count or DATA_COUNT, where)


def photograph_path() -> str:
    """matplotlib's sample photograph of Grace Hopper (512 x 600), installed with matplotlib."""
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
