"""The conformance check against R's survey: every reference table within its tolerance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conformance import REFERENCE_DIR, reference_sets
from conformance.check_reference import CHECKS, main, run


@pytest.fixture(scope="module", params=reference_sets(), ids=lambda path: path.name)
def reference(request) -> Path:
    return request.param


@pytest.fixture(scope="module")
def results(reference):
    return run(reference)


def test_every_reference_table_is_reproduced(results):
    failed = [r.json() for r in results if not r.ok]
    assert not failed, "\n".join(failed)


def test_every_table_present_is_checked(results, reference):
    present = {table for table in CHECKS if (reference / table).exists()}
    assert {r.table for r in results} == present
    assert all(r.rows > 0 for r in results)
    if reference.is_relative_to(REFERENCE_DIR.parent):  # the sets kept here have every table, trimmed.csv included
        assert present == set(CHECKS)


def test_a_number_off_by_more_than_its_tolerance_fails_the_check(tmp_path, capsys):
    for name in ("dataset.csv", "margins.csv", "settings.csv"):
        shutil.copy(REFERENCE_DIR / name, tmp_path / name)
    svymean = pd.read_csv(REFERENCE_DIR / "svymean.csv")
    svymean.loc[3, "se"] *= 1 + 1e-6
    svymean.to_csv(tmp_path / "svymean.csv", index=False)
    assert main(["--reference", str(tmp_path)]) == 1
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["table"] == "svymean.csv" and not line["ok"]
    assert line["max_rel_diff"] == pytest.approx(1e-6, rel=1e-3)
