"""Rank uncertainty (stats/ranks.py, estimation.rank_uncertainties) and the audit of published orders (orders.py)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baro_pipeline import orders
from baro_pipeline.edition import EstimationSettings, Indicator, PublishedFigure, Thresholds, load_edition
from baro_pipeline.estimation import estimate_population, ranked_answers
from baro_pipeline.estimation.items import question_items
from baro_pipeline.errors import EditionError
from baro_pipeline.estimation import RANK_DECIMALS, ranked_covariance
from baro_pipeline.ingest import read_export
from baro_pipeline.stats import (
    CodedItems,
    Design,
    binary_codes,
    covariance_from_pair_sums,
    design_from_calibration,
    influence_values,
    jk1_rake,
    own_base_covariance,
    pair_sums,
    rake,
    rank_uncertainty,
    rank_uncertainty_each,
    separations,
    share_pair_ses,
    share_pair_sums,
    svymean,
    variance_layout,
    variance_matrix,
)
from baro_pipeline.stats.coded import co_occurrences
from baro_pipeline.stats.ranks import DRAWS, deviations, deviations_each, largest_spreads, top_shares, upper_quantile
from baro_pipeline.validation import validate_export
from exports import clean_frame, weighted, write_csv

MINI = Path(__file__).parent / "fixtures" / "mini"
LINEARISED = EstimationSettings()
N = 600
# Monte Carlo SE of a probability near 0.5 from the simulation's draws, times 4.
P_TOLERANCE = 4 * np.sqrt(0.25 / DRAWS)


@pytest.fixture(scope="module")
def raked():
    """A design raked on two margins (sex × 3 ages), unequal weights, and its codes and totals."""
    rng = np.random.default_rng(5)
    codes = (rng.integers(0, 2, N), rng.integers(0, 3, N))
    totals = [np.array([0.6, 0.4]) * N, np.array([0.2, 0.5, 0.3]) * N]
    return design_from_calibration(rake(codes, totals), codes), codes, totals


def ticks_with_share(cells: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A 0/1 item with exactly round(share × cell size) ticks in every cell: items made so with
    the same share have the same weighted estimate (raked weights are equal within a cell)."""
    y = np.zeros(len(cells))
    for cell in np.unique(cells):
        members = rng.permutation(np.flatnonzero(cells == cell))
        y[members[: round(share * len(members))]] = 1.0
    return y


def items(raked, shares: list[float], seed: int = 0) -> np.ndarray:
    design, codes, _ = raked
    rng = np.random.default_rng(seed)
    cells = codes[0] * 3 + codes[1]
    return np.column_stack([ticks_with_share(cells, s, rng) for s in shares])


def whole(n: int) -> np.ndarray:
    return np.ones((n, 1), dtype=bool)


def uncertainty(raked, y: np.ndarray, top: int, settings: EstimationSettings = LINEARISED):
    design = raked[0]
    estimate = svymean(design, y).estimate.round(RANK_DECIMALS)  # ties as estimates.parquet's ranks take them
    return rank_uncertainty(estimate, ranked_covariance(design, y, whole(len(y)), settings)[0], top=top, level=0.95)


def test_two_equal_items_each_lead_half_of_the_time(raked):
    y = items(raked, [0.40, 0.40, 0.10])
    estimate = svymean(raked[0], y).estimate
    assert estimate[0] == pytest.approx(estimate[1], abs=1e-12)  # the construction's point
    found = uncertainty(raked, y, top=1)
    assert found.rank.tolist() == [1, 1, 3]
    assert found.p_top[0] == pytest.approx(0.5, abs=P_TOLERANCE) and found.p_top[1] == pytest.approx(0.5, abs=P_TOLERANCE)
    assert found.p_top[2] == 0.0
    assert found.rank_low.tolist() == [1, 1, 3] and found.rank_high.tolist() == [2, 2, 3]


def test_a_clear_leader_is_first_in_every_draw(raked):
    found = uncertainty(raked, items(raked, [0.80, 0.40, 0.35, 0.05]), top=1)
    assert found.p_top[0] > 0.999 and found.p_top[1:].sum() < 0.001
    assert (found.rank_low[0], found.rank_high[0]) == (1, 1)
    assert found.rank_high[1] == 3 and found.rank_low[2] == 2  # 40 % and 35 % on n = 600: not separable


def test_p_top_sums_to_the_top_size_and_intervals_hold_the_rank(raked):
    found = uncertainty(raked, items(raked, [0.45, 0.42, 0.40, 0.30, 0.29, 0.1], seed=3), top=3)
    assert found.p_top.sum() == pytest.approx(3.0)  # three items in the top of every draw
    assert ((found.rank_low <= found.rank) & (found.rank <= found.rank_high)).all()
    assert found.rank_low.tolist() != found.rank_high.tolist()


