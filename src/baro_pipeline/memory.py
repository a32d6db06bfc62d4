"""How the process' allocator serves a run: large runs' columns from a heap given back once validated, small runs' freed blocks kept for reuse, no huge pages."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from numpy._core import multiarray

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
PR_SET_THP_DISABLE = 41  # prctl's option (linux/prctl.h)
# Large exports: columns of 1e6 rows (4 and 8 MB: the kept rows' copies, the rules' masks, the
# estimation's temporaries) come from the heap, whose pages are reused from one array to the next.
# Reading and validating at 1e6 × 2: half the page faults, the same peak. Estimating, a process per
# population: the phase ~0.1 s shorter than with every array of 4 MiB and more mapped on its own
# (a fresh mapping is fresh pages to fault in), the processes' peak together the same.
MMAP_THRESHOLD_BYTES = 16 << 20


# An export this large (~500,000 interviews of the 2025 questionnaire as CSV) has columns of 4 MB
# and more, worth the fixed thresholds above; below it, keep_freed_pages serves a run better.
LARGE_EXPORT_BYTES = 150 << 20


# What a small run frees and allocates again (estimation's rank simulations, ~270 MiB a run at
# 2 × 1,110 rows, in blocks of up to a few MiB) stays in the process below this.
KEPT_FREED_BYTES = 256 << 20
HEAP_BLOCK_BYTES = 32 << 20  # glibc's largest mmap threshold (64-bit)
# Large exports: the heap's freed top stays in the process up to this (a column freed is the next
# one's room): at 1e6 × 2 the estimation faults its blocks' pages in once instead of after every free.
KEPT_HEAP_TOP_BYTES = 64 << 20


def fit_to_export(size_bytes: int) -> bool:
    """Before the exports are read, for the whole run, from the largest one's ``size_bytes``: if it is
    large, glibc's mmap threshold fixed at MMAP_THRESHOLD_BYTES and its trim threshold at
    KEPT_HEAP_TOP_BYTES (:func:`fit_to_samples` follows); :func:`keep_freed_pages` otherwise.
    Either way no huge pages (:func:`no_huge_pages`).

    The trim threshold: a column freed at the heap's top stays there as the next column's room (glibc's
    default, 128 KiB, gives it back and the next column faults its pages in again): at 1e6 × 2, ps's
    validation 150,000 → 109,000 page faults (~0.1 s), its reading ~400,000 → ~360,000, the same
    peak (the heap is trimmed before the samples are weighted)."""
    no_huge_pages()
    if size_bytes < LARGE_EXPORT_BYTES:
        return keep_freed_pages()
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, KEPT_HEAP_TOP_BYTES)


def fit_to_samples(largest_export_bytes: int) -> bool:
    """Once the exports are validated and freed, if they were large: the heap's free pages given back
    (``malloc_trim``) before the samples are weighted and estimated (at 1e6 × 2 the peak ~90 MiB
    lower than with the heap kept). False otherwise."""
    return largest_export_bytes >= LARGE_EXPORT_BYTES and malloc_trim()


def no_huge_pages() -> bool:
    """No transparent huge pages for the process' memory: the kernel's switch for the whole process
    (``prctl(PR_SET_THP_DISABLE)``, Linux) and numpy's request for its arrays of 4 MiB and more
    (``NUMPY_MADVISE_HUGEPAGE``, set by the package before numpy loads, does the same for a fresh process).

    Reading an export, they cost more than they save: pyarrow's allocator (mimalloc) asks for
    huge pages, and where the machine's memory is fragmented each of its faults waits for the
    kernel to compact memory (reading both 1e6 exports with pyarrow: 5.5–11 s with them, 2.7–3.3 s
    without, and a lower peak). Estimating, with a process per population
    (:func:`~baro_pipeline.estimation.start_estimates`), two processes fault their temporaries in
    at once: at 1e6 × 2 the estimate phase took a median 1.62–1.66 s without them, 1.76–1.94 s
    with them (docs/operations.md). Elsewhere than Linux, or where the kernel has none, nothing changes.
    """
    set_hugepage = getattr(multiarray, "_set_madvise_hugepage", None)
    if set_hugepage is not None:
        set_hugepage(False)
    libc = glibc()
    if libc is not None and sys.platform.startswith("linux"):
        libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)  # refused by an old kernel: then nothing changes
    return True


def glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
    except (OSError, TypeError):
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def mallopt(parameter: int, value: int) -> bool:
    """glibc's ``mallopt``; False where the C library is not glibc."""
    libc = glibc()
    return libc is not None and bool(libc.mallopt(parameter, value))


def malloc_trim() -> bool:
    """The heap's free pages given back to the system (glibc's ``malloc_trim``); False where not glibc."""
    libc = glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)  # its result says whether any page was given back, not whether it worked
    return True


def keep_freed_pages() -> bool:
    """Freed blocks kept in the heap for the next ones (up to KEPT_FREED_BYTES); False without glibc.

    By default glibc maps a block of 128 KiB and more on its own, and gives the heap's freed top
    back to the system: each new block's pages are then faulted in again (small edition: ~90,000
    page faults, ~0.2 s of system time; kept: ~40,000 the first run, ~2,000 the next).
    """
    return mallopt(M_TRIM_THRESHOLD, KEPT_FREED_BYTES) and mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK_BYTES)
