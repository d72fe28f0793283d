"""Red team (issue 21): one test per attack that once succeeded, each named after its R item.

Every test here failed on the code before its fix. The slow attacks (races, kills at
random moments, a full disk) are in ``benchmarks/redteam.py``.
"""

import io
import json
import os
import re
import stat
import threading

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn.data import CocoDataset, DataError, VocDataset
from minirpn.datacheck import check_data_folder
from minirpn.fileio import atomic_write
from minirpn.image import read_image

# --------------------------------------------------------------------------- R1 outputs


def test_r1_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    received = []
    # A daemon: if the FIFO were replaced, the reader would wait in open() forever.
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with atomic_write(fifo) as f:
        f.write(b"picture bytes")
    reader.join(timeout=10)
    assert received == [b"picture bytes"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the FIFO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.png"]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_r1_show_out_a_character_device_leaves_it_a_device(tmp_path, capsys):
    """What `minirpn show anchors --out /dev/null` did to /dev/null, on a private copy of it."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    code, _, err = run_main(capsys, "show", "anchors", "--out", null)
    assert code == 0, err
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_r1_a_symlink_stays_a_link_and_its_target_gets_the_file(tmp_path):
    target = tmp_path / "real.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert target.read_bytes() == b"new"


def test_r1_a_directory_is_refused_naming_it_not_the_temp_file(tmp_path, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    code, _, err = run_main(capsys, "show", "anchors", "--out", folder)
    assert code == 1
    assert f"cannot write '{folder}': it is a directory" in err and ".tmp" not in err
    assert folder.is_dir() and not any(folder.iterdir())


# --------------------------------------------------------------------------- R6 R7 R9 images


def toy_coco(tmp_path, capsys, num_images=3):
    """A COCO data folder of toy images (DIR/train, DIR/val) written by make-toy-data."""
    data = tmp_path / "toy"
    assert run_main(capsys, "make-toy-data", "--out", data, "--num-images", num_images)[0] == 0
    return data


def test_r6_a_truncated_jpeg_is_found_by_the_data_check(tmp_path, capsys):
    data = toy_coco(tmp_path, capsys)
    png = data / "train" / "images" / "train_00001.png"
    jpeg = io.BytesIO()
    Image.open(png).save(jpeg, format="JPEG")
    png.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])  # half a JPEG, PNG name
    with pytest.raises(DataError, match="train_00001.png.*truncated"):
        check_data_folder(data, progress=False)


def test_r7_a_16_bit_png_is_scaled_not_clipped_to_white(tmp_path, capsys):
    data = toy_coco(tmp_path, capsys)
    png = data / "train" / "images" / "train_00000.png"
    gray = np.asarray(Image.open(png).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(png)  # the same picture in 16 bits
    assert Image.open(png).mode == "I;16"
    reports = check_data_folder(data, progress=False)
    assert any(
        "train_00000.png" in str(w) and "16-bit" in str(w) for w in reports["train"].warnings
    )
    sample = CocoDataset(data / "train")[0]
    np.testing.assert_array_equal(sample.image, np.repeat(gray[:, :, None], 3, axis=2))


def test_r7_a_float_tiff_is_refused_not_read_as_black(tmp_path):
    path = tmp_path / "depth.tiff"
    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(path)
    with pytest.raises(ValueError, match=r"depth.tiff' has float pixels \(mode 'F'\)"):
        read_image(path)


@pytest.mark.parametrize("command", ["detect", "show"])
def test_r9_a_decompression_bomb_is_one_line_everywhere(tmp_path, capsys, run_dir, command):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 48 KB on disk, 400 million pixels
    if command == "detect":
        argv = ["detect", "--run", run_dir, bomb, "--out", tmp_path / "out"]
    else:
        argv = ["show", "roi-pool", "--image", bomb, "--out", tmp_path / "x.png"]
    code, _, err = run_main(capsys, *argv)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"image '{bomb}' has 400000000 pixels" in err and "Traceback" not in err


def test_r22_an_image_that_is_a_fifo_is_refused_not_waited_for(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            read_image(fifo)
        except ValueError as error:
            outcome.append(str(error))

    reader = threading.Thread(target=read, daemon=True)  # a daemon: open() may block forever
    reader.start()
    reader.join(timeout=20)
    assert outcome == [f"image '{fifo}' is a FIFO (named pipe), not a file"]


# --------------------------------------------------------------------------- R13 R17 R18 R22 data


def edit_coco(data, split, edit):
    """Rewrite DIR/split/annotations.json through ``edit(coco dict)``; return its path."""
    path = data / split / "annotations.json"
    coco = json.loads(path.read_text())
    edit(coco)
    path.write_text(json.dumps(coco))
    return path


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["images"][0].update(height=float("inf")), None),  # "height": 1e999
        (lambda c: c["categories"][0].update(id=float("inf")), "category id inf is not"),
        (lambda c: c["categories"][0].update(id=10**400), "is not a 64-bit integer"),
        (lambda c: c["annotations"][0]["bbox"].__setitem__(2, 10**400), "beyond floating"),
    ],
    ids=["height 1e999", "category id 1e999", "category id 400 digits", "bbox 400 digits"],
)
def test_r13_overflowing_coco_numbers_are_problems_not_tracebacks(tmp_path, capsys, edit, expected):
    data = toy_coco(tmp_path, capsys)
    path = edit_coco(data, "train", edit)
    text = path.read_text().replace("Infinity", "1e999")  # what a user writes; JSON says inf
    path.write_text(text)
    if expected is None:  # a size that cannot be: treated as not declared
        assert len(CocoDataset(data / "train")) == 3
        return
    with pytest.raises(ValueError, match=expected) as info:
        CocoDataset(data / "train")
    assert "annotations.json" in str(info.value)


def test_r13_json_nested_too_deeply_is_one_line(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="annotations.json.*nested too deeply"):
        CocoDataset(path)


def test_r17_iscrowd_as_a_string_is_refused_not_read_as_crowd(tmp_path, capsys):
    data = toy_coco(tmp_path, capsys)
    edit_coco(data, "train", lambda c: [a.update(iscrowd="0") for a in c["annotations"]])
    with pytest.raises(DataError, match=r"annotation 1: has iscrowd '0', expected 0 or 1"):
        CocoDataset(data / "train")


def toy_voc(tmp_path, capsys):
    data = tmp_path / "voc"
    argv = ["make-toy-data", "--out", data, "--num-images", 3, "--format", "voc"]
    assert run_main(capsys, *argv)[0] == 0
    return data


def test_r18_a_class_listed_twice_in_classes_txt_is_refused(tmp_path, capsys):
    data = toy_voc(tmp_path, capsys)
    (data / "classes.txt").write_text("circle\nsquare\ntriangle\nbar\nsquare\n")
    with pytest.raises(ValueError, match=r"classes.txt' names \['square'\] more than once"):
        VocDataset(data, "train")


def test_r18_without_classes_txt_the_classes_found_are_a_warning(tmp_path, capsys):
    """A typo in one object's name would be a class of its own: never silently."""
    data = toy_voc(tmp_path, capsys)
    (data / "classes.txt").unlink()
    xml = next((data / "Annotations").iterdir())
    xml.write_text(xml.read_text().replace("<name>", "<name>x", 1))  # e.g. "xcircle"
    reports = check_data_folder(data, progress=False)
    notes = [str(w) for w in reports["train"].warnings if "has no classes.txt" in str(w)]
    assert len(notes) == 1 and " (1)" in notes[0], reports["train"].warnings


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00binary\x00", b"\n  \n"])
def test_r23_an_empty_or_binary_classes_txt_is_named(tmp_path, capsys, content):
    data = toy_voc(tmp_path, capsys)
    (data / "classes.txt").write_bytes(content)
    with pytest.raises(ValueError, match="class list .*classes.txt"):
        VocDataset(data, "train")


def test_r23_a_byte_order_mark_in_a_voc_list_is_not_part_of_the_first_id(tmp_path, capsys):
    data = toy_voc(tmp_path, capsys)
    image_list = data / "ImageSets" / "Main" / "train.txt"
    image_list.write_bytes(b"\xef\xbb\xbf" + image_list.read_bytes())
    assert len(VocDataset(data, "train")) == 3


@pytest.mark.parametrize("name", ["/etc/passwd", "../../x.png", "images/../../x.png"])
def test_r22_coco_file_names_leading_outside_the_image_folder_are_refused(tmp_path, capsys, name):
    data = toy_coco(tmp_path, capsys)
    edit_coco(data, "train", lambda c: c["images"][0].update(file_name=name))
    with pytest.raises(DataError, match=f"file name '{re.escape(name)}' leads outside"):
        CocoDataset(data / "train")


def test_r22_voc_ids_leading_outside_the_folder_are_refused(tmp_path, capsys):
    data = toy_voc(tmp_path, capsys)
    (tmp_path / "x.xml").write_text((data / "Annotations" / "train_00000.xml").read_text())
    (data / "ImageSets" / "Main" / "train.txt").write_text("../../x\n")
    with pytest.raises(DataError, match="image id '../../x.xml' leads outside"):
        VocDataset(data, "train")
