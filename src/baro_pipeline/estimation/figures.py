"""Estimation of the published figures: each figure's indicator on its base, and the variants the audit tries.

The audit (docs/audit.md) compares every figure of ``published.yaml`` with the estimate of its
indicator on its base and, when they differ, with the same estimate under the usual slips
(unweighted, another base, "don't know" in or out of the base, the top box, the other
population). Each such estimate is a :class:`Spec`; :func:`figure_estimates` computes a list of
them, with the same kernel as ``estimates.parquet`` (:func:`estimate_items`), one row per spec:
the run's figures are estimated with their populations (:func:`population_estimates`, in
:func:`~.population.start_estimates`, from each population's item matrix), their slips after.
The audit reads these rows and nothing else of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Iterable, Mapping, Sequence
from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd

from ..edition import Codebook, Condition, Edition, Indicator
from ..errors import EstimationError
from ..routing import Conditions
from ..stats import BINARY_TABLE, CodedItems, Design, variance_layout
from ..stats.coded import AnswerCounts, CountedItem, CountedItems, LayerAnswers, coded_counts, counted_sums
from ..stats.layout import VarianceLayout
from ..weighting import SurveySample
from .estimates import estimate_items
from .items import ItemMatrix, binary_states, coded_as_column, indicator_items, indicator_on_states

# Estimates as estimate_items gives them (shares, not points), and why a spec has none.
FIGURE_COLUMNS = (
    "population", "n", "n_eff", "estimate", "se", "ci_low", "ci_high", "moe_pts", "small_base", "suppressed", "not_computed", "note",
)
# Why a spec has no estimate (``not_computed``): the population has no sample, nobody is in the
# base, or the codebook cannot give the indicator on that base (``note`` says why).
NO_DATA, EMPTY_BASE, NOT_ESTIMABLE = "no_data", "empty_base", "not_estimable"


@dataclass(frozen=True)
class Spec:
    """One estimate to compute: an indicator on a base in a population, weighted or not."""

    population: str
    indicator: Indicator
    base: str | Condition
    not_answers_in_base: bool | None = None  # None: as the codebook says
    weighted: bool = True


# The unweighted design of each sample's design: its layout (weight classes, projection) is made once.
_UNWEIGHTED: WeakKeyDictionary[Design, Design] = WeakKeyDictionary()


def unweighted(design: Design) -> Design:
    if design not in _UNWEIGHTED:
        _UNWEIGHTED[design] = replace(design, weights=np.ones(len(design.weights)), calibration="none", calibration_codes=())
    return _UNWEIGHTED[design]


def not_computed_row(spec: Spec, reason: str, note: str = "", n: int | None = None) -> dict[str, object]:
    return {"population": spec.population, "n": n, "not_computed": reason, "note": note}


def indicator_columns(
    specs: Iterable[Spec], book: Codebook, frame: pd.DataFrame, items: ItemMatrix | None = None
) -> tuple[dict[Spec, CodedItems], dict[Spec, dict[str, object]]]:
    """Each spec's indicator on its question's states (:func:`indicator_on_states`), or the row
    saying why it has none (an item the codebook lacks). ``items``: the population's item matrix
    (:func:`~.items.item_matrix`) when made already: a question's items are taken from it."""
    columns: dict[Spec, CodedItems] = {}
    settled: dict[Spec, dict[str, object]] = {}
    blocks: dict[tuple[str, str | None, bool | None], ItemMatrix] = {}  # a question's (a grid row's) items serve all its specs
    conditions = Conditions(frame, book)  # so do a base's and a routing's masks
    for spec in specs:
        question = (spec.indicator.question, spec.indicator.row, spec.not_answers_in_base)
        try:
            if question not in blocks:
                blocks[question] = question_block(frame, book, spec, conditions, items)
            columns[spec] = indicator_on_states(
                frame, book, spec.indicator, spec.base, not_answers_in_base=spec.not_answers_in_base, block=blocks[question], conditions=conditions
            )
        except EstimationError as exc:
            settled[spec] = not_computed_row(spec, NOT_ESTIMABLE, exc.what)
    return columns, settled


