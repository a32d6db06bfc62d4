"""Estimates of the published figures: the estimation stage's rows are the one source of the audit's numbers."""

from __future__ import annotations

import ast
import importlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baro_pipeline import audit, estimation, orders
from baro_pipeline.audit.slips import candidate_slips
from baro_pipeline.edition import Condition, Indicator, load_edition
from baro_pipeline.estimation import estimate_items, indicator_items
from baro_pipeline.estimation.items import coded_as_column, indicator_on_states
from baro_pipeline.estimation.figures import FIGURE_COLUMNS, design_rows, figure_estimates, indicator_columns, one_class_counts, source_counts, unweighted
from baro_pipeline.stats import CodedItems, Design, design_from_calibration, rake, variance_layout
from exports import every_spec


def part_modules(package) -> list:
    """A stage package and each of its modules."""
    return [package, *(importlib.import_module(f"{package.__name__}.{p.stem}") for p in sorted(Path(package.__file__).parent.glob("[!_]*.py")))]


def stage_modules(package) -> set[str]:
    """The project's modules a stage package's modules import (``from ..x import``)."""
    trees = [ast.parse(Path(m.__file__).read_text(encoding="utf-8")) for m in part_modules(package)]
    return {node.module for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module}


def test_every_2025_figure_is_audited_on_its_figure_estimates_row(run_2025):
    """The run estimates its figures with its populations (gathered with their rows), the item matrix of each made once."""
    rows = run_2025.stages["gather estimates"][0].figures
    edition = load_edition("2025", run_2025.root)
    table = run_2025.result.tables["audit"].set_index("figure_id")
    assert list(rows.columns) == list(FIGURE_COLUMNS) and rows.index.is_unique
    for figure in edition.figures:
        row, audited = rows.loc[audit.figure_spec(figure)], table.loc[figure.id]
        assert row["not_computed"] == "" and row["n"] == audited["n"], figure.id
        assert (100 * row["estimate"], 100 * row["se"], row["moe_pts"]) == (audited["computed"], audited["se_pts"], audited["moe_pts"]), figure.id
        assert (100 * row["ci_low"], 100 * row["ci_high"], row["n_eff"]) == (audited["ci_low_pts"], audited["ci_high_pts"], audited["n_eff"]), figure.id
    # The slips it tries have their rows too, those of the figures the data do not reproduce: the audit estimates nothing itself.
    assert rows.index.is_unique and set(rows.index) == set(audit.figure_specs(edition))  # grouped by population
    slip_rows = run_2025.stages["slip estimates"][0]
    slipped = table[table["reason"].str.contains("slip")].index
    assert len(slipped) and set(slip_rows.index) == {s.spec for f in edition.figures if f.id in slipped for s in candidate_slips(f, edition)} - set(rows.index)


def test_a_figure_the_data_reproduce_calls_for_no_slip(run_2025):
    edition = load_edition("2025", run_2025.root)
    rows = run_2025.stages["gather estimates"][0].figures
    figure = next(f for f in edition.figures if f.id == "gp_genai_all")  # the one the data do not reproduce (23 printed, 24.3 computed)
    reproduced = rows.copy()
    reproduced.loc[audit.figure_spec(figure), "estimate"] = figure.value / 100
    assert audit.slip_specs(edition, reproduced) == []
    assert audit.slip_specs(edition, rows)  # its slips, as the run estimated them
    no_slips = figure_estimates([], edition, run_2025.per_population("weight"))
    assert no_slips.empty and list(no_slips.columns) == list(FIGURE_COLUMNS)
    row = audit.audit_edition(edition, reproduced, no_slips).set_index("figure_id").loc[figure.id]
    assert "slip" not in row["reason"]


def test_the_audit_follows_the_rows_it_is_given(run_2025):
    rows = run_2025.stages["gather estimates"][0].figures
    edition = load_edition("2025", run_2025.root)
    figure = edition.figures[0]
    moved = rows.copy()
    value = (figure.value - 20) / 100
    moved.loc[audit.figure_spec(figure), ["estimate", "ci_low", "ci_high"]] = [value, value - 0.03, value + 0.03]
    slip_rows = figure_estimates(audit.slip_specs(edition, moved), edition, run_2025.per_population("weight"))  # its slips too, now
    row = audit.audit_edition(edition, moved, slip_rows).set_index("figure_id").loc[figure.id]
    assert row["computed"] == pytest.approx(figure.value - 20) and row["verdict"] == "mismatch"
    assert f"computed {figure.value - 20:.1f} % → {figure.value - 20:.0f}, -20.0 pts" in row["reason"]


