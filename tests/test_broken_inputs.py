"""The corpus of broken inputs (tests/broken.py, docs/broken-inputs.md), through the command line.

Each case runs on its own copy of the project, which also holds previous outputs: a refused case
must leave them as they were. `baro validate` (in process, no Prefect) takes every case it can
find; `baro run` only what weighting finds and a rerun (in process, ``--no-prefect``), the
row-level run (the session's one run through Prefect) and a run killed mid-way (a subprocess).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest

from baro_pipeline.cli import main
from baro_pipeline import ingest
from baro_pipeline.ingest import LIMIT_VARIABLES
from baro_pipeline.outputs import edition_lock, publish_run
from broken import CASES, EDITION, ID, PLANTED, REPO, RUN_SCENARIOS, Case, copy_project, read_frame, start_baro, validate_report

VALIDATE_CASES = [c for c in CASES if c.command == "validate"]
RUN_CASES = [c for c in CASES if c.command == "run"]


def broken_project(case: Case, folder: Path) -> Path:
    """A project copy with previous outputs, then broken as the case says."""
    root = copy_project(folder)
    with edition_lock(root, EDITION):
        publish_run(root, EDITION, {"estimates": pd.DataFrame({"estimate": [0.42]})}, {"edition": EDITION, "run": "previous"}, {})
    case.make(root)
    return root


def snapshot(root: Path) -> dict[str, object]:
    """Every file and link under outputs/ (the lock file aside: it only says a run was tried)."""
    out = root / "outputs"
    found: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file() and not path.name.endswith(".lock"):
            found[name] = path.read_bytes()
    return found


def published(root: Path) -> dict[str, bytes]:
    """The files of the edition's current outputs."""
    return {p.name: p.read_bytes() for p in sorted((root / "outputs" / EDITION).iterdir())}


def baro(root: Path, *args: str) -> tuple[int, str, str]:
    """`baro --root ROOT ARGS` in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(root), *args])
    return code, out.getvalue(), err.getvalue()


def validate(root: Path) -> tuple[int, str, str]:
    return baro(root, "validate", EDITION)


@pytest.fixture(autouse=True, scope="module")
def default_limits():
    """The default limits for the module's fixtures and tests (a case sets its own in its test)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in LIMIT_VARIABLES.values():
            patch.delenv(variable, raising=False)
        yield


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict[str, dict]:
    """What `baro validate` says of the committed exports."""
    code, out, err = validate(copy_project(tmp_path_factory.mktemp("clean")))
    assert code == 0, err
    return validate_report(out)


# --------------------------------------------------------------------------------------------
# Every case `baro validate` finds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VALIDATE_CASES, ids=[c.id for c in VALIDATE_CASES])
def test_validate_gives_each_case_its_outcome(case, baseline, tmp_path, monkeypatch):
    root = broken_project(case, tmp_path)
    for variable, value in case.env.items():
        monkeypatch.setenv(variable, value)
    if case.memory:
        monkeypatch.setattr(ingest.files, "available_memory", lambda: case.memory)
    before = snapshot(root)
    case.outcome.check(*validate(root), baseline)
    assert snapshot(root) == before


def test_every_case_is_documented():
    doc = (REPO / "docs" / "broken-inputs.md").read_text(encoding="utf-8")
    missing = [name for name in [c.id for c in CASES] + list(RUN_SCENARIOS) if f"`{name}`" not in doc]
    assert not missing


# --------------------------------------------------------------------------------------------
# Every row-level problem in one export: the run goes on
# --------------------------------------------------------------------------------------------


def test_row_level_problems_are_quarantined_with_their_reason(row_level):
    quarantine = pd.read_parquet(row_level.root / "outputs" / EDITION / "quarantine.parquet")
    ps = quarantine[quarantine["population"] == "ps"]
    for p in PLANTED:
        rows = [i + 1 for i in row_level.planted[p.id]]
        assert ps[ps["row"].isin(rows)].groupby("rule").size().to_dict() == dict(p.problems), p.id
    assert set(ps["rule"]) == {rule for p in PLANTED for rule in p.problems} | {"speeder"}
    assert ps["reason"].str.len().gt(20).all() and ps["file"].eq("ps.csv").all()


def test_accepted_variations_are_kept(row_level):
    frame = read_frame(row_level.root)
    kept = set(pd.read_parquet(row_level.root / "outputs" / EDITION / "weights.parquet")["respondent_id"])
    accepted = [i for p in PLANTED if not p.problems for i in row_level.planted[p.id]]
    assert accepted and set(frame.loc[accepted, ID]) <= kept


