"""The answers of the ranked questions whose order is published, with their covariance: what the
audit of published orders (``orders.py``) compares the printed lists with.

Made in the estimation stage, like every other number the audit reads (docs/design.md §4): one
population's question on its base (``asked``), over the whole population; its estimates are the
rows of ``estimates.parquet`` (one path for every number the audit reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..edition import Edition
from ..weighting import SurveySample
from .items import question_items
from .levels import TOTAL
from .ranks import ranked_covariance


@dataclass(frozen=True)
class Answers:
    """A question's answer codes on its base over the whole population: keys, labels, estimates
    (NaN where withheld: a base under ``thresholds.suppress_base``), their covariance (k, k) and
    the base's size ``n``."""

    keys: tuple[str, ...]
    labels: tuple[str, ...]
    estimate: np.ndarray
    covariance: np.ndarray
    n: int


def question_answers(sample: SurveySample, edition: Edition, population: str, question: str, estimates: pd.DataFrame) -> Answers:
    """One question's answer codes: their estimates on the whole population as the population's
    ``estimates`` rows give them, and their covariance (R: ``vcov(svymean(~y1 + y2 + ..., design))``)."""
    codebook = edition.populations[population].codebook
    matrix = question_items(sample.frame, codebook, codebook.question(question))
    answers = np.flatnonzero(((matrix.items["kind"] == "code") & matrix.items["answer"]).to_numpy())
    # coded, the covariance reads a tick box's states as they are (the same codes as y's: the same numbers)
    covariance = ranked_covariance(sample.design, matrix.coded_columns(answers), np.ones((matrix.n, 1), dtype=bool), edition.estimation)[0]
    rows = matrix.items.iloc[answers]
    total = total_rows(estimates, question, tuple(rows["item"]))
    return Answers(tuple(rows["item"]), tuple(rows["item_label"]), total["estimate"].to_numpy(dtype=float), covariance, int(total["n"].max()))


def total_rows(estimates: pd.DataFrame, question: str, items: tuple[str, ...]) -> pd.DataFrame:
    """A population's ``estimates`` rows of a question's ``items`` on the whole population, in their order."""
    total = estimates[(estimates["breakdown"] == TOTAL) & (estimates["question"] == question)]
    return total.set_index("item").loc[list(items)]


def ranked_answers(
    questions: Iterable[tuple[str, str]], edition: Edition, samples: Mapping[str, SurveySample], estimates: Mapping[str, pd.DataFrame]
) -> dict[tuple[str, str], Answers]:
    """:class:`Answers` of each (population, question) asked for, where the population has a
    sample (and its rows of ``estimates.parquet``, by population)."""
    return {(pop, qid): question_answers(samples[pop], edition, pop, qid, estimates[pop]) for pop, qid in questions if pop in samples}
