"""Input checks shared by ``minirpn.ops`` (Cython kernels) and ``minirpn.ops.reference``.

Both front ends call these helpers, so a bad argument gets the same ``ValueError`` (or
``TypeError``) whichever implementation is used, and both receive identical, C-contiguous
arrays. Every message names the argument and shows the offending value.
"""

import numbers

import numpy as np

# Cells per channel of a feature map; argmax indices of RoI pooling are 32-bit in the kernel.
MAX_MAP_CELLS = 2**31 - 1

# Box and RoI coordinates larger than this are rejected: their areas (a product of two
# differences) would overflow float64 to inf, and inf / inf is NaN.
MAX_ABS_COORDINATE = 1e150
# The same bound for float32 boxes, whose IoU is computed in float32 (largest ~3.4e38).
MAX_ABS_COORDINATE_FLOAT32 = 1e18

# RoI layers. Map cells per image pixel: 1/16 for VGG-16, 1 for a map at the image's
# resolution; 1024 leaves room for upsampled maps and keeps RoIAlign's coordinate gradient
# (spatial_scale times feature differences) far from float32's limit.
MAX_SPATIAL_SCALE = 1024.0
# RoI corners projected onto the map (coordinate x spatial_scale): below 2**52 a float64
# still holds every half cell, so rounding to cells and the kernels' conversions to integer
# cells are exact (the twin's and the kernel's bins stay the same).
MAX_MAP_COORDINATE = 2.0**52
# Output grid sides and RoIAlign samples per bin side: far above the 7 x 7 grid and the
# 2 samples of the detectors, small enough that a bin's sums (up to 1024**2 samples) and a
# RoI's (256 x 256 bins) stay exact in their counts and finite in float32 (see below).
MAX_OUTPUT_SIDE = 256
MAX_SAMPLING_RATIO = 1024
# RoIAlign sums products of features, gradients and spatial_scale over up to 256 x 256
# bins; the kernel does so in the features' precision, the twin in float64. Below these
# magnitudes neither can overflow, so both give the same finite numbers; NaN and inf are
# refused, since a product with a zero weight (0 * inf) would spread them differently.
MAX_ABS_VALUE = {np.dtype(np.float32): 1e12, np.dtype(np.float64): 1e100}


def as_float_array(name, value):
    """Return ``value`` as a C-contiguous float array: float32 stays float32, all else float64.

    Booleans are refused: a bool array where coordinates or scores belong is a mistake
    (a mask passed instead of the values), not numbers 0 and 1.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    return np.ascontiguousarray(array, dtype=dtype)


def check_boxes(name, boxes):
    """Validate boxes of shape (N, 4) as ``(x1, y1, x2, y2)``; return a contiguous float array.

    NaN and infinite coordinates are allowed (the ops treat such a box as empty); finite
    coordinates beyond ``MAX_ABS_COORDINATE`` (``MAX_ABS_COORDINATE_FLOAT32`` for float32
    boxes) are rejected.
    """
    boxes = as_float_array(name, boxes)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got shape {boxes.shape}")
    limit = MAX_ABS_COORDINATE_FLOAT32 if boxes.dtype == np.float32 else MAX_ABS_COORDINATE
    if boxes.size == 0 or float(np.abs(boxes).max()) <= limit:
        return boxes  # the common case, in one pass; NaN and inf fail the test and go on
    finite = boxes[np.isfinite(boxes)]
    largest = float(np.abs(finite).max()) if finite.size else 0.0
    if largest > limit:
        raise ValueError(
            f"{name} has a coordinate of magnitude {largest:g}, beyond the supported "
            f"{limit:g} for {boxes.dtype} boxes"
        )
    return boxes


def check_scores(name, scores, count):
    """Validate scores of shape (count,) with no NaN; return a contiguous float array."""
    scores = as_float_array(name, scores)
    if scores.shape != (count,):
        raise ValueError(
            f"{name} must have shape ({count},) to match the boxes, got {scores.shape}"
        )
    nan = np.flatnonzero(np.isnan(scores))
    if nan.size:
        raise ValueError(
            f"{name} contains NaN (first at index {nan[0]}); NaN scores cannot be ranked"
        )
    return scores


def check_integral(name, values):
    """Return ``values`` as int64, refusing non-integral or non-finite numbers."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    if values.dtype.kind == "f":
        # 2**63 is the first value int64 cannot hold.
        bad = np.flatnonzero(
            ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2.0**63)
        )
        if bad.size:
            raise ValueError(
                f"{name} must be integral, got {values.flat[bad[0]].item()!r} at index {bad[0]}"
            )
    return np.ascontiguousarray(values, dtype=np.int64)


def check_class_ids(name, class_ids, count):
    """Validate integer class ids of shape (count,); return them as int64."""
    class_ids = check_integral(name, class_ids)
    if class_ids.shape != (count,):
        raise ValueError(
            f"{name} must have shape ({count},) to match the boxes, got {class_ids.shape}"
        )
    return class_ids


