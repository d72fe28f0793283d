"""Detection data: the built-in toy shapes, and COCO or Pascal VOC folders on disk.

Every dataset hands out the same :class:`Sample` (:mod:`minirpn.data.base`): an RGB image
and its boxes in the project's convention, continuous corners ``(x1, y1, x2, y2)`` where
pixel ``i`` spans ``[i, i + 1)``, labels ``1 .. C`` (``0`` is the background of the
detector's second stage, F17). One module per source:

* :mod:`minirpn.data.toy` -- :class:`ToyShapes`, drawn on the fly with Pillow from
  ``(seed, split, index)`` (nothing to download), and :func:`make_toy_data`;
* :mod:`minirpn.data.coco` -- :class:`CocoDataset` and :func:`write_coco`;
* :mod:`minirpn.data.voc` -- :class:`VocDataset` and :func:`write_voc`;
* :mod:`minirpn.data.folders` -- :func:`open_folder`, a split of a folder in either layout.

Both readers collect every bad annotation as a :class:`Problem` (file, annotation, what is
wrong); :mod:`minirpn.datacheck` adds the checks that need the images. This package
re-exports the public names of its modules: ``from minirpn.data import ToyShapes``.
"""

from minirpn.data.base import (
    NO_BOXES,
    NO_LABELS,
    DataError,
    ImageRecord,
    Problem,
    Sample,
    clip_to_image,
)
from minirpn.data.coco import COCO_IMAGE_DIR, COCO_JSON_NAME, CocoDataset, write_coco
from minirpn.data.folders import DATA_FORMATS, data_format, open_folder
from minirpn.data.toy import (
    BACKGROUND_NOISE_STD,
    BAR,
    CIRCLE,
    COLOR_TRIES,
    GRADIENT_SPREAD,
    LINE_SHADE,
    MAX_BAR_ASPECT,
    MAX_BOX_IOU,
    MAX_LINES,
    MAX_OBJECTS,
    MAX_SIZE,
    MIN_BAR_ASPECT,
    MIN_BAR_LENGTH,
    MIN_CONTRAST,
    MIN_GAP,
    MIN_LINES,
    MIN_OBJECTS,
    MIN_SIZE,
    PLACEMENT_TRIES,
    SQUARE,
    TOY_CLASS_NAMES,
    TOY_IMAGE_SIZE,
    TOY_SPLIT_SIZES,
    TRIANGLE,
    ToyRendering,
    ToyShapes,
    make_toy_data,
    mask_to_box,
)
from minirpn.data.voc import (
    VOC_ANNOTATION_DIR,
    VOC_CLASSES_NAME,
    VOC_IMAGE_DIR,
    VOC_SPLIT_DIR,
    VocDataset,
    write_voc,
)

__all__ = [
    "BACKGROUND_NOISE_STD",
    "BAR",
    "CIRCLE",
    "COCO_IMAGE_DIR",
    "COCO_JSON_NAME",
    "COLOR_TRIES",
    "DATA_FORMATS",
    "GRADIENT_SPREAD",
    "LINE_SHADE",
    "MAX_BAR_ASPECT",
    "MAX_BOX_IOU",
    "MAX_LINES",
    "MAX_OBJECTS",
    "MAX_SIZE",
    "MIN_BAR_ASPECT",
    "MIN_BAR_LENGTH",
    "MIN_CONTRAST",
    "MIN_GAP",
    "MIN_LINES",
    "MIN_OBJECTS",
    "MIN_SIZE",
    "NO_BOXES",
    "NO_LABELS",
    "PLACEMENT_TRIES",
    "SQUARE",
    "TOY_CLASS_NAMES",
    "TOY_IMAGE_SIZE",
    "TOY_SPLIT_SIZES",
    "TRIANGLE",
    "VOC_ANNOTATION_DIR",
    "VOC_CLASSES_NAME",
    "VOC_IMAGE_DIR",
    "VOC_SPLIT_DIR",
    "CocoDataset",
    "DataError",
    "ImageRecord",
    "Problem",
    "Sample",
    "ToyRendering",
    "ToyShapes",
    "VocDataset",
    "clip_to_image",
    "data_format",
    "make_toy_data",
    "mask_to_box",
    "open_folder",
    "write_coco",
    "write_voc",
]
