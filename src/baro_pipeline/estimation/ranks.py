"""Ranks of a question's items within each breakdown level, and their uncertainty."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence

import numpy as np
import pandas as pd

from ..edition import Codebook, EstimationSettings
from ..stats import (
    CodedItems,
    Design,
    binary_codes,
    covariance_from_pair_sums,
    dense_items,
    own_base_covariance,
    pair_sums,
    rank_uncertainty_each,
    rescaled,
    share_pair_ses,
    share_pair_sums,
    svymean,
)
from .estimates import replicate_estimates
from .items import ItemMatrix
from .levels import Levels


RANK_DECIMALS = 12  # estimates equal to 12 decimals are ties
DEFAULT_TOP = 3  # p_top of a multi question whose codebook names no 'top', and of a grid's rows


def ranks(table: pd.DataFrame, ranked: pd.Series) -> pd.Series:
    """Rank of the ``ranked`` rows (:func:`ranked_items`) within their question and level.

    Descending estimate; ties share the lowest rank; null for other rows and withheld estimates.
    """
    ranked = ranked & table["estimate"].notna()
    groups = table[ranked].assign(estimate=table["estimate"].round(RANK_DECIMALS))
    rank = groups.groupby(["breakdown", "breakdown_level", "question"], sort=False)["estimate"].rank(method="min", ascending=False)
    return rank.reindex(table.index).astype("Int64")


def ranked_covariance(design: Design, y: np.ndarray | Sequence[CodedItems], domains: np.ndarray, settings: EstimationSettings) -> np.ndarray:
    """(d, k, k) covariance of the means of one ranked question's items y ((n, k), or coded items) on each domain
    (R: ``vcov(svyby(~y1 + y2 + ..., ~domain, design, svymean, covmat = TRUE))``), from the
    variance its SEs come from: JK1 replicates re-raked (``variance: jk1``), else linearised.

    Items on one base (a multi question's codes) take the SEs of their pairwise sums; items on
    bases of their own (grid rows, not-answers out of each row's base) take the covariance of
    their influence values (:func:`~baro_pipeline.stats.ranks.own_base_covariance`), with JK1's
    SEs on its correlations under ``variance: jk1``.
    """
    means = replicate_estimates if settings.variance == "jk1" else svymean
    codes = binary_codes(y)  # shares: coded on a byte without spelling the items out
    if codes is not None and one_base(codes):
        se = means(design, share_pair_sums(codes), domains).se if settings.variance == "jk1" else share_pair_ses(design, codes, domains)
        return covariance_from_pair_sums(se, len(codes))
    dense = dense_items(y)
    missing = np.isnan(dense)
    if (missing == missing[:, :1]).all():
        return covariance_from_pair_sums(means(design, pair_sums(dense), domains).se, dense.shape[1])
    linearised = own_base_covariance(design, dense, domains)
    return rescaled(linearised, means(design, dense, domains).se) if settings.variance == "jk1" else linearised


def one_base(codes: Sequence[np.ndarray]) -> bool:
    """Whether shares given by their :func:`~baro_pipeline.stats.binary_codes` are out of the
    base (0) on the same rows."""
    outside = codes[0] == 0
    return all(np.array_equal(outside, c == 0) for c in codes[1:])


def ranked_items(items: pd.DataFrame, codebook: Codebook) -> pd.Series:
    """Which ``items`` rows a ranking ranks: the answer codes of a multi question, and a grid's
    rows by the answer it ranks them by (:meth:`~baro_pipeline.edition.Question.ranked_answer`)."""
    answer_of_grid = {q.id: q.ranked_answer() for q in codebook.questions if q.type == "grid"}
    grid_rows = items["question"].map(answer_of_grid) == items["item"].str.partition(":")[2]
    multi_codes = (items["question_type"] == "multi") & (items["kind"] == "code") & items["answer"]
    return multi_codes | grid_rows


def rank_uncertainties(
    table: pd.DataFrame,
    matrix: ItemMatrix,
    levels: Levels,
    design: Design,
    codebook: Codebook,
    settings: EstimationSettings,
    confidence: float,
    on_total: MutableMapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Columns ``top_n``, ``p_top``, ``rank_low``, ``rank_high`` of ``table`` (rows level by
    level, item by item): for the rows with a rank, per question and level, the question's
    ``top`` (``top_n``; :data:`DEFAULT_TOP` when the codebook names none), the probability of
    being among those top (``p_top``) and the rank interval at the edition's level
    (:func:`~baro_pipeline.stats.rank_uncertainty`, on the same ties as ``rank``); null elsewhere.
    A question's levels are simulated together (:func:`~baro_pipeline.stats.rank_uncertainty_each`);
    the covariances of its items on every level come from one call. ``on_total``, when given,
    receives each question's on the whole population (question id → (k, k), its ranked items in
    codebook order): what the audit of published orders reads (:func:`~.answers.ranked_answers`).
    """
    k = len(matrix.items)
    found = {c: np.full(len(table), np.nan) for c in ("top_n", "p_top", "rank_low", "rank_high")}
    ranked = table["rank"].notna().to_numpy().reshape(-1, k)  # (levels, items)
    estimate = table["estimate"].round(RANK_DECIMALS).to_numpy()
    questions = matrix.items["question"].to_numpy()
    for question in pd.unique(questions[ranked.any(axis=0)]):
        items = np.flatnonzero((questions == question) & ranked.any(axis=0))
        covariances = ranked_covariance(design, matrix.coded_columns(items), levels.masks, settings)
        if on_total is not None:
            on_total[question] = covariances[0]  # levels.masks' first: the total
        top = codebook.question(question).top or DEFAULT_TOP
        levels_ranked = np.flatnonzero(ranked[:, items].any(axis=1))
        chosen = [ranked[level, items] for level in levels_ranked]
        rows = [level * k + items[c] for level, c in zip(levels_ranked, chosen)]
        covariance = [covariances[level][np.ix_(c, c)] for level, c in zip(levels_ranked, chosen)]
        rankings = rank_uncertainty_each([estimate[r] for r in rows], covariance, top=top, level=confidence)
        for r, ranking in zip(rows, rankings):
            found["top_n"][r], found["p_top"][r], found["rank_low"][r], found["rank_high"][r] = (top, ranking.p_top, ranking.rank_low, ranking.rank_high)
    return pd.DataFrame(found, index=table.index).astype({"top_n": "Int64", "rank_low": "Int64", "rank_high": "Int64"})
