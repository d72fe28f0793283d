"""``minirpn show KIND``: every kind listed, pictures written, one-line errors."""

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn.cli import EXIT_ERROR, EXIT_USAGE, main
from minirpn.visualize.show import KINDS


def assert_one_line_error(code, err, *fragments):
    assert code == EXIT_ERROR
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


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
    }


def test_show_writes_the_picture(tmp_path, capsys):
    out = tmp_path / "pictures" / "mapping.png"
    code, stdout, err = run_main(capsys, "show", "mapping", "--out", out)
    assert code == 0, err
    with Image.open(out) as picture:
        assert picture.format == "PNG" and min(picture.size) > 300
    assert str(out) in stdout


def test_show_with_a_checkpoint_and_an_image_and_box(tmp_path, run_dir, capsys):
    photo = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (90, 140, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    out = tmp_path / "proposals.png"
    code, _, err = run_main(
        capsys,
        "show",
        "proposals",
        "--image",
        photo,
        "--box",
        10,
        20,
        70,
        80,
        "--checkpoint",
        run_dir,
        "--out",
        out,
    )
    assert code == 0, err
    assert out.exists()


@pytest.mark.parametrize("kind", ["proposals", "detections"])
def test_kinds_that_need_a_trained_model_say_so(tmp_path, kind, capsys):
    code, _, err = run_main(capsys, "show", kind, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, f"'{kind}' needs a trained model", "--checkpoint")
    assert not (tmp_path / "x.png").exists()


def test_bad_images_and_checkpoints_end_in_one_line(tmp_path, capsys):
    out = tmp_path / "x.png"
    code, _, err = run_main(capsys, "show", "labels", "--image", tmp_path / "nope.png")
    assert_one_line_error(code, err, "nope.png", "does not exist")

    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a picture")
    code, _, err = run_main(capsys, "show", "anchors", "--image", garbage, "--out", out)
    assert_one_line_error(code, err, "cannot read image", "garbage.png")

    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((5, 40, 3), np.uint8)).save(tiny)
    code, _, err = run_main(capsys, "show", "roi-pool", "--image", tiny, "--out", out)
    assert_one_line_error(code, err, "40x5 pixels", "at least 8x8")

    code, _, err = run_main(capsys, "show", "erf", "--checkpoint", tmp_path, "--out", out)
    assert_one_line_error(code, err, "checkpoint")

    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(tiny)
    code, _, err = run_main(
        capsys, "show", "labels", "--image", tiny, "--box", 0, 0, 70, 10, "--out", out
    )
    assert_one_line_error(code, err, "--box", "outside the image")
    assert not out.exists()


def test_unknown_kind_is_a_usage_error(capsys):
    code, _, err = run_main(capsys, "show", "everything")
    assert code == EXIT_USAGE and "invalid choice" in err
