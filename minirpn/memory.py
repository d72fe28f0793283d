"""How much memory a training batch or a detection needs, estimated from the layers themselves.

``minirpn train --batch-size 100000`` would otherwise run for a minute and then be killed by
the kernel without a word, and ``minirpn detect`` on a 12000x12000 photograph end in a
MemoryError. :func:`check_batch_memory` compares an estimate of one training iteration's
memory with what the machine has free (``MemAvailable`` in ``/proc/meminfo``) and refuses,
naming ``--batch-size``, a batch that cannot fit; :func:`check_inference_memory` does the
same for one image at test time (``detect``, ``eval``, the evaluation after training).

The estimate is not a second model of the network written by hand: it runs the detector's
own layers once on a small probe image and measures what they keep for the backward pass
(every array in their caches: im2col windows, ReLU masks, pooling argmaxes, the outputs
they pass on). The backbone and the RPN keep a fixed number of bytes per input pixel, so
the probe's bytes per pixel scale to any image; the second stage keeps a fixed number per
RoI. To that come the proposal layer's arrays (``A (4 + 2 + 4)`` float64 values per cell),
the input, and the model (parameters, gradients and SGD momentum); all times
:data:`SAFETY_FACTOR` for the temporaries of the backward pass, which allocates for each
layer gradients about the size of what it keeps (the column gradients, col2im's padded map).
tests/test_memory.py checks the estimate against a ``tracemalloc`` measurement of a real
iteration: it must not be below it, nor far above.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SAFETY_FACTOR = 1.5  # the backward pass allocates about half as much again (see docstring)
# Detection runs no backward pass: only the forward's temporaries (a padded copy of each
# convolution's input, its output before the ReLU) come on top of what the layers keep.
INFERENCE_SAFETY_FACTOR = 1.25
PROBE_SIDE = 64  # the probe image: 8 x 8 cells of the tiny backbone, small enough to be instant
PROPOSAL_VALUES_PER_ANCHOR = 4 + 2 + 4  # anchors, scores, deltas (float64) in the proposal layer
# Fraction of MemAvailable a run may plan to use: the rest stays for the OS, the page cache
# of the data being read, and Python itself.
USABLE_FRACTION = 0.9
MEMINFO = Path("/proc/meminfo")


def tape_bytes(tape, exclude=()) -> int:
    """Bytes of every distinct array in a cache (nested tuples, lists and NamedTuples), not
    counting the arrays in ``exclude`` (the parameters, which caches refer to)."""
    skip = {id(a) for a in exclude}
    seen: dict[int, int] = {}

    def visit(item):
        if isinstance(item, np.ndarray):
            owner = item.base if isinstance(item.base, np.ndarray) else item
            if id(owner) not in skip and id(item) not in skip:
                seen[id(owner)] = owner.nbytes
        elif isinstance(item, (tuple, list)):
            for child in item:
                visit(child)

    visit(tape)
    return sum(seen.values())


def per_pixel_bytes(detector) -> float:
    """Bytes the backbone and the RPN head keep per input pixel, measured on a probe image."""
    probe = np.zeros((1, PROBE_SIDE, PROBE_SIDE, 3), dtype=np.uint8)
    features, features_cache = detector.features(probe)
    rpn_out, rpn_cache = detector.rpn.forward(features)
    kept = tape_bytes(
        (features, features_cache, rpn_out.scores, rpn_out.deltas, rpn_cache),
        exclude=detector.params.values(),
    )
    return kept / PROBE_SIDE**2


def per_roi_bytes(detector) -> float:
    """Bytes the second stage keeps per RoI (the RoI layer's output and the fc caches)."""
    cells = max(PROBE_SIDE // detector.cfg.feat_stride, 1)
    channels = detector.rpn.head.conv.in_channels  # of the shared map
    features = np.zeros((1, channels, cells, cells), dtype=detector.dtype)  # (1, C, h, w)
    rois = np.tile(np.array([[0.0, 0.0, 0.0, PROBE_SIDE, PROBE_SIDE]], detector.dtype), (8, 1))
    outputs, cache = detector.roi_head.forward(features, rois)
    params = [*detector.params.values(), features]
    return tape_bytes((outputs, cache), exclude=params) / len(rois)


def batch_memory_bytes(detector, images_per_batch: int, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of one training iteration (see the module docstring).

    images_per_batch: B; height, width: the size the batch is padded to.
    """
    cfg = detector.cfg
    pixels = height * width
    cells = math.ceil(height / cfg.feat_stride) * math.ceil(width / cfg.feat_stride)
    per_image = (
        per_pixel_bytes(detector) * pixels
        + pixels * (3 + 3 * np.dtype(detector.dtype).itemsize)  # uint8 input, float input
        + cfg.num_anchors * PROPOSAL_VALUES_PER_ANCHOR * cells * 8
        + per_roi_bytes(detector) * cfg.roi_batch_size
    )
    model = 3 * sum(p.nbytes for p in detector.params.values())  # params, grads, momentum
    return int(SAFETY_FACTOR * (images_per_batch * per_image + model))


def inference_memory_bytes(detector, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of ``detector.detect`` on one ``height`` x ``width`` image.

    The forward pass keeps the same tapes as in training until it returns (the caller then
    drops them), on at most ``cfg.rpn_post_nms_top_n_test`` RoIs; no backward pass, hence
    :data:`INFERENCE_SAFETY_FACTOR`.
    """
    cfg = detector.cfg
    pixels = height * width
    cells = math.ceil(height / cfg.feat_stride) * math.ceil(width / cfg.feat_stride)
    need = (
        per_pixel_bytes(detector) * pixels
        + pixels * (3 + 3 * np.dtype(detector.dtype).itemsize)  # uint8 input, float input
        + cfg.num_anchors * PROPOSAL_VALUES_PER_ANCHOR * cells * 8
        + per_roi_bytes(detector) * cfg.rpn_post_nms_top_n_test
    )
    return int(INFERENCE_SAFETY_FACTOR * need)


def check_inference_memory(
    detector, height: int, width: int, what: str = "an image", available: int | None = None
) -> int:
    """Refuse an image too large to detect objects in with the memory free; return the estimate.

    what: names the image in the message (``"image 'photo.png'"``, ``"the largest
    validation image"``). available: free bytes; None reads :func:`available_memory_bytes`
    (if that cannot be read either, nothing is refused). Raises ValueError naming ``what``,
    its size, the estimate and the memory available.
    """
    need = inference_memory_bytes(detector, height, width)
    if available is None:
        available = available_memory_bytes()
    if available is not None and need > USABLE_FRACTION * available:
        raise ValueError(
            f"{what} is {width}x{height}: detecting objects in it would need about "
            f"{_size(need)} of memory (estimate), only {_size(available)} is available; "
            "use a smaller image"
        )
    return need


def available_memory_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; None where it cannot be read (not Linux)."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                value, unit = line.split()[1:3]
                return int(value) * (1024 if unit.lower() == "kb" else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_batch_memory(detector, height: int, width: int, available: int | None = None) -> int:
    """Refuse a batch whose estimated memory exceeds what is free; return the estimate.

    detector: the model to be trained (its ``cfg.images_per_batch`` is the batch).
    height, width: the largest image of the training data (batches are padded to it).
    available: free bytes; None reads :func:`available_memory_bytes` (if that cannot be
    read either, nothing is refused). Raises ValueError naming ``--batch-size``, the
    estimate, the memory available and the largest batch that fits.
    """
    batch = detector.cfg.images_per_batch
    need = batch_memory_bytes(detector, batch, height, width)
    if available is None:
        available = available_memory_bytes()
    if available is None:
        return need
    usable = USABLE_FRACTION * available
    if need > usable:
        fixed = batch_memory_bytes(detector, 0, height, width)
        per_image = batch_memory_bytes(detector, 1, height, width) - fixed
        fits = int((usable - fixed) // per_image)
        advice = (
            f"use --batch-size {fits} or less"
            if fits >= 1
            else "even one image does not fit: free memory or use smaller images"
        )
        raise ValueError(
            f"--batch-size {batch} would need about {_size(need)} of memory "
            f"for {batch} images of {width}x{height} (estimate), only "
            f"{_size(available)} is available; {advice}"
        )
    return need


def _size(num_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.1f} TB"
