"""Images in: reading files and bringing any image array to RGB.

Everything that takes an image from a user (the detector, the drawing functions, the
command line, COCO and VOC data) goes through these functions, so grayscale, RGBA and
unreadable files are handled the same way everywhere. A file is decoded in full (a
truncated JPEG fails here, not in the middle of training), and pixels that an 8-bit RGB
conversion would misread are converted exactly or refused:

* 16-bit images (``I;16``: 16-bit PNG or TIFF) are scaled to 8 bits (65535 -> 255);
  Pillow's own conversion clips every value above 255, turning them white;
* 32-bit integer and float images (modes ``I``, ``F``: float TIFF) are refused: their
  range is unknown (Pillow's conversion clips floats in [0, 1] to black);
* a transparent image is laid over white, as an image viewer shows it (the colours stored
  under fully transparent pixels are often black and mean nothing), with a note;
* a file with more pixels than :data:`MAX_PIXELS` is refused before it is decoded (a
  "decompression bomb": a few kilobytes of PNG can hold gigabytes of pixels).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image

from minirpn.fileio import regular_file

# Pillow's own limit for decoding without a warning (89.5 million pixels, ~256 MB as RGB):
# such an image needs over 40 GB to go through the detector (minirpn.memory) anyway.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")


class DecodedImage(NamedTuple):
    """An image file as :func:`decode_image` reads it.

    rgb:  (H, W, 3) uint8.
    note: what the conversion to 8-bit RGB changed that a user should know (16-bit scaled,
          transparent pixels), or None.
    """

    rgb: np.ndarray
    note: str | None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as an (H, W, 3) uint8 RGB array (see the module docstring).

    Raises ValueError naming the file if it does not exist, is not a regular file (a FIFO
    would block), cannot be decoded in full, is too large or has float pixels.
    """
    return decode_image(path).rgb


def decode_image(path: str | os.PathLike) -> DecodedImage:
    """Like :func:`read_image`, with a note on what the conversion changed (or None)."""
    where = f"image {str(path)!r}"
    try:
        regular_file(path, "image")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _to_rgb(image, where)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow refuses it from the header, before decoding; its message has the count.
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{pixels.group(1)} pixels" if pixels else "too many pixels"
        raise ValueError(
            f"{where} has {size}, more than the {MAX_PIXELS} minirpn decodes (a "
            "decompression bomb?): use a smaller image"
        ) from None
    except Exception as error:  # any failure of a decoder (OSError, SyntaxError, ...)
        if str(error).startswith(where):
            raise
        raise ValueError(f"cannot read {where}: {error}") from None


def _to_rgb(image: Image.Image, where: str) -> DecodedImage:
    """Decode an opened image in full and convert it to 8-bit RGB (see the module docstring)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT:
        values = np.asarray(image).astype(np.uint32)  # (H, W), 0..65535
        gray = ((values * 255 + 32767) // 65535).astype(np.uint8)  # rounded, 65535 -> 255
        return DecodedImage(as_rgb(gray), f"16-bit image (mode {mode}) scaled to 8 bits")
    if mode in ("I", "F"):
        kind = "float" if mode == "F" else "32-bit integer"
        raise ValueError(
            f"{where} has {kind} pixels (mode {mode!r}), whose range is unknown: convert it "
            "to an 8-bit (or 16-bit) image first"
        )
    if mode in _ALPHA or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3]
        if (alpha < 255).any():
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgb = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
            note = f"{(alpha < 255).mean():.0%} of the pixels are transparent: laid over white"
            return DecodedImage(rgb.copy(), note)
    return DecodedImage(np.asarray(image.convert("RGB"), dtype=np.uint8).copy(), None)


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
