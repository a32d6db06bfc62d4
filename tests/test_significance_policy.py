"""The edition's one significance policy (baro_pipeline.significance): its helpers, its reading from
edition.yaml, and edition 2025 run at 90 % — intervals, MOE, flags, letters and texts all follow."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy.special import logit
from scipy.stats import norm, t

from baro_pipeline.edition import load_edition
from baro_pipeline.errors import EditionError
from baro_pipeline.newedition import create_edition
from baro_pipeline.pipeline import RunResult, run_edition
from baro_pipeline.report import trend_charts, trends_table_rows
from baro_pipeline.significance import Significance
from baro_pipeline.trends import PreviousRun, trends_table

from test_trends import CURRENT, MINI, PREVIOUS, edit_codebook, split_rename_and_add

REPO = Path(__file__).resolve().parents[1]
ESTIMATION_LINE = "estimation: {interval: logit, level: 0.95, variance: linearised, rounding: half_up}"
NARROW_SPACE = "\u202f"
SHARE_FIX = "write the confidence level as a share, e.g. 0.95 for 95 %"


# --------------------------------------------------------------------------------------------
# The policy's helpers
# --------------------------------------------------------------------------------------------


def test_the_default_policy_is_95_percent_two_sided():
    policy = Significance()
    assert policy.alpha == 0.05  # not 1 - 0.95 = 0.050000000000000044
    assert policy.z == pytest.approx(1.959963984540054, abs=1e-12)
    assert (policy.percent, policy.level_text, policy.percent_in("en")) == ("95", "95 %", "95")
    assert policy.significant([0.049, 0.05, np.nan]).tolist() == [True, False, False]


def test_another_level_changes_every_helper():
    policy = Significance(level=0.975, language="fr")
    assert policy.alpha == 0.025
    assert policy.z == pytest.approx(norm.isf(0.0125), abs=1e-12)
    assert (policy.level_text, policy.percent_in("en")) == ("97,5 %", "97.5")
    assert Significance(0.90).significant([0.09, 0.1]).tolist() == [True, False]


# --------------------------------------------------------------------------------------------
# Read once from the estimation: block
# --------------------------------------------------------------------------------------------


def edition_with(root: Path, estimation: str) -> Path:
    """A copy of edition 2025 whose estimation: line is ``estimation``."""
    folder = root / "editions" / "2025"
    shutil.copytree(REPO / "editions" / "2025", folder)
    file = folder / "edition.yaml"
    text = file.read_text(encoding="utf-8")
    assert ESTIMATION_LINE in text
    file.write_text(text.replace(ESTIMATION_LINE, estimation), encoding="utf-8")
    return file


def test_the_edition_carries_its_policy(tmp_path):
    edition_with(tmp_path, "estimation: {interval: wilson, level: 0.9}")
    edition = load_edition("2025", tmp_path)
    assert edition.significance == Significance(level=0.9, interval="wilson", language="fr")
    assert (edition.estimation.variance, edition.estimation.rounding) == ("linearised", "half_up")


@pytest.mark.parametrize(
    "estimation, what, fix",
    [
        *(
            (f"estimation: {{level: {written}}}", f"level {shown} is not a confidence level between 0 and 1", SHARE_FIX)
            for written, shown in (("95", "95"), ("0", "0"), ("1", "1"), ("0.9999999999999", "1"), (".nan", "nan"))
        ),
        ("estimation: {level: high}", "expected a whole number or a number, found str 'high'", "write a whole number or a number here"),
        ("estimation: {interval: exact}", "unknown interval method 'exact'", "use one of logit, likelihood, xlogit, beta, asin, mean, wilson"),
        ("estimation: {levels: 0.9}", "unknown key 'levels'", "did you mean 'level'?"),
    ],
)
def test_a_bad_policy_is_refused_where_it_is_written(tmp_path, estimation, what, fix):
    file = edition_with(tmp_path, estimation)
    key = re.search(r"\{(\w+):", estimation).group(1)
    with pytest.raises(EditionError) as error:
        load_edition("2025", tmp_path)
    line = next(i for i, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if text.startswith("estimation:"))
    assert error.value.message == f"{file}, line {line}: key 'estimation.{key}': {what}\n  fix: {fix}"


# --------------------------------------------------------------------------------------------
# Trends: flags and texts
# --------------------------------------------------------------------------------------------


@pytest.fixture
def successor(tmp_path) -> Path:
    """The mini edition and test_trends' successor of it, "next" (split, renamed and new questions)."""
    shutil.copytree(MINI / "editions" / "mini", tmp_path / "editions" / "mini")
    create_edition(tmp_path, "next", "mini")
    edit_codebook(tmp_path, split_rename_and_add)
    return tmp_path


