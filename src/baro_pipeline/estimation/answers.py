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
from ..stats.sums import GatheredItems, item_means
from ..weighting import SurveySample
from .items import question_items
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
    return Answers(tuple(rows["item"]), tuple(rows["item_label"]), item_means(variance_layout(sample.design), gathered_columns(columns, matrix.n)), covariance)


def gathered_columns(columns: Sequence[CodedItems], n: int) -> GatheredItems:
    """The (n, k) matrix of coded items of one column each, spelled out by row blocks as it is
    summed (at 1e6 respondents, a question of 10 answers: 76 MiB never held at once)."""
    return GatheredItems(tuple(column.state for column in columns), tuple(column.table[:, 0] for column in columns), n)


def ranked_answers(questions: Iterable[tuple[str, str]], edition: Edition, samples: Mapping[str, SurveySample]) -> dict[tuple[str, str], Answers]:
    """:class:`Answers` of each (population, question) asked for, where the population has a sample."""
    return {(pop, qid): question_answers(samples[pop], edition, pop, qid) for pop, qid in questions if pop in samples}
