"""Drawing boxes (exact pixels), image grids (shape arithmetic) and atomic PNG saving."""

import numpy as np
import pytest
from PIL import Image

from minirpn.data import Sample
from minirpn.report import DRAW_SCALE, DRAW_SCORE_THRESH, detections_grid, draw_result
from minirpn.visualize import class_color, draw_detections, image_grid, plot_loss_curves, save_png
from minirpn.visualize.raster import GROUND_TRUTH_COLOR

RED = (255, 0, 0)


def outline(shape, left, top, right, bottom, width):
    """Expected (H, W) bool: a ``width``-pixel frame just inside the inclusive pixel rectangle."""
    inside = np.zeros(shape, dtype=bool)
    inside[top : bottom + 1, left : right + 1] = True
    core = np.zeros(shape, dtype=bool)
    core[top + width : bottom + 1 - width, left + width : right + 1 - width] = True
    return inside & ~core


@pytest.mark.parametrize("style, width", [("ground_truth", 1), ("detection", 2)])
def test_outline_lies_on_the_box_edge_pixels(style, width):
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    # Box [10, 40) x [20, 50): pixel columns 10..39, rows 20..49.
    drawn = draw_detections(image, [[10, 20, 40, 50]], [1], style=style, color=RED, show_text=False)
    changed = (drawn != image).any(axis=2)
    np.testing.assert_array_equal(changed, outline((64, 64), 10, 20, 39, 49, width))
    assert (drawn[changed] == RED).all()
    assert (image == 0).all()  # the input is left alone


def test_fractional_box_covers_the_pixels_it_touches():
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    # x in [10.4, 39.2) touches columns 10..39; y in [20.6, 49.9) touches rows 20..49.
    drawn = draw_detections(
        image, [[10.4, 20.6, 39.2, 49.9]], [1], style="ground_truth", color=RED, show_text=False
    )
    np.testing.assert_array_equal((drawn != 0).any(axis=2), outline((64, 64), 10, 20, 39, 49, 1))


def test_boxes_are_clipped_and_boxes_outside_are_skipped():
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    drawn = draw_detections(
        image,
        [[-5, -5, 10, 10], [40, 40, 50, 50]],
        [1, 2],
        style="ground_truth",
        color=RED,
        show_text=False,
    )
    np.testing.assert_array_equal((drawn != 0).any(axis=2), outline((32, 32), 0, 0, 9, 9, 1))


def test_label_text_stays_near_the_box():
    image = np.zeros((96, 96, 3), dtype=np.uint8)
    box = [30, 40, 70, 80]
    drawn = draw_detections(image, [box], [2], [0.87], class_names=("circle", "square"))
    rows, cols = np.nonzero((drawn != 0).any(axis=2))
    # Outline plus a text patch of one line above the box, starting at its left edge.
    assert cols.min() == 30 and rows.max() == 79
    assert 40 - 20 <= rows.min() < 40
    with_text, without = drawn, draw_detections(image, [box], [2], show_text=False)
    assert (with_text[:40] != without[:40]).any()  # the text is really there


def test_text_of_a_box_at_the_top_stays_inside_the_image():
    image = np.zeros((40, 200, 3), dtype=np.uint8)
    drawn = draw_detections(
        image, [[150, 0, 199, 30]], [1], [0.5], class_names=("a_long_class_name",)
    )
    assert (drawn != 0).any()  # no crash, and something was drawn inside the image


def test_draw_rejects_bad_input():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"boxes must have shape \(K, 4\)"):
        draw_detections(image, [[0, 0, 1]], [1])
    with pytest.raises(ValueError, match="labels must have shape"):
        draw_detections(image, [[0, 0, 1, 1]], [1, 2])
    with pytest.raises(ValueError, match="style"):
        draw_detections(image, [[0, 0, 1, 1]], [1], style="fancy")
    with pytest.raises(ValueError, match="uint8"):
        draw_detections(image.astype(np.float32), [[0, 0, 1, 1]], [1])
    with pytest.raises(ValueError, match="finite"):
        draw_detections(image, [[0, 0, np.nan, 1]], [1])


def test_grayscale_and_rgba_images_are_converted():
    gray = np.full((10, 10), 7, dtype=np.uint8)
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    for im in (gray, rgba):
        assert draw_detections(im, np.zeros((0, 4)), np.zeros(0, np.int64)).shape == (10, 10, 3)


def test_image_grid_arithmetic():
    images = [np.full((10, 12, 3), 10 * (i + 1), dtype=np.uint8) for i in range(5)]
    grid = image_grid(images, ncols=3, pad=2, pad_value=255)
    # 2 rows x 3 columns: height 2 * 10 + 1 * 2, width 3 * 12 + 2 * 2.
    assert grid.shape == (22, 40, 3)
    for i in range(5):
        row, col = divmod(i, 3)
        y, x = row * 12, col * 14
        assert (grid[y : y + 10, x : x + 12] == 10 * (i + 1)).all()
    assert (grid[12:, 28:] == 255).all()  # the empty sixth cell
    assert (grid[10:12] == 255).all() and (grid[:, 12:14] == 255).all()  # padding
    # Fewer images than columns: one row, as wide as the images.
    assert image_grid(images[:2], ncols=8, pad=0).shape == (10, 24, 3)
    # Different sizes: cells as large as the largest image.
    assert image_grid(
        [np.zeros((4, 6, 3), np.uint8), np.zeros((8, 2, 3), np.uint8)], ncols=1, pad=1
    ).shape == (17, 6, 3)


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        image_grid([], ncols=2)
    with pytest.raises(ValueError, match="ncols"):
        image_grid([np.zeros((2, 2, 3), np.uint8)], ncols=0)


