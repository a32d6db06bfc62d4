"""Shared fixtures: the small example edition ``tests/fixtures/mini`` and its parts; the 2025 edition run in-process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from baro_pipeline.edition import Codebook, Edition, Population, load_edition
from baro_pipeline.pipeline import RunResult, run_edition
from broken import RowLevelRun, row_level_run, start_row_level_run

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


REPO = Path(__file__).resolve().parents[1]


def copy_edition(dest: Path, edition: str = "2025") -> Path:
    """A project folder holding a copy of the repository's edition and its exports."""
    for part in ("editions", "raw"):
        shutil.copytree(REPO / part / edition, dest / part / edition)
    return dest


@dataclass(frozen=True, eq=False)
class StagedRun:
    """A run of the library in-process, with what each stage returned (in call order)."""

    root: Path
    result: RunResult
    stages: Mapping[str, list[Any]]

    def per_population(self, stage: str) -> dict[str, Any]:
        """A per-population stage's results by population (they run in the edition's order)."""
        return dict(zip(self.result.rows, self.stages[stage], strict=True))


def staged_run(root: Path, edition: str) -> StagedRun:
    stages: dict[str, list[Any]] = {}

    def keep(name: str, function: Any, /, *args: Any) -> Any:
        stages.setdefault(name, []).append(value := function(*args))
        return value

    return StagedRun(root, run_edition(edition, root, stage=keep), stages)


@pytest.fixture(scope="session")
def run_2025(tmp_path_factory) -> StagedRun:
    """The committed 2025 edition run once per session by ``run_edition`` (no Prefect), on a copy."""
    return staged_run(copy_edition(tmp_path_factory.mktemp("run_2025")), "2025")


def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary folder that every pytest-xdist worker sees (theirs are inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


@pytest.fixture(scope="session", autouse=True)
def row_level_started(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The row-level run started in the background with the session's first test, when a collected test reads it.

    A run through Prefect costs about 20 s of CPU (its server's start-up), on one core: the workers go on
    with other tests meanwhile instead of one of them waiting for it.
    """
    started = None
    if any("row_level" in item.fixturenames for item in request.session.items):
        started = start_row_level_run(shared_folder(tmp_path_factory))
    yield
    if started is not None:
        started.wait()  # never left running: it ends by itself (row_level_run's timeout)


@pytest.fixture(scope="session")
def row_level(tmp_path_factory: pytest.TempPathFactory) -> RowLevelRun:
    """The session's one `baro run` through Prefect (tests/broken.py's row-level project, ``--verbose``).

    Prefect's start-up costs about 10 s a run, so test_flows, test_privacy (which also scans
    Prefect's database) and test_broken_inputs all read this run, on every pytest-xdist worker.
    """
    run = row_level_run(shared_folder(tmp_path_factory))
    assert run.result.returncode == 0, run.result.stderr
    return run


# Hypothesis profiles of the property-based harness (tests/test_fuzz.py): `make test` runs the
# derandomized "baro" one (25 examples per property: a smoke test; reproducible in CI, no example database written); `make fuzz` sets
# HYPOTHESIS_PROFILE=fuzz: FUZZ_EXAMPLES (1500) examples per property, failures kept under
# .pytest_cache/ to replay first on the next run.
# No shrinking: an example costs a read and a validation of the real codebook's 110 columns, and a
# failing one is printed with its layout and its mutations by name, which is what reproduces it.
HARNESS = {
    "deadline": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
}
settings.register_profile("baro", max_examples=25, derandomize=True, database=None, **HARNESS)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1500")), database=DirectoryBasedExampleDatabase(".pytest_cache/hypothesis"), **HARNESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "baro"))