def check_iou_threshold(name, threshold):
    """Return the threshold as a float; it must be a finite number >= 0."""
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
        raise TypeError(f"{name} must be a real number, got {threshold!r}")
    threshold = float(threshold)
    if not np.isfinite(threshold) or threshold < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {threshold!r}")
    return threshold


def check_max_output(name, value, count):
    """NMS's cap on the boxes kept: None means all ``count``; else an int >= 0."""
    if value is None:
        return count
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return int(min(value, count))


def check_positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_output_size(name, output_size):
    """Return ``(pooled_height, pooled_width)`` from an int or a pair of ints in
    ``[1, MAX_OUTPUT_SIDE]``."""
    if isinstance(output_size, numbers.Integral):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise ValueError(f"{name} must be an int or a (height, width) pair, got {output_size!r}")
    sides = tuple(check_positive_int(name, size) for size in output_size)
    if max(sides) > MAX_OUTPUT_SIDE:
        raise ValueError(f"{name} must be at most {MAX_OUTPUT_SIDE} per side, got {output_size!r}")
    return sides


def check_spatial_scale(name, scale):
    """Return the scale as a float in ``(0, MAX_SPATIAL_SCALE]``."""
    if not isinstance(scale, numbers.Real) or isinstance(scale, bool):
        raise TypeError(f"{name} must be a real number, got {scale!r}")
    scale = float(scale)
    if not (0.0 < scale <= MAX_SPATIAL_SCALE):  # NaN fails too
        raise ValueError(f"{name} must be a number in (0, {MAX_SPATIAL_SCALE:g}], got {scale!r}")
    return scale


def check_projected(name, coords, spatial_scale):
    """RoI corners times ``spatial_scale`` must stay within ``MAX_MAP_COORDINATE`` cells."""
    largest = float(np.abs(coords).max()) * spatial_scale if coords.size else 0.0
    if largest > MAX_MAP_COORDINATE:
        raise ValueError(
            f"{name} times spatial_scale reach {largest:g} map cells, beyond the supported "
            f"{MAX_MAP_COORDINATE:g}"
        )


def check_values(name, array):
    """Every value of a RoIAlign input finite and within ``MAX_ABS_VALUE`` of its dtype."""
    if array.size == 0:
        return
    low, high = float(array.min()), float(array.max())  # NaN if any value is
    limit = MAX_ABS_VALUE[array.dtype]
    if not (-limit <= low and high <= limit):
        bad = low if not -limit <= low else high
        raise ValueError(
            f"{name} holds {bad!r}: RoIAlign needs finite values of magnitude <= {limit:g} "
            f"for {array.dtype}"
        )


def check_sampling_ratio(name, sampling_ratio):
    """Return the RoIAlign sampling grid size: an int >= 1 (bool refused).

    torchvision reads ``sampling_ratio <= 0`` as "adaptive": ``ceil(roi_size / bins)`` samples
    per bin, a grid that changes size as the RoI grows, so the output jumps whenever it does
    and the gradient with respect to the box coordinates is wrong at those jumps. It is refused.
    """
    if (
        not isinstance(sampling_ratio, numbers.Integral)
        or isinstance(sampling_ratio, bool)
        or not 1 <= sampling_ratio <= MAX_SAMPLING_RATIO
    ):
        raise ValueError(
            f"{name} must be an integer in [1, {MAX_SAMPLING_RATIO}] (the adaptive grid of "
            f"sampling_ratio <= 0 is not supported: it makes the output piecewise constant in "
            f"the box coordinates), got {sampling_ratio!r}"
        )
    return int(sampling_ratio)


def check_flag(name, value):
    """Return ``value`` as a bool; it must be a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_roi_align_args(features, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """Validate the arguments shared by ``roi_align`` and ``roi_align_backward``.

    Returns ``(features, batch_index, coords, output_size, spatial_scale, sampling_ratio,
    aligned)``: features C-contiguous float32/float64 (N, C, H, W), finite and within
    ``MAX_ABS_VALUE``, batch_index int64 (R,), coords float64 (R, 4), output_size
    ``(ph, pw)``, and the three scalars checked.
    """
    features, batch_index, coords, output_size, spatial_scale = check_roi_pool_args(
        features, rois, output_size, spatial_scale
    )
    check_values("features", features)
    sampling_ratio = check_sampling_ratio("sampling_ratio", sampling_ratio)
    aligned = check_flag("aligned", aligned)
    return features, batch_index, coords, output_size, spatial_scale, sampling_ratio, aligned


def check_roi_pool_args(features, rois, output_size, spatial_scale):
    """Validate the arguments of ``roi_pool`` (and those ``roi_align`` shares with it).

    Returns ``(features, batch_index, coords, output_size, spatial_scale)``.
    """
    features = check_features("features", features)
    batch_index, coords = check_rois("rois", rois, features.shape[0])
    output_size = check_output_size("output_size", output_size)
    spatial_scale = check_spatial_scale("spatial_scale", spatial_scale)
    check_projected("rois", coords, spatial_scale)
    return features, batch_index, coords, output_size, spatial_scale


def check_roi_align_grad(grad_out, shape, dtype):
    """Return ``grad_out`` as a C-contiguous array of ``dtype``; it must have ``shape``.

    ``shape`` is that of the forward output, ``(R, C, ph, pw)``; ``dtype`` the features'.
    """
    grad_out = as_float_array("grad_out", grad_out)
    if grad_out.shape != shape:
        raise ValueError(
            f"grad_out must have the shape of the output (R, C, ph, pw) = {shape}, "
            f"got shape {grad_out.shape}"
        )
    grad_out = np.ascontiguousarray(grad_out, dtype=dtype)
    check_values("grad_out", grad_out)
    return grad_out


def check_features_shape(name, shape):
    """Return a (N, C, H, W) shape as a tuple of positive ints."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 4:
        raise ValueError(f"{name} must be an (N, C, H, W) tuple, got {shape!r}")
    return tuple(check_positive_int(name, size) for size in shape)