def test_the_covariance_is_that_of_the_influence_values_after_raking(raked):
    """The pairwise-sum covariance equals R's svyrecvar of the influence values (calibration residuals included)."""
    design = raked[0]
    y = items(raked, [0.5, 0.3, 0.2, 0.6], seed=1)
    covariance = ranked_covariance(design, y, whole(N), LINEARISED)[0]
    np.testing.assert_allclose(covariance, variance_matrix(design, influence_values(design, y)), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), svymean(design, y).se, rtol=1e-12)


def test_coded_shares_give_the_pair_sums_and_covariance_of_their_matrix(raked):
    """Shares given as coded items (a grid row's column of its table) are coded on a byte without
    being spelled out: the same states, so the same covariance to the last bit."""
    design, codes, _ = raked
    answer = np.random.default_rng(7).integers(0, 4, N).astype(np.uint8)  # 3: not in the base
    table = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [np.nan] * 3])
    coded = [CodedItems(answer, table[:, [j]]) for j in range(3)]
    y = table[answer]
    domains = np.column_stack([np.ones(N, dtype=bool), codes[0] == 0, codes[0] == 1])
    for by_codes, by_matrix in zip(pair_sums(coded), pair_sums(y)):
        np.testing.assert_array_equal(by_codes.state, by_matrix.state)
        np.testing.assert_array_equal(by_codes.table, by_matrix.table)
        assert by_codes.state.dtype == by_matrix.state.dtype == np.uint8
    np.testing.assert_array_equal(ranked_covariance(design, coded, domains, LINEARISED), ranked_covariance(design, y, domains, LINEARISED))
    assert binary_codes([CodedItems(answer, table[:, [0]] * 2)]) is None  # a 2 is no share


