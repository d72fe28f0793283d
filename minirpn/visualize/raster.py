"""Pictures: boxes drawn on images, grids of images, loss curves -- all saved atomically.

Boxes are continuous corners ``(x1, y1, x2, y2)`` with pixel ``i`` spanning ``[i, i + 1)``,
so a box's outline is drawn on the pixels just *inside* it: columns ``floor(x1)`` and
``ceil(x2) - 1``, rows ``floor(y1)`` and ``ceil(y2) - 1`` (a thicker line grows inwards).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from minirpn.fileio import atomic_write
from minirpn.image import as_rgb

# Distinct, saturated colours for the classes (label k uses PALETTE[(k - 1) % len]).
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)
GROUND_TRUTH_COLOR = (255, 255, 255)
STYLES = {
    # Detections: the class colour, a thick outline, "name score" above the box.
    "detection": {"width": 2, "text_above": True},
    # Ground truth: a thin white outline, the name below the box, so both can be shown
    # on one image without hiding each other.
    "ground_truth": {"width": 1, "text_above": False},
}
TEXT_COLOR = (255, 255, 255)
TEXT_BACKGROUND = (0, 0, 0)


def class_color(label: int) -> tuple[int, int, int]:
    """The palette colour of class ``label`` (1..C)."""
    return PALETTE[(int(label) - 1) % len(PALETTE)]


def draw_detections(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray | None = None,
    *,
    class_names: Sequence[str] | None = None,
    style: str = "detection",
    color: tuple[int, int, int] | None = None,
    show_text: bool = True,
) -> np.ndarray:
    """Draw boxes with their class names (and scores) on a copy of ``image``.

    image:       (H, W, 3) uint8 RGB; (H, W) grayscale and (H, W, 4) RGBA are converted.
    boxes:       (K, 4) float, continuous corners (x1, y1, x2, y2); clipped to the image.
    labels:      (K,) int, class labels 1..C.
    scores:      (K,) float or None; when given, shown after the name with two decimals.
    class_names: names of classes 1..C (label k -> class_names[k - 1]); None shows labels.
    style:       "detection" (class colour, 2-pixel outline, text above) or
                 "ground_truth" (white 1-pixel outline, text below).
    color:       an RGB colour for every box instead of the style's.
    show_text:   False draws the outlines only.
    Returns a new (H, W, 3) uint8 array; ``image`` is not modified.
    """
    rgb = _as_rgb(image)
    boxes = np.asarray(boxes, dtype=np.float64)
    labels = np.asarray(labels)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (K, 4), got {boxes.shape}")
    if labels.shape != (len(boxes),):
        raise ValueError(f"labels must have shape ({len(boxes)},), got {labels.shape}")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(boxes),):
            raise ValueError(f"scores must have shape ({len(boxes)},), got {scores.shape}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {style!r}")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite, got NaN or infinite coordinates")

    height, width = rgb.shape[:2]
    canvas = Image.fromarray(rgb)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    line_width = STYLES[style]["width"]
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        # Pixels touched by the box, clipped to the image (inclusive indices).
        left, top = max(math.floor(x1), 0), max(math.floor(y1), 0)
        right, bottom = min(math.ceil(x2) - 1, width - 1), min(math.ceil(y2) - 1, height - 1)
        if right < left or bottom < top:  # empty or entirely outside the image
            continue
        if color is not None:
            box_color = tuple(color)
        elif style == "ground_truth":
            box_color = GROUND_TRUTH_COLOR
        else:
            box_color = class_color(labels[k])
        draw.rectangle([left, top, right, bottom], outline=box_color, width=line_width)
        if show_text:
            text = _box_text(int(labels[k]), None if scores is None else scores[k], class_names)
            _draw_text(
                draw, font, text, left, top, bottom, STYLES[style]["text_above"], width, height
            )
    return np.asarray(canvas, dtype=np.uint8).copy()


def _box_text(label: int, score: float | None, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 1 <= label <= len(class_names):
        name = class_names[label - 1]
    else:
        name = str(label)
    return name if score is None else f"{name} {score:.2f}"


def _draw_text(draw, font, text, left, top, bottom, above, width, height) -> None:
    """Text on a dark patch at the box's corner, moved inside the image when it would leave it."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    text_w, text_h = x1 - x0 + 2, y1 - y0 + 2  # one pixel of margin on each side
    y = top - text_h if above else bottom + 1
    y = min(max(y, 0), max(height - text_h, 0))
    x = min(max(left, 0), max(width - text_w, 0))
    draw.rectangle([x, y, x + text_w - 1, y + text_h - 1], fill=TEXT_BACKGROUND)
    draw.text((x + 1 - x0, y + 1 - y0), text, fill=TEXT_COLOR, font=font)


