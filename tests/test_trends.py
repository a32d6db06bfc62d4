"""Trends: items paired through `was:`, the change, its SE and significance; then two real runs."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_edition

from baro_pipeline.cli import print_summary
from baro_pipeline.edition import load_edition
from baro_pipeline.errors import EditionError
from baro_pipeline.newedition import create_edition
from baro_pipeline.pipeline import RunResult, run_edition
from baro_pipeline.synth import write_exports
from baro_pipeline.trends import TREND_COLUMNS, PreviousRun, previous_run, question_links, trends_table

REPO = Path(__file__).resolve().parents[1]
MINI = Path(__file__).parent / "fixtures" / "mini"


# --------------------------------------------------------------------------------------------
# A successor of the mini edition: Q3 (grid) split into Q3a (rows r1, r2) and Q3b (row r3),
# Q4 renamed Q5, a new question Q6; and hand-made estimates of both editions.
# --------------------------------------------------------------------------------------------


def edit_codebook(root: Path, edit) -> None:
    file = root / "editions" / "next" / "codebook_ps.yaml"
    book = yaml.safe_load(file.read_text(encoding="utf-8"))
    edit(book)
    file.write_text(yaml.safe_dump(book, allow_unicode=True, sort_keys=False), encoding="utf-8")


def set_dropped(root: Path, dropped: list[str]) -> None:
    file = root / "editions" / "next" / "edition.yaml"
    settings = yaml.safe_load(file.read_text(encoding="utf-8"))
    settings["dropped"] = dropped
    file.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")


def split_rename_and_add(book: dict) -> None:
    questions = {q["id"]: q for q in book["questions"]}
    q3, q4 = questions["Q3"], questions["Q4"]
    q3a = {**q3, "id": "Q3a", "rows": [dict(r, column=f"Q3_{r['id']}") for r in q3["rows"][:2]]}
    q3b = {**q3, "id": "Q3b", "rows": [dict(r, column=f"Q3_{r['id']}") for r in q3["rows"][2:]]}
    q5 = {**q4, "id": "Q5", "columns": {c: f"Q4_{c}" for c in q4["codes"]}}
    q6 = {"id": "Q6", "type": "single", "wording": "Nouvelle question", "codes": {1: "Oui", 2: "Non"}}
    book["questions"] = [questions["Q1"], questions["Q2"], q3a, q3b, q5, q6]


@pytest.fixture
def root(tmp_path) -> Path:
    shutil.copytree(MINI / "editions" / "mini", tmp_path / "editions" / "mini")
    create_edition(tmp_path, "next", "mini")
    return tmp_path


@pytest.fixture
def linked(root) -> Path:
    edit_codebook(root, split_rename_and_add)
    return root


def estimates(edition: str, rows: list[tuple]) -> pd.DataFrame:
    """estimates.parquet rows: (question, item, kind, breakdown, level, n, estimate, se)."""
    frame = pd.DataFrame(rows, columns=["question", "item", "kind", "breakdown", "breakdown_level", "n", "estimate", "se"])
    return frame.assign(
        edition=edition,
        population="ps",
        item_label=frame["question"] + " " + frame["item"],
        breakdown_label=frame["breakdown_level"],
        pct=np.floor(frame["estimate"] * 100 + 0.5),
    )


TOTAL = ("total", "total")
PREVIOUS = estimates(
    "mini",
    [
        ("profession", "1", "code", *TOTAL, 400, 0.40, 0.0),
        ("Q3", "r1:1", "code", *TOTAL, 400, 0.30, 0.02),
        ("Q3", "r3:1", "code", *TOTAL, 400, 0.20, 0.02),
        ("Q4", "1", "code", *TOTAL, 400, 0.50, 0.02),
        ("Q4", "2", "code", *TOTAL, 400, 0.30, 0.02),
        ("Q4", "1", "code", "profession", "2", 200, 0.50, 0.03),
        ("Q4", "1", "code", "profession", "9", 200, 0.50, 0.03),
        ("Q1", "1", "code", "profession", "1", 8, math.nan, math.nan),
        ("Q1", "1", "code", *TOTAL, 400, 0.40, 0.02),
        ("D_diag_or_admin", "D_diag_or_admin", "derived", *TOTAL, 300, 0.60, 0.03),
    ],
)
CURRENT = estimates(
    "next",
    [
        ("profession", "1", "code", *TOTAL, 400, 0.45, 0.0),
        ("Q3a", "r1:1", "code", *TOTAL, 400, 0.30, 0.02),
        ("Q3b", "r3:1", "code", *TOTAL, 400, 0.21, 0.02),
        ("Q5", "1", "code", *TOTAL, 400, 0.58, 0.02),
        ("Q5", "2", "code", *TOTAL, 400, 0.32, 0.02),
        ("Q5", "1", "code", "profession", "2", 200, 0.60, 0.03),
        ("Q1", "1", "code", "profession", "1", 25, 0.30, 0.09),
        ("Q1", "1", "code", *TOTAL, 400, 0.40, 0.02),
        ("Q6", "1", "code", *TOTAL, 400, 0.50, 0.02),
        ("D_diag_or_admin", "D_diag_or_admin", "derived", *TOTAL, 300, 0.50, 0.03),
    ],
)


@pytest.fixture
def table(linked) -> pd.DataFrame:
    previous = PreviousRun(load_edition("mini", linked), PREVIOUS)
    return trends_table(load_edition("next", linked), previous, CURRENT)


def row(table: pd.DataFrame, question: str, item: str, level: tuple[str, str] = TOTAL) -> pd.Series:
    found = table[(table["question"] == question) & (table["item"] == item) & (table["breakdown"] == level[0]) & (table["breakdown_level"] == level[1])]
    assert len(found) == 1, (question, item, level)
    return found.iloc[0]


def test_renamed_question_pairs_with_its_old_id(table):
    r = row(table, "Q5", "1")
    assert (r["previous_question"], r["edition"], r["previous_edition"]) == ("Q4", "next", "mini")
    assert (r["estimate_previous"], r["estimate"], r["pct_previous"], r["pct"]) == (0.50, 0.58, 50, 58)
    assert r["change_pts"] == pytest.approx(8.0)
    assert r["se_change_pts"] == pytest.approx(100 * math.hypot(0.02, 0.02))
    assert r["z"] == pytest.approx(8 / (100 * math.hypot(0.02, 0.02)))
    assert r["p_value"] == pytest.approx(0.004677, abs=1e-6) and r["significant"]
    small = row(table, "Q5", "2")
    assert small["change_pts"] == pytest.approx(2.0) and not small["significant"]


def test_each_part_of_a_split_question_pairs_with_the_old_items(table):
    assert row(table, "Q3a", "r1:1")["previous_question"] == "Q3"
    r3 = row(table, "Q3b", "r3:1")
    assert r3["previous_question"] == "Q3" and r3["change_pts"] == pytest.approx(1.0)


def test_only_shared_items_and_levels_are_paired(table):
    assert list(table.columns) == list(TREND_COLUMNS)
    keys = set(zip(table["question"], table["item"], table["breakdown_level"]))
    assert ("Q6", "1", "total") not in keys  # new question: nothing to compare
    assert ("profession", "1", "total") not in keys  # profile variables are raked to targets: not trended
    assert ("Q5", "1", "2") in keys and ("Q5", "1", "9") not in keys  # a level only one edition has
    assert row(table, "D_diag_or_admin", "D_diag_or_admin")["change_pts"] == pytest.approx(-10.0)
    assert len(table) == 8


def test_a_withheld_estimate_has_no_change_and_is_not_significant(table):
    r = row(table, "Q1", "1", ("profession", "1"))
    assert (r["n_previous"], r["n"]) == (8, 25)
    assert math.isnan(r["change_pts"]) and not r["significant"]


def test_a_question_neither_carried_over_nor_dropped_is_an_error(root):
    edit_codebook(root, lambda book: book.update(questions=[q for q in book["questions"] if q["id"] != "Q4"]))
    with pytest.raises(EditionError, match=r"question\(s\) Q4 of population ps in edition mini are neither carried over nor dropped") as info:
        question_links(load_edition("next", root), load_edition("mini", root))
    assert "list 'ps.Q4' under `dropped:`" in info.value.message


@pytest.mark.parametrize("entry", ["Q4", "ps.Q4"])
def test_a_dropped_question_pairs_with_nothing(root, entry):
    edit_codebook(root, lambda book: book.update(questions=[q for q in book["questions"] if q["id"] != "Q4"]))
    set_dropped(root, [entry])
    links = question_links(load_edition("next", root), load_edition("mini", root))
    assert "Q4" not in set(links["previous_question"])
    assert set(links["question"]) == {"Q1", "Q2", "Q3", "D_diag_or_admin"}


def test_a_link_to_an_unknown_question_is_an_error(root):
    edit_codebook(root, lambda book: book["questions"][0].update(was="Q99"))
    with pytest.raises(EditionError, match="question Q1 of population ps was 'Q99', which edition mini does not have") as info:
        question_links(load_edition("next", root), load_edition("mini", root))
    assert "questions.Q1.was" in info.value.message


def test_dropping_an_unknown_question_is_an_error(root):
    set_dropped(root, ["Q42"])
    with pytest.raises(EditionError, match="dropped question 'Q42' is not a question of edition mini"):
        question_links(load_edition("next", root), load_edition("mini", root))


def test_previous_run_needs_a_predecessor_with_outputs(root):
    assert previous_run(root, load_edition("mini", root)) is None  # no `previous:`
    nxt = load_edition("next", root)
    assert previous_run(root, nxt) is None  # mini has not been run
    (root / "outputs" / "mini").mkdir(parents=True)
    PREVIOUS.to_parquet(root / "outputs" / "mini" / "estimates.parquet")
    found = previous_run(root, nxt)
    assert found.edition.id == "mini" and len(found.estimates) == len(PREVIOUS)


# --------------------------------------------------------------------------------------------
# Two real runs: 2026 made by new-edition, its figures moved by +8 points on three figures
# --------------------------------------------------------------------------------------------

# (population, question, code) -> the share moved, and the figure the move feeds.
MOVES = {("ps", "Q11", 2): 0.08, ("ps", "Q11", 3): -0.08, ("ps", "Q2", 2): 0.08, ("ps", "Q2", 3): -0.08, ("gp", "Q7", 2): 0.08, ("gp", "Q7", 3): -0.08}
MOVED_FIGURES = {"ps_trust": 8, "ps_practice_changed": 8, "gp_trust": 8}
# Every item whose value the moves change: the two codes and the nets over them.
SHIFTED = {
    ("ps", "Q11", "2"), ("ps", "Q11", "3"), ("ps", "Q11", "confiance"), ("ps", "Q11", "pas_confiance"),
    ("ps", "Q2", "2"), ("ps", "Q2", "3"), ("ps", "Q2", "modifie"), ("ps", "Q2", "pas_modifie"),
    ("gp", "Q7", "2"), ("gp", "Q7", "3"), ("gp", "Q7", "confiance"), ("gp", "Q7", "pas_confiance"),
}


def moved_editions(root: Path) -> None:
    """2026's published figures and synth model: 2025's, three figures +8 points; ps Q22 renamed Q23."""
    old, new = root / "editions" / "2025", root / "editions" / "2026"
    published = yaml.safe_load((old / "published.yaml").read_text(encoding="utf-8"))
    for figure in published["figures"]:
        figure["value"] += MOVED_FIGURES.get(figure["id"], 0)
        if figure["id"] == "ps_press_clear_framework":
            figure["indicator"]["question"] = "Q23"
    model = yaml.safe_load((old / "synth.yaml").read_text(encoding="utf-8"))
    for (pid, qid, code), move in MOVES.items():
        model["populations"][pid]["questions"][qid]["codes"][code][0] = round(model["populations"][pid]["questions"][qid]["codes"][code][0] + move, 2)
    questions = model["populations"]["ps"]["questions"]
    questions["Q23"] = questions.pop("Q22")
    for name, data in (("published.yaml", published), ("synth.yaml", model)):
        (new / name).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    codebook = (new / "codebook_ps.yaml").read_text(encoding="utf-8")
    (new / "codebook_ps.yaml").write_text(codebook.replace("  - id: Q22\n", "  - id: Q23\n"), encoding="utf-8")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, run_2025) -> tuple[Path, dict[str, RunResult], list[str]]:
    """Editions 2025 (the session's run, its outputs copied) and 2026 (moved and renamed questions)
    run in-process, and the progress lines of the second."""
    root = copy_edition(tmp_path_factory.mktemp("trends"))
    shutil.copytree(run_2025.root / "outputs", root / "outputs", symlinks=True)
    create_edition(root, "2026", "2025")
    moved_editions(root)
    # The committed 2025 exports are `baro synth 2025` (seed 2025, 1,000 interviews per population):
    # the same seed makes every unmoved question's answers identical, so their change is 0; at
    # 1,000 interviews a move of 8 points is at least 3.5 SEs of the change (z test).
    write_exports(load_edition("2026", root), out=root / "raw" / "2026", seed=2025)
    lines: list[str] = []
    runs = {"2025": run_2025.result, "2026": run_edition("2026", root, progress=lines.append)}
    return root, runs, lines


def test_exactly_the_moved_items_change_significantly(two_runs):
    root, _, _ = two_runs
    trends = pd.read_parquet(root / "outputs" / "2026" / "trends.parquet")
    totals = trends[trends["breakdown"] == "total"]
    significant = set(zip(totals.loc[totals["significant"], "population"], totals.loc[totals["significant"], "question"], totals.loc[totals["significant"], "item"]))
    assert significant == SHIFTED
    keys = list(zip(trends["population"], trends["question"], trends["item"]))
    unshifted = trends[[k not in SHIFTED for k in keys]]
    assert unshifted.loc[unshifted["breakdown"] == "total", "change_pts"].abs().max() < 0.05
    # Unmoved questions have the same answers in both editions, at every breakdown level too (not the
    # moved questions' other codes, nor the renamed Q23: synth keeps their totals, not who answers what).
    redrawn = {q for _, q, _ in MOVES} | {"Q23"}
    same_answers = trends[~trends["question"].isin(redrawn)]
    assert not same_answers["significant"].any() and same_answers["change_pts"].abs().max() < 1e-9
    moved = totals.set_index(["population", "question", "item"])["change_pts"]
    assert moved[("ps", "Q11", "confiance")] == pytest.approx(8, abs=0.05)
    assert moved[("gp", "Q7", "3")] == pytest.approx(-8, abs=0.05)


def test_a_renamed_question_is_trended_under_its_new_id(two_runs):
    root, _, _ = two_runs
    trends = pd.read_parquet(root / "outputs" / "2026" / "trends.parquet")
    renamed = trends[(trends["question"] == "Q23") & (trends["breakdown"] == "total")]
    assert set(renamed["previous_question"]) == {"Q22"} and set(renamed["item"]) == {"1", "2", "3", "4", "oui"}
    assert renamed["change_pts"].abs().max() < 0.05


def test_the_run_says_where_the_trends_and_the_report_are(two_runs, capsys):
    root, runs, lines = two_runs
    assert any(re.fullmatch(r"trends against 2025: \d+ significant changes in \d+ rows", line) for line in lines)
    print_summary(runs["2026"].summary(), 1.0, "baro")
    out = capsys.readouterr().out
    folder = root / "outputs" / "2026"
    for line in (f"report:  {folder / 'report.html'}", f"tables:  {folder / 'tables.xlsx'}", f"trends:  {folder / 'trends.parquet'}", f"audit:   {folder / 'audit.parquet'}"):
        assert line in out
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "Évolutions depuis 2025" in report and "Évolutions 2025 → 2026 (Professionnels de santé)" in report