@pytest.mark.parametrize(
    ("weighted", "shares", "pattern_bins", "counts_bytes"),
    [
        (False, [0.5, 0.3, 0.2, 0.0, 0.45], None, None),
        (False, [0.3, 0.1, 0.6] * 6, None, None),
        (False, [0.3, 0.1, 0.6] * 6, None, 0),
        (False, [0.3, 0.1, 0.6] * 7, None, None),
        (False, [0.5, 0.3, 0.2, 0.0, 0.45], 1, None),
        (True, [0.5, 0.3, 0.2], None, None),
    ],
)
def test_pair_sums_counted_from_co_occurrences_have_the_ses_of_their_own_counts(raked, monkeypatch, weighted, shares, pattern_bins, counts_bytes):
    """The SEs of shares and their pairwise sums from the shares' projected co-occurrences per
    weight class are those of counting each pair sum, to the rounding of the few sums that make
    an item's projected counts (1e-14 relative; R's conformance is checked to 1e-10): on overlapping layers of
    domains, the whole sample among them, a routed base and an item never ticked; with more
    than 16 items, counted all at once or 16 at a time, with 20 or more (patterns of ones and
    the base bit on 32 bits, sorted), with (cell, pattern) counts sorted rather than binned, and
    with a breakdown that splits weight classes (joint cells of a class and its levels). Weights
    of their own per row (no weight classes) take the pair sums themselves."""
    design, codes, _ = raked
    if weighted:
        design = Design(np.random.default_rng(11).uniform(0.5, 2.0, N))
        assert variance_layout(design).classes is None
    if pattern_bins is not None:
        monkeypatch.setattr("baro_pipeline.stats.coded.PATTERN_BINS", pattern_bins)
    if counts_bytes is not None:
        monkeypatch.setattr("baro_pipeline.stats.ranks.PAIR_COUNTS_BYTES", counts_bytes)
    y = items(raked, shares, seed=4)
    y[codes[1] == 2] = np.nan
    binary = binary_codes(y)
    domains = np.column_stack([np.ones(N, dtype=bool), codes[0] == 0, codes[0] == 1, codes[1] == 0, codes[1] != 0])
    split = np.random.default_rng(5).random(N) < 0.4  # a breakdown across the weight classes
    for masks in (domains, domains[:, :1], np.column_stack([domains, split, ~split, split & (codes[0] == 0)]), domains[:, 1:]):
        expected = svymean(design, share_pair_sums(binary), masks).se
        found = share_pair_ses(design, binary, masks)
        np.testing.assert_allclose(found, expected, rtol=1e-14, atol=0)
    k = len(shares)
    assert expected.shape == (4, k + k * (k - 1) // 2)


@pytest.mark.parametrize("pattern_bins", [None, 1])
def test_co_occurrences_are_the_cross_products_of_the_ones_per_class_and_level(raked, monkeypatch, pattern_bins):
    """Per layer of domains, the counts of the rows, of the base and of each pair of ones a <= b
    per (weight class, level) are R's ``crossprod(y[in_group, ])``, counted group by group; the
    pairs a > b stay 0. Binned and sorted (cell, pattern) keys alike."""
    design, codes, _ = raked
    if pattern_bins is not None:
        monkeypatch.setattr("baro_pipeline.stats.coded.PATTERN_BINS", pattern_bins)
    y = items(raked, [0.5, 0.3, 0.2, 0.0, 0.45], seed=4)
    y[codes[1] == 2] = np.nan
    binary = binary_codes(y)
    ones = np.column_stack([c == 2 for c in binary])
    base = binary[0] != 0
    split = np.random.default_rng(5).random(N) < 0.4
    domains = np.column_stack([np.ones(N, dtype=bool), codes[0] == 0, codes[0] == 1, split, ~split & (codes[1] != 0)])
    layout = variance_layout(design)
    row_class = layout.classes.row_class
    layers = co_occurrences(layout, list(ones.T), base, domains)
    assert sorted(int(c) for columns, *_ in layers for c in columns) == list(range(domains.shape[1]))
    for columns, n, inside, both in layers:
        for level, column in enumerate(columns):
            for c in range(len(layout.classes.cell)):
                group = (row_class == c) & domains[:, column]
                assert (n[c, level], inside[c, level]) == (group.sum(), (group & base).sum())
                cross = ones[group].astype(int).T @ ones[group].astype(int)
                np.testing.assert_array_equal(both[:, :, c, level], np.triu(cross))


def test_rankings_simulated_together_have_the_numbers_of_each_on_its_own(raked):
    """The levels of a question are simulated together, rankings of the same size stacked: each
    keeps its draws and its numbers to the last bit, whatever its neighbours."""
    design, codes, _ = raked
    y = items(raked, [0.45, 0.42, 0.40, 0.30, 0.1], seed=6)
    domains = np.column_stack([np.ones(N, dtype=bool), codes[0] == 0, codes[0] == 1, codes[1] == 2])
    estimate, covariance = svymean(design, y, domains).estimate, ranked_covariance(design, y, domains, LINEARISED)
    chosen = [slice(None), slice(None), slice(0, 3), slice(None)]  # two sizes, interleaved
    rankings = rank_uncertainty_each([estimate[i, c] for i, c in enumerate(chosen)], [covariance[i][c, c] for i, c in enumerate(chosen)], top=2, level=0.9)
    for i, c in enumerate(chosen):
        alone = rank_uncertainty(estimate[i, c], covariance[i][c, c], top=2, level=0.9)
        for field in ("rank", "p_top", "rank_low", "rank_high"):
            np.testing.assert_array_equal(getattr(rankings[i], field), getattr(alone, field))
    assert len(rankings[2].p_top) == 3 and rankings[0].p_top.sum() == pytest.approx(2.0)


def test_a_domain_covariance_has_the_domain_ses(raked):
    design, codes, _ = raked
    y = items(raked, [0.5, 0.3, 0.2], seed=2)
    y[codes[1] == 2] = np.nan  # a routed base
    domains = np.column_stack([codes[0] == 0, codes[0] == 1])
    covariance = ranked_covariance(design, y, domains, LINEARISED)
    np.testing.assert_allclose(np.sqrt(np.diagonal(covariance, axis1=1, axis2=2)), svymean(design, y, domains=domains).se, rtol=1e-12)


def test_the_linearised_covariance_agrees_with_the_re_raked_jackknife(raked):
    """JK1 replicates, raking redone in each: the covariance, and the ranks drawn from it."""
    design, codes, totals = raked
    y = items(raked, [0.45, 0.43, 0.30, 0.28, 0.1], seed=4)
    linearised = ranked_covariance(design, y, whole(N), LINEARISED)[0]
    replicates = covariance_from_pair_sums(jk1_rake(codes, totals, np.ones(N), np.column_stack([c.dense() for c in pair_sums(y)])).se, 5)
    # An edition with variance: jk1 gets this covariance for its ranks.
    np.testing.assert_allclose(ranked_covariance(design, y, whole(N), EstimationSettings(variance="jk1"))[0], replicates, rtol=1e-8, atol=1e-14)
    scale = np.sqrt(np.outer(np.diag(linearised), np.diag(linearised)))
    np.testing.assert_allclose(replicates / scale, linearised / scale, atol=0.02)
    # The pairwise-sum identity holds replicate by replicate: the JK1 variance of a difference.
    difference = jk1_rake(codes, totals, np.ones(N), y[:, [0]] - y[:, [1]]).se[0] ** 2
    assert difference == pytest.approx(replicates[0, 0] + replicates[1, 1] - 2 * replicates[0, 1], rel=1e-9)
    by_linearised = rank_uncertainty(svymean(design, y).estimate, linearised, top=2, level=0.95)
    by_replicates = rank_uncertainty(svymean(design, y).estimate, replicates, top=2, level=0.95)
    np.testing.assert_allclose(by_replicates.p_top, by_linearised.p_top, atol=0.02)
    assert by_replicates.rank_low.tolist() == by_linearised.rank_low.tolist()
    assert by_replicates.rank_high.tolist() == by_linearised.rank_high.tolist()


def test_the_simulation_is_reproducible(raked):
    y = items(raked, [0.41, 0.40, 0.39])
    first, second = uncertainty(raked, y, top=1), uncertainty(raked, y, top=1)
    assert first.p_top.tolist() == second.p_top.tolist()


def grid_rows(raked, shares: list[float], missing: float, seed: int = 0) -> np.ndarray:
    """Grid rows, one per share: in every cell, a ``missing`` share of its members out of the row's
    base (NaN; drawn apart for each row), then :func:`ticks_with_share` among the rest. Rows with
    the same share have the same weighted estimate, on bases of their own."""
    design, codes, _ = raked
    rng = np.random.default_rng(seed)
    cells = codes[0] * 3 + codes[1]
    y = np.zeros((len(cells), len(shares)))
    for cell in np.unique(cells):
        for j, share in enumerate(shares):
            members = rng.permutation(np.flatnonzero(cells == cell))
            out = round(missing * len(members))
            y[members[:out], j] = np.nan
            y[members[out : out + round(share * (len(members) - out))], j] = 1.0
    return y


def test_two_equal_grid_rows_on_bases_of_their_own_each_lead_half_of_the_time(raked):
    y = grid_rows(raked, [0.40, 0.40, 0.10], missing=0.2)
    assert (np.isnan(y[:, 0]) != np.isnan(y[:, 1])).any()  # the construction's point: different bases
    estimate = svymean(raked[0], y).estimate
    assert estimate[0] == pytest.approx(estimate[1], abs=1e-12)
    found = uncertainty(raked, y, top=1)
    assert found.rank.tolist() == [1, 1, 3]
    assert found.p_top[0] == pytest.approx(0.5, abs=P_TOLERANCE) and found.p_top[1] == pytest.approx(0.5, abs=P_TOLERANCE)
    assert found.rank_low.tolist() == [1, 1, 3] and found.rank_high.tolist() == [2, 2, 3]


def test_a_clear_grid_leader_is_first_in_every_draw(raked):
    found = uncertainty(raked, grid_rows(raked, [0.80, 0.40, 0.38, 0.05], missing=0.15, seed=1), top=1)
    assert found.p_top[0] > 0.999 and (found.rank_low[0], found.rank_high[0]) == (1, 1)
    assert ((found.rank_low <= found.rank) & (found.rank <= found.rank_high)).all()


def test_the_covariance_of_rows_on_their_own_bases_is_that_of_their_ratios():
    """Without calibration, R's vcov(svyratio(~I(b1 * y1) + ..., ~b1 + ..., covmat = TRUE)) with
    ids = ~1: n / (n - 1) times the sums of products of the centred u = w b (y - ybar) / W_b."""
    rng = np.random.default_rng(8)
    n = 300
    weights = rng.uniform(0.5, 2.0, n)
    y = (rng.random((n, 3)) < [0.6, 0.5, 0.3]).astype(float)
    y[rng.random((n, 3)) < [0.1, 0.3, 0.0]] = np.nan
    domain = rng.random(n) < 0.7
    base = ~np.isnan(y) & domain[:, None]
    mean = (weights @ np.where(base, y, 0.0)) / (weights @ base)
    u = weights[:, None] * np.where(base, y - mean, 0.0) / (weights @ base)
    centred = u - u.mean(axis=0)
    direct = n / (n - 1) * centred.T @ centred
    design = Design(weights)
    found = own_base_covariance(design, y, np.column_stack([np.ones(n, dtype=bool), domain]))
    np.testing.assert_allclose(found[1], direct, rtol=1e-10)
    np.testing.assert_allclose(ranked_covariance(design, y, domain[:, None], LINEARISED)[0], direct, rtol=1e-10)
    # The pairwise sums would take the bases' intersection: not this covariance.
    by_pair_sums = covariance_from_pair_sums(svymean(design, pair_sums(y), domains=domain[:, None]).se, 3)[0]
    assert not np.allclose(by_pair_sums[0, 1], direct[0, 1], rtol=0.05)


def test_rows_on_their_own_bases_keep_their_ses_after_raking(raked):
    design, codes, _ = raked
    y = grid_rows(raked, [0.5, 0.3, 0.45], missing=0.25, seed=2)
    domains = np.column_stack([np.ones(N, dtype=bool), codes[0] == 0, codes[1] == 2])
    covariance = ranked_covariance(design, y, domains, LINEARISED)
    np.testing.assert_allclose(np.sqrt(np.diagonal(covariance, axis1=1, axis2=2)), svymean(design, y, domains=domains).se, rtol=1e-10)
    # On one base, the same covariance as the pairwise sums (what multi questions take).
    shared = np.where(np.isnan(y[:, [0]]), np.nan, y)
    np.testing.assert_allclose(own_base_covariance(design, shared, domains), ranked_covariance(design, shared, domains, LINEARISED), rtol=1e-8, atol=1e-15)


def test_jk1_rows_on_their_own_bases_take_the_replicate_ses(raked):
    design, codes, totals = raked
    y = grid_rows(raked, [0.5, 0.45, 0.2], missing=0.2, seed=6)
    found = ranked_covariance(design, y, whole(N), EstimationSettings(variance="jk1"))[0]
    linearised = ranked_covariance(design, y, whole(N), LINEARISED)[0]
    np.testing.assert_allclose(np.sqrt(np.diag(found)), jk1_rake(codes, totals, np.ones(N), y).se, rtol=1e-8)
    correlation = found / np.sqrt(np.outer(np.diag(found), np.diag(found)))
    np.testing.assert_allclose(correlation, linearised / np.sqrt(np.outer(np.diag(linearised), np.diag(linearised))), rtol=1e-10)


def test_separations_name_the_direction_of_each_step():
    covariance = np.diag([1e-4, 1e-4, 1e-4])
    found = separations(np.array([0.5, 0.48, 0.2]), covariance, np.array([[0, 1], [1, 2], [2, 0]]), level=0.95)
    assert found.tolist() == [0, 1, -1]


# --------------------------------------------------------------------------------------------
# estimates.parquet rows and the audit of published orders, on the mini edition
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    edition = load_edition("mini", MINI)
    population = edition.populations["ps"]
    path = write_csv(clean_frame(population.codebook, n=400, seed=7), tmp_path_factory.mktemp("ranks") / "ps.csv")
    frame = validate_export(read_export(path, population.codebook), population, edition.quality, edition.thresholds).frame
    return edition, frame


def with_q2_shares(frame: pd.DataFrame, shares: dict[int, float]) -> pd.DataFrame:
    """Q2 ticked with these shares among those asked, code 98 by none (the base: those asked who tick one)."""
    rng = np.random.default_rng(11)
    asked = frame["Q2_98"].notna().to_numpy()
    found = frame.copy()
    for code, share in {**shares, 98: 0.0}.items():
        found.loc[asked, f"Q2_{code}"] = (rng.random(asked.sum()) < share).astype(float)
    return found


def ranked_edition(edition, printed: dict[int, float]):
    """The mini edition with Q2 ranked (top 2) and these printed shares of its codes."""
    book = edition.populations["ps"].codebook
    questions = tuple(dataclasses.replace(q, top=2) if q.id == "Q2" else q for q in book.questions)
    population = dataclasses.replace(edition.populations["ps"], codebook=dataclasses.replace(book, questions=questions))
    figures = tuple(
        PublishedFigure(f"ps_q2_{code}", "ps", Indicator("Q2", code=code), "asked", value, "=", None, "", "synthesis")
        for code, value in printed.items()
    )
    others = tuple(f for f in edition.figures if f.indicator.question != "Q2")
    return dataclasses.replace(edition, populations={"ps": population}, figures=others + figures)


def audited(mini, shares: dict[int, float], printed: dict[int, float], thresholds: Thresholds | None = None) -> pd.Series:
    edition, frame = mini
    frame = with_q2_shares(frame, shares)
    edition = ranked_edition(edition, printed)
    edition = edition if thresholds is None else dataclasses.replace(edition, thresholds=thresholds)
    on_total: dict[str, np.ndarray] = {}
    estimates = {"ps": estimate_population(weighted(frame, edition.populations["ps"]), edition.populations["ps"], edition, on_total=on_total)}
    table = orders.order_audit(edition, ranked_answers(orders.list_questions(edition), edition, estimates, {"ps": on_total}))
    assert len(table) == 1 and list(table.columns) == list(orders.ORDER_COLUMNS)
    return table.iloc[0]


def test_every_ranked_row_has_its_rank_within_its_interval(mini):
    edition, frame = mini
    frame = with_q2_shares(frame, {1: 0.5, 2: 0.48, 3: 0.2})
    table = estimate_population(weighted(frame, edition.populations["ps"]), edition.populations["ps"], edition)
    ranked = table[table["rank"].notna()]
    assert len(ranked) and ranked[["top_n", "p_top", "rank_low", "rank_high"]].notna().all().all()
    assert ((ranked["rank_low"] <= ranked["rank"]) & (ranked["rank"] <= ranked["rank_high"])).all()
    assert ranked["p_top"].between(0, 1).all() and (ranked["top_n"] == 3).all()  # no 'top' in the codebook: 3
    unranked = table[table["rank"].isna()]
    assert unranked[["top_n", "p_top", "rank_low", "rank_high"]].isna().all().all()
    total = ranked[(ranked["question"] == "Q2") & (ranked["breakdown"] == "total")].set_index("item")
    # About 50 % and 48 %, which the data cannot order, then 20 % and 98 ticked by none (0 %, SE 0).
    assert total.loc[["1", "2", "3", "98"], "rank_low"].tolist() == [1, 1, 3, 4]
    assert total.loc[["1", "2", "3", "98"], "rank_high"].tolist() == [2, 2, 3, 4]


def with_q3_trust(frame: pd.DataFrame, trust: dict[str, float], unsure: float) -> pd.DataFrame:
    """Q3's rows answered 1 (confiance) with these shares, else 3; in row r2, an ``unsure`` share
    left blank (out of its base: the rows' bases differ)."""
    rng = np.random.default_rng(12)
    found = frame.copy()
    for row, share in trust.items():
        found[f"Q3_{row}"] = np.where(rng.random(len(found)) < share, 1.0, 3.0)
    found.loc[rng.random(len(found)) < unsure, "Q3_r2"] = np.nan
    return found


def grid_ranks(edition, frame: pd.DataFrame) -> pd.DataFrame:
    population = edition.populations["ps"]
    table = estimate_population(weighted(frame, population), population, edition)
    return table[(table["question"] == "Q3") & table["rank"].notna()]


def test_a_grid_ranks_its_rows_by_its_first_net(mini):
    edition, frame = mini
    ranked = grid_ranks(edition, with_q3_trust(frame, {"r1": 0.8, "r2": 0.5, "r3": 0.48}, unsure=0.3))
    assert set(ranked["item"]) == {"r1:confiance", "r2:confiance", "r3:confiance"}
    assert ranked[["top_n", "p_top", "rank_low", "rank_high"]].notna().all().all() and (ranked["top_n"] == 3).all()
    assert ((ranked["rank_low"] <= ranked["rank"]) & (ranked["rank"] <= ranked["rank_high"])).all()
    total = ranked[ranked["breakdown"] == "total"].set_index("item")
    assert total.loc["r2:confiance", "n"] < total.loc["r1:confiance", "n"]  # bases of their own
    # A clear leader, then about 50 % and 48 %, which the data cannot order.
    assert total.loc[["r1:confiance", "r2:confiance", "r3:confiance"], "rank_low"].tolist() == [1, 2, 2]
    assert total.loc[["r1:confiance", "r2:confiance", "r3:confiance"], "rank_high"].tolist() == [1, 3, 3]


def test_the_report_charts_multi_rankings_only(mini):
    from baro_pipeline.report import ranked_questions

    edition, frame = mini
    population = edition.populations["ps"]
    table = estimate_population(weighted(frame, population), population, edition)
    totals = table[table["breakdown"] == "total"]
    assert totals.loc[totals["question"] == "Q3", "rank"].notna().any()
    assert [q.id for _, q in ranked_questions(edition, totals)] == ["Q2", "Q4"]


def test_rank_by_names_the_answer_a_grid_is_ranked_by(mini):
    edition, frame = mini
    book = edition.populations["ps"].codebook
    questions = tuple(dataclasses.replace(q, rank_by="3") if q.id == "Q3" else q for q in book.questions)
    population = dataclasses.replace(edition.populations["ps"], codebook=dataclasses.replace(book, questions=questions))
    ranked = grid_ranks(dataclasses.replace(edition, populations={"ps": population}), with_q3_trust(frame, {"r1": 0.8, "r2": 0.5, "r3": 0.2}, unsure=0.0))
    total = ranked[ranked["breakdown"] == "total"].set_index("item")
    assert total.index.tolist() == ["r1:3", "r2:3", "r3:3"] and total["rank"].tolist() == [3, 2, 1]  # the fewest 1s, the most 3s


def test_a_clear_printed_order_is_supported(mini):
    row = audited(mini, {1: 0.8, 2: 0.45, 3: 0.1}, {1: 80, 2: 45})
    assert row["verdict"] == "order_supported", row["reason"]
    assert row["printed_order"] == "1 (80 %) > 2 (45 %)" and row["computed_order"].startswith("1 (")
    assert row["top_n"] == 2 and row["figures"] == "ps_q2_1, ps_q2_2"


def test_a_step_the_data_cannot_tell_is_named(mini):
    row = audited(mini, {1: 0.8, 2: 0.45, 3: 0.43}, {1: 80, 2: 45})
    assert row["verdict"] == "order_not_separable"
    assert row["reason"].startswith("the data cannot separate (at 95 %, all 2 steps at once): 'Administratif'")
    assert "'Formation'" in row["reason"] and "not printed" in row["reason"] and "Diagnostic" not in row["reason"]


def test_a_reversed_printed_order_is_contradicted(mini):
    row = audited(mini, {1: 0.2, 2: 0.6, 3: 0.05}, {1: 60, 2: 20})
    assert row["verdict"] == "order_contradicted"
    assert row["reason"].startswith("the data rank the lower one significantly above")


def test_printed_ties_claim_no_order(mini):
    row = audited(mini, {1: 0.8, 2: 0.5, 3: 0.1}, {1: 60, 2: 60})
    assert row["printed_order"] == "1 (60 %) = 2 (60 %)"
    assert row["verdict"] == "order_supported", row["reason"]  # only the two above the left-out code are claimed


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("    type: grid\n", "    type: grid\n    top: 2\n", "key 'questions.Q3.top': 'top' applies to a multi question, as a number >= 1"),
        ("    max_answers: 2\n", "    max_answers: 2\n    top: 0\n", "key 'questions.Q2.top': 'top' applies to a multi question, as a number >= 1"),
        ("    max_answers: 2\n", "    max_answers: 2\n    top: 5\n", "key 'questions.Q2.top': 'top' is 5, but the question has 4 answer codes to rank"),
        ("    max_answers: 2\n", "    max_answers: 2\n    rank_by: 1\n", "key 'questions.Q2.rank_by': 'rank_by' applies to a grid question"),
        ("    type: grid\n", "    type: grid\n    rank_by: trust\n", "key 'questions.Q3.rank_by': 'rank_by' is 'trust', which is not a net or an answer code of this grid"),
        ("    type: grid\n", "    type: grid\n    rank_by: 9\n", "key 'questions.Q3.rank_by': 'rank_by' is 9, which is not a net or an answer code of this grid"),
    ],
)
def test_a_wrong_top_or_rank_by_is_refused_where_it_is(tmp_path, before, after, message):
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    book = root / "editions" / "mini" / "codebook_ps.yaml"
    book.write_text(book.read_text(encoding="utf-8").replace(before, after, 1), encoding="utf-8")
    with pytest.raises(EditionError) as error:
        load_edition("mini", root)
    assert message in str(error.value) and "codebook_ps.yaml" in str(error.value) and error.value.fix
    if "is not a net" in message:
        assert error.value.fix == "use one of confiance, 1, 2, 3, 4"


