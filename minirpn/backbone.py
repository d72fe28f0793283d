"""The shared convolutional layers (F21, part 1) and what they expect of an image.

The tiny backbone is four 3x3 conv + ReLU stages with a 2x2 max-pool before each of the
last three: a 128 x 128 image becomes a 64-channel 16 x 16 map. Its effective stride is 8
and each cell sees a 38-pixel receptive field (F3) centred at ``8 i + 4`` (F4); the RPN's
anchors sit on those centres (:mod:`minirpn.anchors`).

Images enter as uint8 RGB (or floats in [0, 1]); :func:`preprocess` scales them to about
zero mean and unit spread, the scale He initialisation assumes (F14).
"""

from __future__ import annotations

import numpy as np

from minirpn.nn import Conv2d, MaxPool2d, ReLU, Sequential
from minirpn.receptive_field import input_size, layer_specs

# Channels of the backbone's four conv stages; a 2x2 max-pool precedes each of the last three.
BACKBONE_CHANNELS = (16, 32, 64, 64)
# Pixel values are scaled to [0, 1], then standardised with these (about the toy data's
# mean and spread), so the first layer sees inputs of unit scale, as He init assumes.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
UINT8_MAX = 255.0


def tiny_backbone(rng: np.random.Generator, dtype=np.float32) -> Sequential:
    """The shared convolutional layers (F21, part 1): stride 8, 64 output channels.

    conv3x3(3→16) ReLU pool2 → conv3x3(16→32) ReLU pool2 → conv3x3(32→64) ReLU pool2 →
    conv3x3(64→64) ReLU. Padding 1 keeps each conv's size, so an H x W image gives an
    (H // 8) x (W // 8) map; receptive field 38 pixels (F3), cell 0 centred at 4.0 (F4).
    The weights start from He initialisation: no pre-trained weights exist for this
    network (the paper starts its shared layers from ImageNet, F14).
    """
    layers = []
    in_channels = 3
    for stage, out_channels in enumerate(BACKBONE_CHANNELS):
        if stage > 0:
            layers.append(MaxPool2d(2, 2))
        layers += [
            Conv2d(in_channels, out_channels, 3, padding=1, init="he", rng=rng, dtype=dtype),
            ReLU(),
        ]
        in_channels = out_channels
    return Sequential(*layers)


def min_input_size(backbone) -> int:
    """The smallest image side that gives a 1-cell map: F2 applied from the last layer back."""
    size = 1
    for kernel, stride, padding in reversed(layer_specs(backbone)):
        size = input_size(size, kernel, stride, padding)
    return size


# How far a float pixel may stray outside [0, 1] (rounding of resized images) before the
# image is refused as being on another scale, e.g. floats in [0, 255].
FLOAT_PIXEL_SLACK = 1e-3


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Refuse pixels the network would silently misread; return ``images`` unchanged.

    uint8 pixels are always fine. Float pixels must be finite and in [0, 1] (up to
    ``FLOAT_PIXEL_SLACK``): a float image in [0, 255] would be read as 255 times too bright
    and give confident garbage, and one NaN pixel spreads through every later layer.

    Raises:
        TypeError for another dtype; ValueError naming ``name``, the problem and the value.
    """
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 or float, got dtype {images.dtype}")
    finite = np.isfinite(images)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name} has a non-finite pixel value {images[where]} at index {where}")
    low, high = float(images.min(initial=0.0)), float(images.max(initial=0.0))
    if low < -FLOAT_PIXEL_SLACK or high > 1.0 + FLOAT_PIXEL_SLACK:
        raise ValueError(
            f"{name} are float with values in [{low:g}, {high:g}]; float pixels must lie in "
            f"[0, 1] (divide by 255, or pass uint8)"
        )
    return images


def preprocess(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Images (N, H, W, 3), uint8 in [0, 255] or float in [0, 1] → network input (N, 3, H, W)."""
    scalar = np.dtype(dtype).type
    x = images.astype(dtype)
    if images.dtype == np.uint8:
        x /= scalar(UINT8_MAX)
    return ((x - scalar(PIXEL_MEAN)) / scalar(PIXEL_STD)).transpose(0, 3, 1, 2)