def test_save_png_round_trip_leaves_no_temporary_file(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "picture.png"
    save_png(image, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert sorted(p.name for p in path.parent.iterdir()) == ["picture.png"]


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "picture.png"
    old = np.zeros((4, 4, 3), dtype=np.uint8)
    save_png(old, path)

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_png(np.ones((4, 4, 3), dtype=np.uint8), path)
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(Image.open(path)), old)
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]


def test_plot_loss_curves_writes_a_png(tmp_path):
    steps = np.arange(1, 201)
    history = {"rpn_cls": list(0.7 / steps**0.5), "head_reg": list(1.0 / steps)}
    path = tmp_path / "loss.png"
    plot_loss_curves(history, path)
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == (700, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]
    with pytest.raises(ValueError, match="history"):
        plot_loss_curves({}, path)
    with pytest.raises(ValueError, match="rpn_cls"):
        plot_loss_curves({"rpn_cls": []}, path)


def test_loss_curves_plot_the_history_and_its_moving_average(tmp_path, monkeypatch):
    """Each series twice: as it is, and averaged over windows of n // 50 values, each average
    drawn at the last iteration of its window (computed here with np.convolve)."""
    from matplotlib.figure import Figure

    drawn, save = [], Figure.savefig

    def keep_and_save(figure, *args, **kwargs):
        drawn.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep_and_save)
    rng = np.random.default_rng(0)
    history = {"rpn_cls": rng.uniform(0.1, 1.0, 250), "reg": rng.uniform(0.1, 1.0, 120)}
    plot_loss_curves(history, tmp_path / "loss.png")
    (axes,) = drawn[0].axes
    lines = axes.get_lines()
    assert len(lines) == 4 and [t.get_text() for t in axes.get_legend().get_texts()] == [
        "rpn_cls",
        "reg",
    ]
    for (name, values), raw, smooth in zip(history.items(), lines[0::2], lines[1::2], strict=True):
        window = len(values) // 50  # 5 and 2
        np.testing.assert_array_equal(raw.get_xdata(), np.arange(len(values)))
        np.testing.assert_array_equal(raw.get_ydata(), values)
        np.testing.assert_array_equal(smooth.get_xdata(), np.arange(window - 1, len(values)))
        expected = np.convolve(values, np.ones(window) / window, mode="valid")
        np.testing.assert_allclose(smooth.get_ydata(), expected, rtol=1e-12, err_msg=name)
        assert smooth.get_label() == name and raw.get_color() == smooth.get_color()


def test_draw_result_draws_a_detection_at_exactly_the_threshold_and_not_below():
    image = np.zeros((64, 64, 3), np.uint8)  # below DRAW_MIN_SIDE: drawn twice as large
    boxes = np.array([[4, 30, 20, 50], [40, 30, 60, 50]], np.float32)
    below = np.nextafter(np.float32(DRAW_SCORE_THRESH), np.float32(0))
    scores = np.array([DRAW_SCORE_THRESH, below], np.float32)
    picture = draw_result(image, boxes, scores, np.array([1, 1]), ("a",))
    assert DRAW_SCALE == 2 and picture.shape == (128, 128, 3)
    # The first box, scaled to [8, 60, 40, 100): its left column and bottom row in colour.
    assert (picture[60:100, 8] == class_color(1)).all()
    assert (picture[99, 8:40] == class_color(1)).all()
    # The second box (scaled [80, 60, 120, 100)) is not drawn at all.
    assert not picture[56:, 78:].any()


def test_detections_grid_draws_ground_truth_on_its_exact_outline():
    """Ground truth in white on the doubled picture; no detections (a detector that finds
    nothing), so every changed pixel is the 1-pixel outline of a scaled ground-truth box."""

    class FindsNothing:
        def detect(self, image):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)

    boxes = [np.array([[4, 6, 20, 18]], np.float32), np.array([[0.5, 1, 31, 32]], np.float32)]
    dataset = [
        Sample(np.zeros((32, 32, 3), np.uint8), b, np.array([1]), f"{i}.png")
        for i, b in enumerate(boxes)
    ]
    grid = detections_grid(FindsNothing(), dataset, ("a",))
    assert grid.shape == (64, 2 * 64 + 2, 3)  # two 64-pixel tiles, 2 pixels of padding
    # Tile 0: [8, 12, 40, 36) -> columns 8..39, rows 12..35. Tile 1: [1, 2, 62, 64) ->
    # columns 1..61, rows 2..63.
    for tile, (left, top, right, bottom) in enumerate([(8, 12, 39, 35), (1, 2, 61, 63)]):
        cell = grid[:, tile * 66 : tile * 66 + 64]
        changed = cell.any(axis=2)
        np.testing.assert_array_equal(changed, outline((64, 64), left, top, right, bottom, 1))
        assert (cell[changed] == GROUND_TRUTH_COLOR).all()