def test_a_list_without_data_is_not_computed(mini):
    edition, _ = mini
    table = orders.order_audit(ranked_edition(edition, {1: 80, 2: 45}), {})
    assert table["verdict"].tolist() == ["not_computed"]
    assert table["reason"].iloc[0] == "no data for population 'ps' (no validated export given to the audit)"


def test_tables_show_the_rank_interval_beside_the_rank():
    from baro_pipeline.report import ITEM_COLUMNS, Item, rank_interval_cell

    item = Item("Q2", "1", "Diagnostic", "code", "asked", 0, 3.0, None, 2.0, 5.0)
    assert [c.header for c in ITEM_COLUMNS][2:4] == ["rang", "intervalle"]
    assert rank_interval_cell(item) == "2–5"
    assert rank_interval_cell(dataclasses.replace(item, rank_low=3.0, rank_high=3.0)) == "3–3"
    assert rank_interval_cell(dataclasses.replace(item, rank=float("nan"), rank_low=float("nan"), rank_high=float("nan"))) is None


def test_the_report_names_the_ranks_the_data_cannot_separate(mini):
    from baro_pipeline.report import rank_uncertainty_notes

    edition, _ = mini
    shown = pd.DataFrame(
        {"item_label": ["Diagnostic", "Administratif", "Formation"], "rank": [1, 2, 3], "rank_low": [1, 2, 2],
         "rank_high": [1, 3, 3], "p_top": [1.0, 0.62, 0.38], "top_n": [2, 2, 2]}
    )
    assert rank_uncertainty_notes(shown, edition) == [
        "Rangs que les données ne séparent pas (ex aequo possibles ; entre crochets l'intervalle de rang à 95 %) : "
        "Administratif : rang 2 [2–3], 62 % de chances d'être dans le Top 2 ; Formation : rang 3 [2–3], 38 % de chances d'être dans le Top 2."
    ]
    certain = shown.assign(rank_low=[1, 2, 3], rank_high=[1, 2, 3])
    assert rank_uncertainty_notes(certain, edition) == ["Ordre établi : chaque rang affiché est distinct des autres (intervalles de rang à 95 %)."]


