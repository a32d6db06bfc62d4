"""Audit of the published top-N orders: whether the data can tell apart what a ranking prints in order.

A published list is a ranked multi question (codebook ``top: N``) of which ``published.yaml``
prints answer codes (on the question's own base, ``asked``), at least two. The order it claims:
the printed values, highest first; figures printed equal claim no order between them. Its steps:
every item of one printed value above every item of the next lower one, and the items of the
lowest printed value above the best answer the list leaves out (printing a "top" says the rest
are below). Each step is tested on the whole population with the items' covariance (the
variance of the edition's SEs, calibration included: :func:`estimation.ranked_covariance`, made by the estimation stage as
:func:`estimation.ranked_answers`, with the estimates of ``estimates.parquet``; withheld there, the list is ``not_computed``),
all steps of a list at once at the edition's level (:func:`~baro_pipeline.stats.separations`,
max-t over the steps). One row per list in ``orders.parquet`` (docs/audit.md); audit.parquet
keeps one row per printed figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .audit import no_data, suppressed_base
from .edition import Edition, PublishedFigure, Question
from .estimation import Answers
from .stats import difference_se, separations

ORDER_VERDICTS = ("order_contradicted", "order_not_separable", "not_computed", "order_supported")
ORDER_COLUMNS = (
    "edition", "population", "question", "label", "top_n", "figures", "printed_order", "computed_order", "level", "verdict", "reason",
)


@dataclass(frozen=True)
class PublishedList:
    """The printed figures of one ranked question, highest printed value first."""

    population: str
    question: Question
    figures: tuple[PublishedFigure, ...]

    @property
    def printed_order(self) -> str:
        """The printed codes and values: '1 (36 %) > 2 (34 %) > 3 (33 %) = 4 (33 %) > …'."""
        parts = [f"{self.figures[0].indicator.code} ({self.figures[0].value:g} %)"]
        for previous, figure in zip(self.figures, self.figures[1:]):
            parts.append(f"{'=' if previous.value == figure.value else '>'} {figure.indicator.code} ({figure.value:g} %)")
        return " ".join(parts)


def published_lists(edition: Edition) -> list[PublishedList]:
    """Every published top-N list of the edition, in the order of its first figure (a code
    printed twice counts once, at its first figure)."""
    found: dict[tuple[str, str], list[PublishedFigure]] = {}
    for figure in edition.figures:
        indicator = figure.indicator
        if indicator.code is None or indicator.net is not None or indicator.row is not None or figure.base != "asked":
            continue
        book = edition.populations[figure.population].codebook
        question = next((q for q in book.questions if q.id == indicator.question), None)
        listed = found.setdefault((figure.population, indicator.question), [])
        printed_before = any(f.indicator.code == indicator.code for f in listed)  # the press repeating the synthesis
        if question is not None and question.top is not None and indicator.code in question.codes and not printed_before:
            listed.append(figure)
    return [
        PublishedList(population, edition.populations[population].codebook.question(qid), tuple(sorted(figures, key=lambda f: -f.value)))
        for (population, qid), figures in found.items()
        if len(figures) >= 2
    ]


def order_steps(listed: PublishedList, keys: tuple[str, ...], estimate: np.ndarray) -> np.ndarray:
    """(m, 2) the steps (upper, lower) the list claims, as positions in ``keys``."""
    tiers: list[list[int]] = []
    for previous, figure in zip((None,) + listed.figures, listed.figures):
        position = keys.index(str(figure.indicator.code))
        if previous is not None and previous.value == figure.value:
            tiers[-1].append(position)
        else:
            tiers.append([position])
    unprinted = [j for j in range(len(keys)) if all(j not in tier for tier in tiers)]
    if unprinted:
        tiers.append([max(unprinted, key=lambda j: estimate[j])])
    return np.array([(a, b) for upper, lower in zip(tiers, tiers[1:]) for a in upper for b in lower]).reshape(-1, 2)


def computed_order(answers: Answers, count: int) -> str:
    """The first ``count`` answer codes by their estimates: '1 (36.2 %) > 2 (34.0 %) > …'."""
    first = np.argsort(-answers.estimate, kind="stable")[:count]
    return " > ".join(f"{answers.keys[j]} ({100 * answers.estimate[j]:.1f} %)" for j in first)


def step_text(answers: Answers, step: np.ndarray, printed: set[int]) -> str:
    """One step of the order: both items, the difference and its SE in points."""
    a, b = step
    se = 100 * difference_se(answers.covariance)[a, b]
    outside = "" if b in printed else ", not printed"
    return (
        f"'{answers.labels[a]}' ({100 * answers.estimate[a]:.1f} %) and '{answers.labels[b]}' ({100 * answers.estimate[b]:.1f} %{outside}): "
        f"difference {100 * (answers.estimate[a] - answers.estimate[b]):+.1f} pts, SE {se:.1f}"
    )


def list_verdict(answers: Answers, steps: np.ndarray, printed: set[int], level: float) -> tuple[str, str]:
    """The list's verdict and reason from the signs of its steps (+1 supported, 0 not separable, -1 reversed)."""
    found = separations(answers.estimate, answers.covariance, steps, level=level)
    at = f"at {100 * level:g} %, all {len(steps)} steps at once"
    reversed_steps = [step_text(answers, s, printed) for s, sign in zip(steps, found) if sign < 0]
    if reversed_steps:
        return "order_contradicted", f"the data rank the lower one significantly above ({at}): " + "; ".join(reversed_steps)
    blurred = [step_text(answers, s, printed) for s, sign in zip(steps, found) if sign == 0]
    if blurred:
        return "order_not_separable", f"the data cannot separate ({at}): " + "; ".join(blurred)
    return "order_supported", f"every step of the printed order is separable ({at}), the last printed above every answer left out"


