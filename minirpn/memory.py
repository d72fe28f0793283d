"""How much memory a training batch or a detection needs, checked before either starts.

``minirpn train --batch-size 100000`` would otherwise run for a minute and then be killed
by the kernel without a word, and ``minirpn detect`` on a 12000x12000 photograph end in a
MemoryError. :func:`check_inference_memory` does for one image at test time (``detect``,
``eval`` and the evaluation after training) what :func:`check_batch_memory` does for a
training batch: it compares an estimate of one training iteration's memory with what the
machine has free (``MemAvailable`` in ``/proc/meminfo``) and refuses, naming
``--batch-size``, a batch that cannot fit.

The estimate (float32, 4 bytes per value), for B images padded to H x W:

* **backbone and RPN conv**, per image pixel: every 3x3 convolution keeps its im2col
  columns for the backward pass (``9 C_in`` values per cell of its map), and its ReLU
  output (``C_out``, what the next layer reads) and the ReLU's bool mask (``C_out / 4``
  in float32 units); a map after s 2x2 pools has ``H W / 4^s`` cells. For the tiny
  backbone (3 -> 16 -> 32 -> 64 -> 64, then the RPN's 64) that is
  ``47 + 184/4 + 368/16 + 656/64 + 656/64 = 136.5`` values per pixel, plus the input
  (3 float32 values and 3 bytes);
* **second stage**, per image: ``roi_batch_size`` pooled RoIs (``C 7 x 7``) and their
  activations in fc6 and fc7 (x2 for the ReLU outputs), and the anchors, scores and deltas
  of the proposal layer (``A (4 + 2 + 4) h w`` float64 values on the ``h x w`` map);
* **the model**: parameters, gradients and SGD momentum (3 copies);
* all times :data:`SAFETY_FACTOR` for NumPy's temporaries (the backward pass's column
  gradients, col2im's padded map). Measured with ``tracemalloc`` (tests/test_memory.py),
  a real iteration's peak (plus the parameters and momentum, which exist before it) is
  65-80 % of this estimate for 96 to 512 pixels and 1 to 4 images: slightly conservative,
  meant to refuse what would surely not fit.
"""

from __future__ import annotations

import math
from pathlib import Path

from minirpn.config import Config

BYTES_PER_VALUE = 4  # float32 training
CONV_KERNEL_CELLS = 9  # 3x3 convolutions
RELU_VALUES = 1.25  # a ReLU's float32 output plus its bool mask (1 byte = 1/4 value)
SAFETY_FACTOR = 1.25
# Fraction of MemAvailable a run may plan to use: the rest stays for the OS, the page cache
# of the data being read, and Python itself.
USABLE_FRACTION = 0.9
MEMINFO = Path("/proc/meminfo")


def backbone_values_per_pixel(channels: tuple[int, ...], rpn_channels: int) -> float:
    """Values kept per input pixel by the convolutions (see the module docstring).

    channels: output channels of the backbone's conv stages, a 2x2 pool between stages
    (``minirpn.backbone.BACKBONE_CHANNELS``); rpn_channels: the RPN's 3x3 conv.
    """
    total, in_channels = 0.0, 3
    stages = [*enumerate(channels), (len(channels) - 1, rpn_channels)]  # RPN: last map
    for stage, out_channels in stages:
        cells = 4.0**-stage  # cells of this stage's map per input pixel
        total += (CONV_KERNEL_CELLS * in_channels + RELU_VALUES * out_channels) * cells
        in_channels = out_channels
    return total


def batch_memory_bytes(
    cfg: Config, images_per_batch: int, height: int, width: int, num_params: int = 0
) -> int:
    """Estimated peak memory (bytes) of one training iteration (formula: module docstring).

    images_per_batch: B; height, width: the size the batch is padded to; num_params: the
    model's parameter count (0 leaves the model out).
    """
    per_image = _image_bytes(cfg, height, width, cfg.roi_batch_size)
    model = 3 * num_params * BYTES_PER_VALUE
    return int(SAFETY_FACTOR * (images_per_batch * per_image + model))


def _image_bytes(cfg: Config, height: int, width: int, rois: int) -> float:
    """One image's convolutions, proposal layer and second stage for ``rois`` RoIs (bytes)."""
    from minirpn.backbone import BACKBONE_CHANNELS

    pixels = height * width
    backbone = backbone_values_per_pixel(BACKBONE_CHANNELS, cfg.rpn_channels) + 3
    convolutions = (backbone * BYTES_PER_VALUE + 3) * pixels  # + the uint8 input
    map_cells = math.ceil(height / cfg.feat_stride) * math.ceil(width / cfg.feat_stride)
    proposals = cfg.num_anchors * (4 + 2 + 4) * map_cells * 8  # float64
    pooled = BACKBONE_CHANNELS[-1] * cfg.roi_pool_size**2
    head = rois * (pooled + 4 * cfg.fc_channels) * BYTES_PER_VALUE
    return convolutions + proposals + head


# --- inference: detect, eval, the report after training ---------------------------------


def inference_memory_bytes(cfg: Config, height: int, width: int) -> int:
    """Estimated peak memory (bytes) of ``Detector.detect`` on one height x width image.

    The training formula for one image without the backward pass's temporaries and the
    model's copies: the layers keep their forward caches (the im2col columns) until the
    next call, so the convolutions cost what they cost in training; the second stage runs
    on ``cfg.rpn_post_nms_top_n_test`` proposals. tests/test_memory.py checks it against
    the peak ``tracemalloc`` measures: above it, and by less than 1.7 times.
    """
    return int(SAFETY_FACTOR * _image_bytes(cfg, height, width, cfg.rpn_post_nms_top_n_test))


def check_inference_memory(
    cfg: Config, height: int, width: int, what: str = "an image", available: int | None = None
) -> int:
    """Refuse an image too large to detect objects in with the memory free; return the estimate.

    what: names the image in the message (``"image 'photo.png'"``, ``"the largest
    validation image"``). available: free bytes; None reads :func:`available_memory_bytes`
    (if that cannot be read either, nothing is refused). Raises ValueError naming ``what``,
    its size, the estimate and the memory available.
    """
    need = inference_memory_bytes(cfg, height, width)
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


def check_batch_memory(
    cfg: Config, height: int, width: int, available: int | None = None, num_params: int = 0
) -> int:
    """Refuse a batch whose estimated memory exceeds what is free; return the estimate.

    height, width: the largest image of the training data (batches are padded to it).
    available: free bytes; None reads :func:`available_memory_bytes` (if that cannot be
    read either, nothing is refused). Raises ValueError naming ``--batch-size``, the
    estimate, the memory available and the largest batch that fits.
    """
    need = batch_memory_bytes(cfg, cfg.images_per_batch, height, width, num_params)
    if available is None:
        available = available_memory_bytes()
    if available is None:
        return need
    usable = USABLE_FRACTION * available
    if need > usable:
        per_image = batch_memory_bytes(cfg, 1, height, width) - batch_memory_bytes(
            cfg, 0, height, width
        )
        fits = int((usable - batch_memory_bytes(cfg, 0, height, width, num_params)) // per_image)
        advice = (
            f"use --batch-size {fits} or less"
            if fits >= 1
            else "even one image does not fit: free memory or use smaller images"
        )
        raise ValueError(
            f"--batch-size {cfg.images_per_batch} would need about {_size(need)} of memory "
            f"for {cfg.images_per_batch} images of {width}x{height} (estimate), only "
            f"{_size(available)} is available; {advice}"
        )
    return need


def _size(num_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.1f} TB"