@pytest.mark.parametrize("k", [2, 5, 11])
def test_the_simulation_kernels_give_the_partition_and_item_by_item_numbers(k):
    """p_top by counting the values above each item is the share at or above each draw's
    top-th largest (a partition, ties included); each pair's spread computed once for both
    items gives max_j |noise_i - noise_j| scale_ij item by item (a scale not symmetric too)."""
    rng = np.random.default_rng(k)
    draws = np.round(rng.normal(size=(3, 400, k)), 1)  # ties
    for top in range(1, k):
        threshold = np.partition(draws, k - top, axis=-1)[..., k - top]
        expected = (draws >= threshold[..., None]).mean(axis=-2)
        np.testing.assert_array_equal(top_shares(np.ascontiguousarray(np.swapaxes(draws, -1, -2)), top), expected)
    noise, uneven = rng.normal(size=(3, 400, k)), rng.uniform(0, 5, (3, k, k))
    single = noise.astype(np.float32)
    for scale in (uneven, uneven + np.swapaxes(uneven, -1, -2)):  # not symmetric, then symmetric (each distance scaled once)
        factors = scale.astype(np.float32)
        expected = np.max([np.abs(single - single[..., j : j + 1]) * factors[..., None, :, j] for j in range(k)], axis=0)
        np.testing.assert_array_equal(largest_spreads(np.ascontiguousarray(np.swapaxes(noise, -1, -2)), scale), np.swapaxes(expected, -1, -2))


