"""Conformance with R's survey package: the check script and what the unit tests share with it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The reference numbers live beside the repository (made by make_reference.R there).
REFERENCE_DIR = REPO.parent / "shared" / "reference"


def reference_or_skip():
    """The reference of REFERENCE_DIR, loaded; skips the test when the folder does not exist."""
    from .check_reference import load_reference

    if not (REFERENCE_DIR / "dataset.csv").exists():
        pytest.skip(f"no R reference numbers at {REFERENCE_DIR} (make_reference.R writes them)")
    return load_reference(REFERENCE_DIR)
