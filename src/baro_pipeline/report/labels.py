"""The report's French labels: population names, percentages, bases, conditions and n, as the report and the workbook print them."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..edition import Codebook, Condition, Edition, Population, PublishedFigure, Question
from ..report_texts import LANGUAGES, NARROW_SPACE, ReportTexts, french_number


def texts_of(edition: Edition) -> ReportTexts:
    return LANGUAGES[edition.language]


def population_labels(edition: Edition) -> dict[str, str]:
    return {pid: short_label(p) for pid, p in edition.populations.items()}


def percent_text(value: float) -> str:
    return "–" if pd.isna(value) else f"{french_number(value)}{NARROW_SPACE}%"


def short_label(population: Population) -> str:
    """"Professionnels de santé (médecins…)" -> "Professionnels de santé"."""
    return population.label.split(" (")[0]


def condition_text(condition: Condition, book: Codebook) -> str:
    """A routing condition in words: "Usage d'outils d'IA : Oui, souvent / Oui, rarement"."""
    if condition.all or condition.any:
        joiner = " et " if condition.all else " ou "
        return joiner.join(condition_text(part, book) for part in condition.all + condition.any)
    q = book.question(str(condition.question))
    row = next((f" – {r.label}" for r in q.rows if r.id == condition.row), "")
    # A net that groups exactly these codes says it in fewer words ("Utilise des outils d'IA").
    net = next((n.label for n in q.nets if set(n.codes) == set(condition.codes)), None)
    answers = net or " / ".join(q.code_label(c) for c in condition.codes)
    return f"{q.label or q.id}{row} : {answers}"


def question_base_text(q: Question, population: Population) -> str:
    who = short_label(population)
    return f"{who}, ensemble" if q.asked_if is None else f"{who} interrogés ({condition_text(q.asked_if, population.codebook)})"


def figure_base_text(figure: PublishedFigure, population: Population) -> str:
    """The base of a published figure in words (its item's own base, everyone, or a subgroup)."""
    book = population.codebook
    derived = {d.id: d for d in book.derived}
    if figure.base == "asked" and figure.indicator.question not in derived:
        return question_base_text(book.question(figure.indicator.question), population)
    own = derived[figure.indicator.question].base if figure.indicator.question in derived else None
    condition = figure.base if isinstance(figure.base, Condition) else None if figure.base == "all" else own
    return f"{short_label(population)}, ensemble" if condition is None else f"{short_label(population)} ({condition_text(condition, book)})"


def n_text(n: Iterable[float]) -> str:
    values = sorted({int(v) for v in n if pd.notna(v)})
    if not values:
        return "n = –"
    span = french_number(values[0]) if len(values) == 1 else f"{french_number(values[0])} à {french_number(values[-1])}"
    return f"n = {span}"
