"""`baro run` end to end: the Prefect flow on its embedded local server, on a copy of the project.

Each run costs Prefect's start-up (about 10 s), so the tests read what the session's one run
through Prefect wrote (conftest's ``row_level``: the 2025 edition with every row-level problem of
tests/broken.py planted); the other end-to-end tests call ``run_edition``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from baro_pipeline.pipeline import run_edition
from conftest import copy_edition

REPO = Path(__file__).resolve().parents[1]
DELIMITERS = {"ps": ";", "gp": ","}  # the row-level project writes gp's export with commas
OUTPUT_FILES = {"estimates.parquet", "weighting.parquet", "weights.parquet", "quarantine.parquet", "audit.parquet", "manifest.json"}


def baro(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": str(root / ".prefect")}
    return subprocess.run(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def outputs(row_level) -> Path:
    return row_level.root / "outputs" / "2025"


def test_run_ends_with_a_summary_and_every_output(row_level, outputs):
    result = row_level.result
    assert "Traceback" not in result.stdout + result.stderr
    for line in ("ps: read", "gp: read", "audit of", "outputs:"):
        assert line in result.stdout
    assert {p.name for p in outputs.iterdir()} >= OUTPUT_FILES


def test_every_row_is_accounted_for(outputs):
    manifest = json.loads((outputs / "manifest.json").read_text())
    quarantine = pd.read_parquet(outputs / "quarantine.parquet")
    weights = pd.read_parquet(outputs / "weights.parquet")
    for pop, rows in manifest["rows"].items():
        assert rows["read"] == rows["kept"] + sum(rows["excluded"].values()) + rows["quarantined"]
        assert rows["kept"] == (weights["population"] == pop).sum()
        assert rows["quarantined"] == quarantine.loc[quarantine["population"] == pop, "row"].nunique()
        src = manifest["inputs"][pop]
        assert len(src["sha256"]) == 64 and src["encoding"] and src["delimiter"] == DELIMITERS[pop]
    # The manifest is written by the "write" stage, so it holds the timings of the stages before it.
    assert set(manifest["timings_seconds"]) >= {"edition", "ingest", "validate", "weight", "estimate", "audit"}


def test_weights_have_mean_one_per_population(outputs):
    weights = pd.read_parquet(outputs / "weights.parquet")
    np.testing.assert_allclose(weights.groupby("population")["weight"].mean(), 1.0, rtol=1e-12)
    summary = pd.read_parquet(outputs / "weighting.parquet")
    assert summary["converged"].all() and (summary["max_margin_error"] <= 1e-10).all()


def test_estimates_cover_every_question_and_published_indicator(outputs):
    from baro_pipeline.edition import load_edition

    edition = load_edition("2025", REPO)
    estimates = pd.read_parquet(outputs / "estimates.parquet")
    total = estimates[estimates["breakdown"] == "total"]
    for pop, population in edition.populations.items():
        asked = {q.id for q in population.codebook.questions if q.type != "text"} | {d.id for d in population.codebook.derived}
        assert asked <= set(total.loc[total["population"] == pop, "question"])
    keys = set(zip(total["population"], total["question"], total["item"]))
    for figure in edition.figures:
        assert (figure.population, figure.indicator.question, figure.indicator.item) in keys, figure.id
    shown = total.dropna(subset=["estimate"])
    assert (shown["ci_low"] <= shown["estimate"] + 1e-12).all() and (shown["estimate"] <= shown["ci_high"] + 1e-12).all()
    assert set(estimates["breakdown"]) - {"total"} == {b for p in edition.populations.values() for b in p.breakdowns}


def test_parquet_tables_carry_the_run_metadata(outputs):
    import pyarrow.parquet as pq

    manifest = json.loads((outputs / "manifest.json").read_text())
    for name in OUTPUT_FILES - {"manifest.json"}:
        meta = json.loads(pq.read_schema(outputs / name).metadata[b"baro"])
        assert meta["edition"] == "2025"
        assert meta["inputs_sha256"] == {p: i["sha256"] for p, i in manifest["inputs"].items()}


def test_audit_command_reads_the_run(row_level):
    result = baro(row_level.root, "audit", "2025")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def edit_yaml(file: Path, change) -> None:
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    change(data)
    file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_new_edition_without_code(tmp_path):
    """Rename an export column, add a question and an answer code: only YAML and data change."""
    root = copy_edition(tmp_path)
    book_file = root / "editions" / "2025" / "codebook_ps.yaml"
    export = root / "raw" / "2025" / "ps.csv"
    frame = pd.read_csv(export, sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    book = yaml.safe_load(book_file.read_text(encoding="utf-8"))
    single = next(q for q in book["questions"] if q["type"] == "single" and "asked_if" not in q)
    old_column = single.get("column", single["id"])
    rng = np.random.default_rng(3)

    def change(data):
        question = next(q for q in data["questions"] if q["id"] == single["id"])
        question["column"] = "RENAMED_COL"
        question["codes"][97] = "Réponse ajoutée"
        data["questions"].append(
            {"id": "QNEW", "type": "single", "wording": "Nouvelle question ?", "codes": {1: "Oui", 2: "Non"}}
        )

    edit_yaml(book_file, change)
    frame = frame.rename(columns={old_column: "RENAMED_COL"})
    answered = frame["RENAMED_COL"] != ""
    frame.loc[answered & (rng.random(len(frame)) < 0.05), "RENAMED_COL"] = "97"
    frame["QNEW"] = np.where(frame["status"] == "complete", rng.choice(["1", "2"], size=len(frame)), "")
    frame.to_csv(export, sep=";", index=False, encoding="utf-8-sig")

    run_edition("2025", root)  # the library's run: what is tested is the edition, not Prefect
    estimates = pd.read_parquet(root / "outputs" / "2025" / "estimates.parquet")
    ps = estimates[(estimates["population"] == "ps") & (estimates["breakdown"] == "total")]
    assert set(ps.loc[ps["question"] == "QNEW", "item"]) >= {"1", "2"}
    assert "97" in set(ps.loc[ps["question"] == single["id"], "item"])


def test_the_progress_bar_moves_one_phase_at_a_time_in_the_order_of_the_stages(monkeypatch):
    """A stage started ahead of its phase (the ranking charts, drawn during estimation) does not move
    the bar; each phase moves it once, and the last ends it at 100 %."""
    from baro_flows import progress
    from baro_pipeline.pipeline import PHASES

    moved: list[float] = []
    monkeypatch.setattr(progress, "create_progress_artifact", lambda *a, **k: "bar")
    monkeypatch.setattr(progress, "update_progress_artifact", lambda bar, value, description: moved.append(value))
    stages = ["load edition", "read export", "validate", "read export", "validate", "weight", "weight", "estimate", "ranking charts",
              "estimate", "ranking charts", "mirror comparisons", "audit", "weights table", "section charts", "tables", "report", "write outputs"]
    with progress.progress_bar("2025") as move:
        for stage in stages:
            move(stage)
    assert moved == [100.0 * i / len(progress.ORDER) for i in range(1, len(progress.ORDER) + 1)]
    assert set(stages) <= set(PHASES)


def test_a_stage_task_hands_back_what_prefect_would_keep():
    """Prefect keeps a task run's parameters and return value until the flow ends: the stage's task
    takes and gives them in a holder that the flow empties once the task has run."""
    from baro_flows.run import Handed, stage_task

    arguments = Handed(2, 3)
    returned = stage_task("weight", lambda a, b: a * b).fn(arguments)
    assert returned.taken() == (6,) and returned.values == ()
    assert arguments.values == (2, 3)  # a retry of the task finds them again
    assert arguments.taken() == (2, 3) and arguments.values == ()
