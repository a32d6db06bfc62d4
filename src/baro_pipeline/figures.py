"""Estimation of the published figures: each figure's indicator on its base, and the variants the audit tries.

The audit (docs/audit.md) compares every figure of ``published.yaml`` with the estimate of its
indicator on its base and, when they differ, with the same estimate under the usual slips
(unweighted, another base, "don't know" in or out of the base, the top box, the other
population). Each such estimate is a :class:`Spec`; :func:`figure_estimates` computes them all in
the estimation stage, with the same kernel as ``estimates.parquet`` (:func:`estimate_items`), one
row per spec. The audit reads these rows and nothing else of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .edition import Codebook, Condition, Edition, Indicator
from .errors import EstimationError
from .estimation import ItemMatrix, coded_indicator, estimate_items, indicator_items
from .routing import Conditions
from .stats import CodedItems, Design
from .weighting import SurveySample

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


def unweighted(design: Design) -> Design:
    return replace(design, weights=np.ones(len(design.weights)), calibration="none", calibration_codes=())


def not_computed_row(spec: Spec, reason: str, note: str = "", n: int | None = None) -> dict[str, object]:
    return {"population": spec.population, "n": n, "not_computed": reason, "note": note}


def indicator_columns(
    specs: Iterable[Spec], book: Codebook, frame: pd.DataFrame
) -> tuple[dict[Spec, CodedItems], dict[Spec, dict[str, object]]]:
    """Each spec's indicator column (coded), or the row saying why it has none (empty base, an item the codebook lacks)."""
    columns: dict[Spec, CodedItems] = {}
    settled: dict[Spec, dict[str, object]] = {}
    blocks: dict[tuple[str, bool | None], ItemMatrix] = {}  # a question's items serve all its specs
    conditions = Conditions(frame, book)  # so do a base's and a routing's masks
    for spec in specs:
        question = (spec.indicator.question, spec.not_answers_in_base)
        try:
            if question not in blocks:
                blocks[question] = indicator_items(frame, book, spec.indicator, spec.not_answers_in_base, conditions)
            column = coded_indicator(
                frame, book, spec.indicator, spec.base, not_answers_in_base=spec.not_answers_in_base, block=blocks[question], conditions=conditions
            )
        except EstimationError as exc:
            settled[spec] = not_computed_row(spec, NOT_ESTIMABLE, exc.what)
            continue
        if np.isnan(column.table[:, 0])[column.state].all():
            settled[spec] = not_computed_row(spec, EMPTY_BASE, n=0)  # nothing to estimate on it
        else:
            columns[spec] = column  # a byte per respondent, not eight
    return columns, settled


def population_estimates(specs: Sequence[Spec], edition: Edition, sample: SurveySample) -> dict[Spec, dict[str, object]]:
    """Rows of one population's specs: one matrix of indicator columns per design.

    A column is computed once (as weighted) and estimated with the weights, and without them for
    the unweighted slips.
    """
    book = edition.populations[specs[0].population].codebook
    columns, settled = indicator_columns(dict.fromkeys(replace(s, weighted=True) for s in specs), book, sample.frame)
    found: dict[Spec, dict[str, object]] = {}
    for weighted, used in ((True, sample.design), (False, unweighted(sample.design))):
        wanted = [s for s in specs if s.weighted == weighted]
        found.update({s: settled[replace(s, weighted=True)] for s in wanted if replace(s, weighted=True) in settled})
        estimated = [s for s in wanted if replace(s, weighted=True) in columns]
        if estimated:
            values = [columns[replace(s, weighted=True)] for s in estimated]
            table = estimate_items(used, values, settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds)
            rows = table.to_dict("records")
            found.update({s: {"population": s.population, **row, "not_computed": "", "note": ""} for s, row in zip(estimated, rows)})
    return found


def figure_estimates(specs: Iterable[Spec], edition: Edition, samples: Mapping[str, SurveySample]) -> pd.DataFrame:
    """One row per spec (the frame's index, grouped by population), :data:`FIGURE_COLUMNS`: one
    ``estimate_items`` call per population and design (weighted or not). A population without a
    sample gives rows ``not_computed = "no_data"``."""
    groups: dict[str, list[Spec]] = {}
    for spec in dict.fromkeys(specs):
        groups.setdefault(spec.population, []).append(spec)
    found: dict[Spec, dict[str, object]] = {}
    for population, group in groups.items():
        if population in samples:
            found.update(population_estimates(group, edition, samples[population]))
        else:
            found.update({spec: not_computed_row(spec, NO_DATA) for spec in group})
    order = [spec for group in groups.values() for spec in group]
    frame = pd.DataFrame([found[spec] for spec in order], index=pd.Index(order, dtype=object, name="spec"), columns=list(FIGURE_COLUMNS))
    return frame.astype({"n": "Int64"})
