"""How the process' allocator gives memory back: large arrays' pages returned to the system when freed."""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def return_freed_arrays() -> bool:
    """Fix glibc's mmap threshold at its starting value; False where the C library is not glibc.

    glibc raises the threshold (up to 32 MiB) each time a mapped block is freed: the arrays of a
    stage's blocks and columns then come from the heap, whose freed pages stay in the process
    (1e6 rows × 2: ~150 MiB more at the peak). Fixed, every array above 128 KiB is its own
    mapping, returned whole when freed.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
