"""memory.py: the allocator's settings a run makes."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

from baro_pipeline import memory


SETTINGS = pytest.mark.parametrize("setting", ["keep_freed_pages", "malloc_trim"])


@SETTINGS
@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None, reason="glibc's mallopt")
def test_each_setting_is_made_with_glibc(setting: str) -> None:
    assert getattr(memory, setting)() is True


@SETTINGS
def test_each_setting_is_false_without_mallopt(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libnot-a-c-library.so")
    assert getattr(memory, setting)() is False
    assert memory.fit_to_samples(memory.LARGE_EXPORT_BYTES) is False


class FakeGlibc:
    """Records the allocator calls a run makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad, 0))
        return 0  # no page given back: not a failure

    def prctl(self, option: int, value: int, *unused: int) -> int:
        self.calls.append(("prctl", option, value))
        return 0


def test_large_exports_are_read_with_their_columns_from_the_heap_small_ones_keep_freed_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = FakeGlibc()
    monkeypatch.setattr(memory, "glibc", lambda: libc)
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES - 1) is True
    no_huge_pages = [("prctl", memory.PR_SET_THP_DISABLE, 1)] if sys.platform.startswith("linux") else []
    assert libc.calls == [*no_huge_pages, ("mallopt", memory.M_TRIM_THRESHOLD, memory.KEPT_FREED_BYTES), ("mallopt", memory.M_MMAP_THRESHOLD, memory.HEAP_BLOCK_BYTES)]
    calls = len(libc.calls)
    assert memory.fit_to_samples(memory.LARGE_EXPORT_BYTES - 1) is False and len(libc.calls) == calls  # small runs: nothing more
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES) is True
    assert libc.calls[calls:] == [
        *no_huge_pages,
        ("mallopt", memory.M_MMAP_THRESHOLD, memory.MMAP_THRESHOLD_BYTES),
        ("mallopt", memory.M_TRIM_THRESHOLD, memory.KEPT_HEAP_TOP_BYTES),
    ]


def test_the_heap_is_given_back_before_the_samples_are_weighted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The thresholds set for the exports stay; no huge pages come back."""
    libc = FakeGlibc()
    monkeypatch.setattr(memory, "glibc", lambda: libc)
    assert memory.fit_to_samples(memory.LARGE_EXPORT_BYTES) is True
    assert libc.calls == [("malloc_trim", 0, 0)]


def test_numpy_asks_for_no_huge_pages_in_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "glibc", lambda: FakeGlibc())
    set_hugepage = memory.multiarray._set_madvise_hugepage  # type: ignore[attr-defined]
    before = set_hugepage(True)
    try:
        memory.fit_to_export(memory.LARGE_EXPORT_BYTES)
        memory.fit_to_samples(memory.LARGE_EXPORT_BYTES)
        assert set_hugepage(True) is False
        memory.fit_to_export(memory.LARGE_EXPORT_BYTES - 1)
        assert set_hugepage(False) is False
    finally:
        set_hugepage(before)


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None, reason="Linux's prctl")
def test_the_kernel_gives_no_huge_pages_in_a_run() -> None:
    libc = ctypes.CDLL(None)
    PR_GET_THP_DISABLE = 42
    try:
        memory.fit_to_export(memory.LARGE_EXPORT_BYTES)
        assert libc.prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1
        memory.fit_to_samples(memory.LARGE_EXPORT_BYTES)
        assert libc.prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1
    finally:
        libc.prctl(memory.PR_SET_THP_DISABLE, 0, 0, 0, 0)  # as the test process started
        memory.keep_freed_pages()


def test_openblas_threads_sleep_at_once_and_numpy_asks_for_no_huge_pages_from_import() -> None:
    """Set by the package before numpy loads, in a fresh process; a value the user set wins."""
    code = "import os, baro_pipeline, numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'], os.environ['NUMPY_MADVISE_HUGEPAGE'])"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "NUMPY_MADVISE_HUGEPAGE")}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split() == ["4", "0"]
    mine = subprocess.run([sys.executable, "-c", code], env=env | {"OPENBLAS_THREAD_TIMEOUT": "10"}, capture_output=True, text=True, check=True)
    assert mine.stdout.split() == ["10", "0"]
