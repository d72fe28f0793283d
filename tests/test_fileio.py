"""atomic_write: the umask's permissions, nothing left behind, the old file kept on failure."""

import os
import stat

import pytest

from minirpn.fileio import (
    LOCK_NAME,
    FolderLocked,
    atomic_folder,
    atomic_write,
    folder_lock,
    temp_path,
)


@pytest.fixture
def umask():
    """Set a umask for the test and restore the process's own afterwards."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_permissions_of_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    path = tmp_path / "metrics.json"
    with atomic_write(path) as f:
        f.write(b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == expected
    with atomic_write(path) as f:  # replacing an existing file: the same
        f.write(b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == expected


def test_a_stale_temp_file_is_gone_after_the_next_save(tmp_path, umask):
    """What a SIGKILL in the middle of a save leaves: the next save of the file clears it."""
    umask(0o022)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"old")
    leftover = temp_path(path)
    leftover.write_bytes(b"half a checkpoint")
    os.chmod(leftover, 0o600)
    older_style = tmp_path / ".checkpoint.npz.k3j4h5.tmp"  # mkstemp's name (minirpn <= 0.1)
    older_style.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.npz.tmp"  # another file's temp file is not ours to remove
    other.write_bytes(b"x")

    with atomic_write(path) as f:
        f.write(b"new")

    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not the leftover's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.tmp", "checkpoint.npz"]


def test_an_error_while_writing_keeps_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_glob_characters_in_the_name_are_literal(tmp_path):
    decoy = tmp_path / ".a.b.x.tmp"  # would match ".a*.*.tmp" if '*' were a wildcard
    decoy.write_bytes(b"x")
    with atomic_write(tmp_path / "a*") as f:
        f.write(b"1")
    assert decoy.exists() and (tmp_path / "a*").read_bytes() == b"1"


def test_a_folder_lock_refuses_a_second_holder_and_takes_over_a_dead_ones(tmp_path):
    """flock: a second lock while the first is held names the holder; the file a killed
    holder leaves (its pid inside, no lock: the kernel dropped it) is simply taken over."""
    (tmp_path / LOCK_NAME).write_text("999999999\n")  # a process that is gone
    with folder_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderLocked, match=f"in use by process {os.getpid()}"):
            with folder_lock(tmp_path):
                pass
    with folder_lock(tmp_path):  # released at the end of the block
        pass


def test_an_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "data"
    with pytest.raises(RuntimeError), atomic_folder(target) as folder:
        (folder / "a.txt").write_text("1")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(target) as folder:
        (folder / "a.txt").write_text("1")
        assert not target.exists()  # nothing there until the block ends
    assert (target / "a.txt").read_text() == "1" and list(tmp_path.iterdir()) == [target]
    with pytest.raises(ValueError, match="already exists"), atomic_folder(target):
        pass
