"""Shared fixtures: the small example edition ``tests/fixtures/mini`` and its parts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

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


# Hypothesis profiles of the property-based harness (tests/test_fuzz.py): `make test` runs the
# derandomized "baro" one (reproducible in CI, no example database written); `make fuzz` sets
# HYPOTHESIS_PROFILE=fuzz: FUZZ_EXAMPLES (1500) examples per property, failures kept under
# .pytest_cache/ to replay first on the next run.
# No shrinking: an example costs a read and a validation of the real codebook's 110 columns, and a
# failing one is printed with its layout and its mutations by name, which is what reproduces it.
HARNESS = {
    "deadline": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
}
settings.register_profile("baro", max_examples=30, derandomize=True, database=None, **HARNESS)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1500")), database=DirectoryBasedExampleDatabase(".pytest_cache/hypothesis"), **HARNESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "baro"))
