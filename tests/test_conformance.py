"""The conformance check against R's survey: every reference table within its tolerance."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conformance import REFERENCE_DIR
from conformance.check_reference import CHECKS, main, run


@pytest.fixture(scope="module")
def results():
    if not (REFERENCE_DIR / "dataset.csv").exists():
        pytest.skip(f"no R reference numbers at {REFERENCE_DIR} (make_reference.R writes them)")
    return run(REFERENCE_DIR)


def test_every_reference_table_is_reproduced(results):
    failed = [r.json() for r in results if not r.ok]
    assert not failed, "\n".join(failed)


def test_every_table_present_is_checked(results):
    present = {table for table in CHECKS if (REFERENCE_DIR / table).exists()}
    assert {r.table for r in results} == present
    assert all(r.rows > 0 for r in results)


def test_a_number_off_by_more_than_its_tolerance_fails_the_check(tmp_path, capsys):
    if not (REFERENCE_DIR / "dataset.csv").exists():
        pytest.skip(f"no R reference numbers at {REFERENCE_DIR}")
    for name in ("dataset.csv", "margins.csv", "settings.csv"):
        shutil.copy(REFERENCE_DIR / name, tmp_path / name)
    svymean = pd.read_csv(REFERENCE_DIR / "svymean.csv")
    svymean.loc[3, "se"] *= 1 + 1e-6
    svymean.to_csv(tmp_path / "svymean.csv", index=False)
    assert main(["--reference", str(tmp_path)]) == 1
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["table"] == "svymean.csv" and not line["ok"]
    assert line["max_rel_diff"] == pytest.approx(1e-6, rel=1e-3)
