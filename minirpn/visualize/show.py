"""``minirpn show KIND``: draw one stage picture into a PNG.

    minirpn show KIND [--image PATH] [--box X1 Y1 X2 Y2] [--checkpoint RUN] [--out PNG]

The photograph kinds (anchors, receptive-field) default to matplotlib's sample photograph
``grace_hopper.jpg`` (shipped with matplotlib, nothing to download) and rescale it as the
paper does; the toy kinds default to a validation image of the toy data, whose ground
truth they draw. Another image (``--image``) has no ground truth: ``--box`` gives one
(default: the central half of the image).

Everything this module needs from the model and the training code goes through
:func:`load_trained` and :func:`untrained_detector`, so that the
rest of the package does not depend on where those live.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np

TOY_IMAGE_INDEX = 2  # a validation image with a triangle, a square and a bar
TOY_MAX_SIDE = 512  # toy kinds run the tiny network at the image's size, up to this
SEED = 0


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

    image: (H, W, 3) uint8; boxes (G, 4) and labels (G,) its ground truth (labels 0 when
    unknown); detector: the trained detector, or None; class_names of the trained run.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    detector: object | None
    class_names: tuple[str, ...]


class Kind(NamedTuple):
    help: str
    photo: bool  # default image: the photograph (True) or a toy validation image
    needs_run: bool  # needs --checkpoint
    draw: object  # Inputs -> Figure


def _anchors(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.anchors_figure(inputs.image, inputs.detector or untrained_detector())


def _receptive_field(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.receptive_field_figure(inputs.image, inputs.detector or untrained_detector())


def _erf(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.erf_figure(inputs.image, untrained_detector(), inputs.detector)


def _mapping(inputs: Inputs):
    from minirpn.visualize import scenes

    box = scenes.largest_box(inputs.boxes)
    return scenes.mapping_figure(inputs.image, box, inputs.detector or untrained_detector())


def _labels(inputs: Inputs):
    from minirpn.visualize import scenes

    detector = inputs.detector or untrained_detector()
    return scenes.labels_figure(inputs.image, inputs.boxes, detector)


def _regression(inputs: Inputs):
    from minirpn.visualize import scenes

    detector = inputs.detector or untrained_detector()
    return scenes.regression_figure(inputs.image, inputs.boxes, detector)


def _proposals(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.proposals_figure(inputs.image, inputs.detector, inputs.boxes)


def _roi_pool(inputs: Inputs):
    from minirpn.visualize import scenes

    box = scenes.largest_box(inputs.boxes)
    return scenes.roi_pool_figure(inputs.image, box, inputs.detector or untrained_detector())


def _detections(inputs: Inputs):
    from minirpn.visualize import scenes

    return scenes.detections_figure(inputs.image, inputs.detector, inputs.class_names, inputs.boxes)


KINDS = {
    "anchors": Kind(
        "the 9 anchors of one cell on the photograph (F7): VGG-16 at 600 px and the tiny model",
        True,
        False,
        _anchors,
    ),
    "receptive-field": Kind(
        "one cell's receptive field (F3) and centre (F4); size and stride layer by layer",
        True,
        False,
        _receptive_field,
    ),
    "erf": Kind(
        "effective receptive field as a heat map, untrained beside trained (--checkpoint)",
        False,
        False,
        _erf,
    ),
    "mapping": Kind(
        "a box projected onto the feature grid and its cells mapped back (F4, F18)",
        False,
        False,
        _mapping,
    ),
    "labels": Kind(
        "anchor labels (F8) and the sampled minibatch (F13) on a toy image",
        False,
        False,
        _labels,
    ),
    "regression": Kind(
        "one positive anchor, its ground truth, the targets t* (F10) and the box decoded back",
        False,
        False,
        _regression,
    ),
    "proposals": Kind(
        "proposals before NMS, after NMS and the final top N (F15, F16); needs --checkpoint",
        False,
        True,
        _proposals,
    ),
    "roi-pool": Kind(
        "one RoI on the feature map, its 7x7 sub-windows and maxima, the pooled grid (F18, F19)",
        False,
        False,
        _roi_pool,
    ),
    "detections": Kind(
        "the final detections of a trained model; needs --checkpoint", False, True, _detections
    ),
}


# --------------------------------------------------------------------------- command line


def add_show_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``show`` on the ``minirpn`` command's subparsers."""
    lines = "\n".join(f"  {name:<16} {kind.help}" for name, kind in KINDS.items())
    parser = subparsers.add_parser(
        "show",
        help="draw a picture of one stage (anchors, receptive field, labels, ...)",
        description=f"Draw a picture of one stage of Faster R-CNN into a PNG.\n\nkinds:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=list(KINDS), metavar="KIND", help="what to draw (above)")
    parser.add_argument(
        "--image",
        type=Path,
        metavar="PATH",
        help="an RGB image (default: matplotlib's grace_hopper.jpg for the photograph kinds, "
        "a toy validation image for the others)",
    )
    parser.add_argument(
        "--box",
        type=float,
        nargs=4,
        metavar=("X1", "Y1", "X2", "Y2"),
        help="a ground-truth box for --image, in its pixels (default: its central half)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="RUN",
        help="a run folder of 'minirpn train', or 'toy' for the trained weights minirpn ships "
        "(./toy for a folder called toy); needed by proposals and detections, "
        "erf, labels, regression, mapping and roi-pool use it when given",
    )
    parser.add_argument("--out", type=Path, metavar="PNG", help="output file (default: KIND.png)")
    return parser


def run_show(args) -> int:
    """Draw ``args.kind`` and save it; errors a user can cause raise ValueError (one line)."""
    from minirpn.visualize.axes import save_figure

    kind = KINDS[args.kind]
    if kind.needs_run and args.checkpoint is None:
        raise ValueError(
            f"'{args.kind}' needs a trained model: pass --checkpoint RUN (a run folder of "
            "'minirpn train', or toy for the weights minirpn ships)"
        )
    detector, class_names = (None, ())
    if args.checkpoint is not None:
        detector, class_names = load_trained(args.checkpoint)
    inputs = _inputs(args, kind, detector, class_names)
    figure = kind.draw(inputs)
    out = args.out or Path(f"{args.kind}.png")
    save_figure(figure, out)
    print(f"wrote {out}")
    return 0


def _inputs(args, kind: Kind, detector, class_names) -> Inputs:
    from minirpn.image import read_image

    min_side = (detector or untrained_detector()).min_image_size
    if args.image is None and kind.photo:
        image, boxes = read_image(photograph_path()), None
    elif args.image is None:
        from minirpn.data import ToyShapes

        sample = ToyShapes("val")[TOY_IMAGE_INDEX]
        return Inputs(sample.image, sample.boxes, sample.labels, detector, class_names)
    else:
        image, boxes = read_image(args.image), None
    height, width = image.shape[:2]
    if min(height, width) < min_side:
        raise ValueError(
            f"image {str(args.image)!r} is {width}x{height} pixels; the network needs at least "
            f"{min_side}x{min_side}"
        )
    if args.box is not None:
        boxes = np.asarray([args.box], dtype=np.float64)
        from minirpn.boxes import check_boxes

        check_boxes(boxes, "--box", (height, width))
    elif boxes is None:
        boxes = np.asarray([[width / 4, height / 4, 3 * width / 4, 3 * height / 4]])
    if not kind.photo and max(height, width) > TOY_MAX_SIDE:
        from minirpn.visualize.scenes import resize

        image, scale = resize(image, TOY_MAX_SIDE / max(height, width))
        boxes = boxes * scale
        if min(image.shape[:2]) < min_side:
            raise ValueError(
                f"image {str(args.image)!r} is {width}x{height} pixels; shrunk to "
                f"{TOY_MAX_SIDE} px on its long side it is narrower than the network's "
                f"minimum {min_side}"
            )
    labels = np.zeros(len(boxes), dtype=np.int64)
    return Inputs(image, boxes, labels, detector, class_names)


def photograph_path() -> str:
    """matplotlib's sample photograph of Grace Hopper (512 x 600), installed with matplotlib."""
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
