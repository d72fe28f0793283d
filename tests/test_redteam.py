"""Red team (issue 21): one test per attack that once succeeded, each named after its R item.

Every test here failed on the code before its fix. The slow attacks (races, kills at
random moments, a full disk) are in ``benchmarks/redteam.py``.
"""

import errno
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

from minirpn import Config, memory, ops
from minirpn._kernels import roi_align as _roi_align
from minirpn.checkpoint import load_checkpoint
from minirpn.data import CocoDataset, DataError, VocDataset
from minirpn.datacheck import check_data_folder
from minirpn.fileio import atomic_write
from minirpn.image import read_image
from minirpn.ops import reference

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


def test_r23_a_full_disk_names_the_file_and_says_the_old_one_is_intact(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"the last good checkpoint")
    with pytest.raises(OSError) as info, atomic_write(path) as f:
        f.write(b"half of a new one")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a full disk raises
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == (
        f"cannot write '{path}': No space left on device; the file already there is left as it was"
    )
    assert path.read_bytes() == b"the last good checkpoint"


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
        argv = [
            "show",
            "roi-pool",
            "--image",
            bomb,
            "--box",
            0,
            0,
            9,
            9,
            "--out",
            tmp_path / "x.png",
        ]
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


# --------------------------------------------------------------------------- R2 R3 R4 run folders