def question_block(frame: pd.DataFrame, book: Codebook, spec: Spec, conditions: Conditions, items: ItemMatrix | None) -> ItemMatrix:
    """The items of a spec's question (of its grid row): those of the population's item matrix
    when given and the codebook's bases hold (the same arrays: nothing made per respondent);
    else, or when the matrix has none (an unknown question or row, whose error
    :func:`indicator_items` words), made by :func:`indicator_items`."""
    if items is not None and spec.not_answers_in_base is None:
        found = items.of_question(spec.indicator.question, spec.indicator.row)
        if found.coded:
            return found
    return indicator_items(frame, book, spec.indicator, spec.not_answers_in_base, conditions)


# Per states array of the columns (by identity), its rows per (weight class, state) (C, 1, S).
SourceCounts = dict[int, np.ndarray]


def counted_per_class(layout: VarianceLayout, columns: Iterable[CodedItems], edition: Edition) -> bool:
    """Whether the columns' sums follow from counts per weight class and state: 0/1 columns (their
    answer counts too) on a design whose layout has weight classes, linearised."""
    return layout.classes is not None and edition.estimation.variance != "jk1" and all(binary_states(c.table[:, 0]) is not None for c in columns)


def source_counts(layout: VarianceLayout, columns: Iterable[CodedItems]) -> SourceCounts:
    """Each states array's rows per (weight class, state), counted once for all its columns."""
    sources = list({id(c.state): c for c in columns}.values())
    return {id(c.state): item.counts[0] for c, item in zip(sources, coded_counts(layout, sources, None).items)}


def one_class_counts(design: Design, counted: SourceCounts | None) -> SourceCounts | None:
    """The counts of a design whose rows are one weight class (the unweighted design), from another
    design's counts of the same rows: their sums over its classes (integers: exact); None when
    the design has more classes, or there are no counts to sum."""
    classes = variance_layout(design).classes
    if counted is None or classes is None or len(classes.cell) != 1:
        return None
    return {key: counts.sum(axis=0, keepdims=True) for key, counts in counted.items()}


def binary_counts(counted: SourceCounts, column: CodedItems) -> np.ndarray:
    """A 0/1 column's rows per (weight class, state of ``BINARY_TABLE``) (C, 1, 3), as
    :func:`coded_counts` counts the column coded alone: its states array's counts summed per
    state of the column (integers: exact, whatever the grouping)."""
    binary = binary_states(column.table[:, 0])
    if binary is None:
        raise EstimationError("binary counts of a column that is not 0/1", where="figures.binary_counts", fix="count it with coded_counts")
    found: np.ndarray = counted[id(column.state)] @ np.eye(len(BINARY_TABLE), dtype=np.int64)[binary]
    return found


def binary_answers(counts: Sequence[np.ndarray]) -> AnswerCounts:
    """:func:`class_answer_counts` of 0/1 columns from their counts per (weight class, state) (C, 1, 3):
    the respondents answering 1 and 0 in each class that has rows (every row has a state in each column)."""
    classes = np.flatnonzero(counts[0].sum(axis=(1, 2)))
    ones, zeros = (np.column_stack([c[classes, 0, state] for c in counts]) for state in (2, 1))
    # slots: class × (levels + 1) + level, one level (the whole sample)
    return AnswerCounts([LayerAnswers(2 * classes, 1, np.array([0]), ones, zeros)], (ones + zeros).sum(axis=0))


