"""The lesson pictures draw what they are given onto the Axes they are given."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from minirpn.visualize import charts  # noqa: E402


def test_map_sizes_labels_every_layer_and_each_new_size():
    fig, ax = plt.subplots()
    names = ["image", "conv", "pool"]
    assert charts.map_sizes(ax, names, [600, 600, 300], [1000, 1000, 500]) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.texts] == ["600x1000", "300x500"]  # conv changes nothing
    plt.close(fig)


def test_timing_bars_label_each_bar_with_its_time():
    fig, ax = plt.subplots()
    assert charts.timing_bars(ax, ["slow", "fast"], [0.5, 2e-4]) is ax
    assert [t.get_text().strip() for t in ax.texts] == ["500.0 ms", "200 µs"]
    plt.close(fig)


def test_activation_scale_draws_one_line_per_entry_predictions_dashed():
    fig, ax = plt.subplots()
    charts.activation_scale(ax, {"He": [1, 1, 1], "predicted": [1, 0.1, 0.01]}, first_depth=1)
    he, predicted = ax.get_lines()
    assert list(he.get_xdata()) == [1, 2, 3]
    assert predicted.get_linestyle() == "--" and he.get_linestyle() == "-"
    plt.close(fig)


def test_curves_with_switch_points_marks_both_signs_in_the_curve_colour():
    fig, ax = plt.subplots()
    x = [-1, 0, 1]
    charts.curves_with_switch_points(ax, x, {"a": [1, 0, 1], "b": [2, 0, 2]}, {"b": 0.25})
    a, b, *rest = ax.get_lines()
    assert list(a.get_ydata()) == [1, 0, 1] and list(b.get_ydata()) == [2, 0, 2]
    switches = [line for line in rest if line.get_gid() == "switch"]
    assert [line.get_xdata()[0] for line in switches] == [-0.25, 0.25]
    assert all(line.get_color() == b.get_color() for line in switches)
    plt.close(fig)
