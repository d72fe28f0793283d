"""Box and RoI operations of the detector: IoU (F9), NMS (F16), RoI pooling (F18, F19) and
RoIAlign (F18, F22).

These are the fast versions: thin wrappers that validate and convert the inputs (with
``minirpn.ops._validate``) and call the Cython kernels in ``kernels/``. Each has a NumPy twin
with the same signature and the same results in ``minirpn.ops.reference``; the twins'
docstrings are the full definitions (NaN handling included), and the tests check that both
agree. Boxes are continuous corners ``(x1, y1, x2, y2)``, width ``x2 - x1``.
"""

import numpy as np

from minirpn._kernels import boxes as _boxes
from minirpn._kernels import roi_align as _roi_align
from minirpn._kernels import roi_pool as _roi_pool
from minirpn.ops import _validate
from minirpn.ops.geometry import score_order

# Up to this max_output, NMS tests each box against the kept ones near it (greedy_nms_top:
# no sort of all boxes, at most max_output IoUs per box visited, a kept box's insertion in
# centre order moves at most max_output entries); above it, greedy_nms's sort of all boxes
# pays.
TOP_NMS_LIMIT = 2000

# Padding of each cell of the channels-last gradient buffer of roi_align_backward.
CELL_PADDING = 8

__all__ = [
    "box_iou",
    "nms",
    "batched_nms",
    "roi_pool",
    "roi_pool_backward",
    "roi_align",
    "roi_align_backward",
]


def box_iou(boxes1, boxes2):
    """IoU of every pair (F9): boxes1 (N, 4), boxes2 (K, 4) -> (N, K).

    float32 out if both inputs are float32, else float64. Zero-area, inverted and non-finite
    boxes give IoU 0. See ``minirpn.ops.reference.box_iou``.
    """
    boxes1 = _validate.check_boxes("boxes1", boxes1)
    boxes2 = _validate.check_boxes("boxes2", boxes2)
    dtype = np.result_type(boxes1, boxes2)
    out = np.empty((len(boxes1), len(boxes2)), dtype=dtype)
    _boxes.box_iou(boxes1.astype(dtype, copy=False), boxes2.astype(dtype, copy=False), out)
    return out


