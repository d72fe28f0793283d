"""RoI max pooling as the paper's Fast R-CNN head uses it (F18, F19).

Caffe's exact rules (:func:`minirpn.ops.roi_pool`): the corners times the spatial scale are
rounded to cells, the RoI is cut into ``output_size`` bins with floor/ceil edges, and each bin
keeps its maximum. The rounding makes the output piecewise constant in the RoI corners, so
the layer has no gradient for them (``box_differentiable = False``): the gradient of each bin
goes to the cell that won its maximum, nowhere else.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.nn import Layer
from minirpn.ops import roi_pool, roi_pool_backward


class RoIPoolCache(NamedTuple):
    rois: np.ndarray  # (R, 5)
    argmax: np.ndarray  # (R, C, ph, pw) int32: flat cell index of each bin's maximum, -1 if empty
    features_shape: tuple[int, int, int, int]  # (N, C, H, W)


class RoIPool(Layer):
    """RoI max pooling (F19) to ``output_size`` bins at ``spatial_scale`` (1 / stride, F18)."""

    name = "pool"
    box_differentiable = False

    def __init__(self, output_size: int, spatial_scale: float):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    @classmethod
    def from_config(cls, cfg) -> RoIPool:
        """``cfg.roi_pool_size`` bins at scale ``1 / cfg.feat_stride``."""
        return cls(cfg.roi_pool_size, 1.0 / cfg.feat_stride)

    def forward(self, features, rois):
        """features (N, C, H, W), rois (R, 5) -> (out (R, C, ph, pw), cache)."""
        out, argmax = roi_pool(features, rois, self.output_size, self.spatial_scale)
        return out, RoIPoolCache(rois, argmax, features.shape)

    def backward(self, dout, cache: RoIPoolCache, need_drois: bool = False):
        """-> ``(dfeatures (N, C, H, W), None)``; ``need_drois`` raises ValueError (see module)."""
        if need_drois:
            raise ValueError(
                f"the RoI layer {self.name!r} has no gradient for the box coordinates (it "
                "rounds them to cells); use a box-differentiable RoI layer such as 'align'"
            )
        return roi_pool_backward(dout, cache.rois, cache.argmax, cache.features_shape), None
