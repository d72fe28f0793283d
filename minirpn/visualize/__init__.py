"""Pictures of minirpn: detections drawn into pixels, and a matplotlib picture of every stage.

* :mod:`minirpn.visualize.raster` draws boxes straight into an image array with Pillow
  (:func:`draw_detections`, :func:`image_grid`, :func:`save_png`) and plots the training
  losses (:func:`plot_loss_curves`): what the run folder and ``minirpn detect`` write.
"""

from minirpn.visualize.raster import (
    PALETTE,
    class_color,
    draw_detections,
    image_grid,
    plot_loss_curves,
    save_png,
)

__all__ = [
    "PALETTE",
    "class_color",
    "draw_detections",
    "image_grid",
    "plot_loss_curves",
    "save_png",
]
