"""memory.py: the allocator's setting a run makes."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from baro_pipeline import memory


SETTINGS = pytest.mark.parametrize("setting", ["return_freed_arrays", "keep_freed_pages"])


@SETTINGS
@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None, reason="glibc's mallopt")
def test_each_setting_is_made_with_glibc(setting: str) -> None:
    assert getattr(memory, setting)() is True


@SETTINGS
def test_each_setting_is_false_without_mallopt(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "libnot-a-c-library.so")
    assert getattr(memory, setting)() is False


def test_large_exports_return_freed_arrays_small_ones_keep_them(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "return_freed_arrays", lambda: calls.append("return") or True)
    monkeypatch.setattr(memory, "keep_freed_pages", lambda: calls.append("keep") or True)
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES - 1) is True and calls == ["keep"]
    assert memory.fit_to_export(memory.LARGE_EXPORT_BYTES) is True and calls == ["keep", "return"]
