"""Box and RoI operations of the detector: IoU, NMS, RoI pooling.

Every function validates its inputs with ``minirpn.ops._validate`` and has a NumPy twin of
the same signature in ``minirpn.ops.reference``, whose docstrings define the semantics.
"""
from minirpn.ops.reference import batched_nms, box_iou, nms, roi_pool, roi_pool_backward

__all__ = ["box_iou", "nms", "batched_nms", "roi_pool", "roi_pool_backward"]
