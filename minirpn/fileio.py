"""Writing files so that nothing a user has is ever half-overwritten.

Checkpoints, metrics, pictures and datasets are all written through :func:`atomic_write`:
an interrupted write (a crash, a full disk, Ctrl-C) leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Open ``path`` for binary writing so that it appears all at once, or not at all.

    The data goes to a temporary file in the same folder, which is renamed over ``path``
    only after it was written and flushed to disk (``os.replace`` is atomic within a file
    system); on any error -- a Ctrl-C included -- the temporary file is removed and an
    existing file at ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
