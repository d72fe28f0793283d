"""Pictures of minirpn, each a function drawing on a matplotlib Axes from the package's arrays.

* :mod:`minirpn.visualize.stages` draws each stage of Faster R-CNN: :func:`draw_anchors`
  (F7), :func:`draw_receptive_field` and :func:`draw_receptive_field_growth` (F3, F4),
  :func:`draw_effective_receptive_field`, :func:`draw_mapping_image` /
  :func:`draw_mapping_map` (F4, F18), :func:`draw_minibatch` and :func:`draw_label_map`
  (F8, F13), :func:`draw_regression` (F10), :func:`draw_proposals` (F15, F16).
* :mod:`minirpn.visualize.pooling` draws RoI pooling (F18, F19): :func:`draw_roi_bins`,
  :func:`draw_roi_bin_tiles`, :func:`draw_pooled`.
* :mod:`minirpn.visualize.detections` draws boxes with class names:
  :func:`draw_detection_boxes` (the detector's) and :func:`draw_annotations` (a data set's).
* :mod:`minirpn.visualize.curves` draws training: :func:`draw_loss_curves`, and
  :func:`plot_loss_curves` saves the run folder's ``loss_curve.png``.
* :mod:`minirpn.visualize.scenes` runs the stages on one image and draws them
  (``anchors_figure``, ``labels_figure``, ...; what ``minirpn show KIND`` saves), and
  :func:`write_stage_pictures` puts three of them into a run folder.
* :mod:`minirpn.visualize.charts` draws numbers the lessons compute (map sizes, timings,
  activation scale through depth).
* :mod:`minirpn.visualize.axes` holds what they share (:func:`save_figure`, :func:`boxes_of`,
  :func:`add_tags`, the class colours).

The modules load on first use, so importing this package loads neither NumPy nor matplotlib.
"""

import importlib

# What the command line needs before matplotlib loads (``minirpn show --help``, detect's
# option): constants here, the drawing in the modules.
DRAW_SCORE_THRESH = 0.5  # detections drawn by default: the confident ones
FIGURE_FORMATS = ("png", "pdf", "svg")  # what save_figure writes, by the file's suffix

_LAZY = {
    "minirpn.visualize.stages": (
        "draw_anchors",
        "draw_effective_receptive_field",
        "draw_label_map",
        "draw_mapping_image",
        "draw_mapping_map",
        "draw_minibatch",
        "draw_proposals",
        "draw_receptive_field",
        "draw_receptive_field_growth",
        "draw_regression",
    ),
    "minirpn.visualize.pooling": ("draw_pooled", "draw_roi_bin_tiles", "draw_roi_bins"),
    "minirpn.visualize.detections": ("draw_annotations", "draw_detection_boxes"),
    "minirpn.visualize.curves": ("draw_loss_curves", "plot_loss_curves"),
    "minirpn.visualize.scenes": ("write_stage_pictures",),
    "minirpn.visualize.axes": (
        "PALETTE",
        "add_tags",
        "boxes_of",
        "class_color",
        "save_figure",
    ),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["DRAW_SCORE_THRESH", "FIGURE_FORMATS", *_MODULE_OF]


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module 'minirpn.visualize' has no attribute {name!r}")
