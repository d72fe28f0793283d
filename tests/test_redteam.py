"""Red team (issue 21): one test per attack that once succeeded, each named after its R item.

Every test here failed on the code before its fix. The slow attacks (races, kills at
random moments, a full disk) are in ``benchmarks/redteam.py``.
"""

import os
import stat
import threading

import pytest
from conftest import run_main

from minirpn.fileio import atomic_write

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