def design_rows(design: Design, columns: list[CodedItems], edition: Edition, counted: SourceCounts | None = None) -> list[dict[str, object] | None]:
    """Per column, its ``estimate_items`` row on a design, or None when nobody is in its base. On
    a design counted per weight class, the sums and answer counts come from one count of each
    question's states (``counted``, when made already; the same counts, so the same numbers, as
    each column coded alone); else the columns are coded as ``coded_column`` codes them."""
    layout = variance_layout(design)
    sums, answers = None, None
    if not counted_per_class(layout, columns, edition):
        coded = [coded_as_column(c) for c in columns]
        inside = [not np.isnan(c.table[:, 0])[c.state].all() for c in coded]
        values = [c for c, kept in zip(coded, inside) if kept]
    else:
        counted = source_counts(layout, columns) if counted is None else counted
        every = [binary_counts(counted, c) for c in columns]
        inside = [bool(c[..., 1:].any()) for c in every]
        counts = [c for c, kept in zip(every, inside) if kept]
        values = [c for c, kept in zip(columns, inside) if kept]
        if counts:
            sums = counted_sums(layout, CountedItems([CountedItem(BINARY_TABLE, [c]) for c in counts], [np.array([0])]), 1)
            answers = binary_answers(counts)
    rows = iter(
        estimate_items(
            design, values, settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds, sums=sums, answers=answers
        ).to_dict("records")
        if values
        else []
    )
    return [next(rows) if kept else None for kept in inside]


def population_estimates(specs: Sequence[Spec], edition: Edition, sample: SurveySample, items: ItemMatrix | None = None) -> dict[Spec, dict[str, object]]:
    """Rows of one population's specs: one ``estimate_items`` call per design.

    A column is made once (as weighted) and estimated with the weights, and without them for
    the unweighted slips (its states counted once, when the unweighted design is one weight
    class); a column nobody is in the base of has the row that says so. ``items``: the
    population's item matrix, when made already (:func:`indicator_columns`).
    """
    book = edition.populations[specs[0].population].codebook
    columns, settled = indicator_columns(dict.fromkeys(replace(s, weighted=True) for s in specs), book, sample.frame, items)
    layout = variance_layout(sample.design)
    counted = source_counts(layout, columns.values()) if columns and counted_per_class(layout, columns.values(), edition) else None
    found: dict[Spec, dict[str, object]] = {}
    for weighted, used in ((True, sample.design), (False, unweighted(sample.design))):
        wanted = [s for s in specs if s.weighted == weighted]
        found.update({s: settled[replace(s, weighted=True)] for s in wanted if replace(s, weighted=True) in settled})
        estimated = [s for s in wanted if replace(s, weighted=True) in columns]
        if estimated:
            rows = design_rows(used, [columns[replace(s, weighted=True)] for s in estimated], edition, counted if weighted else one_class_counts(used, counted))
            found.update(
                {
                    s: not_computed_row(s, EMPTY_BASE, n=0) if row is None else {"population": s.population, **row, "not_computed": "", "note": ""}
                    for s, row in zip(estimated, rows)
                }
            )
    return found


def by_population(specs: Iterable[Spec]) -> dict[str, list[Spec]]:
    """The distinct specs per population, in their order (the populations' in order of first appearance)."""
    groups: dict[str, list[Spec]] = {}
    for spec in dict.fromkeys(specs):
        groups.setdefault(spec.population, []).append(spec)
    return groups


def figure_frame(groups: Mapping[str, Sequence[Spec]], found: Mapping[str, Mapping[Spec, dict[str, object]]]) -> pd.DataFrame:
    """One row per spec of ``groups`` (:func:`by_population`; the frame's index, in that order),
    :data:`FIGURE_COLUMNS`, from each population's :func:`population_estimates` (``found``); a
    population without them (no sample) gives rows ``not_computed = "no_data"``."""
    order = [spec for group in groups.values() for spec in group]
    rows = [found[spec.population][spec] if spec.population in found else not_computed_row(spec, NO_DATA) for spec in order]
    frame = pd.DataFrame(rows, index=pd.Index(order, dtype=object, name="spec"), columns=list(FIGURE_COLUMNS))
    return frame.astype({"n": "Int64"})


def figure_estimates(specs: Iterable[Spec], edition: Edition, samples: Mapping[str, SurveySample]) -> pd.DataFrame:
    """One row per spec (the frame's index, grouped by population), :data:`FIGURE_COLUMNS`: one
    ``estimate_items`` call per population and design (weighted or not). A population without a
    sample gives rows ``not_computed = "no_data"``."""
    groups = by_population(specs)
    return figure_frame(groups, {pop: population_estimates(group, edition, samples[pop]) for pop, group in groups.items() if pop in samples})
