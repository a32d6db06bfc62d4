"""Estimation stage: item keys and bases, indicators on a base, estimates, estimates.parquet rows, rounding."""

from __future__ import annotations

import contextvars
import dataclasses
import multiprocessing
import os
import threading
import time
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from baro_pipeline import audit
from baro_pipeline.edition import Condition, Indicator, Mirror, NotAnswer, Question, Thresholds, load_edition
from baro_pipeline.errors import EstimationError, ProcessEndedError
from baro_pipeline.estimation import (
    ESTIMATE_COLUMNS,
    MIRROR_COLUMNS,
    POPULATION_COLUMNS,
    code_states,
    coded_indicator,
    estimate_items,
    estimate_population,
    indicator_values,
    item_matrix,
    mirror_comparisons,
    published_round,
)
from baro_pipeline.ingest import read_export
from baro_pipeline.report import mirror_pairs
from baro_pipeline.estimation import population as population_module
from baro_pipeline.estimation.levels import breakdown_levels, level_estimates, level_p_values, level_sums
from baro_pipeline.estimation.mirrors import MIRROR_KEYS, KeyedRows
from baro_pipeline.estimation.figures import figure_estimates
from baro_pipeline.estimation.population import start_estimates
from baro_pipeline.stats import coded_column, difference_from_sums, domain_means, jk1_rake, pairwise_differences, svymean, variance_layout, versus_rest
from baro_pipeline.validation import validate_export
from baro_pipeline.weighting import weight_population, weighted_sample

from broken import REPO
from exports import clean_frame, weighted, write_csv, write_sav, write_xlsx

NAN = np.nan

# --------------------------------------------------------------------------------------------
# A hand-made frame of the mini codebook: 20 respondents whose profession (8/12) and sex (9/11)
# already match the targets (40 % / 45 %), so raking leaves every weight at 1 and every share
# can be counted by hand.
# --------------------------------------------------------------------------------------------

PROFESSION = [1] * 8 + [2] * 12
SEX = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
Q1 = [1, 1, 1, 2, 2, 2, 3, 3, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3]  # asked Q2: rows 0-5 and 8-12
Q2 = {0: {1}, 1: {1, 2}, 2: {2}, 3: {1, 3}, 4: {2, 98}, 5: {3}, 8: {1}, 9: {2}, 10: {1, 2}, 11: {2, 3}, 12: {1}}
Q3 = {"r1": [1, 2, 3, 4, 9] * 4, "r2": [2, 9, 1, 3, 4] * 4, "r3": [9, 9, 1, 2, 3] * 4}
Q4 = [{1}, {2}, {1, 2}, {99}] * 5


def ticks(chosen: list[set[int] | None], codes: tuple[int, ...], prefix: str) -> dict[str, list[float]]:
    """0/1 columns per code, NaN where the question was not asked (None)."""
    return {f"{prefix}_{c}": [NAN if t is None else float(c in t) for t in chosen] for c in codes}


