"""``minirpn show KIND``: every kind listed, pictures written, options checked, one-line errors."""

import json

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn.cli import EXIT_ERROR, EXIT_USAGE, main
from minirpn.data import CocoDataset, ToyShapes, VocDataset
from minirpn.runs import read_input_image
from minirpn.visualize import axes, boxes_of
from minirpn.visualize.show import KINDS, untrained_detector


def assert_one_line_error(code, err, *fragments, expected=EXIT_ERROR):
    assert code == expected, err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture
def drawn(monkeypatch):
    """The figures ``minirpn show`` saves, in order (saved as usual as well)."""
    figures, save = [], axes.save_figure

    def keep(figure, path):
        figures.append(figure)
        save(figure, path)

    monkeypatch.setattr(axes, "save_figure", keep)
    return figures


def photo(path, width=140, height=90, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_help_lists_every_kind_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["show", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, kind in KINDS.items():
        assert f"  {name:<16} {kind.help}\n" in out
    assert set(KINDS) == {
        "anchors",
        "receptive-field",
        "erf",
        "mapping",
        "labels",
        "regression",
        "proposals",
        "roi-pool",
        "detections",
        "data",
    }


def test_show_writes_the_picture(tmp_path, capsys):
    out = tmp_path / "pictures" / "mapping.png"
    code, stdout, err = run_main(capsys, "show", "mapping", "--out", out)
    assert code == 0, err
    with Image.open(out) as picture:
        assert picture.format == "PNG" and min(picture.size) > 300
    assert str(out) in stdout


@pytest.mark.parametrize("suffix, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_the_output_format_is_taken_from_the_name(tmp_path, capsys, suffix, magic):
    out = tmp_path / f"anchors.{suffix}"
    code, _, err = run_main(capsys, "show", "anchors", "--out", out)
    assert code == 0, err
    assert out.read_bytes()[: len(magic)] == magic


def test_a_users_box_keeps_its_coordinates_and_is_called_their_box(tmp_path, capsys, drawn):
    """A 700 x 500 photo is not shrunk: the box drawn is the one typed, on the full image."""
    image = photo(tmp_path / "big.png", width=700, height=500)
    code, _, err = run_main(
        capsys,
        *f"show mapping --image {image} --box 410 120 650 330 --out {tmp_path / 'm.png'}".split(),
    )
    assert code == 0, err
    left = drawn[0].axes[0]
    np.testing.assert_array_equal(boxes_of(left, "box"), [[410, 120, 650, 330]])
    assert left.images[0].get_extent() == [0, 700, 500, 0]
    assert [t.get_text() for t in left.get_legend().get_texts()][0] == "your box"


def test_a_users_image_gets_no_invented_ground_truth(tmp_path, capsys, drawn):
    image = photo(tmp_path / "p.png")
    code, _, err = run_main(
        capsys,
        *f"show proposals --image {image} --checkpoint toy --out {tmp_path / 'p.png'}".split(),
    )
    assert code == 0, err
    for ax in drawn[0].axes[:3]:
        assert len(boxes_of(ax, "gt")) == 0
        assert not any("ground truth" in t.get_text() for t in ax.get_legend().get_texts())
    argv = f"proposals --image {image} --box 10 20 70 80 --checkpoint toy --out {tmp_path}/q.png"
    code, _, err = run_main(capsys, "show", *argv.split())
    assert code == 0, err
    panel = drawn[1].axes[0]
    np.testing.assert_array_equal(boxes_of(panel, "gt"), [[10, 20, 70, 80]])
    assert "your box (1)" in [t.get_text() for t in panel.get_legend().get_texts()]


@pytest.mark.kernel_sensitive
def test_show_detections_draws_what_detect_finds_in_the_same_file(tmp_path, capsys, drawn):
    """One way to read a user's image: its own size, the same detections in both commands."""
    toy = ToyShapes("val")
    image = tmp_path / "wide.png"  # two toy images side by side: objects to find
    Image.fromarray(np.hstack([toy[2].image, toy[5].image])).save(image)
    code, _, err = run_main(capsys, "detect", "--run", "toy", image, "--out", tmp_path / "det")
    assert code == 0, err
    results = json.loads((tmp_path / "det" / "detections.json").read_text())
    confident = [r["bbox"] for r in results if r["score"] >= 0.5]
    assert len(confident) >= 4
    code, _, err = run_main(
        capsys,
        *f"show detections --image {image} --checkpoint toy --out {tmp_path / 'd.png'}".split(),
    )
    assert code == 0, err
    shown = boxes_of(drawn[-1].axes[0], "detection")
    expected = [[x, y, x + w, y + h] for x, y, w, h in confident]
    np.testing.assert_allclose(sorted(shown.tolist()), sorted(expected), rtol=1e-6)


def test_a_transparent_image_is_laid_over_white(tmp_path):
    rgba = np.zeros((40, 50, 4), np.uint8)  # black, fully transparent...
    rgba[:, 25:] = (200, 10, 10, 255)  # ...but for an opaque red right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    rgb, note = read_input_image(tmp_path / "t.png", untrained_detector())
    assert (rgb[:, :25] == 255).all() and (rgb[:, 25:] == (200, 10, 10)).all()
    assert note == "50% of the pixels are transparent: laid over white"


def test_a_box_reaching_outside_is_clipped_and_one_wholly_outside_refused(tmp_path, capsys, drawn):
    image = photo(tmp_path / "p.png", width=60, height=50)
    code, _, err = run_main(
        capsys,
        *f"show mapping --image {image} --box 0 0 5000 5000 --out {tmp_path / 'm.png'}".split(),
    )
    assert code == 0
    assert (
        "--box (0, 0, 5000, 5000) reaches outside the 60x50 image; clipped to (0, 0, 60, 50)" in err
    )
    np.testing.assert_array_equal(boxes_of(drawn[0].axes[0], "box"), [[0, 0, 60, 50]])
    code, _, err = run_main(
        capsys, *f"show labels --image {image} --box 70 0 90 10 --out {tmp_path / 'x.png'}".split()
    )
    assert_one_line_error(code, err, "--box (70, 0, 90, 10) lies entirely outside the 60x50 image")
    code, _, err = run_main(
        capsys, *f"show labels --image {image} --box 30 0 10 10 --out {tmp_path / 'x.png'}".split()
    )
    assert_one_line_error(code, err, "--box (30, 0, 10, 10) is inverted or empty")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["labels", "--box", "1", "2", "30", "40"], "--box is a box on your --image"),
        (["anchors", "--image", "IMG", "--box", "1", "2", "3", "4"], "'show anchors' draws no box"),
        (["labels", "--checkpoint", "toy"], "'show labels' does not use a trained model"),
        (["regression", "--image", "IMG"], "'show regression' on your image needs --box"),
        (["labels", "--data", "somewhere"], "--data is for 'show data', not 'show labels'"),
        (["data", "--image", "IMG"], "'show data' draws the images of --data"),
        (["data", "--count", "0"], "--count must be a positive integer, got 0"),
        (["anchors", "--out", "a.jpg"], "--out: cannot write a picture as 'a.jpg'"),
        (["anchors", "extra"], "unrecognized arguments: extra (see 'minirpn show --help')"),
    ],
)
def test_options_a_kind_does_not_use_are_refused(tmp_path, capsys, argv, fragment):
    image = str(photo(tmp_path / "p.png"))
    argv = [image if a == "IMG" else a for a in argv]
    code, _, err = run_main(capsys, "show", *argv)
    assert_one_line_error(code, err, fragment, expected=EXIT_USAGE)
    assert list(tmp_path.iterdir()) == [tmp_path / "p.png"]


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_kinds_that_need_a_trained_model_say_so(tmp_path, kind, capsys):
    code, _, err = run_main(capsys, "show", kind, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, f"'{kind}' needs a trained model", "--checkpoint")
    assert not (tmp_path / "x.png").exists()