def list_questions(edition: Edition) -> list[tuple[str, str]]:
    """(population, question) of every published list: the answers the estimation stage must give the audit."""
    return [(listed.population, listed.question.id) for listed in published_lists(edition)]


def order_row(edition: Edition, listed: PublishedList, answers_of: Mapping[tuple[str, str], Answers]) -> dict[str, object]:
    """One row of ``orders.parquet``."""
    row: dict[str, object] = {
        "edition": edition.id,
        "population": listed.population,
        "question": listed.question.id,
        "label": listed.question.label,
        "top_n": listed.question.top,
        "figures": ", ".join(f.id for f in listed.figures),
        "printed_order": listed.printed_order,
        "level": edition.significance.level,
    }
    answers = answers_of.get((listed.population, listed.question.id))
    if answers is None:
        return {**row, "computed_order": "", "verdict": "not_computed", "reason": no_data(listed.population).text}  # no sample
    if np.isnan(answers.estimate).any():  # withheld, as in estimates.parquet
        return {**row, "computed_order": "", "verdict": "not_computed", "reason": suppressed_base(answers.n, edition.thresholds.suppress_base).text}
    steps = order_steps(listed, answers.keys, answers.estimate)
    printed = {answers.keys.index(str(f.indicator.code)) for f in listed.figures}
    verdict, reason = list_verdict(answers, steps, printed, edition.significance.level)
    return {**row, "computed_order": computed_order(answers, len(listed.figures) + 1), "verdict": verdict, "reason": reason}


def order_audit(edition: Edition, answers: Mapping[tuple[str, str], Answers]) -> pd.DataFrame:
    """``orders.parquet``: one row per published top-N list (:data:`ORDER_COLUMNS`), its verdict
    (:data:`ORDER_VERDICTS`) and reason, from the answers the estimation stage gave
    (:func:`~baro_pipeline.estimation.ranked_answers` of :func:`list_questions`)."""
    rows = [order_row(edition, listed, answers) for listed in published_lists(edition)]
    return pd.DataFrame(rows, columns=list(ORDER_COLUMNS)).astype({"top_n": "Int64", "level": float})