def check_rois(name, rois, batch_size):
    """Validate RoIs of shape (R, 5), rows ``(batch_index, x1, y1, x2, y2)``.

    Returns ``(batch_index int64 (R,), coords float64 (R, 4))``. The batch index must be an
    integer in ``[0, batch_size)``; coordinates must be finite (a NaN corner has no pixel to
    round to) and within ``MAX_ABS_COORDINATE``. Coordinates are always float64, whatever the
    dtype of the features, so the bin geometry is the same for float32 and float64 maps.
    """
    rois = np.asarray(rois)
    if rois.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {rois.dtype}")
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"{name} must have shape (R, 5), got shape {rois.shape}")
    rois = np.ascontiguousarray(rois, dtype=np.float64)
    batch_index = check_integral(f"{name}[:, 0] (batch index)", rois[:, 0])
    outside = np.flatnonzero((batch_index < 0) | (batch_index >= batch_size))
    if outside.size:
        raise ValueError(
            f"{name}[:, 0] (batch index) must lie in [0, {batch_size}), "
            f"got {batch_index[outside[0]]} at row {outside[0]}"
        )
    coords = np.ascontiguousarray(rois[:, 1:])
    bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    if bad.size:
        raise ValueError(f"{name} has a non-finite coordinate in row {bad[0]}: {coords[bad[0]]}")
    if coords.size and np.abs(coords).max() > MAX_ABS_COORDINATE:
        raise ValueError(
            f"{name} has a coordinate of magnitude {np.abs(coords).max():g}, "
            f"beyond the supported {MAX_ABS_COORDINATE:g}"
        )
    return batch_index, coords


def check_features(name, features):
    features = as_float_array(name, features)
    if features.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {features.shape}")
    if 0 in features.shape:
        raise ValueError(f"{name} must not have an empty dimension, got shape {features.shape}")
    if features.shape[2] * features.shape[3] > MAX_MAP_CELLS:
        raise ValueError(
            f"{name} has more than {MAX_MAP_CELLS} cells per channel: shape {features.shape}"
        )
    return features


def check_roi_pool_grad(grad_out, argmax, rois, features_shape):
    """Validate the arguments of ``roi_pool_backward`` except the range of ``argmax``.

    Returns ``(grad_out, argmax int32, batch_index, features_shape)``. For int32 argmax the
    range check is left to ``check_argmax_range``, separate because the Cython kernel does
    it inside its own loop (one pass over the array instead of two more); any other integer
    type is range-checked here, before narrowing to int32 could wrap a bad value around.
    """
    features_shape = check_features_shape("features_shape", features_shape)
    grad_out = as_float_array("grad_out", grad_out)
    if grad_out.ndim != 4 or grad_out.shape[1] != features_shape[1]:
        raise ValueError(
            f"grad_out must have shape (R, {features_shape[1]}, ph, pw), got shape {grad_out.shape}"
        )
    argmax = np.asarray(argmax)
    if argmax.dtype != np.int32:
        argmax = check_integral("argmax", argmax)
        check_argmax_range(argmax, features_shape)
    argmax = np.ascontiguousarray(argmax, dtype=np.int32)
    if argmax.shape != grad_out.shape:
        raise ValueError(
            f"argmax must have the shape of grad_out {grad_out.shape}, got {argmax.shape}"
        )
    batch_index, _ = check_rois("rois", rois, features_shape[0])
    if batch_index.shape[0] != grad_out.shape[0]:
        raise ValueError(
            f"rois must have one row per grad_out RoI ({grad_out.shape[0]}), "
            f"got {batch_index.shape[0]}"
        )
    return grad_out, argmax, batch_index, features_shape


def check_argmax_range(argmax, features_shape):
    """Every argmax must be -1 (empty bin) or a flat index ``h * W + w`` inside the map."""
    map_size = features_shape[2] * features_shape[3]
    outside = (argmax < -1) | (argmax >= map_size)
    if outside.any():
        raise ValueError(
            f"argmax must lie in [-1, {map_size}) for features_shape {features_shape}, "
            f"got {argmax[outside][0]}"
        )