def test_a_population_without_a_sample_has_rows_that_say_so(run_2025):
    edition = load_edition("2025", run_2025.root)
    specs = every_spec(edition)
    ps = run_2025.per_population("weight")["ps"]
    rows = figure_estimates(specs, edition, {"ps": ps})
    gp = rows[rows["population"] == "gp"]
    assert len(gp) > 0 and (gp["not_computed"] == "no_data").all() and gp["n"].isna().all() and gp["estimate"].isna().all()
    assert (rows.loc[rows["population"] == "ps", "not_computed"] == "").all()
    table = audit.audit_edition(edition, rows.loc[audit.figure_specs(edition)], rows).set_index("figure_id")
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


# --------------------------------------------------------------------------------------------
# One count of a question's states for all its figures: the same numbers as each coded alone
# --------------------------------------------------------------------------------------------


def coded_alone_rows(design: Design, columns: list[CodedItems], edition) -> list[dict | None]:
    """What design_rows must give: each column coded on its own (BINARY_TABLE's states, counted
    by the kernels themselves), None where nobody is in its base."""
    coded = [coded_as_column(c) for c in columns]
    inside = [not np.isnan(c.table[:, 0])[c.state].all() for c in coded]
    options = {"settings": edition.estimation, "significance": edition.significance, "thresholds": edition.thresholds}
    rows = iter(estimate_items(design, [c for c, kept in zip(coded, inside) if kept], **options).to_dict("records"))
    return [next(rows) if kept else None for kept in inside]


def random_columns(rng: np.random.Generator, n: int) -> list[CodedItems]:
    """0/1 indicators on two questions' states (NaN: out of the base), most sharing an array of
    states, one on a state nobody has (an empty base), one nobody says yes to, one on a
    subgroup's joint states."""
    single = rng.integers(0, 7, n).astype(np.uint8)  # 8 states: the last one nobody's
    tick = rng.integers(0, 3, n).astype(np.uint8)
    tables = [rng.choice([np.nan, 0.0, 1.0], size=8) for _ in range(6)] + [np.array([np.nan] * 5 + [1.0, 0.0, np.nan])]
    columns = [CodedItems(single, t[:, None]) for t in tables]
    columns.append(CodedItems(single, np.array([np.nan] * 7 + [1.0])[:, None]))
    columns += [CodedItems(tick, np.array([[np.nan], [0.0], [1.0]])), CodedItems(tick, np.array([[0.0], [0.0], [1.0]]))]
    columns.append(CodedItems(tick, np.array([[np.nan], [0.0], [0.0]])))  # nobody says yes: a share of 0, not an empty base
    inside = rng.random(n) < 0.4
    columns.append(CodedItems(single + 8 * inside.astype(np.uint8), np.concatenate([np.full(8, np.nan), tables[0]])[:, None]))
    return columns


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_counted_per_question_have_the_numbers_of_each_coded_alone(seed, mini_edition):
    rng = np.random.default_rng(seed)
    n = 3000
    codes = [rng.integers(0, 3, n), rng.integers(0, 2, n)]
    raked = design_from_calibration(rake(codes, [np.array([1000.0, 1200, 800]), np.array([1400.0, 1600])]), codes)
    columns = random_columns(rng, n)
    counted = source_counts(variance_layout(raked), columns)
    # the unweighted design's counts made by itself, and summed over the raked design's classes
    for design, given in ((raked, None), (raked, counted), (unweighted(raked), None), (unweighted(raked), one_class_counts(unweighted(raked), counted))):
        assert variance_layout(design).classes is not None  # the path of one count per question
        found, expected = design_rows(design, columns, mini_edition, given), coded_alone_rows(design, columns, mini_edition)
        assert [row is None for row in found] == [row is None for row in expected] == [False] * 7 + [True] + [False] * 4
        pd.testing.assert_frame_equal(
            pd.DataFrame([row for row in found if row is not None]), pd.DataFrame([row for row in expected if row is not None]), check_exact=True
        )


