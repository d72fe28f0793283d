"""NumPy's BLAS at run time: which OpenBLAS kernel does the matrix products, and how many threads.

OpenBLAS (the BLAS of NumPy's wheels) picks a kernel for the CPU it runs on -- SkylakeX on an
AVX-512 machine, Haswell on an AVX2 one, ... -- or the one named by ``OPENBLAS_CORETYPE``,
which it reads once, when NumPy loads. The kernels sum the products of a matrix product in
different orders, so float32 results differ in their last bits, and training amplifies those
bits into a different model after a few hundred iterations. That is why minirpn ships
trained weights (:func:`minirpn.pretrained`) and why its tests assert what every kernel's
training gives; :func:`corename` says which kernel a process got.

Both functions talk to the OpenBLAS library NumPy loaded, through ``ctypes``; with another
BLAS (MKL, Apple's Accelerate) or where the library cannot be found they do nothing and say so.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from pathlib import Path

import numpy as np

# OpenBLAS's exported names, as plain builds, 64-bit-integer builds ("...64_") and the
# scipy-openblas builds of NumPy's wheels ("scipy_...64_") spell them.
_PREFIXES = ("scipy_", "")
_SUFFIXES = ("64_", "")


@cache
def _openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library NumPy has loaded, or None."""
    for path in _loaded_libraries() + _bundled_libraries():
        if "openblas" in Path(path).name.lower():
            try:
                return ctypes.CDLL(path)  # already loaded: the same handle, not a second copy
            except OSError:
                continue
    return None


def _loaded_libraries() -> list[str]:
    """Paths of the shared libraries mapped into this process (Linux), else []."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            rows = [line.split(maxsplit=5) for line in maps]
    except OSError:
        return []
    return [row[5].strip() for row in rows if len(row) == 6]  # the 6th field is the file


def _bundled_libraries() -> list[str]:
    """The libraries NumPy's wheels bundle (``numpy.libs`` on Linux, ``numpy/.dylibs`` on macOS)."""
    package = Path(np.__file__).parent
    folders = (package.parent / "numpy.libs", package / ".dylibs")
    return [str(p) for folder in folders if folder.is_dir() for p in sorted(folder.iterdir())]


def _function(name: str):
    """OpenBLAS's function ``openblas_NAME`` under whichever spelling the library exports."""
    library = _openblas()
    if library is None:
        return None
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            try:
                return getattr(library, f"{prefix}openblas_{name}{suffix}")
            except AttributeError:
                continue
    return None


def corename() -> str | None:
    """The name of the OpenBLAS kernel NumPy's matrix products run on ("SkylakeX",
    "Haswell", "Katmai" for ``OPENBLAS_CORETYPE=Prescott``, ...), or None if NumPy's BLAS
    is not an OpenBLAS this function can find."""
    function = _function("get_corename")
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    name = function()
    return name.decode("ascii", errors="replace") if name else None


def use_one_thread() -> bool:
    """Run NumPy's OpenBLAS with one thread from now on, unless ``OPENBLAS_NUM_THREADS``
    is set (the user's choice wins). Returns whether BLAS now runs one thread.

    The tiny model's matrix products are too small to gain much from a second thread, and
    on a busy two-core machine OpenBLAS's spinning threads make training several times
    slower. This is what the lessons call first; the ``minirpn`` command gets the same
    effect by setting ``OPENBLAS_NUM_THREADS`` before NumPy loads.
    """
    if os.environ.get("OPENBLAS_NUM_THREADS"):
        return os.environ["OPENBLAS_NUM_THREADS"].strip() == "1"
    set_threads = _function("set_num_threads")
    if set_threads is None:
        return False
    set_threads.argtypes = [ctypes.c_int]
    set_threads(1)
    get_threads = _function("get_num_threads")
    return get_threads is None or get_threads() == 1
