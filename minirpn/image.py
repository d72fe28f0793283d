"""Images in: reading files and bringing any image array to RGB.

Everything that takes an image from a user (the detector, the drawing functions, the
command line, COCO data) goes through these two functions, so grayscale, RGBA and
unreadable files are handled the same way everywhere.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 RGB array (grayscale, palette and RGBA converted).

    Raises ValueError naming the file if it does not exist or cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ValueError(f"image {str(path)!r} does not exist") from None
    except (OSError, ValueError) as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read image {str(path)!r}: {error}") from None


def as_rgb(image) -> np.ndarray:
    """Any image array → (H, W, 3) RGB in its own dtype.

    Accepts (H, W) grayscale, (H, W, 1), (H, W, 3) RGB and (H, W, 4) RGBA (the alpha
    channel is dropped: the detector looks at colours only).
    """
    image = np.asarray(image)
    if not (np.issubdtype(image.dtype, np.floating) or image.dtype == np.uint8):
        raise TypeError(f"image must be uint8 or float, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]
