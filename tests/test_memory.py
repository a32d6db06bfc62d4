"""memory.py: the allocator's setting a run makes."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from baro_pipeline import memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None, reason="glibc's mallopt")
def test_return_freed_arrays_sets_glibc_threshold() -> None:
    assert memory.return_freed_arrays() is True


def test_return_freed_arrays_false_without_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libnot-a-c-library.so")
    assert memory.return_freed_arrays() is False


def test_only_large_exports_change_the_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(memory, "return_freed_arrays", lambda: calls.append(True) or True)
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES - 1) is False and calls == []
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES) is True and calls == [True]