def test_trends_are_flagged_and_told_at_the_editions_level(successor):
    # Q3b r3:1 moves by 5 points with an SE of the change of 2.8: p = 0.077, significant at 90 % only.
    current = CURRENT.assign(estimate=np.where(CURRENT["question"] == "Q3b", 0.25, CURRENT["estimate"]))
    previous = PreviousRun(load_edition("mini", successor), PREVIOUS)
    at_95 = load_edition("next", successor)
    at_90 = dataclasses.replace(at_95, significance=dataclasses.replace(at_95.significance, level=0.90))
    tables = {e.significance.level: trends_table(e, previous, current) for e in (at_95, at_90)}
    moved = tables[0.90]["question"] == "Q3b"
    assert tables[0.90].loc[moved, "p_value"].between(0.05, 0.10).all()
    assert tables[0.90].loc[moved, "significant"].all() and not tables[0.95].loc[moved, "significant"].any()
    assert np.array_equal(tables[0.90]["significant"], tables[0.90]["p_value"].fillna(1) < 0.10)
    notes = [n for chart in trend_charts(at_90, tables[0.90]) for n in chart.notes] + [trends_table_rows(at_90, tables[0.90]).note]
    assert any("significative à 90 % (*)" in n for n in notes) and any("± 1,64 erreur-type" in n and "bilatéral à 90 %" in n for n in notes)
    assert not any("95" in n or "1,96" in n for n in notes)


# --------------------------------------------------------------------------------------------
# Edition 2025 at 90 %
# --------------------------------------------------------------------------------------------


def run_at(root: Path, level: str) -> tuple[Path, RunResult]:
    """Edition 2025 and its exports, run in-process at ``level`` (as edition.yaml writes it)."""
    shutil.copytree(REPO / "raw" / "2025", root / "raw" / "2025")
    edition_with(root, ESTIMATION_LINE.replace("level: 0.95", f"level: {level}"))
    return root, run_edition("2025", root)


@pytest.fixture(scope="module")
def at_95(run_2025) -> tuple[Path, RunResult]:
    """The committed edition, whose level is 0.95 (ESTIMATION_LINE): the session's run of it."""
    return run_2025.root, run_2025.result


@pytest.fixture(scope="module")
def at_90(tmp_path_factory) -> tuple[Path, RunResult]:
    return run_at(tmp_path_factory.mktemp("at_90"), "0.90")


@pytest.fixture(scope="module")
def both(at_95, at_90) -> pd.DataFrame:
    """The estimates at 95 % and at 90 %, row by row (suffixes _95, _90)."""
    keys = ["population", "question", "item", "breakdown", "breakdown_level"]
    return at_95[1].tables["estimates"].merge(at_90[1].tables["estimates"], on=keys, suffixes=("_95", "_90"), validate="one_to_one")


def test_intervals_narrow_by_the_ratio_of_the_quantiles(both):
    # Raked margins have an SE of 0 (an interval of 0 width at any level): only estimates that vary.
    shares = both[(both["kind_90"] != "mean") & (both["se_90"] > 1e-6) & (both["n_90"] >= 100)]
    assert len(shares) > 1000 and (shares["level_90"] == 0.90).all() and (shares["level_95"] == 0.95).all()
    assert np.array_equal(shares["estimate_95"], shares["estimate_90"]) and np.array_equal(shares["se_95"], shares["se_90"])
    # logit intervals: logit(p) ± t·se/(p(1-p)), so the logit half-widths scale by t(.95)/t(.975) on
    # the base's degrees of freedom: between that ratio at 30 df and z(.95)/z(.975) (infinite df).
    half = {lv: logit(shares[f"ci_high_{lv}"]) - logit(shares["estimate_90"]) for lv in ("95", "90")}
    ratio, z_ratio = half["90"] / half["95"], norm.isf(0.05) / norm.isf(0.025)
    assert ratio.between(t.isf(0.05, 30) / t.isf(0.025, 30), z_ratio + 1e-12).all()
    assert abs(ratio.median() - z_ratio) < 2e-3


