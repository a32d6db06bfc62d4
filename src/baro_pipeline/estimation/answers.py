"""The answers of the ranked questions whose order is published, with their covariance: what the
audit of published orders (``orders.py``) compares the printed lists with.

Made in the estimation stage, like every other number the audit reads (docs/design.md §4): one
population's question on its base (``asked``), over the whole population; its estimates are the
rows of ``estimates.parquet`` and their covariance the one its rank uncertainties were drawn
from (one path for every number the audit reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..edition import Codebook, Edition
from .levels import TOTAL


@dataclass(frozen=True)
class Answers:
    """A question's answer codes on its base over the whole population: keys, labels, estimates
    and their covariance (k, k) (NaN where withheld: a base under ``thresholds.suppress_base``),
    and the base's size ``n``."""

    keys: tuple[str, ...]
    labels: tuple[str, ...]
    estimate: np.ndarray
    covariance: np.ndarray
    n: int


def question_answers(edition: Edition, population: str, question: str, estimates: pd.DataFrame, on_total: Mapping[str, np.ndarray]) -> Answers:
    """One ranked question's answer codes: their estimates on the whole population as the
    population's ``estimates`` rows give them, and their covariance as the estimation gave it
    (``on_total``: :func:`~.population.estimate_population`'s; R: ``vcov(svymean(~y1 + y2 + ..., design))``)."""
    rows = answer_rows(estimates, question, edition.populations[population].codebook)
    estimate = rows["estimate"].to_numpy(dtype=float)
    # withheld estimates are not ranked: the question's ranked items are then fewer than its answers
    covariance = np.full((len(rows), len(rows)), np.nan) if np.isnan(estimate).any() else on_total[question]
    return Answers(tuple(rows["item"]), tuple(rows["item_label"]), estimate, covariance, int(rows["n"].max()))


def answer_rows(estimates: pd.DataFrame, question: str, codebook: Codebook) -> pd.DataFrame:
    """A population's ``estimates`` rows of a multi question's answer codes (its ranked items) on
    the whole population, in codebook order."""
    total = estimates[(estimates["breakdown"] == TOTAL) & (estimates["question"] == question)]
    return total.set_index("item", drop=False).loc[[str(code) for code in codebook.question(question).codes]]


def ranked_answers(
    questions: Iterable[tuple[str, str]], edition: Edition, estimates: Mapping[str, pd.DataFrame], on_total: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[tuple[str, str], Answers]:
    """:class:`Answers` of each (population, question) asked for, where the population has
    estimates (``estimates`` and ``on_total``, by population: :class:`~.population.Estimates`')."""
    return {(pop, qid): question_answers(edition, pop, qid, estimates[pop], on_total[pop]) for pop, qid in questions if pop in estimates}