def hand_frame() -> pd.DataFrame:
    """The validated frame: float codes, multi 0/1 with NaN where not asked, no text column."""
    return pd.DataFrame(
        {
            "respondent_id": [f"R{i:02d}" for i in range(20)],
            "profession": np.array(PROFESSION, float),
            "SEXE": np.array(SEX, float),
            "Q1": np.array(Q1, float),
            **ticks([Q2.get(i) for i in range(20)], (1, 2, 3, 98), "Q2"),
            **{f"Q3_{r}": np.array(v, float) for r, v in Q3.items()},
            **ticks(Q4, (1, 2, 99), "Q4"),
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return hand_frame()


@pytest.fixture(scope="module")
def matrix(frame, mini_codebook):
    return item_matrix(frame, mini_codebook)


def column(matrix, question: str, item: str) -> np.ndarray:
    found = matrix.items.index[(matrix.items["question"] == question) & (matrix.items["item"] == item)]
    assert len(found) == 1, (question, item)
    return matrix.values[:, found[0]]


def with_question(codebook, question: Question):
    """The codebook with one question replaced (same id) or added."""
    kept = tuple(q for q in codebook.questions if q.id != question.id)
    return dataclasses.replace(codebook, questions=kept + (question,))


# --------------------------------------------------------------------------------------------
# Items and bases (docs/edition-format.md, "Items and bases")
# --------------------------------------------------------------------------------------------


def test_item_keys_follow_the_edition_format(matrix):
    items = matrix.items
    keys = list(zip(items["question"], items["item"], items["kind"]))
    grid = [("Q3", f"{r}:{c}", "code") for r in ("r1", "r2", "r3") for c in (1, 2, 3, 4, 9)]
    grid = [k for r in ("r1", "r2", "r3") for k in [x for x in grid if x[1].startswith(f"{r}:")] + [("Q3", f"{r}:confiance", "net")]]
    assert keys == [
        ("profession", "1", "code"), ("profession", "2", "code"), ("sex", "1", "code"), ("sex", "2", "code"),
        ("Q1", "1", "code"), ("Q1", "2", "code"), ("Q1", "3", "code"), ("Q1", "oui", "net"),
        ("Q2", "1", "code"), ("Q2", "2", "code"), ("Q2", "3", "code"), ("Q2", "98", "code"),
        *grid,
        ("Q4", "1", "code"), ("Q4", "2", "code"), ("Q4", "99", "code"), ("Q4", "informe", "net"),
        ("D_diag_or_admin", "D_diag_or_admin", "derived"),
    ]
    assert matrix.values.shape == (20, len(items))
    assert list(items.columns) == ["question", "item", "item_label", "kind", "base", "question_type", "answer"]


def test_item_labels_bases_and_answer_flags(matrix):
    items = matrix.items.set_index(["question", "item"])
    assert items.loc[("Q1", "oui"), "item_label"] == "Oui"
    assert items.loc[("Q3", "r1:confiance"), "item_label"] == "Vous-même – Confiance"
    assert items.loc[("Q3", "r2:9"), "item_label"] == "Vos patients – Ne sait pas"
    assert items.loc[("D_diag_or_admin", "D_diag_or_admin"), "base"] == "Q1 in [1, 2]"
    assert set(items.drop(index=("D_diag_or_admin", "D_diag_or_admin"))["base"]) == {"asked"}
    assert items.loc[("Q2", "98"), "answer"] and items.loc[("Q4", "99"), "answer"]
    assert not items.loc[("Q3", "r1:9"), "answer"] and not items.loc[("Q4", "informe"), "answer"]
    assert items.loc[("Q2", "1"), "question_type"] == "multi" and items.loc[("profession", "1"), "question_type"] == "single"


@pytest.mark.parametrize(
    ("question", "item", "expected"),
    [
        ("Q1", "3", [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
        ("Q1", "oui", [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
        # multi: those not asked (Q1 = 3) are outside the base
        ("Q2", "1", [1, 1, 0, 1, 0, 0, NAN, NAN, 1, 0, 1, 0, 1] + [NAN] * 7),
        ("Q2", "98", [0, 0, 0, 0, 1, 0, NAN, NAN, 0, 0, 0, 0, 0] + [NAN] * 7),
        ("Q3", "r1:1", [1, 0, 0, 0, 0] * 4),
        ("Q3", "r1:9", [0, 0, 0, 0, 1] * 4),  # "ne sait pas" kept in the base (in_base: true)
        ("Q3", "r1:confiance", [1, 1, 0, 0, 0] * 4),
        ("Q3", "r3:confiance", [0, 0, 1, 1, 0] * 4),
        ("Q4", "informe", [1, 1, 1, 0] * 5),
        ("Q4", "99", [0, 0, 0, 1] * 5),
        ("D_diag_or_admin", "D_diag_or_admin", [1, 1, 1, 1, 1, 0, NAN, NAN, 1, 1, 1, 1, 1] + [NAN] * 7),
        ("profession", "2", [0] * 8 + [1] * 12),
    ],
)
def test_item_values_and_bases(matrix, question, item, expected):
    np.testing.assert_array_equal(column(matrix, question, item), np.array(expected, float))


def test_a_not_answer_out_of_the_base_has_no_item_and_leaves_the_base(frame, mini_codebook):
    q3 = mini_codebook.question("Q3")
    out = dataclasses.replace(q3, not_answers=MappingProxyType({9: NotAnswer("Ne sait pas", in_base=False)}))
    matrix = item_matrix(frame, with_question(mini_codebook, out))
    assert "r1:9" not in set(matrix.items.loc[matrix.items["question"] == "Q3", "item"])
    np.testing.assert_array_equal(column(matrix, "Q3", "r1:confiance"), np.array([1, 1, 0, 0, NAN] * 4))


def test_numeric_questions_are_means_and_text_questions_never_items(frame, mini_codebook):
    age = Question(id="Q5", wording="Âge", type="numeric", label="Âge", column="Q5", minimum=18, maximum=99,
                   not_answers=MappingProxyType({999: NotAnswer("Refus", in_base=False)}))
    note = Question(id="Q6", wording="Commentaire", type="text", column="Q6")
    book = with_question(with_question(mini_codebook, age), note)
    values = np.r_[[30.0, 999.0, NAN], np.full(17, 50.0)]
    matrix = item_matrix(frame.assign(Q5=values, Q6="free text"), book)
    row = matrix.items[matrix.items["question"] == "Q5"].iloc[0]
    assert (row["item"], row["kind"], row["item_label"], row["base"]) == ("Q5", "mean", "Âge", "asked")
    np.testing.assert_array_equal(column(matrix, "Q5", "Q5")[:4], [30.0, NAN, NAN, 50.0])
    assert "Q6" not in set(matrix.items["question"])


# --------------------------------------------------------------------------------------------
# One indicator on a base
# --------------------------------------------------------------------------------------------


def test_indicator_on_its_own_base_is_its_item_column(frame, mini_codebook, matrix):
    values = indicator_values(frame, mini_codebook, Indicator("Q3", net="confiance", row="r2"))
    np.testing.assert_array_equal(values, column(matrix, "Q3", "r2:confiance"))
    derived = indicator_values(frame, mini_codebook, Indicator("D_diag_or_admin"))
    np.testing.assert_array_equal(derived, column(matrix, "D_diag_or_admin", "D_diag_or_admin"))


def test_base_all_counts_those_not_asked_as_no(frame, mini_codebook):
    values = indicator_values(frame, mini_codebook, Indicator("Q2", code=1), "all")
    np.testing.assert_array_equal(values, [1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1] + [0] * 7)


def test_a_subgroup_base_is_met_within_the_items_own_base(frame, mini_codebook):
    doctors = Condition(question="profession", codes=(1,))
    values = indicator_values(frame, mini_codebook, Indicator("Q2", code=1), doctors)
    np.testing.assert_array_equal(values, [1, 1, 0, 1, 0, 0, NAN, NAN] + [NAN] * 12)
    share = indicator_values(frame, mini_codebook, Indicator("Q1", net="oui"), doctors)
    assert np.nanmean(share) == pytest.approx(6 / 8) and np.isnan(share[8:]).all()


def test_dont_know_can_be_excluded_from_the_base(frame, mini_codebook):
    kept = indicator_values(frame, mini_codebook, Indicator("Q3", net="confiance", row="r1"))
    out = indicator_values(frame, mini_codebook, Indicator("Q3", net="confiance", row="r1"), not_answers_in_base=False)
    np.testing.assert_array_equal(kept, [1, 1, 0, 0, 0] * 4)
    np.testing.assert_array_equal(out, [1, 1, 0, 0, NAN] * 4)
    assert (np.nanmean(kept), np.nanmean(out)) == (0.4, 0.5)


@pytest.mark.parametrize(
    ("indicator", "base"),
    [
        (Indicator("Q3", net="confiance", row="r2"), "asked"),
        (Indicator("Q2", code=1), "all"),
        (Indicator("Q1", net="oui"), Condition(question="profession", codes=(1,))),
        (Indicator("D_diag_or_admin"), "asked"),
        (Indicator("Q5"), Condition(question="profession", codes=(1,))),
    ],
    ids=["grid-net", "all", "subgroup", "derived", "mean-subgroup"],
)
def test_an_indicator_is_coded_as_coded_column_codes_its_values(frame, mini_codebook, indicator, base):
    """The figures take coded_indicator as the estimates take coded columns: the same states and table."""
    book = with_question(mini_codebook, Question(id="Q5", wording="age", type="numeric", column="Q5"))
    ages = frame.assign(Q5=np.arange(len(frame), dtype=float) % 7 + 20)
    coded = coded_indicator(ages, book, indicator, base)
    again = coded_column(coded.dense()[:, 0])
    np.testing.assert_array_equal(coded.state, again.state)
    np.testing.assert_array_equal(coded.table, again.table)
    assert coded.state.dtype == again.state.dtype and (len(coded.table) == 3) == (indicator.question != "Q5")


@pytest.mark.parametrize(
    ("indicator", "base", "words"),
    [
        (Indicator("Q9", code=1), "asked", "unknown question or derived indicator 'Q9'"),
        (Indicator("Q1", code=7), "asked", "Q1 has no item '7'"),
        (Indicator("Q1", net="oui"), "everyone", "base 'everyone' does not apply to net item 'oui' of Q1"),
    ],
)
def test_an_indicator_that_cannot_be_computed_says_why(frame, mini_codebook, indicator, base, words):
    with pytest.raises(EstimationError, match=words):
        indicator_values(frame, mini_codebook, indicator, base)


# --------------------------------------------------------------------------------------------
# Rounding as published
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codes", [(1, 2, 98, 99), (-3, 0, 5), (1, 40000)])
def test_code_states_take_exact_codes_only(codes):
    """A state is a code's position; blank, 2.5, a number beyond the integers' range or no code at all are "no code"."""
    q = Question(id="q", wording="q", type="single", codes=MappingProxyType({c: str(c) for c in codes}), column="Q")
    values = [*codes, np.nan, 2.5, codes[0] - 1, codes[-1] + 1, codes[0] + 65536, codes[0] - 65536, 1e30, -np.inf]
    expected = list(range(len(codes))) + [len(codes)] * 8
    np.testing.assert_array_equal(code_states(pd.DataFrame({"Q": values}), q, "Q"), expected)


@pytest.mark.parametrize(
    ("share", "half_up", "down"),
    [(0.765, 77, 76), (0.125, 13, 12), (0.07, 7, 7), (0.29, 29, 29), (0.5449, 54, 54), (0.999, 100, 99), (0.0, 0, 0)],
)
def test_published_rounding_is_half_up_not_to_even(share, half_up, down):
    assert published_round(np.array([share * 100]))[0] == half_up
    assert published_round(np.array([share * 100]), rounding="down")[0] == down


def test_rounding_keeps_missing_values_and_rejects_unknown_methods():
    assert np.isnan(published_round(np.array([NAN]))[0])
    with pytest.raises(EstimationError, match="unknown rounding 'bankers'"):
        published_round(np.array([1.0]), rounding="bankers")


# --------------------------------------------------------------------------------------------
# Estimates (stats kernels)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skewed(mini_population):
    """A random sample of the mini codebook whose profile is off its targets: weights differ from 1."""
    frame = clean_frame(mini_population.codebook, n=300, seed=3)
    frame = frame.assign(profession=np.where(np.arange(300) < 200, 1.0, 2.0))  # 67 % doctors for 40 % targeted
    return frame, weight_population(frame, mini_population)


def test_an_estimate_is_the_weighted_share_of_its_base(skewed, mini_edition, mini_codebook):
    frame, weighting = skewed
    w = weighting.weights
    assert w.std() > 0.1
    matrix = item_matrix(frame, mini_codebook)
    table = estimate_items(weighting.design, matrix.values, settings=mini_edition.estimation, significance=mini_edition.significance, thresholds=mini_edition.thresholds, kinds=matrix.items["kind"])
    assert list(table.columns) == list(ESTIMATE_COLUMNS) and len(table) == len(matrix.items)
    for j in matrix.items.index[matrix.items["question"].isin(["Q1", "Q2", "Q3", "D_diag_or_admin"])]:
        y = matrix.values[:, j]
        base = ~np.isnan(y)
        row = table.loc[j]
        assert row["estimate"] == pytest.approx(np.sum(w[base] * y[base]) / np.sum(w[base]), rel=1e-12)
        assert row["n"] == base.sum() and row["n_weighted"] == pytest.approx(w[base].sum())
        assert row["n_eff"] == pytest.approx(w[base].sum() ** 2 / (w[base] ** 2).sum())
        assert row["ci_low"] < row["estimate"] < row["ci_high"] and row["se"] > 0
        assert row["moe_pts"] == pytest.approx(100 * max(row["estimate"] - row["ci_low"], row["ci_high"] - row["estimate"]))
        assert row["pct"] == published_round(np.array([100 * row["estimate"]]))[0]
    assert set(table["ci_method"]) == {"logit"} and set(table["level"]) == {0.95}
    assert set(table["se_method"]) == {"linearised (raking)"}
    # raked margins (profile items) have an SE of about 0: their interval still holds the estimate
    assert (table["ci_low"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_high"]).all()


def test_the_levels_tests_from_the_shared_sums_are_those_of_their_own_passes(skewed, mini_edition, mini_population, mini_codebook):
    """One pass of sums serves the estimates, the levels against the rest and against each other:
    the numbers of svymean, versus_rest and pairwise_differences, to the last bit."""
    frame, weighting = skewed
    design, matrix = weighting.design, item_matrix(frame, mini_codebook)
    levels = breakdown_levels(frame, mini_population)
    sums = level_sums(design, matrix, levels)
    table, shared = level_estimates(design, matrix, levels, mini_edition)  # the estimate stage's, its counts freed then
    for field in sums.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(shared, field), getattr(sums, field), err_msg=field)
    assert len(table) == levels.masks.shape[1] * len(matrix.items)
    found = domain_means(variance_layout(design), sums)
    alone = svymean(design, list(matrix.coded), levels.masks)
    for field in alone.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(found, field), getattr(alone, field), err_msg=field)
    breakdown = (levels.keys["breakdown"] != "total").to_numpy()
    p = level_p_values(design, sums, levels)
    assert np.isnan(p[~breakdown]).all()
    np.testing.assert_array_equal(p[breakdown], versus_rest(design, list(matrix.coded), levels.masks[:, breakdown]).p)
    pairs = np.array([[1, 2]])  # two levels of the first breakdown
    assert levels.keys["breakdown"].iloc[1] == levels.keys["breakdown"].iloc[2] != "total"
    np.testing.assert_array_equal(
        difference_from_sums(variance_layout(design), sums, pairs[:, 0], pairs[:, 1]).p,
        pairwise_differences(design, list(matrix.coded), levels.masks, pairs).p,
    )


def test_a_mean_gets_a_t_interval_and_no_percentage(skewed, mini_edition, mini_codebook):
    frame, weighting = skewed
    age = Question(id="Q5", wording="Âge", type="numeric", label="Âge", column="Q5")
    values = np.linspace(20, 70, len(frame))
    matrix = item_matrix(frame.assign(Q5=values), with_question(mini_codebook, age))
    j = matrix.items.index[matrix.items["kind"] == "mean"]
    table = estimate_items(weighting.design, matrix.values[:, j], settings=mini_edition.estimation, significance=mini_edition.significance, thresholds=mini_edition.thresholds, kinds=["mean"])
    row = table.iloc[0]
    assert row["estimate"] == pytest.approx(np.average(values, weights=weighting.weights))
    assert row["ci_method"] == "t" and np.isnan(row["pct"])
    assert row["ci_high"] - row["estimate"] == pytest.approx(row["estimate"] - row["ci_low"])
    assert row["moe_pts"] == pytest.approx(row["ci_high"] - row["estimate"])  # in years, not × 100


@pytest.mark.parametrize(("n", "small", "suppressed"), [(2, True, True), (3, True, False), (4, True, False), (5, False, False)])
def test_small_and_suppressed_bases_at_the_thresholds(skewed, mini_edition, n, small, suppressed):
    _, weighting = skewed
    y = np.full(len(weighting.weights), NAN)
    y[:n] = [1.0, 0.0] * (n // 2) + [1.0] * (n % 2)
    table = estimate_items(weighting.design, y[:, None], settings=mini_edition.estimation, significance=mini_edition.significance, thresholds=Thresholds(flag_base=5, suppress_base=3))
    row = table.iloc[0]
    assert (row["n"], row["small_base"], row["suppressed"]) == (n, small, suppressed)
    withheld = row[["estimate", "se", "se_kish", "ci_low", "ci_high", "moe_pts", "deff", "pct"]]
    assert withheld.isna().all() == suppressed and withheld.notna().all() == (not suppressed)


# --------------------------------------------------------------------------------------------
# estimates.parquet rows of one population
# --------------------------------------------------------------------------------------------


SUPPRESS_BASE = 16  # the nurses' base of Q2 (15) is withheld, the doctors' (18) is not


@pytest.fixture(scope="module")
def hand_estimates(mini_population, mini_edition):
    """The hand-made frame three times over (shares unchanged, bases of 24 to 60)."""
    frame = pd.concat([hand_frame()] * 3, ignore_index=True).assign(respondent_id=[f"R{i:02d}" for i in range(60)])
    sample = weighted(frame, mini_population)
    np.testing.assert_allclose(sample.weights, 1.0, atol=1e-9)  # the sample matches its targets
    edition = dataclasses.replace(mini_edition, thresholds=Thresholds(flag_base=30, suppress_base=SUPPRESS_BASE))
    return estimate_population(sample, mini_population, edition)


def rows_of(table: pd.DataFrame, question: str, breakdown_level: str = "total") -> pd.DataFrame:
    return table[(table["question"] == question) & (table["breakdown_level"] == breakdown_level)].set_index("item")


def test_estimates_rows_are_every_item_on_every_level(hand_estimates, matrix, mini_edition):
    table = hand_estimates
    assert list(table.columns) == list(POPULATION_COLUMNS)
    k = len(matrix.items)
    assert len(table) == 3 * k  # total + the two professions
    levels = table[["breakdown", "breakdown_level", "breakdown_label"]].drop_duplicates()
    assert levels.values.tolist() == [["total", "total", "Ensemble"], ["profession", "1", "Médecin généraliste"], ["profession", "2", "Infirmier"]]
    for _, level in table.groupby(["breakdown", "breakdown_level"], sort=False):
        assert level[["question", "item", "kind", "base"]].values.tolist() == matrix.items[["question", "item", "kind", "base"]].values.tolist()
    assert set(table["edition"]) == {mini_edition.id} and set(table["population"]) == {"ps"}
    assert not any("respondent" in c for c in table.columns)


def test_hand_counted_shares(hand_estimates):
    total = hand_estimates[hand_estimates["breakdown"] == "total"].set_index(["question", "item"])
    assert total.loc[("Q1", "oui"), ["estimate", "pct", "n"]].tolist() == pytest.approx([11 / 20, 55, 60])
    assert total.loc[("Q2", "1"), ["estimate", "pct", "n"]].tolist() == pytest.approx([6 / 11, 55, 33])
    assert total.loc[("Q3", "r1:confiance"), "estimate"] == pytest.approx(8 / 20)
    assert total.loc[("Q4", "informe"), "estimate"] == pytest.approx(15 / 20)
    assert total.loc[("D_diag_or_admin", "D_diag_or_admin"), "estimate"] == pytest.approx(10 / 11)
    doctors = rows_of(hand_estimates, "Q1", "1")
    assert doctors.loc["oui", ["estimate", "n"]].tolist() == pytest.approx([6 / 8, 24])


def test_ranks_within_multi_questions_share_the_lowest_rank_on_ties(hand_estimates):
    q2 = rows_of(hand_estimates, "Q2")
    assert q2["rank"].tolist() == [1, 1, 3, 4]  # codes 1 and 2: 6 of 11 each, 3: 3, 98: 1
    q4 = rows_of(hand_estimates, "Q4")
    assert q4.loc[["1", "2", "99"], "rank"].tolist() == [1, 1, 3] and pd.isna(q4.loc["informe", "rank"])
    doctors = rows_of(hand_estimates, "Q2", "1")  # rows 0-5: codes 1 and 2 ×3, 3 ×2, 98 ×1
    assert doctors["rank"].tolist() == [1, 1, 3, 4]
    nurses = rows_of(hand_estimates, "Q2", "2")  # a withheld base: no rank
    assert nurses["suppressed"].all() and nurses["rank"].isna().all()
    others = hand_estimates[~hand_estimates["question"].isin(["Q2", "Q3", "Q4"])]
    assert others["rank"].isna().all()
    q3 = hand_estimates[hand_estimates["question"] == "Q3"]  # a grid: its rows ranked by its first net (tests/test_ranks.py)
    ranked = q3.loc[q3["rank"].notna(), "item"]
    assert len(ranked) and ranked.str.endswith(":confiance").all()


def test_small_bases_flags_and_significance(hand_estimates):
    table = hand_estimates
    assert (table["small_base"] == (table["n"] < 30)).all() and table["small_base"].any()
    assert (table["suppressed"] == (table["n"] < SUPPRESS_BASE)).all()
    withheld = table.loc[table["suppressed"], ["estimate", "se", "ci_low", "ci_high", "moe_pts", "deff", "pct"]]
    assert len(withheld) and withheld.isna().all().all()
    total = table[table["breakdown"] == "total"]
    assert not total["significant"].any() and total["p_value"].isna().all()
    assert not table.loc[table["suppressed"], "significant"].any()
    levels = table[(table["breakdown"] != "total") & ~table["suppressed"]]
    assert levels["p_value"].notna().any() and levels["p_value"].dropna().between(0, 1).all()
    assert (levels["significant"] == (levels["p_value"] < 0.05)).all()


def test_jk1_variance_redoes_the_raking_in_every_replicate(skewed, mini_edition, mini_codebook, mini_population):
    """variance: jk1 gives jk1_rake's SEs (R: as.svrepdesign(type = "JK1") + rake()), per domain
    as the item with NaN outside the domain; estimates unchanged."""
    frame, weighting = skewed
    matrix = item_matrix(frame, mini_codebook)
    j = matrix.items.index[matrix.items["question"].isin(["Q1", "Q3"])].to_numpy()
    y = matrix.values[:, j]
    settings = dataclasses.replace(mini_edition.estimation, variance="jk1")
    domains = np.column_stack([np.ones(len(frame), bool), frame["profession"].to_numpy() == 1])
    jk1 = estimate_items(weighting.design, y, settings=settings, significance=mini_edition.significance, thresholds=mini_edition.thresholds, domains=domains)
    linear = estimate_items(weighting.design, y, settings=mini_edition.estimation, significance=mini_edition.significance, thresholds=mini_edition.thresholds, domains=domains)
    codes = weighting.design.calibration_codes
    totals = [np.bincount(c, weights=weighting.weights) for c in codes]
    in_doctors = np.where(domains[:, [1]], y, np.nan)
    direct = jk1_rake(codes, totals, np.ones(len(frame)), np.column_stack([y, in_doctors]))
    np.testing.assert_allclose(jk1["se"], direct.se, rtol=1e-8)
    np.testing.assert_allclose(jk1["estimate"], linear["estimate"], rtol=1e-9)
    assert set(jk1["se_method"]) == {"jk1 (raking redone in each replicate)"}
    assert not np.allclose(jk1["se"], linear["se"], rtol=1e-6)  # a different variance, close to the linearised one
    np.testing.assert_allclose(jk1["se"], linear["se"], rtol=0.2)


def test_jk1_variance_refuses_weights_it_cannot_replicate(skewed, mini_edition):
    _, weighting = skewed
    trimmed = dataclasses.replace(weighting.design, calibration="trimmed")
    settings = dataclasses.replace(mini_edition.estimation, variance="jk1")
    with pytest.raises(EstimationError, match="variance jk1 re-rakes every replicate, but these weights come from 'trimmed'") as found:
        estimate_items(trimmed, np.ones((trimmed.n, 1)), settings=settings, significance=mini_edition.significance, thresholds=mini_edition.thresholds)
    assert "variance: linearised" in found.value.fix


def test_the_same_export_as_csv_excel_and_spss_gives_identical_estimates(mini_population, mini_edition, tmp_path):
    """Ingest, validation, raking and estimation of one export written in the three formats."""
    export = clean_frame(mini_population.codebook, n=200, seed=5)
    paths = {
        "csv": write_csv(export, tmp_path / "ps.csv"),
        "xlsx": write_xlsx(export, tmp_path / "ps.xlsx"),
        "sav": write_sav(export, tmp_path / "ps.sav", mini_population.codebook),
    }
    tables = {}
    for fmt, path in paths.items():
        valid = validate_export(read_export(path, mini_population.codebook), mini_population, mini_edition.quality, mini_edition.thresholds)
        tables[fmt] = estimate_population(weighted_sample(valid, mini_population), mini_population, mini_edition)
    assert len(tables["csv"]) > 100 and tables["csv"]["estimate"].notna().sum() > 100
    pd.testing.assert_frame_equal(tables["xlsx"], tables["csv"])
    pd.testing.assert_frame_equal(tables["sav"], tables["csv"])


def test_the_breakdown_variable_is_not_tested_within_its_own_levels(hand_estimates):
    levels = hand_estimates[hand_estimates["breakdown"] == "profession"]
    own = levels[levels["question"] == "profession"]
    assert len(own) == 4 and own["p_value"].isna().all() and not own["significant"].any()
    others = levels[(levels["question"] != "profession") & ~levels["suppressed"] & (levels["se"] > 0)]
    assert others["p_value"].notna().all()


@pytest.fixture(scope="module")
def mirrored(hand_estimates, mini_edition):
    """The hand estimates as two populations whose Q1 mirror each other: gp's shares 0.1 higher, SEs doubled."""
    ps = mini_edition.populations["ps"]
    edition = dataclasses.replace(
        mini_edition,
        populations=MappingProxyType({"ps": ps, "gp": dataclasses.replace(ps, id="gp")}),
        mirrors=(Mirror(MappingProxyType({"ps": "Q1", "gp": "Q1"})),),
    )
    gp = hand_estimates.assign(population="gp", estimate=hand_estimates["estimate"] + 0.1, se=hand_estimates["se"] * 2)
    return mirror_comparisons(edition, {"ps": hand_estimates, "gp": gp})


def test_mirror_items_are_compared_as_independent_samples(mirrored, hand_estimates):
    ps, gp = mirrored["ps"], mirrored["gp"]
    assert list(ps.columns) == list(POPULATION_COLUMNS) + list(MIRROR_COLUMNS)
    rows = ps[(ps["question"] == "Q1") & ps["estimate"].notna()]
    assert len(rows) >= 6
    se = np.sqrt(5) * rows["se"]
    np.testing.assert_allclose(rows["mirror_difference"], -0.1, rtol=1e-12)
    np.testing.assert_allclose(rows["mirror_se"], se, rtol=1e-12)
    np.testing.assert_allclose(rows["mirror_p_value"], 2 * scipy_stats.norm.sf(0.1 / se), rtol=1e-12)
    assert (rows["mirror_significant"] == (rows["mirror_p_value"] < 0.05)).all()
    assert set(rows["mirror_population"]) == {"gp"} and set(rows["mirror_question"]) == {"Q1"} and (rows["mirror_item"] == rows["item"]).all()
    mirror = gp.loc[rows.index]  # the same rows, seen from gp: the difference negated
    np.testing.assert_allclose(mirror["mirror_difference"], 0.1, rtol=1e-12)
    np.testing.assert_allclose(mirror["mirror_p_value"], rows["mirror_p_value"], rtol=1e-12)
    assert set(mirror["mirror_population"]) == {"ps"}
    # every level of the breakdown is compared (both populations have it), not only the total
    assert set(rows["breakdown_level"]) == {"total", "1", "2"}


def test_rows_without_a_mirror_have_null_mirror_columns(mirrored):
    ps = mirrored["ps"]
    other = ps[ps["question"] != "Q1"]
    assert other[["mirror_population", "mirror_question", "mirror_item", "mirror_difference", "mirror_se", "mirror_p_value"]].isna().all().all()
    assert not other["mirror_significant"].any()
    withheld = ps[(ps["question"] == "Q1") & ps["estimate"].isna()]
    assert withheld["mirror_p_value"].isna().all() and not withheld["mirror_significant"].any()


@pytest.mark.parametrize("seed", range(3))
def test_mirror_rows_pair_as_pandas_merges_them(seed):
    """Keys repeated on either side, keys on one side only, other questions between: each row of
    the first question with each of its matches, in the order of an inner pd.merge."""
    rng = np.random.default_rng(seed)

    def table(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "question": rng.choice(["Q1", "Q2"], n),
                "item": [f"i{j}" for j in range(n)],
                "item_label": rng.choice(["Oui", "Non", "NSP"], n),
                "breakdown": rng.choice(["total", "age"], n),
                "breakdown_label": rng.choice(["Ensemble", "18-34", "35+"], n),
                "estimate": rng.random(n),
                "se": rng.random(n) / 10,
            }
        ).astype({c: "str" for c in ("question", "item", "item_label", "breakdown", "breakdown_label")})

    a, b = table(40), table(30)
    mine, matched = KeyedRows(a).pairs("Q1", KeyedRows(b), "Q2")
    rows_a, rows_b = np.flatnonzero(a["question"] == "Q1"), np.flatnonzero(b["question"] == "Q2")
    merged = pd.merge(a.iloc[rows_a][MIRROR_KEYS].assign(row=rows_a), b.iloc[rows_b][MIRROR_KEYS].assign(row=rows_b), on=MIRROR_KEYS, suffixes=("_a", "_b"))
    assert len(merged) > len(set(mine.tolist()))  # some rows matched twice
    assert mine.tolist() == merged["row_a"].tolist() and matched.tolist() == merged["row_b"].tolist()


def test_mirror_flags_of_2025_cover_the_published_mirror_figures():
    """Every pair of published figures printed side by side (report.mirror_pairs) is an item of a declared mirror."""
    edition = load_edition("2025", REPO)
    declared = {frozenset(m.questions.items()) for m in edition.mirrors}
    pairs = mirror_pairs(edition)
    assert len(pairs) >= 5
    for a, b in pairs:
        assert frozenset({(a.population, a.indicator.question), (b.population, b.indicator.question)}) in declared, (a.id, b.id)
        assert a.indicator.item == b.indicator.item


# --------------------------------------------------------------------------------------------
# Every population at once (start_estimates)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def forked(monkeypatch, tmp_path):
    """start_estimates as on large samples (a process per population but the first) for the 2025
    edition's samples (~1,000 kept rows each); returns the file where each population's estimation
    writes its population and process id (a forked process' memory is not this one's)."""
    where = tmp_path / "estimated_in.txt"
    original = population_module.estimate_population

    def estimate_population(sample, population, edition, *rest):
        with where.open("a") as out:
            out.write(f"{population.id} {os.getpid()}\n")
        return original(sample, population, edition, *rest)

    monkeypatch.setattr(population_module, "SMALL_SAMPLE_ROWS", 100)
    monkeypatch.setattr(population_module, "estimate_population", estimate_population)
    return where


def estimated_in(where) -> list[tuple[str, int]]:
    return [(pop, int(pid)) for pop, pid in (line.split() for line in where.read_text().splitlines())]


CALLER = contextvars.ContextVar("caller", default="none")


def test_populations_estimated_in_processes_are_those_estimated_one_by_one(run_2025, forked):
    """The first population is estimated here, each other in a forked process, each with its
    figures; each population's ranked rows (before their rank uncertainties) are handed over when
    the estimates are gathered, in this process, this thread and its context (under Prefect: the
    flow run's); the numbers are the run's to the bit, the figures those made without the
    populations' item matrices."""
    samples, edition = run_2025.per_population("weight"), load_edition("2025", run_2025.root)
    handed: dict[str, tuple[pd.DataFrame, str, str, int, bool]] = {}
    gathering = threading.Event()
    CALLER.set("run")
    estimating = start_estimates(
        samples,
        edition,
        audit.figure_specs(edition),
        lambda pop, table: handed.update({pop: (table, threading.current_thread().name, CALLER.get(), os.getpid(), gathering.is_set())}),
    )
    time.sleep(0.5)  # what gp's process hands over meanwhile waits for the gathering
    assert handed == {}
    gathering.set()
    found = estimating.gathered()
    assert list(found.rows) == list(found.on_total) == list(samples) == ["ps", "gp"]  # the edition's order
    for pop, table in found.rows.items():  # each ranked question's covariance on the whole population, its ranked items'
        ranked = table[table["rank"].notna() & (table["breakdown"] == "total")]
        assert {q: (n, n) for q, n in ranked["question"].value_counts().items()} == {q: c.shape for q, c in found.on_total[pop].items()}
    uncertainties = ["top_n", "p_top", "rank_low", "rank_high"]
    here = (threading.current_thread().name, "run", os.getpid(), True)
    assert {pop: tuple(where) for pop, (_, *where) in handed.items()} == {"ps": here, "gp": here}
    for pop, (table, *_) in handed.items():
        assert not set(uncertainties) & set(table.columns)
        pd.testing.assert_frame_equal(table[found.rows[pop].columns.drop(uncertainties)], found.rows[pop].drop(columns=uncertainties), check_exact=True)
    run = run_2025.stages["gather estimates"][0]  # the run's, in one process
    for pop, table in run.rows.items():
        pd.testing.assert_frame_equal(found.rows[pop], table, check_exact=True)
        assert all(np.array_equal(found.on_total[pop][q], c) for q, c in run.on_total[pop].items())
    pd.testing.assert_frame_equal(found.figures, run.figures, check_exact=True)
    pd.testing.assert_frame_equal(found.figures, figure_estimates(audit.figure_specs(edition), edition, samples), check_exact=True)
    where = dict(estimated_in(forked))
    assert len(where) == 2 and where["ps"] == os.getpid() and where["gp"] != os.getpid()
    assert not multiprocessing.active_children()


def test_small_samples_are_estimated_here_one_after_the_other(run_2025, forked, monkeypatch):
    """Each population's ranked rows are handed over as soon as ranked (the renderer draws on the
    core the estimation leaves), before the next population is estimated."""
    samples = run_2025.per_population("weight")
    monkeypatch.setattr(population_module, "SMALL_SAMPLE_ROWS", max(len(s.frame) for s in samples.values()))  # not larger
    handed: list[tuple[str, int]] = []
    start_estimates(samples, load_edition("2025", run_2025.root), (), lambda pop, table: handed.append((pop, len(estimated_in(forked)))))
    assert estimated_in(forked) == [("ps", os.getpid()), ("gp", os.getpid())]  # done by the time the stage returns
    assert handed == [("ps", 1), ("gp", 2)]  # each while its population was being estimated


def population_error(kind: str, population: str) -> Exception:
    if kind == "typed":
        return EstimationError("no estimate for Q5", where=f"population {population}", fix="check Q5's base")
    return ZeroDivisionError(f"float division by zero ({population})")


@pytest.mark.parametrize("failing", [["gp"], ["ps", "gp"], ["ps"]])
@pytest.mark.parametrize("kind", ["typed", "internal"])
def test_an_error_of_a_process_reaches_the_caller_as_it_was_raised(run_2025, forked, monkeypatch, failing, kind):
    """Typed errors keep their class and fields (the CLI's exit code and text), any other error
    its class and message (an internal error); when both fail, the first population's, as in one
    process; no process of the stage is left running."""
    raised_by = {pop: population_error(kind, pop) for pop in failing}
    original = population_module.estimate_population

    def estimate_population(sample, population, edition, *rest):
        if population.id in raised_by:
            raise raised_by[population.id]
        return original(sample, population, edition, *rest)

    monkeypatch.setattr(population_module, "estimate_population", estimate_population)
    with pytest.raises(type(raised_by[failing[0]])) as raised:
        start_estimates(run_2025.per_population("weight"), load_edition("2025", run_2025.root)).gathered()
    expected = raised_by[failing[0]]
    assert str(raised.value) == str(expected)
    if kind == "typed":
        assert (raised.value.what, raised.value.where, raised.value.fix) == (expected.what, expected.where, expected.fix)
    assert not multiprocessing.active_children()


def test_a_process_stopped_before_its_estimates_are_gathered_says_so(run_2025, forked, monkeypatch):
    """A run that stops before it gathers the estimates kills the processes still estimating (the
    run's ExitStack calls ``stop``); gathering them then raises ProcessEndedError."""
    original = population_module.estimate_population

    def slow(sample, population, edition, *rest):
        if population.id == "gp":
            time.sleep(60)
        return original(sample, population, edition, *rest)

    monkeypatch.setattr(population_module, "estimate_population", slow)
    estimating = start_estimates(run_2025.per_population("weight"), load_edition("2025", run_2025.root))
    started = time.perf_counter()
    estimating.stop()
    with pytest.raises(ProcessEndedError, match=r"process baro-estimate-gp: ended without its result \(exit code -9: killed by SIGKILL\)"):
        estimating.gathered()
    assert time.perf_counter() - started < 10 and not multiprocessing.active_children()


def test_an_error_of_the_callback_stops_the_process_and_is_raised(run_2025, forked):
    """``ranked`` failing in this process for a forked population (a chart that cannot be made):
    that population's process is stopped and the error raised when the estimates are gathered."""

    def ranked(pop, table):
        if pop == "gp":
            raise EstimationError("no chart for gp", where="population gp", fix="none")

    estimating = start_estimates(run_2025.per_population("weight"), load_edition("2025", run_2025.root), ranked=ranked)
    with pytest.raises(EstimationError, match="no chart for gp"):
        estimating.gathered()
    assert not multiprocessing.active_children()


def test_an_exception_that_cannot_be_pickled_comes_back_as_its_traceback(run_2025, forked, monkeypatch):
    class Local(Exception):  # a local class: pickle cannot find it by name
        pass

    original = population_module.estimate_population

    def estimate_population(sample, population, edition, *rest):
        if population.id == "ps":
            raise Local("the local reason")
        return original(sample, population, edition, *rest)

    monkeypatch.setattr(population_module, "estimate_population", estimate_population)
    samples = {"gp": run_2025.per_population("weight")["gp"]} | run_2025.per_population("weight")  # gp first: ps forked
    with pytest.raises(RuntimeError) as raised:
        start_estimates(samples, load_edition("2025", run_2025.root)).gathered()
    assert type(raised.value) is RuntimeError
    assert str(raised.value).startswith("Traceback") and "Local: the local reason" in str(raised.value)
    assert not multiprocessing.active_children()