def test_bad_images_and_checkpoints_end_in_one_line(tmp_path, capsys):
    out = tmp_path / "x.png"
    code, _, err = run_main(
        capsys, "show", "labels", "--image", tmp_path / "nope.png", "--box", 0, 0, 4, 4
    )
    assert_one_line_error(code, err, "nope.png", "does not exist")

    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a picture")
    code, _, err = run_main(capsys, "show", "anchors", "--image", garbage, "--out", out)
    assert_one_line_error(code, err, "cannot read image", "garbage.png")

    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((5, 40, 3), np.uint8)).save(tiny)
    code, _, err = run_main(
        capsys, "show", "roi-pool", "--image", tiny, "--box", 0, 0, 4, 4, "--out", out
    )
    assert_one_line_error(code, err, "40x5 pixels", "at least 8x8")

    code, _, err = run_main(capsys, "show", "erf", "--checkpoint", tmp_path, "--out", out)
    assert_one_line_error(code, err, "checkpoint")
    assert not out.exists()


def test_a_rescaled_photograph_says_so(tmp_path, capsys, drawn):
    image = photo(tmp_path / "p.png", width=400, height=300)
    code, _, err = run_main(
        capsys, "show", "anchors", "--image", image, "--out", tmp_path / "a.png"
    )
    assert code == 0, err
    left, right = drawn[0].axes[:2]
    assert "image 800×600 (the photo's 400×300 rescaled: short side 600)" in left.get_title()
    assert "image 171×128 (the photo's 400×300 rescaled: short side 128)" in right.get_title()


@pytest.mark.parametrize("layout", ["coco", "voc"])
def test_show_data_draws_a_folder_made_by_make_toy_data(tmp_path, capsys, drawn, layout):
    data = tmp_path / "data"
    code, _, err = run_main(
        capsys, "make-toy-data", "--out", data, "--num-images", 6, "--format", layout
    )
    assert code == 0, err
    code, out, err = run_main(
        capsys,
        *f"show data --data {data} --split val --count 5 --out {tmp_path / 'data.png'}".split(),
    )
    assert code == 0, err and "wrote" in out
    dataset = CocoDataset(data / "val") if layout == "coco" else VocDataset(data, "val")
    figure = drawn[0]
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 5
    for index, ax in enumerate(panels):
        sample = dataset[index]
        np.testing.assert_allclose(boxes_of(ax, "annotation"), sample.boxes)
        names = sorted(t.get_text() for t in ax.texts if t.get_gid() == "tag")
        assert names == sorted(dataset.class_names[label - 1] for label in sample.labels)
        assert ax.get_title().startswith(sample.file_name)
    counts = [sum(int((dataset[i].labels == k).sum()) for i in range(5)) for k in range(1, 5)]
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        f"{name} ({count})" for name, count in zip(dataset.class_names, counts, strict=True)
    ]
    assert figure.get_suptitle().startswith(f"{layout.upper()} folder '{data}', split val")


def test_unknown_kind_is_a_usage_error(capsys):
    code, _, err = run_main(capsys, "show", "everything")
    assert code == EXIT_USAGE and "invalid choice" in err
