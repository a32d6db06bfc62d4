"""Breakdown levels of a population, and which levels are significantly higher than others."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..edition import Edition, Population
from ..significance import Significance
from ..stats import AnswerCounts, CountedItems, Design, DomainSums, adjusted_p_values, coded_counts, counted_answers, counted_sums, difference_from_sums, rest_differences, variance_layout
from ..routing import code_cells
from .estimates import estimate_items, shares_only
from .items import ItemMatrix


TOTAL = "total"
TOTAL_LABEL = "Ensemble"


@dataclass(frozen=True, eq=False)
class Levels:
    """The domains of ``estimates.parquet``: the whole population, then each breakdown level."""

    keys: pd.DataFrame  # d rows: breakdown, breakdown_level, breakdown_label
    masks: np.ndarray  # (n, d) bool


def breakdown_levels(frame: pd.DataFrame, population: Population) -> Levels:
    """The total (everyone) and one domain per code of each breakdown variable (profile variables)."""
    book = population.codebook
    keys = [(TOTAL, TOTAL, TOTAL_LABEL)]
    masks = [np.ones(len(frame), bool)]
    for b in population.breakdowns:
        q = book.question(b)
        cells = code_cells(frame, q.single_column)
        keys += [(b, str(c), q.code_label(c)) for c in q.all_codes()]
        masks += [cells == c for c in q.all_codes()]
    stacked = np.column_stack(masks)
    stacked.flags.writeable = False  # the estimation's kernels then know them unchanged without a pass over them (stats.coded.layer_groups)
    return Levels(pd.DataFrame(keys, columns=["breakdown", "breakdown_level", "breakdown_label"]), stacked)


def level_counts(design: Design, matrix: ItemMatrix, levels: Levels) -> CountedItems | None:
    """The counts of every item on every level (None without items): one pass over the data for
    the estimates, their intervals, the levels' tests against the rest and against each other."""
    return coded_counts(variance_layout(design), list(matrix.coded), levels.masks) if matrix.coded else None


def level_answers(design: Design, matrix: ItemMatrix, counted: CountedItems | None) -> AnswerCounts | None:
    """The answers 1 and 0 per weight class of every share on every level, for their intervals,
    from the items' :func:`level_counts` (None when the design has no weight classes, or no layer
    of the whole sample: then the intervals count them)."""
    if counted is None or variance_layout(design).classes is None:
        return None
    return counted_answers(counted, shares_only(list(matrix.coded), matrix.items["kind"].to_numpy() == "mean"), design.n)


def level_sums(design: Design, matrix: ItemMatrix, levels: Levels, counted: CountedItems | None = None) -> DomainSums | None:
    """The sums of every item on every level (None without items), from their :func:`level_counts`
    (``counted``, when already made)."""
    counted = level_counts(design, matrix, levels) if counted is None else counted
    return None if counted is None else counted_sums(variance_layout(design), counted, levels.masks.shape[1])


def level_estimates(design: Design, matrix: ItemMatrix, levels: Levels, edition: Edition) -> tuple[pd.DataFrame, DomainSums | None]:
    """:func:`~.estimates.estimate_items` of every item on every level (rows level by level, item
    by item) and the items' :func:`level_sums`, for the levels' tests; the answer counts of the
    intervals freed then (gp at 1e6: 33 MiB not held through the rest of the estimation)."""
    sums, answers = level_sums_and_answers(design, matrix, levels)
    table = estimate_items(
        design, list(matrix.coded), settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds,
        domains=levels.masks, kinds=matrix.items["kind"].to_numpy(), sums=sums, answers=answers,
    )
    return table, sums


def level_sums_and_answers(design: Design, matrix: ItemMatrix, levels: Levels) -> tuple[DomainSums | None, AnswerCounts | None]:
    """:func:`level_sums` and :func:`level_answers` from one :func:`level_counts`, which is freed
    before they are used (gp at 1e6: 56 MiB less while the intervals are computed)."""
    counted = level_counts(design, matrix, levels)
    return level_sums(design, matrix, levels, counted), level_answers(design, matrix, counted)


def level_p_values(design: Design, sums: DomainSums | None, levels: Levels) -> np.ndarray:
    """(d, k) p-values of each breakdown level against the rest of its population (NaN for the
    total), from the items' :func:`level_sums`.

    R: ``svyglm(y ~ I(level), subset(design, in base))``, the coefficient's t test
    (:func:`~baro_pipeline.stats.versus_rest`, the total being the whole sample).
    """
    breakdown = (levels.keys["breakdown"] != TOTAL).to_numpy()
    p = np.full((levels.masks.shape[1], 0 if sums is None else len(sums.shift)), np.nan)
    if breakdown.any() and sums is not None:
        whole = int(np.flatnonzero(~breakdown)[0])
        p[breakdown] = rest_differences(variance_layout(design), sums, np.flatnonzero(breakdown), whole).p
    return p


def level_pairs(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of levels of one breakdown, as (p, 2) columns of ``levels.masks`` (a before b),
    and the breakdown of each pair (the family of its adjustment)."""
    breakdowns = levels.keys["breakdown"].to_numpy()
    pairs = [(a, b) for a in range(len(breakdowns)) for b in range(a + 1, len(breakdowns)) if breakdowns[a] == breakdowns[b] != TOTAL]
    return np.array(pairs, dtype=np.intp).reshape(-1, 2), breakdowns[[a for a, _ in pairs]]


def higher_levels(
    design: Design,
    matrix: ItemMatrix,
    levels: Levels,
    testable: np.ndarray,
    significance: Significance,
    adjust: str = "none",
    sums: DomainSums | None = None,
) -> list[list[str]]:
    """For each level and item (row r: level r // k, item r % k), the codes of the other levels of
    its breakdown whose estimate it is significantly above: the letters of ``tables.xlsx``.

    Every pair of levels of a breakdown with both cells ``testable`` (d, k) is tested with the
    covariance the design gives the two levels (:func:`pairwise_differences`; R: ``svyby(...,
    covmat = TRUE)`` then ``svycontrast``) at the edition's test level, the p-values adjusted by
    ``adjust`` (the edition's ``letters_adjust``) within a breakdown's pairs for one item.
    ``sums``: the items' :func:`level_sums`, when already computed.
    """
    d, k = testable.shape
    higher = np.zeros((d, d, k), dtype=bool)
    pairs, family = level_pairs(levels)
    sums = level_sums(design, matrix, levels) if sums is None else sums
    if len(pairs) and sums is not None:  # a breakdown's levels are disjoint: one code each
        diff = difference_from_sums(variance_layout(design), sums, pairs[:, 0], pairs[:, 1])
        tested = testable[pairs[:, 0]] & testable[pairs[:, 1]]
        p = adjusted_p_values(np.where(tested, diff.p, np.nan), family, adjust)
        significant = significance.significant(p)
        higher[pairs[:, 0], pairs[:, 1]] = significant & (diff.diff > 0)
        higher[pairs[:, 1], pairs[:, 0]] = significant & (diff.diff < 0)
    codes = levels.keys["breakdown_level"].astype(str).to_numpy()
    return [list(codes[higher[i, :, j]]) for i in range(d) for j in range(k)]