@pytest.mark.parametrize("level", [0.95, 0.9, 0.5, 0.975, 0.0, 0.3333, 1.0])
def test_the_upper_quantile_is_numpys_to_the_last_bit(level):
    """The critical values from one partition of each item's draws are np.quantile's (linear
    interpolation), ties and single precision included, whatever the number of draws."""
    rng = np.random.default_rng(int(level * 1e4))
    for draws in (1, 2, 3, 101, DRAWS):
        values = np.round(np.abs(rng.normal(size=(3, 4, draws))), 2).astype(np.float32)
        expected = np.quantile(values, level, axis=-1)
        found = upper_quantile(values, level)
        assert found.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(found, expected)
    # the largest values all in the sampled positions: too few reach the sample's floor, the whole row is partitioned
    sampled = np.zeros((2, DRAWS), dtype=np.float32)
    sampled[:, ::16] = rng.uniform(1, 2, (2, len(range(0, DRAWS, 16))))
    np.testing.assert_array_equal(upper_quantile(sampled, level), np.quantile(sampled, level, axis=-1))


@pytest.mark.parametrize("k", [2, 5, 11])
def test_the_deviations_of_stacked_covariances_are_those_of_each(k):
    """The draws of several covariances at once, item by item, are each covariance's own draws
    to the last bit, a singular one (shares summing to 1) among them."""
    rng = np.random.default_rng(k)
    factors = rng.normal(size=(4, k, 3 * k))
    covariance = factors @ np.swapaxes(factors, -1, -2) / (3 * k)
    centring = np.eye(k) - 1 / k  # the covariance of shares that sum to a constant
    covariance[0] = centring @ covariance[0] @ centring
    noise = deviations_each(covariance)
    assert noise.shape == (4, k, DRAWS)
    for c, drawn in zip(covariance, noise):
        np.testing.assert_array_equal(drawn, deviations(c).T)


