"""Estimates of the published figures: the estimation stage's rows are the one source of the audit's numbers."""

from __future__ import annotations

import ast
import importlib
from dataclasses import replace
from pathlib import Path

import pytest

from baro_pipeline import audit, estimation, orders
from baro_pipeline.edition import load_edition
from baro_pipeline.figures import FIGURE_COLUMNS, figure_estimates


def part_modules(package) -> list:
    """A stage package and each of its modules."""
    return [package, *(importlib.import_module(f"{package.__name__}.{p.stem}") for p in sorted(Path(package.__file__).parent.glob("[!_]*.py")))]


def stage_modules(package) -> set[str]:
    """The project's modules a stage package's modules import (``from ..x import``)."""
    trees = [ast.parse(Path(m.__file__).read_text(encoding="utf-8")) for m in part_modules(package)]
    return {node.module for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module}


def test_every_2025_figure_is_audited_on_its_figure_estimates_row(run_2025):
    rows = run_2025.stages["figure estimates"][0]
    edition = load_edition("2025", run_2025.root)
    table = run_2025.result.tables["audit"].set_index("figure_id")
    assert list(rows.columns) == list(FIGURE_COLUMNS) and rows.index.is_unique
    for figure in edition.figures:
        row, audited = rows.loc[audit.figure_spec(figure)], table.loc[figure.id]
        assert row["not_computed"] == "" and row["n"] == audited["n"], figure.id
        assert (100 * row["estimate"], 100 * row["se"], row["moe_pts"]) == (audited["computed"], audited["se_pts"], audited["moe_pts"]), figure.id
        assert (100 * row["ci_low"], 100 * row["ci_high"], row["n_eff"]) == (audited["ci_low_pts"], audited["ci_high_pts"], audited["n_eff"]), figure.id
    # Every slip the audit tries has its row too: the audit estimates nothing itself.
    assert set(audit.audit_specs(edition)) == set(rows.index)


def test_the_audit_follows_the_rows_it_is_given(run_2025):
    rows = run_2025.stages["figure estimates"][0]
    edition = load_edition("2025", run_2025.root)
    figure = edition.figures[0]
    moved = rows.copy()
    value = (figure.value - 20) / 100
    moved.loc[audit.figure_spec(figure), ["estimate", "ci_low", "ci_high"]] = [value, value - 0.03, value + 0.03]
    row = audit.audit_edition(edition, moved).set_index("figure_id").loc[figure.id]
    assert row["computed"] == pytest.approx(figure.value - 20) and row["verdict"] == "mismatch"
    assert f"computed {figure.value - 20:.1f} % → {figure.value - 20:.0f}, -20.0 pts" in row["reason"]


def test_a_population_without_a_sample_has_rows_that_say_so(run_2025):
    edition = load_edition("2025", run_2025.root)
    specs = audit.audit_specs(edition)
    ps = run_2025.per_population("weight")["ps"]
    rows = figure_estimates(specs, edition, {"ps": ps})
    gp = rows[rows["population"] == "gp"]
    assert len(gp) > 0 and (gp["not_computed"] == "no_data").all() and gp["n"].isna().all() and gp["estimate"].isna().all()
    assert (rows.loc[rows["population"] == "ps", "not_computed"] == "").all()
    table = audit.audit_edition(edition, rows).set_index("figure_id")
    gp_figure = next(f for f in edition.figures if f.population == "gp")
    assert table.loc[gp_figure.id, "verdict"] == "not_computed"
    assert table.loc[gp_figure.id, "reason"] == "no data for population 'gp' (no validated export given to the audit)"


def test_the_audit_and_estimation_reach_no_further_than_they_should():
    assert not stage_modules(audit) & {"stats", "weighting", "validation", "routing"}
    assert not {"estimate_items", "indicator_values", "indicator_items", "SurveySample", "Design"} & set().union(*map(vars, part_modules(audit)))
    assert "validation" not in stage_modules(estimation) and "routing" in stage_modules(estimation)



def test_the_orders_audit_reads_the_answers_the_estimation_stage_gave(run_2025):
    edition = load_edition("2025", run_2025.root)
    answers = run_2025.stages["published list estimates"][0]
    assert set(answers) == set(orders.list_questions(edition)) and len(answers) == 3
    assert run_2025.result.tables["orders"].equals(orders.order_audit(edition, answers))
    # Answers that put the last printed code far ahead: the audit follows them, it estimates nothing itself.
    key = next(iter(answers))
    listed = next(x for x in orders.published_lists(edition) if (x.population, x.question.id) == key)
    moved = answers[key].estimate.copy()
    moved[answers[key].keys.index(str(listed.figures[-1].indicator.code))] = 0.99
    row = orders.order_audit(edition, {key: replace(answers[key], estimate=moved)}).iloc[0]
    assert row["verdict"] == "order_contradicted" and row["computed_order"].startswith(f"{listed.figures[-1].indicator.code} (99.0 %)")
    assert not {"svymean", "ranked_covariance", "question_items", "SurveySample"} & set(vars(orders))
