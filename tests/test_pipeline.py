"""pipeline.run_edition: the whole run as one plain function, without Prefect."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
import signal
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest
from conftest import REPO, copy_edition

from baro_pipeline import estimation
from baro_pipeline.cli import main
from baro_pipeline.estimation import population

from baro_pipeline.errors import AuditMismatchError, EstimationError
from baro_pipeline.pipeline import PHASES, run_edition


def test_a_run_calls_every_stage_through_the_wrapper_once_or_once_per_population(run_2025):
    populations = list(run_2025.result.rows)
    calls = {name: len(values) for name, values in run_2025.stages.items()}
    per_population = {"read export", "validate", "weight", "ranking charts"}
    assert set(calls) == set(PHASES) - {"trends"}  # 2025 has no previous edition
    assert all(calls[name] == (len(populations) if name in per_population else 1) for name in calls)
    assert set(run_2025.result.timings) == set(PHASES.values()) - {"trends"} | {"report"}
    assert list(run_2025.stages["gather estimates"][0].rows) == populations  # every population in one stage (one task under Prefect)


def run_with_gp_failing(tmp_path, monkeypatch, capsys, fail) -> tuple[int, str, object]:
    """``baro run 2025 --no-prefect`` as on large samples (SMALL_SAMPLE_ROWS lowered: gp estimated
    in a process of its own), ``fail()`` called there first: exit code, stderr, the project."""
    root = copy_edition(tmp_path)
    original = population.estimate_population

    def failing(sample, pop, edition, *rest):
        if pop.id == "gp":
            fail()
        return original(sample, pop, edition, *rest)

    monkeypatch.setattr(population, "SMALL_SAMPLE_ROWS", 100)
    monkeypatch.setattr(population, "estimate_population", failing)
    code = main(["--root", str(root), "run", "2025", "--no-prefect"])
    return code, capsys.readouterr().err, root


def test_an_error_in_a_population_s_process_ends_the_run_with_its_exit_code_and_message(tmp_path, monkeypatch, capsys):
    """A typed error raised in gp's process is the run's, as it would be in the run's process."""

    def fail():
        raise EstimationError("no rank interval for Q7", where="population gp", fix="check Q7's items")

    code, err, root = run_with_gp_failing(tmp_path, monkeypatch, capsys, fail)
    assert code == 1
    assert "error: population gp: no rank interval for Q7" in err and "fix: check Q7's items" in err and "Traceback" not in err
    assert not (root / "outputs" / "2025").exists()  # nothing published


def test_a_population_s_process_killed_ends_the_run_with_exit_71_and_says_so(tmp_path, monkeypatch, capsys):
    """The system killing the process that estimates gp (as for lack of memory) fails the run with
    ProcessEndedError's exit code, a message naming the process and the signal, and no traceback."""
    code, err, root = run_with_gp_failing(tmp_path, monkeypatch, capsys, lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert code == 71
    assert "error: process baro-estimate-gp: ended without its result (exit code -9: killed by SIGKILL)" in err
    assert "lack of memory" in err and "Traceback" not in err
    assert not (root / "outputs" / "2025").exists()
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(
    ("module", "name", "stage"), [(population, "population_estimates", "figure"), (estimation, "ranked_answers", "list")], ids=["figures", "lists"]
)
def test_an_error_in_figures_or_lists_ends_the_run_with_its_exit_code_and_message(tmp_path, monkeypatch, capsys, module, name, stage):
    root = copy_edition(tmp_path)

    def failing(*args):
        raise EstimationError(f"no {stage} estimate for Q7", where="population gp", fix="check Q7's items")

    monkeypatch.setattr(module, name, failing)
    code = main(["--root", str(root), "run", "2025", "--no-prefect"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: population gp: no {stage} estimate for Q7" in err and "fix: check Q7's items" in err and "Traceback" not in err
    assert not (root / "outputs" / "2025").exists()  # nothing published


def test_the_result_is_what_was_published(run_2025):
    result = run_2025.result
    folder = result.published.folder
    for name, table in result.tables.items():
        as_written = pa.Table.from_pandas(table, preserve_index=False).to_pandas()  # Arrow's types, as Parquet keeps them
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{name}.parquet"), as_written)
    for pop, rows in result.rows.items():
        assert rows.read == rows.kept + rows.excluded + rows.quarantined
        assert rows.kept == (result.tables["weights"]["population"] == pop).sum()
    assert result.verdicts == dict(result.tables["audit"]["verdict"].value_counts().reindex(list(result.verdicts), fill_value=0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.edition = "2026"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.tables["estimates"] = pd.DataFrame()  # type: ignore[index]


def test_a_plain_python_session_runs_an_edition_without_loading_prefect_or_synth(tmp_path):
    # synth (test-data generation) is a command, not the runtime: nothing the run imports, even late, loads it
    root = copy_edition(tmp_path)
    script = (
        "import sys; from baro_pipeline.pipeline import run_edition; r = run_edition('2025', sys.argv[1]); "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'baro_flows') or m == 'baro_pipeline.synth'); "
        "print(r.published.folder.name, r.verdicts['match'], loaded)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2025", "59", "[]"]


@pytest.fixture(scope="module")
def strict_run(tmp_path_factory) -> tuple[pd.Series, AuditMismatchError, list[str], list[str]]:
    """One run with ``strict`` and callbacks, on a copy where a published figure is 20 points off its
    computed value (a mismatch) and five gp interviews carry ps ids: the ps ids, the error raised,
    the progress lines and the warnings."""
    root = copy_edition(tmp_path_factory.mktemp("strict"))
    published = root / "editions" / "2025" / "published.yaml"
    text = published.read_text(encoding="utf-8")
    assert "value: 52\n" in text
    published.write_text(text.replace("value: 52\n", "value: 72\n", 1), encoding="utf-8")
    gp = root / "raw" / "2025" / "gp.csv"
    ps_ids = pd.read_csv(root / "raw" / "2025" / "ps.csv", sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)["respondent_id"]
    frame = pd.read_csv(gp, sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    frame.loc[:4, "respondent_id"] = ps_ids[:5].to_numpy()
    frame.to_csv(gp, sep=";", index=False, encoding="utf-8-sig")
    lines: list[str] = []
    warnings: list[str] = []
    with pytest.raises(AuditMismatchError) as raised:
        run_edition("2025", root, strict=True, progress=lines.append, warn=warnings.append)
    return ps_ids, raised.value, lines, warnings


def test_strict_publishes_then_raises_with_the_result(strict_run):
    _, error, _, _ = strict_run
    assert re.search(r"1 published figure\(s\) do not match the data: ", str(error)), str(error)
    result = error.result
    assert result is not None and result.verdicts["mismatch"] == 1
    assert (result.published.folder / "audit.parquet").is_file()


def test_progress_and_warnings_go_to_their_callbacks(strict_run):
    ps_ids, _, lines, warnings = strict_run
    assert lines[0] == "edition 2025: ps, gp"
    assert any(line.startswith("audit: mismatch 1") for line in lines)
    shared = [w for w in warnings if "respondent id(s) on kept interviews of both ps and gp" in w]
    assert len(shared) == 1 and shared[0].startswith("warning: ")
    assert not any(i in w for i in ps_ids for w in warnings)  # counts only, never the ids
