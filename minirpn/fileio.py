"""Files in and out, so that nothing a user has is ever lost or half-overwritten.

* Writing: every file minirpn writes goes through :func:`atomic_write`. An interrupted
  write (a crash, a full disk, Ctrl-C, even SIGKILL) leaves the previous file intact, and
  the next write of the same file clears what the interrupted one left behind. A path
  that is not a regular file is never replaced: a FIFO or a character device
  (``--out /dev/null``, ``/dev/stdout``) is written through, a symbolic link is followed,
  a directory (or a socket, a disk) is refused.
* Folders: :func:`atomic_folder` makes a folder of files (a dataset) appear whole or not
  at all, and :func:`folder_lock` gives a folder (a run) to one writing process at a time.
* Reading: :func:`regular_file` refuses what is not a file before anything opens it (a
  FIFO would block forever, a directory is no checkpoint).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
from pathlib import Path

# Mode asked for when creating a file; the process's umask takes bits away from it, so a
# user with umask 022 gets the usual rw-r--r-- (what open() and every editor give).
NEW_FILE_MODE = 0o666
# The lock file of a folder given to one process (folder_lock); it holds that process's id.
LOCK_NAME = ".lock"
# Files that are not regular files, in words, for messages.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file :func:`atomic_write` writes ``path`` through: ``.NAME.tmp`` beside it.

    The name is the same for every write of ``path``, so a temporary file left by a killed
    process is simply replaced by the next write instead of lying there forever.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("a directory", "a FIFO (named pipe)", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Open ``path`` for binary writing so that it appears all at once, or not at all.

    The data goes to :func:`temp_path` (same folder), which is renamed over ``path`` only
    after it was written and flushed to disk (``os.replace`` is atomic within a file
    system). On any error -- a Ctrl-C included -- the temporary file is removed and an
    existing file at ``path`` is left as it was; after a SIGKILL, which no code can catch,
    the next write of ``path`` replaces the leftover temporary file. The new file gets
    the permissions of the user's umask (0644 for the common umask 022).

    What is at ``path`` decides how it is written:

    * nothing, or a regular file: atomically, as above;
    * a symbolic link: the file it points to, atomically (the link stays a link);
    * a FIFO or a character device (``/dev/null``, ``/dev/stdout``): written through, in
      place (there is no old content to keep, and replacing the device would break it);
    * anything else (a directory, a socket, a block device): ValueError naming ``path``.

    An OSError while writing (a full disk, a name too long, no permission) names ``path``,
    not the temporary file, and says that the file already there was left as it was. One
    process writes a given ``path`` at a time (:func:`folder_lock` for run folders).
    Temporary files of the older random form ``.NAME.<random>.tmp`` are removed as well.
    """
    shown = str(path)
    try:
        mode = os.stat(path).st_mode  # of what a link points to
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise _naming(error, shown, existed=False) from None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        try:
            with open(path, "wb") as f:
                yield f
        except OSError as error:
            raise _naming(error, shown, existed=False) from None
        return
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"cannot write {shown!r}: it is {kind_of(mode)}, not a file")
    existed = mode is not None
    path = Path(os.path.realpath(path))  # a link's target: the link stays a link
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        for stale in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        # Remove a leftover first: O_CREAT on an existing file would keep that file's mode.
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
    except OSError as error:
        raise _naming(error, shown, existed) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise _naming(error, shown, existed) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _naming(error: OSError, shown: str, existed: bool) -> OSError:
    """``error`` (of the same class and errno) with a message naming the file being written."""
    reason = error.strerror or str(error)
    kept = "; the file already there is left as it was" if existed else ""
    named = type(error)(f"cannot write {shown!r}: {reason}{kept}")
    named.errno = error.errno
    return named


def _glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters ``*?[`` matched literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike):
    """Fill a folder that appears at ``path`` whole, or not at all; yields where to write.

    The files go into ``.NAME.tmp`` beside ``path``, which is renamed to ``path`` when the
    block ends without an error (a rename is atomic). On an error (Ctrl-C included) the
    temporary folder is removed; one left by a SIGKILL is removed by the next call.
    ``path`` must not exist yet, or be an empty folder: ValueError otherwise, before
    anything is written (what is there is never mixed with or replaced by the new files).
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise ValueError(
            f"{str(path)!r} already exists (and is not an empty folder): choose a new "
            "folder, or remove it first"
        )
    tmp = temp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _naming(error, str(path), existed=False) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class FolderLocked(ValueError):
    """Another process holds the folder (:func:`folder_lock`); the message names its id."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike):
    """Hold ``folder`` (created if needed) for this process while the block runs.

    The lock is an exclusive ``flock`` on ``folder/.lock``, which holds the owner's process
    id. The kernel releases it when its process ends in any way (SIGKILL included), so a
    lock left by a dead process is simply taken over. A second holder -- another process,
    or this one again -- gets :class:`FolderLocked` naming the process that holds it.
    """
    folder = Path(folder)
    lock_path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    except OSError as error:
        raise _naming(error, str(lock_path), existed=False) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise FolderLocked(
                f"{str(folder)!r} is in use by process {holder} (lock {str(lock_path)!r}); "
                "wait until it ends, or use another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield folder
    finally:
        os.close(fd)  # releases the lock


def regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a regular file (or a link to one); else an error naming ``what``.

    FileNotFoundError if nothing is there, ValueError for a directory, a FIFO (whose
    reading would block until someone writes it), a device or a socket, and for a path
    that cannot be looked at (a name too long, no permission). ``what`` names the file in
    the message ("image", "checkpoint", "COCO annotation file", ...).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except OSError as error:
        raise ValueError(f"cannot open {what} {str(path)!r}: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {str(path)!r} is {kind_of(mode)}, not a file")
    return Path(path)