def test_ranked_answers_are_the_estimates_and_covariance_on_the_whole_population_to_the_last_bit(mini):
    """The published lists' answers: the numbers of estimates.parquet (the report's and the
    workbook's), the covariance the rank uncertainties were drawn from (R's vcov of svymean on the
    question's base), and the base."""
    edition, frame = mini
    edition = ranked_edition(edition, {1: 50.0, 2: 48.0, 3: 20.0})
    sample = weighted(with_q2_shares(frame, {1: 0.5, 2: 0.48, 3: 0.2}), edition.populations["ps"])
    on_total: dict[str, np.ndarray] = {}
    table = estimate_population(sample, edition.populations["ps"], edition, on_total=on_total)
    answers = ranked_answers([("ps", "Q2")], edition, {"ps": table}, {"ps": on_total})[("ps", "Q2")]
    total = table[(table["question"] == "Q2") & (table["breakdown"] == "total")].set_index("item")
    assert answers.keys == ("1", "2", "3", "98") and answers.labels == tuple(total.loc[list(answers.keys), "item_label"])
    assert answers.estimate.tobytes() == total.loc[list(answers.keys), "estimate"].to_numpy(dtype=float).tobytes()
    book = edition.populations["ps"].codebook
    matrix = question_items(sample.frame, book, book.question("Q2"))
    dense = matrix.values[:, [matrix.items["item"].tolist().index(key) for key in answers.keys]]
    whole_sample = np.ones((len(dense), 1), dtype=bool)  # on the dense answers, as svymean's vcov: the kernels' other path
    np.testing.assert_allclose(answers.covariance, ranked_covariance(sample.design, dense, whole_sample, edition.estimation)[0], rtol=1e-10, atol=1e-16)
    assert answers.n == total.loc["1", "n"] == q2_base(sample.frame)


def q2_base(frame: pd.DataFrame) -> int:
    """Those who ticked a code of Q2 (asked it: a multi question's base)."""
    return int((frame[["Q2_1", "Q2_2", "Q2_3", "Q2_98"]] == 1).any(axis=1).sum())


def test_a_list_whose_estimates_are_withheld_is_not_computed(mini):
    shares = {1: 0.8, 2: 0.45, 3: 0.1}
    n = q2_base(with_q2_shares(mini[1], shares))
    row = audited(mini, shares, {1: 80, 2: 45}, Thresholds(flag_base=n + 1, suppress_base=n + 1))
    assert row["verdict"] == "not_computed" and row["computed_order"] == ""
    assert row["reason"] == f"suppressed base: {n} respondent(s), under the suppression threshold of {n + 1}"
