"""RoIAlign: each bin the mean of bilinear samples, no rounding anywhere (F18, F22).

torchvision's semantics (:func:`minirpn.ops.roi_align`): the RoI is projected with the
spatial scale (shifted by half a cell when ``aligned``), cut into ``output_size`` bins of
equal real size, and each bin averages a ``sampling_ratio`` x ``sampling_ratio`` grid of
bilinearly interpolated samples. Nothing is rounded, so the output is a smooth function of
the corners almost everywhere and the layer returns their gradient on request
(``box_differentiable = True``), which non-approximate joint training (F20 (3)) sends
into the RPN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.nn import Layer
from minirpn.ops import roi_align, roi_align_backward


class RoIAlignCache(NamedTuple):
    rois: np.ndarray  # (R, 5)
    features: np.ndarray  # (N, C, H, W): the backward interpolates from it


class RoIAlign(Layer):
    """RoIAlign to ``output_size`` bins at ``spatial_scale`` with ``sampling_ratio``² samples."""

    name = "align"
    box_differentiable = True

    def __init__(
        self, output_size: int, spatial_scale: float, sampling_ratio: int, aligned: bool = True
    ):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    @classmethod
    def from_config(cls, cfg) -> RoIAlign:
        """``cfg.roi_pool_size`` bins, scale ``1 / cfg.feat_stride``,
        ``cfg.roi_align_sampling_ratio`` and ``cfg.roi_align_aligned``."""
        return cls(
            cfg.roi_pool_size,
            1.0 / cfg.feat_stride,
            cfg.roi_align_sampling_ratio,
            cfg.roi_align_aligned,
        )

    def _args(self):
        return self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned

    def forward(self, features, rois):
        """features (N, C, H, W), rois (R, 5) -> (out (R, C, ph, pw), cache)."""
        return roi_align(features, rois, *self._args()), RoIAlignCache(rois, features)

    def backward(self, dout, cache: RoIAlignCache, need_drois: bool = False):
        """-> ``(dfeatures (N, C, H, W), drois)``: drois (R, 5) in the features' dtype,
        columns ``(0, dx1, dy1, dx2, dy2)``, when ``need_drois``, else None."""
        dfeatures, drois = roi_align_backward(dout, cache.features, cache.rois, *self._args())
        return dfeatures, (drois.astype(dfeatures.dtype, copy=False) if need_drois else None)
