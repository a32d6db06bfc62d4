"""Shared fixtures: the small example edition ``tests/fixtures/mini`` and its parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from baro_pipeline.edition import Codebook, Edition, Population, load_edition

MINI_ROOT = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture(scope="session")
def mini_edition() -> Edition:
    return load_edition("mini", MINI_ROOT)


@pytest.fixture(scope="session")
def mini_population(mini_edition: Edition) -> Population:
    return mini_edition.populations["ps"]


@pytest.fixture(scope="session")
def mini_codebook(mini_population: Population) -> Codebook:
    return mini_population.codebook