def test_row_level_run_counts_every_row_and_audits(row_level):
    out = row_level.root / "outputs" / EDITION
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    quarantine = pd.read_parquet(out / "quarantine.parquet")
    weights = pd.read_parquet(out / "weights.parquet")
    for pop, rows in manifest["rows"].items():
        assert rows["read"] == rows["kept"] + sum(rows["excluded"].values()) + rows["quarantined"]
        assert rows["quarantined"] == quarantine.loc[quarantine["population"] == pop, "row"].nunique()
        assert rows["kept"] == (weights["population"] == pop).sum()
    assert manifest["rows"]["ps"]["read"] == len(read_frame(REPO))
    gp, ps = manifest["inputs"]["gp"], manifest["inputs"]["ps"]
    assert (gp["encoding"], gp["delimiter"], gp["bom"]) == ("windows-1252", ",", False)
    assert ps["extra_columns"] == ["panel_source"]
    assert len(pd.read_parquet(out / "audit.parquet")) > 0
    assert "Traceback" not in row_level.result.stdout


# --------------------------------------------------------------------------------------------
# Atomic and repeatable: a run killed mid-way, then the same run again
# --------------------------------------------------------------------------------------------


def run_killed_after_validation(root: Path) -> list[str]:
    """Start `baro run`, SIGKILL its process group once it has validated; the lines it printed."""
    proc = start_baro(root, "run", EDITION, "--no-prefect", merged=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if re.match(r"  \w+: kept \d+, excluded \d+, quarantined \d+", line):
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    return lines


@pytest.fixture(scope="module")
def killed_then_rerun(row_level, tmp_path_factory) -> dict:
    """A copy of the row-level run's project and outputs: killed after validation, then run again.

    A copy: other modules, maybe on another pytest-xdist worker, read the row-level run's outputs meanwhile.
    """
    root = shutil.copytree(row_level.root, tmp_path_factory.mktemp("killed") / "project", symlinks=True, ignore=shutil.ignore_patterns(".prefect"))
    found = {"before": snapshot(root), "first": published(root), "lines": run_killed_after_validation(root), "after_kill": snapshot(root)}
    code, _, err = baro(root, "run", EDITION, "--no-prefect")
    return {**found, "rerun": (code, err), "second": published(root)}


def test_a_killed_run_leaves_the_previous_outputs_whole(killed_then_rerun):
    lines = killed_then_rerun["lines"]
    assert re.search(r"kept \d+", lines[-1]), "".join(lines)
    assert killed_then_rerun["after_kill"] == killed_then_rerun["before"]


def test_the_same_inputs_give_byte_identical_tables(killed_then_rerun):
    code, err = killed_then_rerun["rerun"]
    assert code == 0, err  # the killed run left no lock behind
    first, second = killed_then_rerun["first"], killed_then_rerun["second"]
    assert first.keys() == second.keys() and {"estimates.parquet", "weights.parquet", "quarantine.parquet", "audit.parquet"} <= first.keys()
    for name in (n for n in first if n.endswith(".parquet")):
        assert first[name] == second[name], name
    manifests = [json.loads(m) for m in (first["manifest.json"], second["manifest.json"])]
    for manifest in manifests:
        del manifest["started_at"], manifest["timings_seconds"]
    assert manifests[0] == manifests[1]


# --------------------------------------------------------------------------------------------
# What only a run finds, and the lock
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused_runs(tmp_path_factory) -> dict[str, tuple]:
    """The run cases, each on its own copy, by id: exit code, stdout, stderr, outputs before and after.

    ``baro run --no-prefect``: what only a run finds is the library's to say, and the command line's
    to print (a run through Prefect says the same: test_flows).
    """
    found = {}
    for case in RUN_CASES:
        root = broken_project(case, tmp_path_factory.mktemp(case.id))
        before = snapshot(root)
        with edition_lock(root, EDITION) if case.lock_held else contextlib.nullcontext():  # held here: the run is another holder
            found[case.id] = (*baro(root, "run", EDITION, "--no-prefect"), before, snapshot(root))
    return found


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.id for c in RUN_CASES])
def test_run_refuses_and_leaves_previous_outputs_whole(case, refused_runs):
    code, out, err, before, after = refused_runs[case.id]
    case.outcome.check(code, out, err, {})
    assert after == before
