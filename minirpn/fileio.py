"""Writing files so that nothing a user has is ever half-overwritten.

Checkpoints, metrics, pictures and datasets are all written through :func:`atomic_write`:
an interrupted write (a crash, a full disk, Ctrl-C, even SIGKILL) leaves the previous file
intact, and the next write of the same file clears what the interrupted one left behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Mode asked for when creating a file; the process's umask takes bits away from it, so a
# user with umask 022 gets the usual rw-r--r-- (what open() and every editor give).
NEW_FILE_MODE = 0o666


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file :func:`atomic_write` writes ``path`` through: ``.NAME.tmp`` beside it.

    The name is the same for every write of ``path``, so a temporary file left by a killed
    process is simply replaced by the next write instead of lying there forever.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Open ``path`` for binary writing so that it appears all at once, or not at all.

    The data goes to :func:`temp_path` (same folder), which is renamed over ``path`` only
    after it was written and flushed to disk (``os.replace`` is atomic within a file
    system). On any error -- a Ctrl-C included -- the temporary file is removed and an
    existing file at ``path`` is left as it was; after a SIGKILL, which no code can catch,
    the next write of ``path`` replaces the leftover temporary file. The new file gets
    the permissions of the user's umask (0644 for the common umask 022).

    One process writes a given ``path`` at a time (a run folder belongs to one run).
    Temporary files of the older random form ``.NAME.<random>.tmp`` are removed as well.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    for stale in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    # Remove a leftover first: O_CREAT on an existing file would keep that file's mode.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters ``*?[`` matched literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