def image_grid(
    images: Sequence[np.ndarray], ncols: int, pad: int = 2, pad_value: int = 255
) -> np.ndarray:
    """Tile images row by row into one picture.

    images: non-empty sequence of (H_i, W_i, 3) uint8 (grayscale / RGBA are converted);
            each sits at the top-left of a cell of size (max H_i, max W_i).
    ncols:  cells per row (fewer if there are fewer images).
    pad:    pixels of ``pad_value`` between neighbouring cells (none around the border).
    Returns (rows * H + (rows - 1) * pad, cols * W + (cols - 1) * pad, 3) uint8 with
    rows = ceil(n / cols), cols = min(ncols, n).
    """
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be in 0..255, got {pad_value!r}")
    images = [_as_rgb(im) for im in images]
    if not images:
        raise ValueError("images must hold at least one image, got an empty sequence")
    cols = min(ncols, len(images))
    rows = math.ceil(len(images) / cols)
    cell_h = max(im.shape[0] for im in images)
    cell_w = max(im.shape[1] for im in images)
    grid = np.full(
        (rows * cell_h + (rows - 1) * pad, cols * cell_w + (cols - 1) * pad, 3),
        pad_value,
        dtype=np.uint8,
    )
    for i, im in enumerate(images):
        row, col = divmod(i, cols)
        y, x = row * (cell_h + pad), col * (cell_w + pad)
        grid[y : y + im.shape[0], x : x + im.shape[1]] = im
    return grid


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Save an (H, W, 3) uint8 image (or (H, W) / (H, W, 4)) as PNG, atomically."""
    image = np.asarray(image)
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or (image.ndim == 3 and image.shape[2] not in (3, 4))
    ):
        raise ValueError(
            f"image must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {image.dtype} {image.shape}"
        )
    with atomic_write(path) as f:
        Image.fromarray(image).save(f, format="PNG")


def plot_loss_curves(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    title: str = "training losses",
    log_scale: bool = True,
) -> None:
    """Plot each named loss against the iteration and save the figure as PNG, atomically.

    history:   name -> one value per iteration (e.g. "rpn_cls", "rpn_reg", "head_cls",
               "head_reg", "total"). Each series is drawn faintly as it is, and over it a
               moving average (window ~1/50 of its length) so the trend is readable.
    log_scale: a logarithmic loss axis (losses fall over orders of magnitude); non-positive
               values are then not shown.
    """
    # matplotlib's object API with the Agg canvas: no pyplot, no global figure state,
    # no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(history, Mapping) or not history:
        raise ValueError(f"history must be a non-empty dict of name -> values, got {history!r}")
    series = {}
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                f"history[{name!r}] must be a non-empty list of numbers, got shape {values.shape}"
            )
        series[name] = values

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for i, (name, values) in enumerate(series.items()):
        line_color = f"C{i % 10}"
        steps = np.arange(values.size)
        axes.plot(steps, values, color=line_color, alpha=0.25, linewidth=0.8)
        window = max(1, values.size // 50)
        axes.plot(
            steps[window - 1 :],
            _moving_average(values, window),
            color=line_color,
            linewidth=1.6,
            label=name,
        )
    if log_scale:
        axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_write(path) as f:
        figure.savefig(f, format="png")


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Means of each run of ``window`` consecutive values: (n - window + 1,)."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[window:] - sums[:-window]) / window


def _as_rgb(image) -> np.ndarray:
    """A uint8 image of any layout :func:`minirpn.image.as_rgb` takes → contiguous (H, W, 3)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    return np.ascontiguousarray(as_rgb(image))