def test_r2_a_second_training_into_a_folder_in_use_is_refused_naming_the_holder(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FOLDER, str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        argv = ["train", "--out", tmp_path / "run", "--iters", 1, "--val-images", 1]
        code, _, err = run_main(capsys, *argv, "--no-progress")
        assert code == 1 and f"in use by process {holder.pid}" in err, err
        assert not (tmp_path / "run" / "checkpoint.npz").exists()
    finally:
        holder.kill()
        holder.wait()


HOLD_FOLDER = """
import sys, time
from minirpn.fileio import folder_lock
with folder_lock(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_r2_default_run_folders_started_in_the_same_second_differ(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt: "20260101-000000")  # the same second
    for _ in range(2):
        code, out, err = run_main(capsys, "train", "--iters", 1, "--val-images", 1, "--no-progress")
        assert code == 0, err
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["20260101-000000", "20260101-000000-2"]
    assert all((tmp_path / "runs" / name / "checkpoint.npz").is_file() for name in runs)


def test_r3_training_over_a_finished_run_is_refused_naming_resume(tmp_path, capsys, run_dir):
    before = (run_dir / "checkpoint.npz").read_bytes()
    argv = ["train", "--out", run_dir, "--iters", 1, "--val-images", 1, "--no-progress"]
    code, _, err = run_main(capsys, *argv)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"--resume {run_dir}" in err and "--overwrite" in err
    assert (run_dir / "checkpoint.npz").read_bytes() == before


def test_r4_make_toy_data_interrupted_leaves_nothing(tmp_path, capsys, monkeypatch):
    calls = []
    real_save = Image.Image.save

    def save(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # Ctrl-C while the fifth image is written
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    code, _, err = run_main(capsys, "make-toy-data", "--out", tmp_path / "toy", "--num-images", 3)
    assert code == 130 and err.strip() == "minirpn: interrupted"
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin


def test_r4_make_toy_data_never_mixes_into_existing_data(tmp_path, capsys):
    data = toy_coco(tmp_path, capsys)
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    argv = ["make-toy-data", "--out", data, "--num-images", 3, "--seed", 1]
    code, _, err = run_main(capsys, *argv)
    assert code == 1 and "already exists" in err, err
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------ R8 R14 R16 R19 commands


@pytest.fixture
def little_memory(monkeypatch):
    """MemAvailable as if 200 MB were free: a 1500x1500 image does not fit, 128x128 does."""
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 200 * 2**20)


def test_r8_detect_refuses_an_image_too_large_before_running(
    tmp_path, capsys, run_dir, little_memory
):
    big = tmp_path / "big.png"
    Image.new("RGB", (1500, 1500)).save(big)
    code, _, err = run_main(capsys, "detect", "--run", run_dir, big, "--out", tmp_path / "out")
    assert code == 1 and f"image '{big}' is 1500x1500: detecting objects in it" in err, err
    assert not (tmp_path / "out").exists()


def test_r8_train_refuses_a_val_image_too_large_before_training(tmp_path, capsys, little_memory):
    data = toy_coco(tmp_path, capsys)
    Image.new("RGB", (1500, 1500)).save(data / "val" / "images" / "val_00002.png")
    argv = ["train", "--data", data, "--out", tmp_path / "run", "--iters", 1, "--no-progress"]
    code, _, err = run_main(capsys, *argv)
    assert code == 1 and "the largest validation image" in err and "1500x1500" in err, err
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_r14_images_sharing_a_name_get_pictures_of_their_own(tmp_path, capsys, run_dir):
    paths = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "a" / "x.jpg"]
    for shade, path in enumerate(paths):
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (64, 48), (80 * shade, 0, 0)).save(path)
    code, _, err = run_main(capsys, "detect", "--run", run_dir, *paths, "--out", tmp_path / "out")
    assert code == 0, err
    pictures = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pictures == ["1_x_detections.png", "2_x_detections.png", "3_x_detections.png"]
    for image_id in (1, 2, 3):  # each picture shows its own image (in its middle)
        with Image.open(tmp_path / "out" / f"{image_id}_x_detections.png") as picture:
            middle = (picture.width // 2, picture.height // 2)
            assert picture.convert("RGB").getpixel(middle)[0] == 80 * (image_id - 1)


def test_r16_eval_on_data_with_other_class_names_is_refused(tmp_path, capsys, run_dir):
    data = toy_coco(tmp_path, capsys)
    edit_coco(data, "val", lambda c: c["categories"][0].update(name="other"))
    code, _, err = run_main(capsys, "eval", "--run", run_dir, "--data", data)
    assert code == 1 and "['other', 'square', 'triangle', 'bar']" in err, err


def test_r19_resume_checks_the_data_again(tmp_path, capsys):
    from minirpn import Config
    from minirpn.train import train

    data = toy_coco(tmp_path, capsys)

    def stop_after_one(iteration, losses):  # Ctrl-C: a run to resume, not a finished one
        signal.raise_signal(signal.SIGINT)

    cfg = Config.tiny(max_iters=2, images_per_batch=1, warmup_iters=1)
    train(cfg, tmp_path / "run", data=data, progress=False, on_iteration=stop_after_one)
    edit_coco(data, "train", lambda c: c["annotations"][0].update(bbox=[500, 500, 10, 10]))
    code, _, err = run_main(capsys, "train", "--resume", tmp_path / "run", "--no-progress")
    assert code == 1 and "annotation 1: bbox [500, 500, 10, 10] lies entirely outside" in err, err


def test_r19_resume_with_another_seed_is_a_usage_error(capsys, run_dir):
    code, _, err = run_main(capsys, "train", "--resume", run_dir, "--seed", 99)
    assert code == 2 and "--seed cannot change when resuming" in err, err


# --------------------------------------------------------------------------- R23 messages


def test_r23_lr_inf_names_the_option(capsys):
    code, _, err = run_main(capsys, "train", "--lr", "inf")
    assert code == 2 and "--lr" in err and "inf" in err, err


def test_r23_resume_from_a_file_says_it_is_not_a_run_folder(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = run_main(capsys, "train", "--resume", afile)
    assert code == 1 and f"--resume '{afile}' is a file, not a run folder" in err, err


def test_r23_detect_names_an_image_too_small(tmp_path, capsys, run_dir):
    thin = tmp_path / "thin.png"
    Image.new("RGB", (500, 7)).save(thin)
    code, _, err = run_main(capsys, "detect", "--run", run_dir, thin, "--out", tmp_path / "out")
    assert code == 1 and f"image '{thin}' is 500x7 pixels" in err, err


def test_r23_a_long_file_name_is_named_in_one_line(tmp_path, capsys):
    out = tmp_path / ("x" * 5000 + ".png")
    code, _, err = run_main(capsys, "show", "anchors", "--out", out)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "cannot write" in err and "File name too long" in err and ".tmp" not in err


# --------------------------------------------------------------------------- R21 Ctrl-C


CTRL_C_AT_IMPORT = """
import builtins, os, signal, sys
first, second, again = (int(sys.argv.pop(1)) for _ in range(3))
count, real_import = 0, builtins.__import__

def counting_import(name, *args, **kwargs):  # Ctrl-C at the first-th and second-th import
    global count
    count += not name.startswith("_")  # not the interpreter's own (_io, _signal, ...)
    if count in (first, second):
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)

class Stderr:  # with "again": Ctrl-C once more while the command says it was interrupted
    def __init__(self, stream):
        self.stream, self.again = stream, again

    def write(self, text):
        if self.again and "interrupted" in text:
            self.again = False
            os.kill(os.getpid(), signal.SIGINT)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)

