"""Pictures a run writes and a user asks for: detections, loss curves, tags, file formats."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from minirpn.data import Sample
from minirpn.visualize import boxes_of, scenes
from minirpn.visualize.axes import (
    OUTLINE,
    add_tags,
    class_color,
    figure_format,
    new_figure,
    save_figure,
)
from minirpn.visualize.curves import draw_loss_curves, plot_loss_curves
from minirpn.visualize.detections import DRAW_SCORE_THRESH, draw_detection_boxes


def legend_texts(legend):
    return [t.get_text() for t in legend.get_texts()]


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "name, magic", [("a.png", b"\x89PNG"), ("a.PDF", b"%PDF"), ("a.svg", b"<?xml")]
)
def test_a_figure_is_written_in_the_format_its_name_says(tmp_path, name, magic):
    figure, _ = new_figure(1, (2, 2))
    save_figure(figure, tmp_path / name)
    assert (tmp_path / name).read_bytes()[: len(magic)] == magic
    assert [p.name for p in tmp_path.iterdir()] == [name]  # atomic: no temporary left


@pytest.mark.parametrize("name", ["a.jpg", "a", "a.png.gz"])
def test_a_name_of_another_format_is_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(ValueError, match=r"must end in \.png, \.pdf, \.svg"):
        save_figure(new_figure(1, (2, 2))[0], tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert figure_format("x.Svg") == "svg"


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "picture.png"
    save_figure(new_figure(1, (2, 2))[0], path)
    old = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_figure(new_figure(1, (3, 3))[0], path)
    assert path.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["picture.png"]


# --------------------------------------------------------------------------- detections


def test_detections_at_exactly_the_threshold_are_drawn_and_below_are_not():
    image = np.zeros((50, 60, 3), np.uint8)
    boxes = np.array([[1, 2, 30, 40], [5, 5, 20, 20], [10, 10, 50, 45]], np.float32)
    below = np.nextafter(np.float32(DRAW_SCORE_THRESH), np.float32(0))
    scores = np.array([0.9, below, DRAW_SCORE_THRESH], np.float32)
    gt = np.array([[2, 3, 31, 41]])
    ax = draw_detection_boxes(image, boxes, scores, np.array([1, 2, 2]), ("a", "b"), gt_boxes=gt)
    np.testing.assert_array_equal(boxes_of(ax, "detection"), boxes[[0, 2]])
    colors = [p.get_edgecolor()[:3] for p in ax.patches if p.get_gid() == "detection"]
    np.testing.assert_allclose(colors, [class_color(1), class_color(2)])
    np.testing.assert_array_equal(boxes_of(ax, "gt"), gt)
    # White ground truth with a dark rim: visible on a light image as on a dark one.
    (truth,) = (p for p in ax.patches if p.get_gid() == "gt")
    assert truth.get_path_effects() == OUTLINE and truth.get_linestyle() == "--"
    assert ax.get_title() == "2 detections scoring ≥ 0.5 (of 3 returned)"
    assert legend_texts(ax.get_legend()) == ["a", "b", "ground truth"]
    assert ax.get_legend().get_title().get_text() == "tag: class and score"
    assert sorted(t.get_text() for t in ax.texts) == ["a 0.90", "b 0.50"]


def test_a_users_box_is_called_their_box_not_ground_truth():
    image = np.zeros((50, 60, 3), np.uint8)
    no_detections = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    ax = draw_detection_boxes(
        image, *no_detections, ("a",), gt_boxes=[[1, 1, 9, 9]], gt_name="your box"
    )
    assert legend_texts(ax.get_legend()) == ["your box"]


def extents(figure, texts):
    renderer = figure.canvas.get_renderer()
    return [t.get_bbox_patch().get_window_extent(renderer) for t in texts]


def test_tags_overlap_neither_each_other_nor_the_title_and_stay_in_their_panel():
    """Five boxes stacked near the top of a small panel: every tag above its box would
    cover the title or the next tag; each finds another place or is left out."""
    figure, (ax,) = new_figure(1, (4, 4.4))
    image = np.full((100, 100, 3), 200, np.uint8)
    boxes = np.array([[5, 1 + 6 * k, 60, 7 + 6 * k] for k in range(5)], np.float64)
    ax.imshow(image, extent=(0, 100, 100, 0))
    ax.set_title("a title that tags must not cover")
    left_out = add_tags(ax, boxes, [f"tag number {k}" for k in range(5)])
    tags = [t for t in ax.texts if t.get_gid() == "tag"]
    assert len(tags) + left_out == 5 and len(tags) >= 3
    figure.canvas.draw()
    boxes_drawn = extents(figure, tags)
    title = ax.title.get_window_extent(figure.canvas.get_renderer())
    panel = ax.get_window_extent()
    for k, one in enumerate(boxes_drawn):
        assert not one.overlaps(title)
        assert panel.x0 <= one.x0 and one.x1 <= panel.x1 + 1 and one.y1 <= panel.y1 + 1
        for other in boxes_drawn[k + 1 :]:
            assert not one.overlaps(other)


def test_the_detections_grid_has_a_title_a_legend_and_the_ground_truth():
    class Rigged:
        def detect(self, image):
            value = float(image[0, 0, 0]) / 100  # image k scores 0.k
            return np.array([[2, 2, 20, 20]], np.float32), np.array([value]), np.array([2])

    dataset = [
        Sample(
            np.full((32, 32, 3), k * 30, np.uint8),
            np.array([[1, 1, 21, 21]]),
            np.array([2]),
            f"{k}.png",
        )
        for k in range(3)
    ]  # scores 0, 0.3, 0.6: only the third image's detection is shown
    figure = scenes.detections_grid_figure(Rigged(), dataset, ("a", "b"), count=16)
    assert figure.get_suptitle().startswith(
        "the first 3 of 3 validation images: detections scoring ≥ 0.5"
    )
    (legend,) = figure.legends
    assert legend_texts(legend) == ["a", "b", "ground truth"]
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [len(boxes_of(ax, "detection")) for ax in panels] == [0, 0, 1]
    for ax in panels:
        np.testing.assert_array_equal(boxes_of(ax, "gt"), [[1, 1, 21, 21]])
    assert panels[2].get_title() == "2.png: 1 shown, 1 objects"


# --------------------------------------------------------------------------- loss curves


def test_loss_curves_plot_the_history_and_its_moving_average():
    """Each series twice: as it is, and averaged over windows of n // 50 values, each average
    drawn at the last iteration of its window (computed here with np.convolve); iterations
    count from 1, as in history.csv."""
    rng = np.random.default_rng(0)
    history = {"rpn_cls": rng.uniform(0.1, 1.0, 250), "reg": rng.uniform(0.1, 1.0, 120)}
    ax = draw_loss_curves(history)
    lines = ax.get_lines()
    assert len(lines) == 4
    for (name, values), raw, smooth in zip(history.items(), lines[0::2], lines[1::2], strict=True):
        window = len(values) // 50  # 5 and 2
        np.testing.assert_array_equal(raw.get_xdata(), np.arange(1, len(values) + 1))
        np.testing.assert_array_equal(raw.get_ydata(), values)
        np.testing.assert_array_equal(smooth.get_xdata(), np.arange(window, len(values) + 1))
        expected = np.convolve(values, np.ones(window) / window, mode="valid")
        np.testing.assert_allclose(smooth.get_ydata(), expected, rtol=1e-12, err_msg=name)
        assert smooth.get_label() == f"{name} (moving average of {window})"
        assert raw.get_color() == smooth.get_color()
    with pytest.raises(ValueError, match="history"):
        draw_loss_curves({})
    with pytest.raises(ValueError, match="rpn_cls"):
        draw_loss_curves({"rpn_cls": []})


def test_learning_rate_drops_and_validation_are_marked():
    """Rates: a warm-up (rising), then 0.02 until iteration 6, 0.002 from iteration 7 and
    0.0002 from 9: two drops, marked at iterations 7 and 9, nowhere in the warm-up."""
    rates = [0.01, 0.015, 0.02, 0.02, 0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002]
    validation = {5: (0.4, 0.2), 10: (0.8, 0.5)}
    ax = draw_loss_curves(
        {"cls": np.linspace(1, 0.1, 10)}, learning_rates=rates, validation=validation
    )
    drops = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in drops] == [7, 9]
    assert [t.get_text() for t in ax.texts] == ["lr ×0.1", "lr ×0.1"]
    (twin,) = (other for other in ax.figure.axes if other is not ax)
    assert twin.get_ylim() == (0, 1)
    curves = twin.get_lines()
    np.testing.assert_array_equal(curves[0].get_xdata(), [5, 10])
    np.testing.assert_array_equal(curves[0].get_ydata(), [0.4, 0.8])
    np.testing.assert_array_equal(curves[1].get_ydata(), [0.2, 0.5])
    texts = legend_texts(ax.get_legend())
    assert "learning rate ×0.1 from here" in texts
    assert "validation mAP@0.5 (right axis)" in texts
    assert "validation COCO mAP@[.5:.95] (right axis)" in texts


def test_plot_loss_curves_writes_the_picture(tmp_path):
    path = tmp_path / "loss.png"
    plot_loss_curves({"cls": [1.0, 0.5, 0.2]}, path, learning_rates=[0.1, 0.1, 0.01])
    assert path.read_bytes()[:4] == b"\x89PNG"