def nms(boxes, scores, iou_threshold, max_output=None):
    """Greedy NMS (F16): boxes (N, 4), scores (N,), threshold >= 0 -> keep (M,) int64.

    Kept indices in decreasing score order (ties: lower index first); a box is dropped when
    its IoU with a kept, higher-ranked box is > threshold. ``max_output`` (an int >= 0, or
    None for all) stops after that many are kept: the first ones of the full result, at a
    fraction of the work. NaN scores raise ``ValueError``. See ``minirpn.ops.reference.nms``.
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)
    max_output = _validate.check_max_output("max_output", max_output, len(boxes))
    return _sorted_nms(boxes, scores, np.zeros(len(boxes)), iou_threshold, max_output)


def batched_nms(boxes, scores, class_ids, iou_threshold, max_output=None):
    """NMS within each class: boxes (N, 4), scores (N,), class_ids (N,) int -> keep (M,) int64.

    Kept indices in decreasing score order over all classes; ``max_output`` as for
    :func:`nms`. See ``minirpn.ops.reference.batched_nms``.
    """
    boxes = _validate.check_boxes("boxes", boxes)
    scores = _validate.check_scores("scores", scores, len(boxes))
    class_ids = _validate.check_class_ids("class_ids", class_ids, len(boxes))
    iou_threshold = _validate.check_iou_threshold("iou_threshold", iou_threshold)
    max_output = _validate.check_max_output("max_output", max_output, len(boxes))
    # The classes numbered 0, 1, ... as float64: exact, and compared in the kernels' SIMD loops.
    classes = np.unique(class_ids, return_inverse=True)[1].astype(np.float64)
    return _sorted_nms(boxes, scores, classes, iou_threshold, max_output)


def _sorted_nms(boxes, scores, classes, iou_threshold, max_output):
    """Sort once by score and run the kernel that suits ``max_output``; indices into ``boxes``."""
    order = score_order(scores)
    if max_output <= TOP_NMS_LIMIT:
        return _boxes.greedy_nms_top(boxes, order, classes, iou_threshold, max_output)
    # float64 whatever the input, as in the twin: which boxes survive must not depend on
    # float32 rounding of IoUs that sit right at the threshold.
    kept_ranks = _boxes.greedy_nms(
        boxes[order].astype(np.float64), classes[order], iou_threshold, max_output
    )
    return order[kept_ranks]


def roi_pool(features, rois, output_size, spatial_scale):
    """Caffe RoI max pooling (F18, F19).

    Args:
        features: (N, C, H, W) float32/float64.
        rois: (R, 5) rows ``(batch_index, x1, y1, x2, y2)`` in image coordinates.
        output_size: int or ``(pooled_height, pooled_width)``.
        spatial_scale: float > 0 (1/16 for VGG16).
    Returns:
        out (R, C, ph, pw) in the features' dtype, argmax (R, C, ph, pw) int32 (``h * W + w``,
        -1 for an empty bin). See ``minirpn.ops.reference.roi_pool``.
    """
    features, batch_index, coords, output_size, spatial_scale = _validate.check_roi_pool_args(
        features, rois, output_size, spatial_scale
    )
    shape = (len(coords), features.shape[1]) + output_size
    out = np.empty(shape, dtype=features.dtype)
    argmax = np.empty(shape, dtype=np.int32)
    has_nan = bool(np.isnan(features.max()))  # max is NaN iff some value is
    _roi_pool.roi_pool_forward(features, batch_index, coords, spatial_scale, out, argmax, has_nan)
    return out, argmax


def roi_pool_backward(grad_out, rois, argmax, features_shape):
    """Gradient of ``roi_pool`` w.r.t. the features: each bin's gradient is added at its argmax.

    Args:
        grad_out: (R, C, ph, pw) float; rois: (R, 5) as given to ``roi_pool``;
        argmax: (R, C, ph, pw) int32 from ``roi_pool``; features_shape: ``(N, C, H, W)``.
    Returns:
        grad_features (N, C, H, W) in the dtype of ``grad_out``. See
        ``minirpn.ops.reference.roi_pool_backward``.
    """
    grad_out, argmax, batch_index, features_shape = _validate.check_roi_pool_grad(
        grad_out, argmax, rois, features_shape
    )
    batch, channels, height, width = features_shape
    grad_features = np.zeros((batch, channels, height * width), dtype=grad_out.dtype)
    if _roi_pool.roi_pool_backward(grad_out, batch_index, argmax, grad_features):
        _validate.check_argmax_range(argmax, features_shape)  # raises, naming the bad value
    return grad_features.reshape(features_shape)


def roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned=True):
    """RoIAlign with torchvision's semantics (F18, F22): each bin the mean of a fixed
    ``sampling_ratio x sampling_ratio`` grid of bilinear samples.

    Args:
        features: (N, C, H, W) float32/float64.
        rois: (R, 5) rows ``(batch_index, x1, y1, x2, y2)`` in image coordinates.
        output_size: int or ``(pooled_height, pooled_width)``.
        spatial_scale: float > 0; sampling_ratio: int >= 1 (no adaptive grid).
        aligned: True shifts the projected corners by -0.5 (pixel centres); False is the
            legacy geometry, RoIs stretched to at least one cell.
    Returns:
        out (R, C, ph, pw) in the features' dtype. See ``minirpn.ops.reference.roi_align``.
    """
    features, batch_index, coords, output_size, scale, ratio, aligned = (
        _validate.check_roi_align_args(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned
        )
    )
    out = np.empty((len(coords), features.shape[1]) + output_size, dtype=features.dtype)
    # Channels last, (N, H, W, C): the kernel's innermost loops run over channels in SIMD.
    features_nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))
    _roi_align.roi_align_forward(features_nhwc, batch_index, coords, scale, ratio, aligned, out)
    return out


def roi_align_backward(
    grad_out, features, rois, output_size, spatial_scale, sampling_ratio, aligned=True
):
    """Gradients of ``roi_align`` w.r.t. the features and the RoI corners (F22; for F20).

    Args:
        grad_out: (R, C, ph, pw) gradient of the loss w.r.t. the output of ``roi_align``.
        features, rois, output_size, spatial_scale, sampling_ratio, aligned: as given to
            ``roi_align``.
    Returns:
        dfeatures (N, C, H, W) in the features' dtype; drois (R, 5) float64, columns
        ``(0, dx1, dy1, dx2, dy2)``. At the kinks of the piecewise-smooth output the rule of
        ``minirpn.ops.reference.roi_align_axis`` applies.
    """
    features, batch_index, coords, output_size, scale, ratio, aligned = (
        _validate.check_roi_align_args(
            features, rois, output_size, spatial_scale, sampling_ratio, aligned
        )
    )
    shape = (len(coords), features.shape[1]) + output_size
    grad_out = _validate.check_roi_align_grad(grad_out, shape, features.dtype)
    batch, channels, height, width = features.shape
    features_nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))
    # Each cell padded by CELL_PADDING values: transposing back to NCHW then reads at a
    # stride that is not a power of two (512 float32 channels = 2 KiB, where every read of
    # the transpose lands in the same few cache sets, which makes the copy much slower).
    grad_nhwc = np.zeros((batch, height, width, channels + CELL_PADDING), dtype=features.dtype)
    drois = np.zeros((len(coords), 5))
    _roi_align.roi_align_backward(
        grad_out, features_nhwc, batch_index, coords, scale, ratio, aligned, grad_nhwc, drois
    )
    dfeatures = np.ascontiguousarray(grad_nhwc[..., :channels].transpose(0, 3, 1, 2))
    return dfeatures, drois