def test_figure_estimates_are_those_of_each_indicator_coded_alone(run_2025):
    """The 2025 figures and slips: the rows of one count per question are those of the indicators
    coded alone and counted by the kernels (same bits), an empty base says so."""
    edition = load_edition("2025", run_2025.root)
    samples = run_2025.per_population("weight")
    rows = figure_estimates(every_spec(edition), edition, samples)
    for population, sample in samples.items():
        columns, _ = indicator_columns([s for s in rows.index if s.population == population and s.weighted], edition.populations[population].codebook, sample.frame)
        specs = list(columns)  # not those the codebook cannot give
        expected = coded_alone_rows(sample.design, [columns[s] for s in specs], edition)
        assert all(row is not None for row in expected)
        kept = [c for c in FIGURE_COLUMNS if c in expected[0]]
        found = rows.loc[specs, kept].astype({"n": int}).reset_index(drop=True)
        pd.testing.assert_frame_equal(found, pd.DataFrame(expected)[kept], check_exact=True, check_dtype=False)  # object: beside empty rows


def test_indicators_on_a_questions_states_share_its_array():
    """Indicators of one question on 'asked' and 'all' read the question's own states (no array
    per figure); the estimate stage counts that array once."""
    edition = load_edition("2025", Path(__file__).parents[1])
    book = edition.populations["ps"].codebook
    frame = pd.DataFrame({c: [np.nan] * 4 for q in book.profile + book.questions for c in q.export_columns()})
    figure = edition.figures[0]
    block = indicator_items(frame, book, figure.indicator, None)
    asked = indicator_on_states(frame, book, figure.indicator, "asked", block=block)
    everyone = indicator_on_states(frame, book, figure.indicator, "all", block=block)
    assert asked.state is everyone.state and np.isnan(asked.dense()).all() and (everyone.dense() == 0).all()


def test_figures_take_their_questions_items_from_the_populations_item_matrix(run_2025):
    """Given the population's item matrix, every spec of 2025 (figures and slips) has the column
    it has without it (the same states and table), its state array the matrix's own when the
    codebook's bases hold; a spec the codebook cannot give (an unknown question, a grid row or an
    item) has the same row saying why, worded by the codebook."""
    edition = load_edition("2025", run_2025.root)
    samples = run_2025.per_population("weight")
    for population, sample in samples.items():
        book = edition.populations[population].codebook
        matrix = estimation.item_matrix(sample.frame, book)
        matrix_states = {id(c.state) for c in matrix.coded}
        grid = next(q for q in book.questions if q.type == "grid")
        unknown = [
            estimation.Spec(population, Indicator(question="Q_nowhere"), "asked"),
            estimation.Spec(population, Indicator(question=grid.id, row="no_row", code=1), "asked"),
            estimation.Spec(population, Indicator(question=grid.id, row=grid.rows[0].id, code=99), "asked"),
        ]
        specs = [*(s for s in every_spec(edition) if s.population == population and s.weighted), *unknown]
        made, made_settled = indicator_columns(specs, book, sample.frame)
        taken, taken_settled = indicator_columns(specs, book, sample.frame, matrix)
        assert list(taken) == list(made) and len(made) > 20
        for spec, column in made.items():
            assert np.array_equal(taken[spec].state, column.state) and np.array_equal(taken[spec].table, column.table, equal_nan=True), spec
            assert (id(taken[spec].state) in matrix_states) == (spec.not_answers_in_base is None and not isinstance(spec.base, Condition)), spec
        assert taken_settled == made_settled and set(unknown) <= set(taken_settled)
        assert "unknown question or derived indicator 'Q_nowhere'" in taken_settled[unknown[0]]["note"]
        assert taken_settled[unknown[1]]["note"].startswith(f"{grid.id} has no item 'no_row:1'")
        assert taken_settled[unknown[2]]["note"].startswith(f"{grid.id} has no item '{grid.rows[0].id}:99'")
