"""Slips: the usual ways of getting a figure wrong, as the specs of the estimates they would have printed."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


from ..edition import Codebook, Edition, Indicator, PublishedFigure, Question
from ..estimation.figures import Spec
from .texts import base_text, is_derived


# The same figure in another population: wordings sharing at least this many final words.
MIN_SHARED_WORDING_WORDS = 4
OTHER_ROUNDING = {
    "half_up": ("down", "rounding down instead of to the nearest"),
    "down": ("half_up", "rounding to the nearest instead of down"),
}


@dataclass(frozen=True)
class Slip:
    """A usual way of getting a figure wrong: the estimate it gives, and how it is rounded."""

    name: str  # short, for the list of slips tried
    label: str  # what was done instead, for the reason
    spec: Spec
    rounding: str
    facts: tuple[tuple[str, object], ...] = ()  # the slip's code and what it changed, for ReasonPart


def figure_spec(figure: PublishedFigure) -> Spec:
    return Spec(figure.population, figure.indicator, figure.base)


def question_of(book: Codebook, indicator: Indicator) -> Question | None:
    """The indicator's question, or None for a derived indicator."""
    return None if is_derived(indicator) else book.question(indicator.question)


def base_slip(spec: Spec, rounding: str) -> Slip:
    """The whole sample instead of those asked, or the routed base instead of any other."""
    if spec.base == "asked":
        label = "the whole sample as base ('all', those not asked counted as no) instead of those asked"
        return Slip("whole sample", label, replace(spec, base="all"), rounding, (("slip", "whole_sample"),))
    instead = "the whole sample ('all')" if spec.base == "all" else f"the subgroup {base_text(spec.base)}"
    facts = (("slip", "routed_base"), ("instead_of", base_text(spec.base)))
    return Slip("routed base", f"the routed base ('asked') instead of {instead}", replace(spec, base="asked"), rounding, facts)


def not_answers_slip(spec: Spec, question: Question | None, rounding: str) -> Slip | None:
    """'Don't know' out of the base when the codebook keeps it in (or the reverse)."""
    if question is None or not question.not_answers:
        return None
    kept = any(na.in_base for na in question.not_answers.values())
    labels = ", ".join(f"'{na.label}'" for na in question.not_answers.values())
    label = f"{labels} {'excluded from' if kept else 'kept in'} the base"
    facts = (("slip", "not_answers_out" if kept else "not_answers_in"), ("labels", [na.label for na in question.not_answers.values()]))
    return Slip("don't know out" if kept else "don't know in", label, replace(spec, not_answers_in_base=not kept), rounding, facts)


def top_box_slip(spec: Spec, question: Question | None, rounding: str) -> Slip | None:
    """The net's first code alone instead of the net."""
    if question is None or spec.indicator.net is None:
        return None
    net = next(n for n in question.nets if n.id == spec.indicator.net)
    code = net.codes[0]
    label = f"the top box (code {code} '{question.code_label(code)}' alone) instead of the net '{net.label}'"
    facts = (("slip", "top_box"), ("code_label", question.code_label(code)), ("net_label", net.label))
    return Slip("top box", label, replace(spec, indicator=replace(spec.indicator, net=None, code=code)), rounding, facts)


def indicator_exists(book: Codebook, indicator: Indicator) -> bool:
    """Whether a codebook has this indicator (question, grid row, code or net)."""
    if is_derived(indicator):
        return indicator.question in {d.id for d in book.derived}
    try:
        question = book.question(indicator.question)
    except KeyError:
        return False
    if (indicator.row is not None) != (question.type == "grid") or (indicator.row and indicator.row not in {r.id for r in question.rows}):
        return False
    if indicator.code is not None:
        return indicator.code in question.all_codes()
    return indicator.net in {n.id for n in question.nets}


def final_words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())[::-1]


def shared_final_words(a: str, b: str) -> int:
    """How many final words two wordings share."""
    count = 0
    for x, y in zip(final_words(a), final_words(b)):
        if x != y:
            break
        count += 1
    return count


def counterpart(figure: PublishedFigure, population: str, edition: Edition) -> tuple[Spec, str] | None:
    """The figure's twin in another population, and how it was found.

    The same question id there (with the same item, on the same base), else that population's
    figure whose wording ends with the same words (at least MIN_SHARED_WORDING_WORDS).
    """
    book = edition.populations[population].codebook
    base_fits = isinstance(figure.base, str) or set(figure.base.questions()) <= set(book.ids())
    if base_fits and indicator_exists(book, figure.indicator):
        return replace(figure_spec(figure), population=population), f"same question {figure.indicator.question}"
    others = [f for f in edition.figures if f.population == population]
    best = max(others, key=lambda f: shared_final_words(f.wording, figure.wording), default=None)
    if best is None or shared_final_words(best.wording, figure.wording) < MIN_SHARED_WORDING_WORDS:
        return None
    return figure_spec(best), f"figure {best.id}"


def other_population_slips(figure: PublishedFigure, edition: Edition, rounding: str) -> list[Slip]:
    slips = []
    for population in edition.populations:
        twin = counterpart(figure, population, edition) if population != figure.population else None
        if twin is not None:
            spec, how = twin
            facts = (("slip", "other_population"), ("population", population))
            slips.append(Slip(f"population {population}", f"the other population ({population}, {how})", spec, rounding, facts))
    return slips


def candidate_slips(figure: PublishedFigure, edition: Edition) -> tuple[Slip, ...]:
    """Every usual slip that applies to a figure, one change at a time."""
    spec = figure_spec(figure)
    rounding = edition.estimation.rounding
    question = question_of(edition.populations[figure.population].codebook, figure.indicator)
    other_rounding, rounding_label = OTHER_ROUNDING[rounding]
    slips = [
        Slip("unweighted", "the unweighted estimate", replace(spec, weighted=False), rounding, (("slip", "unweighted"),)),
        base_slip(spec, rounding),
        not_answers_slip(spec, question, rounding),
        top_box_slip(spec, question, rounding),
        Slip("rounded down" if other_rounding == "down" else "rounded to nearest", rounding_label, spec, other_rounding, (("slip", "rounding"), ("rounding", other_rounding))),
        *other_population_slips(figure, edition, rounding),
    ]
    return tuple(s for s in slips if s is not None)
