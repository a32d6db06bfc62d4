"""The answers of the ranked questions whose order is published, with their covariance: what the
audit of published orders (``orders.py``) compares the printed lists with.

Made in the estimation stage, like every other number the audit reads (docs/design.md §4): one
population's question on its base (``asked``), over the whole population.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..edition import Edition
from ..stats import CodedItems
from ..stats.layout import variance_layout
from ..stats.sums import item_means
from ..weighting import SurveySample
from .items import question_items, state_dtype
from .ranks import ranked_covariance


@dataclass(frozen=True)
class Answers:
    """A question's answer codes on its base over the whole population: keys, labels, estimates
    and their covariance (k, k)."""

    keys: tuple[str, ...]
    labels: tuple[str, ...]
    estimate: np.ndarray
    covariance: np.ndarray


def question_answers(sample: SurveySample, edition: Edition, population: str, question: str) -> Answers:
    """One question's answer codes: estimates and covariance on the whole population
    (R: ``svymean(~y1 + y2 + ..., design)`` and its ``vcov``; the estimates summed as svymean sums
    a dense matrix, not as counts per state: the same bits as the estimation stage's own)."""
    codebook = edition.populations[population].codebook
    matrix = question_items(sample.frame, codebook, codebook.question(question))
    answers = np.flatnonzero(((matrix.items["kind"] == "code") & matrix.items["answer"]).to_numpy())
    columns = matrix.coded_columns(answers)
    # coded, the covariance reads a tick box's states as they are (the same codes as y's: the same numbers)
    covariance = ranked_covariance(sample.design, columns, np.ones((matrix.n, 1), dtype=bool), edition.estimation)[0]
    rows = matrix.items.iloc[answers]
    return Answers(tuple(rows["item"]), tuple(rows["item_label"]), item_means(variance_layout(sample.design), dense_columns(columns, matrix.n)), covariance)


def dense_columns(columns: Sequence[CodedItems], n: int) -> np.ndarray:
    """The (n, k) matrix of coded items of one column each: every respondent's states looked up
    at once in the columns' tables laid end to end (one gather, not a strided write per column)."""
    tables = [column.table[:, 0] for column in columns]
    starts = np.cumsum([0, *map(len, tables)])
    index: np.ndarray = np.empty((n, len(columns)), dtype=state_dtype(int(starts[-1])))
    for j, (column, start) in enumerate(zip(columns, starts)):
        np.add(column.state, index.dtype.type(start), out=index[:, j])
    return np.take(np.concatenate([*tables, np.empty(0)]), index)


def ranked_answers(questions: Iterable[tuple[str, str]], edition: Edition, samples: Mapping[str, SurveySample]) -> dict[tuple[str, str], Answers]:
    """:class:`Answers` of each (population, question) asked for, where the population has a sample."""
    return {(pop, qid): question_answers(samples[pop], edition, pop, qid) for pop, qid in questions if pop in samples}
