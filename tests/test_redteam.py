"""Red team (issue 21): one test per attack that once succeeded, each named after its R item.

Every test here failed on the code before its fix. The slow attacks (races, kills at
random moments, a full disk) are in ``benchmarks/redteam.py``.
"""

import io
import os
import stat
import threading

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn.data import CocoDataset, DataError
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