sys.stderr = Stderr(sys.stderr)
builtins.__import__ = counting_import
from {module} import {func}
sys.exit({func}())
"""


def console_script(first: int, second: int = 0, again: bool = False) -> list[str]:
    """What pip's console script runs (``from MODULE import FUNC; sys.exit(FUNC())``, the
    entry point read from setup.py), sending itself SIGINT at its ``first``-th and
    ``second``-th import statement (0: never), and with ``again`` once more while it prints
    that it was interrupted: a deterministic Ctrl-C at chosen moments."""
    setup = (Path(__file__).resolve().parent.parent / "setup.py").read_text()
    module, func = re.search(r'"minirpn=([\w.]+):(\w+)"', setup).groups()
    code = CTRL_C_AT_IMPORT.format(module=module, func=func)
    return [sys.executable, "-c", code, str(first), str(second), str(int(again))]


# Imports 1 and 2 come before minirpn's handler (the console script's import of
# minirpn.__main__, which imports sys); the command runs ~4000 more up to its end.
@pytest.mark.parametrize("first", [3, 4, 30, 200, 1000, 2500])
@pytest.mark.parametrize("second", [0, 1, 20])
def test_r21_ctrl_c_during_the_imports_is_one_line_and_exit_130(tmp_path, first, second):
    argv = ["train", "--out", str(tmp_path / "run"), "--iters", "3", "--no-progress"]
    proc = subprocess.run(
        console_script(first, first + second if second else 0) + argv,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("first", [30, 1000])
def test_r21_a_second_ctrl_c_while_shutting_down_keeps_130(tmp_path, first):
    argv = ["train", "--out", str(tmp_path / "run"), "--iters", "3", "--no-progress"]
    proc = subprocess.run(
        console_script(first, again=True) + argv, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "minirpn: interrupted"


# --------------------------------------------------------------------------- R11 R12 configs


@pytest.mark.parametrize(
    "field, value",
    [
        ("fc_channels", 10**8),
        ("roi_pool_size", 10**4),
        ("rpn_channels", 10**6),
        ("roi_align_sampling_ratio", 10**7),
        ("rpn_post_nms_top_n_test", 10**9),
        ("roi_batch_size", 10**9),
        ("max_iters", 10**12),
        ("anchor_scales", tuple(range(1, 1000))),
    ],
)
def test_r11_r12_size_fields_of_a_checkpoint_config_are_bounded(field, value):
    text = json.loads(Config.tiny().to_json())
    text[field] = value
    with pytest.raises(ValueError, match=f"config in 'checkpoint.npz': {field} must"):
        Config.from_json(json.dumps(text), source="checkpoint.npz")


def test_r11_a_config_nested_100k_deep_is_one_line():
    with pytest.raises(ValueError, match="config in 'c.npz' is nested too deeply"):
        Config.from_json("[" * 100_000 + "]" * 100_000, source="c.npz")


# --------------------------------------------------------------------------- R5 R23 checkpoints


def with_member(path, name, data, compress=zipfile.ZIP_STORED):
    """Copy the archive at ``path`` with member ``name`` replaced by (or added as) ``data``."""
    with zipfile.ZipFile(path) as old:
        members = {info.filename: old.read(info) for info in old.infolist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as new:
        for member, content in members.items():
            new.writestr(member, content, compress_type=compress if member == name else None)


def npy_header(shape, descr="<f4"):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return header.getvalue()


def test_r5_an_unknown_compressed_entry_is_never_inflated(tmp_path, run_dir):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes((run_dir / "checkpoint.npz").read_bytes())
    size = path.stat().st_size
    junk = bytes(2**27)  # 128 MB of zeros, 130 KB compressed
    with_member(path, "junk.npy", npy_header((2**25,)) + junk, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < size + 2**20
    tracemalloc.start()
    try:
        load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**26, peak  # far less than the junk: it was not read


@pytest.mark.parametrize(
    "member, header",
    [
        ("param/roi_head.fc6.weight.npy", npy_header((2**20, 2**20))),  # 2**40 floats
        ("extra.npy", npy_header((), descr="<U1073741824")),  # 4 GB of "text"
    ],
)
def test_r5_a_header_claiming_terabytes_is_refused_before_reading(
    tmp_path, run_dir, member, header
):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes((run_dir / "checkpoint.npz").read_bytes())
    with_member(path, member, header + bytes(64))
    entry = member.removesuffix(".npy")
    with pytest.raises(ValueError, match=f"checkpoint.npz'.*{re.escape(entry)}"):
        load_checkpoint(path)


def test_r5_a_zip_bomb_behind_a_valid_header_stops_at_the_header_size(tmp_path, run_dir):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes((run_dir / "checkpoint.npz").read_bytes())
    bias = npy_header((5,)) + np.zeros(5, np.float32).tobytes()
    with_member(
        path, "param/roi_head.cls_score.bias.npy", bias + bytes(2**27), zipfile.ZIP_DEFLATED
    )
    with pytest.raises(ValueError, match="cls_score.bias: holds more than the 20 bytes"):
        load_checkpoint(path)


def test_r23_random_bytes_as_a_checkpoint_do_not_advise_allow_pickle(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(np.random.default_rng(0).bytes(1000))
    code, _, err = run_main(capsys, "eval", "--run", tmp_path)
    assert code == 1 and "checkpoint.npz" in err and "allow_pickle" not in err, err


def test_r23_a_directory_named_checkpoint_npz_is_said_to_be_one(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").mkdir()
    code, _, err = run_main(capsys, "eval", "--run", tmp_path)
    assert code == 1 and "checkpoint.npz' is a directory, not a file" in err, err


# --------------------------------------------------------------------------- R12 R15 kernels


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_r12_a_huge_roi_align_call_stops_at_ctrl_c(direction):
    """The kernel runs without the GIL; it must still look at the signals while it works.
    Called directly on an output prefilled with NaN: after a Ctrl-C, the first RoI is done
    and the last untouched (an uninterruptible kernel would finish all ~40 s of work and
    only then raise)."""
    rois_count, ratio, channels = 2000, 64, 64
    rng = np.random.default_rng(0)
    features = np.ascontiguousarray(rng.standard_normal((1, 16, 16, channels)))  # NHWC
    batch_index = np.zeros(rois_count, dtype=np.int64)
    coords = np.tile([1.0, 1.0, 120.0, 120.0], (rois_count, 1))
    out = np.full((rois_count, channels, 7, 7), np.nan)
    if direction == "forward":
        call = partial(
            _roi_align.roi_align_forward, features, batch_index, coords, 1 / 8, ratio, True, out
        )
        done = out
    else:
        grad_out = np.ones_like(out)
        grad_nhwc = np.zeros((1, 16, 16, channels))
        done = np.full((rois_count, 5), np.nan)
        call = partial(
            _roi_align.roi_align_backward, grad_out, features, batch_index, coords, 1 / 8,
            ratio, True, grad_nhwc, done,
        )  # fmt: skip
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
    done = done.reshape(rois_count, -1)[:, -4:]  # backward: drois' corner columns
    assert not np.isnan(done[0]).any() and np.isnan(done[-1]).all()


def test_r15_kernel_and_twin_refuse_the_same_roi_align_inputs():
    """What once gave different answers: spatial_scale=1e308 (kernel zeros, twin
    IndexError), a NaN in a far corner (twin NaN, kernel 0), sampling_ratio=2**63 (kernel
    OverflowError, twin ValueError)."""
    features = np.zeros((1, 1, 8, 8))
    rois = np.array([[0, 1.0, 1.0, 5.0, 5.0]])
    far_nan = features.copy()
    far_nan[0, 0, 7, 7] = np.nan
    for args, message in [
        ((features, rois, 2, 1e308, 2), "spatial_scale must be a number in (0, 1024]"),
        ((far_nan, rois, 2, 1.0, 2), "features holds nan: RoIAlign needs finite values"),
        ((features, rois, 2, 1.0, 2**63), "sampling_ratio must be an integer in [1, 1024]"),
    ]:
        for impl in (ops, reference):
            with pytest.raises(ValueError) as info:
                impl.roi_align(*args)
            assert message in str(info.value)


# --------------------------------------------------------------------------- R20 SIGTERM


def test_r20_sigterm_saves_says_how_to_resume_and_exits_143(tmp_path):
    """``kill`` (SIGTERM) during training is Ctrl-C's twin: a checkpoint of the last finished
    iteration, the resume hint, the shell's code 143, no temporary file left."""
    out = tmp_path / "run"
    argv = [
        "train",
        "--out",
        str(out),
        "--iters",
        "400",
        "--no-progress",
        "--checkpoint-every",
        "5",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "minirpn", *argv], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert f"checkpoint saved, continue with 'minirpn train --resume {out}'" in err
    saved = load_checkpoint(out / "checkpoint.npz")
    assert 5 <= saved.iteration < 400 and len(saved.run.loss_history) == saved.iteration
    assert not list(out.glob(".*.tmp"))


def test_r20_sigterm_outside_training_is_one_line_and_143(tmp_path):
    """SIGTERM while another command runs (here: the moment detect starts reading)."""
    code = (
        "import os, signal, sys\n"
        "import minirpn.image as image\n"
        "real = image.decode_image\n"
        "def read(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(*a, **k)\n"
        "image.decode_image = read\n"
        "from minirpn.__main__ import run\n"
        "sys.argv = ['minirpn', 'detect', '--run', 'toy', sys.argv[1], '--out', sys.argv[2]]\n"
        "run()\n"
    )
    picture = tmp_path / "x.png"
    Image.new("RGB", (64, 64)).save(picture)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(picture), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "minirpn: terminated"
