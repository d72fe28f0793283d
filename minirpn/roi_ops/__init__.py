"""The RoI layers the second stage can use, by name: one registry read by everyone (F18, F19, F22).

An RoI layer cuts a fixed ``output_size`` grid out of the shared feature map for every RoI
``(batch_index, x1, y1, x2, y2)`` (image pixels, projected with ``1 / cfg.feat_stride``).
Each is a parameter-free :class:`~minirpn.nn.Layer` with

* ``forward(features, rois) -> (out, cache)``, out (R, C, ph, pw);
* ``backward(dout, cache, need_drois=False) -> (dfeatures, drois)``, drois (R, 5) or None;
* ``box_differentiable``: whether its output changes smoothly with the RoI corners, i.e.
  whether ``need_drois=True`` is allowed (what non-approximate joint training needs, F20 (3));
* ``from_config(cfg)``: the layer a :class:`~minirpn.config.Config` describes.

:data:`ROI_OPS` maps ``cfg.roi_op`` (and ``minirpn train --roi-op``) to the class; the config,
the command line and the training schemes all read it, and nothing else compares the names.
A new RoI layer is a module of its own in this package and one entry here.
"""

from __future__ import annotations

from minirpn.roi_ops.align import RoIAlign
from minirpn.roi_ops.pool import RoIPool

ROI_OPS = {op.name: op for op in (RoIPool, RoIAlign)}

__all__ = ["ROI_OPS", "RoIAlign", "RoIPool", "box_differentiable_ops", "make_roi_op"]


def make_roi_op(cfg):
    """The RoI layer named by ``cfg.roi_op``, with the config's settings."""
    return ROI_OPS[cfg.roi_op].from_config(cfg)


def box_differentiable_ops() -> list[str]:
    """Names of the RoI layers with a gradient for the RoI corners (sorted)."""
    return sorted(name for name, op in ROI_OPS.items() if op.box_differentiable)
