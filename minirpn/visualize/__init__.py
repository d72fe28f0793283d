"""Pictures of minirpn: detections drawn into pixels, and a matplotlib picture of every stage.

* :mod:`minirpn.visualize.raster` draws boxes straight into an image array with Pillow
  (:func:`draw_detections`, :func:`image_grid`, :func:`save_png`) and plots the training
  losses (:func:`plot_loss_curves`): what the run folder and ``minirpn detect`` write.
* :mod:`minirpn.visualize.stages` draws each stage of Faster R-CNN onto a matplotlib Axes
  from the package's own arrays: :func:`draw_anchors` (F7), :func:`draw_receptive_field`
  and :func:`draw_receptive_field_growth` (F3, F4), :func:`draw_effective_receptive_field`,
  :func:`draw_mapping_image` / :func:`draw_mapping_map` (F4, F18), :func:`draw_minibatch`
  and :func:`draw_label_map` (F8, F13), :func:`draw_regression` (F10),
  :func:`draw_proposals` (F15, F16), :func:`draw_roi_bins` / :func:`draw_pooled` (F18, F19),
  :func:`draw_detection_boxes`.
* :mod:`minirpn.visualize.scenes` runs the stages on one image and draws them
  (``anchors_figure``, ``labels_figure``, ...; what ``minirpn show KIND`` saves), and
  :func:`write_stage_pictures` puts three of them into a run folder.
* :mod:`minirpn.visualize.charts` draws numbers the lessons compute (map sizes, timings,
  activation scale through depth).
* :mod:`minirpn.visualize.axes` holds what they share (:func:`save_figure`, :func:`boxes_of`).

The matplotlib modules load on first use, so importing this package stays cheap.
"""

import importlib

from minirpn.visualize.raster import (
    PALETTE,
    class_color,
    draw_detections,
    image_grid,
    plot_loss_curves,
    save_png,
)

_LAZY = {
    "minirpn.visualize.stages": (
        "draw_anchors",
        "draw_detection_boxes",
        "draw_effective_receptive_field",
        "draw_label_map",
        "draw_mapping_image",
        "draw_mapping_map",
        "draw_minibatch",
        "draw_pooled",
        "draw_proposals",
        "draw_receptive_field",
        "draw_receptive_field_growth",
        "draw_regression",
        "draw_roi_bins",
    ),
    "minirpn.visualize.scenes": ("write_stage_pictures",),
    "minirpn.visualize.axes": ("boxes_of", "save_figure"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "PALETTE",
    "class_color",
    "draw_detections",
    "image_grid",
    "plot_loss_curves",
    "save_png",
    *_MODULE_OF,
]


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module 'minirpn.visualize' has no attribute {name!r}")