def test_the_moe_follows_the_interval(both):
    rows = both[both["estimate_90"].notna() & (both["kind_90"] != "mean")]
    widest = np.fmax(rows["estimate_90"] - rows["ci_low_90"], rows["ci_high_90"] - rows["estimate_90"]) * 100
    assert np.allclose(rows["moe_pts_90"], widest)
    moving = rows["se_90"] > 1e-6
    assert (rows.loc[moving, "moe_pts_90"] < rows.loc[moving, "moe_pts_95"]).all()


def test_flags_are_p_values_under_10_percent(at_90, both):
    tested = both[both["p_value_90"].notna()]
    assert np.array_equal(tested["significant_90"], tested["p_value_90"] < 0.10)
    assert tested["p_value_90"].between(0.05, 0.10, inclusive="left").any()  # flags that 95 % does not raise
    estimates = at_90[1].tables["estimates"]
    mirrored = estimates[estimates["mirror_p_value"].notna()]
    assert len(mirrored) and np.array_equal(mirrored["mirror_significant"], mirrored["mirror_p_value"] < 0.10)


def letter_cells(book: openpyxl.Workbook) -> dict[tuple[str, str], set[str]]:
    """Every cell of the population sheets holding significance letters (upper-case letters only)."""
    return {
        (ws.title, cell.coordinate): set(cell.value)
        for ws in book.worksheets
        for row in ws.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and re.fullmatch(r"[A-Z]+", cell.value)
    }


def test_tables_letters_and_notes_follow(at_95, at_90):
    book = openpyxl.load_workbook(at_90[0] / "outputs" / "2025" / "tables.xlsx")
    before = letter_cells(openpyxl.load_workbook(at_95[0] / "outputs" / "2025" / "tables.xlsx"))
    after = letter_cells(book)
    assert all(letters <= after.get(cell, set()) for cell, letters in before.items())  # a lower level keeps every letter
    assert sum(map(len, after.values())) > sum(map(len, before.values()))
    texts = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("significativement plus élevée à 90 %" in t for t in texts)
    assert not any(re.search(r"à 95\s?%", t) for t in texts)  # the Audit sheet's wordings may print 95 %


def test_report_and_audit_texts_say_90_percent(at_90):
    root, result = at_90
    html = (root / "outputs" / "2025" / "report.html").read_text(encoding="utf-8")
    assert "marges d&#39;erreur à 90 %" in html and "trait : intervalle de confiance à 90 %" in html
    assert f"intervalle de confiance à 90{NARROW_SPACE}%" in html  # an audit reason, worded by the report
    assert "test z bilatéral à 90 %" in html and "Écart ± 1,64 erreur-type" in html
    # Published figures may print 95 %: the level is always "à N %".
    assert not re.search(rf"à 95[ {NARROW_SPACE}]%", html) and "1,96" not in html
    reasons = result.tables["audit"]["reason"]
    assert reasons.str.contains("the 90 % CI", regex=False).any() and not reasons.str.contains("95 %", regex=False).any()


def test_the_audit_judges_on_the_90_percent_interval(at_95, at_90):
    before = at_95[1].tables["audit"].set_index("figure_id")
    audit = at_90[1].tables["audit"].set_index("figure_id")
    computed = audit[audit["computed"].notna()]
    assert len(computed) > 50
    assert ((computed["ci_low_pts"] > before.loc[computed.index, "ci_low_pts"]) & (computed["ci_high_pts"] < before.loc[computed.index, "ci_high_pts"])).all()
    moe = np.fmax(computed["computed"] - computed["ci_low_pts"], computed["ci_high_pts"] - computed["computed"])
    assert np.allclose(computed["moe_pts"], moe)
    inside = (computed["ci_low_pts"] <= computed["published"]) & (computed["published"] <= computed["ci_high_pts"])
    judged = computed["verdict"].isin(["within_moe", "mismatch"])
    assert ((computed["verdict"] == "within_moe") == (inside & judged)).all()
