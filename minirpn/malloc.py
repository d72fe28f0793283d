"""glibc's malloc at run time: keep the memory one training iteration frees for the next one.

Every training iteration allocates and frees the same few tens of megabytes of NumPy arrays
(im2col windows, activations, their gradients). By default glibc's malloc gives large freed
blocks back to the system: blocks above a threshold are unmapped, and free memory at the top
of its heap is trimmed. The next iteration then gets fresh pages from the kernel, which
zeroes each one on its first touch: thousands of page faults per iteration, a sizeable part
of its time spent in the kernel (``benchmarks/roofline.py`` counts them).

:func:`keep_freed_memory` raises both thresholds with ``mallopt``, so that such blocks come
from the heap and the heap keeps its free memory: a training process then stays at its
peak size instead of shrinking and growing back every iteration. Where the C library is
not glibc (macOS, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes

# mallopt's parameters in glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap: glibc's largest allowed value on 64-bit
# systems (half its 64 MiB heap size), far above any array of the tiny detector.
MMAP_THRESHOLD = 32 * 2**20
# Free memory the heap keeps instead of returning it to the system.
TRIM_THRESHOLD = 1024 * 2**20


def keep_freed_memory() -> bool:
    """Keep freed blocks in the process for reuse (see the module docstring).

    Returns whether glibc accepted both settings (False, changing nothing, with another C
    library). The settings last for the life of the process.
    """
    library = ctypes.CDLL(None)  # the symbols the process has loaded, the C library's included
    try:
        library.gnu_get_libc_version  # noqa: B018 (only glibc has it)
        mallopt = library.mallopt
    except AttributeError:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
