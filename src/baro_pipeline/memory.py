"""How the process' allocator gives memory back: large runs' freed arrays returned to the system, small runs' kept for reuse."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from numpy._core import multiarray

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
PR_SET_THP_DISABLE = 41  # prctl's option (linux/prctl.h)
# Once the exports are validated, a million float64 (a column at 1e6 rows, 8 MB) is mapped; smaller
# arrays reuse the heap: each mapping costs page faults (at 1e6 × 2, 128 KiB: +5 s of system time,
# 4 MiB: +2 s, 16 MiB: the peak of the estimation back over 1.5 GiB).
MMAP_THRESHOLD_BYTES = 4 << 20
# While the exports are read and validated, columns of 1e6 rows (4 and 8 MB: the kept rows' copies,
# the rules' masks) come from the heap, whose pages are reused from one to the next: half the page
# faults of validation at 1e6 × 2, and the same peak (the heap given back before the estimation).
READ_MMAP_THRESHOLD_BYTES = 16 << 20


# An export this large (~500,000 interviews of the 2025 questionnaire as CSV) has columns of
# MMAP_THRESHOLD_BYTES and more: below it, the heap's default serves a run better (fresh mappings
# cost page faults, for little memory).
LARGE_EXPORT_BYTES = 150 << 20


# What a small run frees and allocates again (estimation's rank simulations, ~270 MiB a run at
# 2 × 1,110 rows, in blocks of up to a few MiB) stays in the process below this.
KEPT_FREED_BYTES = 256 << 20
HEAP_BLOCK_BYTES = 32 << 20  # glibc's largest mmap threshold (64-bit)
# Large exports: the heap's freed top stays in the process up to this, while they are read and
# validated (a column freed is the next one's room) and once the samples are weighted (arrays below
# MMAP_THRESHOLD_BYTES): at 1e6 × 2 the estimation faults its blocks' pages in once instead of
# after every free (with huge pages: 800,000 → 120,000 faults).
KEPT_HEAP_TOP_BYTES = 64 << 20


def fit_to_export(size_bytes: int) -> bool:
    """Before the exports are read, from the largest one's ``size_bytes``: if it is large, glibc's mmap
    threshold fixed at READ_MMAP_THRESHOLD_BYTES and its trim threshold at KEPT_HEAP_TOP_BYTES
    (:func:`fit_to_samples` follows); :func:`keep_freed_pages` otherwise. Either way no huge pages
    while the exports are read (:func:`huge_pages`).

    The trim threshold: a column freed at the heap's top stays there as the next column's room (glibc's
    default, 128 KiB, gives it back and the next column faults its pages in again): at 1e6 × 2, ps's
    validation 150,000 → 109,000 page faults (~0.1 s), its reading ~400,000 → ~360,000, the same
    peak (the heap is trimmed before the samples are weighted)."""
    huge_pages(False)
    if size_bytes < LARGE_EXPORT_BYTES:
        return keep_freed_pages()
    return mallopt(M_MMAP_THRESHOLD, READ_MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, KEPT_HEAP_TOP_BYTES)


def fit_to_samples(largest_export_bytes: int) -> bool:
    """Once the exports are validated and freed, if they were large: the heap's free pages given back
    (``malloc_trim``), :func:`return_freed_arrays` and huge pages for the stages after. At 1e6 rows
    × 2: the peak ~1.46 GiB rather than ~1.55 with the heap kept; the estimation ~1 s faster than
    with small pages and a heap trimmed at every free (page faults). False otherwise."""
    return largest_export_bytes >= LARGE_EXPORT_BYTES and malloc_trim() and return_freed_arrays() and huge_pages(True)


def huge_pages(wanted: bool) -> bool:
    """Whether the process' memory may come in transparent huge pages: the kernel's switch for the
    whole process (``prctl(PR_SET_THP_DISABLE)``, Linux) and numpy's request for its arrays of 4 MiB
    and more.

    Reading an export, they cost more than they save: pyarrow's allocator (mimalloc) asks for
    huge pages, and where the machine's memory is fragmented each of its faults waits for the
    kernel to compact memory (reading both 1e6 exports with pyarrow: 5.5–11 s with them, 2.7–3.3 s
    without, and a lower peak). Once the samples are in memory, the estimation's large
    temporaries fault in 2 MiB at a time (at 1e6 × 2: ~0.7 s less). Elsewhere than Linux, or
    where the kernel has none, nothing changes.
    """
    set_hugepage = getattr(multiarray, "_set_madvise_hugepage", None)
    if set_hugepage is not None:
        set_hugepage(wanted)
    libc = glibc()
    if libc is not None and sys.platform.startswith("linux"):
        libc.prctl(PR_SET_THP_DISABLE, int(not wanted), 0, 0, 0)  # refused by an old kernel: then nothing changes
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


def return_freed_arrays() -> bool:
    """Fix glibc's mmap threshold at 4 MiB, its trim threshold at KEPT_HEAP_TOP_BYTES; False where the C library is not glibc.

    glibc raises the mmap threshold (up to 32 MiB) each time a mapped block is freed: the arrays of a
    stage's blocks and columns then come from the heap, whose freed pages stay in the process
    (1e6 rows × 2: ~130 MiB more at the peak). Fixed, every array above 4 MiB is its own
    mapping, returned whole when freed; the smaller ones reuse the heap's pages.
    """
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, KEPT_HEAP_TOP_BYTES)
