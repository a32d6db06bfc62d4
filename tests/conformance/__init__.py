"""Conformance with R's survey package: the check script and what the unit tests share with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
# The project's own reference numbers, made by tests/conformance/make_reference.R (README.md there).
REFERENCE_DIR = FIXTURES / "reference"
# Another set from the same script (--seed 11 --n 1200): nothing may be tuned to one sample.
SEED11_DIR = FIXTURES / "reference_seed11_n1200"
# Where present, the reference numbers shipped beside the repository are checked too.
SHARED_DIR = REPO.parent / "shared" / "reference"


def reference_sets() -> list[Path]:
    """Every reference set to check: the repository's two, and ../shared/reference when present."""
    return [REFERENCE_DIR, SEED11_DIR] + ([SHARED_DIR] if (SHARED_DIR / "dataset.csv").exists() else [])


def reference() -> Any:
    """The repository's reference set, loaded (a ``check_reference.Reference``)."""
    from .check_reference import load_reference

    return load_reference(REFERENCE_DIR)
