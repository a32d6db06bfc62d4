"""The publication's own consistency: checks of its printed numbers against each other, no data needed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import pandas as pd

from ..edition import Edition, PublishedFigure, Question
from .texts import ReasonPart, base_text, is_derived, number_text, printed_text


CHECK_COLUMNS = ("population", "check", "figures", "published", "expected", "expected_low", "expected_high", "ok", "note")
_EPS = 1e-9


@dataclass(frozen=True)
class PublicationCheck:
    """One consistency check of the publication, from its printed numbers alone.

    ``ok`` when the range of true values the checked quantity can have (given the rounding)
    meets ``expected``. ``blamed`` are the figures held to be wrong when the data cannot tell.
    """

    population: str
    check: str  # net_vs_parts | net_plus_exclusive | product_of | single_sum | multi_sum
    figures: tuple[str, ...]
    published: tuple[str, ...]
    expected_low: float
    expected_high: float
    ok: bool
    part: ReasonPart  # the check's note and its facts
    blamed: tuple[str, ...]

    @property
    def note(self) -> str:
        return self.part.text


def printed_interval(value: float, operator: str, rounding: str) -> tuple[float, float]:
    """The true percentages that the publication prints as ``value`` (with its operator)."""
    low, high = (value - 0.5, value + 0.5) if rounding == "half_up" else (value, value + 1.0)
    if operator == ">=":
        high = 100.0
    return max(low, 0.0), min(high, 100.0)


def figure_interval(figure: PublishedFigure, rounding: str) -> tuple[float, float]:
    return printed_interval(figure.value, figure.operator, rounding)


def summed_interval(figures: Sequence[PublishedFigure], rounding: str) -> tuple[float, float]:
    bounds = [figure_interval(f, rounding) for f in figures]
    return sum(b[0] for b in bounds), sum(b[1] for b in bounds)


def publication_check(
    check: str,
    figures: Sequence[PublishedFigure],
    quantity: tuple[float, float],
    expected: tuple[float, float],
    note: str,
    blamed: Sequence[PublishedFigure],
    facts: Mapping[str, object],
) -> PublicationCheck:
    """A check passes when the quantity's possible true values meet the expected range."""
    ok = quantity[0] <= expected[1] + _EPS and quantity[1] >= expected[0] - _EPS
    return PublicationCheck(
        population=figures[0].population,
        check=check,
        figures=tuple(f.id for f in figures),
        published=tuple(printed_text(f) for f in figures),
        expected_low=expected[0],
        expected_high=expected[1],
        ok=ok,
        part=ReasonPart(check, note, (("low", expected[0]), ("high", expected[1]), *facts.items())),
        blamed=tuple(f.id for f in blamed),
    )


def product_check(figure: PublishedFigure, by_id: Mapping[str, PublishedFigure], rounding: str) -> PublicationCheck:
    """A share of a share against the product of its components, with the rounded inputs' range."""
    parts = [by_id[i] for i in figure.product_of]
    bounds = [figure_interval(p, rounding) for p in parts]
    low = 100 * math.prod(b[0] / 100 for b in bounds)
    high = 100 * math.prod(b[1] / 100 for b in bounds)
    central = 100 * math.prod(p.value / 100 for p in parts)
    note = (
        f"published {printed_text(figure)} %; its components "
        f"{' × '.join(printed_text(p) + ' %' for p in parts)} = {central:.1f} % "
        f"({low:.1f}–{high:.1f} from the rounded inputs)"
    )
    facts = {"published": printed_text(figure), "components": [printed_text(p) for p in parts], "central": central}
    return publication_check("product_of", [figure, *parts], figure_interval(figure, rounding), (low, high), note, [figure], facts)


def figure_codes(question: Question, figure: PublishedFigure) -> frozenset[int]:
    """The answer codes a figure of a question counts (one code, or a net's codes)."""
    if figure.indicator.code is not None:
        return frozenset({figure.indicator.code})
    return frozenset(next(n.codes for n in question.nets if n.id == figure.indicator.net))


def code_figures(figures: Sequence[PublishedFigure]) -> dict[int, PublishedFigure]:
    """Figures of single codes by code (the first one when a code is printed twice)."""
    found: dict[int, PublishedFigure] = {}
    for f in figures:
        if f.indicator.code is not None:
            found.setdefault(f.indicator.code, f)
    return found


def net_parts_check(question: Question, net: PublishedFigure, parts: Sequence[PublishedFigure], complete: bool, rounding: str) -> PublicationCheck:
    """A net against the figures of its codes.

    Single choice: the net is the sum of its parts. Multiple choice: it lies between the largest
    part and the sum of the parts. With parts missing, only the lower bound holds.
    """
    part_bounds = [figure_interval(p, rounding) for p in parts]
    multi = question.type == "multi"
    low = max(b[0] for b in part_bounds) if multi else sum(b[0] for b in part_bounds)
    high = min(sum(b[1] for b in part_bounds), 100.0) if complete else 100.0
    rule = {
        (False, True): "must equal the sum of its parts",
        (False, False): "must be at least the sum of its published parts",
        (True, True): "must lie between its largest part and the sum of its parts",
        (True, False): "must be at least its largest published part",
    }[(multi, complete)]
    values = " + ".join(printed_text(p) for p in parts)
    total = number_text(sum(p.value for p in parts))
    note = f"net '{net.indicator.net}' {printed_text(net)} % {rule} ({values} = {total} %): expected {low:.1f}–{high:.1f} %"
    facts = {"net": net.indicator.net, "published": printed_text(net), "parts": [printed_text(p) for p in parts], "total": total, "multi": multi, "complete": complete}
    return publication_check("net_vs_parts", [net, *parts], figure_interval(net, rounding), (low, high), note, [net], facts)


def net_exclusive_check(net: PublishedFigure, exclusive: Sequence[PublishedFigure], rounding: str) -> PublicationCheck:
    """Multiple choice, base 'asked': the net of all other answers plus the exclusive ones is 100 %."""
    low, high = summed_interval(exclusive, rounding)
    values = " + ".join(printed_text(f) for f in exclusive)
    note = (
        f"net '{net.indicator.net}' {printed_text(net)} % plus the exclusive answer(s) {values} % must make 100 %: "
        f"expected net {100 - high:.1f}–{100 - low:.1f} %"
    )
    facts = {"net": net.indicator.net, "published": printed_text(net), "exclusive": [printed_text(f) for f in exclusive]}
    return publication_check("net_plus_exclusive", [net, *exclusive], figure_interval(net, rounding), (100 - high, 100 - low), note, [net], facts)


def disjoint_figures(question: Question, figures: Sequence[PublishedFigure]) -> list[PublishedFigure]:
    """Figures counting no code twice: single codes first, then the nets that do not overlap them."""
    taken: set[int] = set()
    chosen = []
    for f in sorted(figures, key=lambda f: len(figure_codes(question, f))):
        codes = figure_codes(question, f)
        if not codes & taken:
            chosen.append(f)
            taken |= codes
    return chosen


def single_sum_check(question: Question, figures: Sequence[PublishedFigure], base: str, rounding: str) -> PublicationCheck:
    """Single choice: disjoint figures add up to at most 100 % (exactly 100 % when they cover every code)."""
    covered = set().union(*(figure_codes(question, f) for f in figures))
    exact = base == "asked" and covered >= set(question.base_codes())
    expected = (100.0, 100.0) if exact else (0.0, 100.0)
    values = " + ".join(printed_text(f) for f in figures)
    note = (
        f"single-choice figures {values} = {number_text(sum(f.value for f in figures))} % "
        f"{'must make' if exact else 'may not exceed'} 100 % (±{0.5 * len(figures):g} of rounding)"
    )
    facts = {"values": [printed_text(f) for f in figures], "total": number_text(sum(f.value for f in figures)), "exact": exact}
    return publication_check("single_sum", figures, summed_interval(figures, rounding), expected, note, figures, facts)


def multi_sum_check(question: Question, max_answers: int, figures: Sequence[PublishedFigure], rounding: str) -> PublicationCheck:
    """A question of at most m answers (``max_answers``): its codes' figures add up to at most m × 100 %."""
    cap = 100.0 * max_answers
    values = " + ".join(printed_text(f) for f in figures)
    note = (
        f"figures of a '{question.max_answers} answers maximum' question {values} = "
        f"{number_text(sum(f.value for f in figures))} % may not exceed {number_text(cap)} %"
    )
    facts = {"values": [printed_text(f) for f in figures], "total": number_text(sum(f.value for f in figures)), "max_answers": question.max_answers}
    return publication_check("multi_sum", figures, summed_interval(figures, rounding), (0.0, cap), note, figures, facts)


def question_checks(question: Question, figures: Sequence[PublishedFigure], base: str, rounding: str) -> list[PublicationCheck]:
    """Every check among the figures of one question (or grid row) on one base."""
    codes = code_figures(figures)
    checks = []
    for net in (f for f in figures if f.indicator.net is not None):
        net_codes = figure_codes(question, net)
        parts = [codes[c] for c in sorted(net_codes) if c in codes]
        if parts:
            checks.append(net_parts_check(question, net, parts, complete=len(parts) == len(net_codes), rounding=rounding))
        exclusive = [codes[c] for c in question.exclusive if c in codes and c not in net_codes]
        covers = net_codes | {f.indicator.code for f in exclusive} >= set(question.base_codes())
        if question.type == "multi" and base == "asked" and exclusive and covers:
            checks.append(net_exclusive_check(net, exclusive, rounding))
    if question.type in ("single", "grid"):
        disjoint = disjoint_figures(question, figures)
        if len(disjoint) > 1:
            checks.append(single_sum_check(question, disjoint, base, rounding))
    elif question.max_answers is not None and len(codes) > 1:
        checks.append(multi_sum_check(question, question.max_answers, list(codes.values()), rounding))
    return checks


def question_groups(edition: Edition) -> dict[tuple[str, str, str | None, str], list[PublishedFigure]]:
    """Figures of questions grouped by population, question, grid row and base."""
    groups: dict[tuple[str, str, str | None, str], list[PublishedFigure]] = {}
    for f in edition.figures:
        if not is_derived(f.indicator):
            key = (f.population, f.indicator.question, f.indicator.row, base_text(f.base))
            groups.setdefault(key, []).append(f)
    return groups


def consistency_checks(edition: Edition) -> tuple[PublicationCheck, ...]:
    """Every consistency check of the edition's published figures."""
    rounding = edition.estimation.rounding
    by_id = {f.id: f for f in edition.figures}
    checks = [product_check(f, by_id, rounding) for f in edition.figures if f.product_of]
    for (pop, qid, _row, base), figures in question_groups(edition).items():
        question = edition.populations[pop].codebook.question(qid)
        checks += question_checks(question, figures, base, rounding)
    return tuple(checks)


def publication_checks(edition: Edition) -> pd.DataFrame:
    """One row per consistency check of the publication: figures, printed values, expected range, ok, note."""
    rows = [
        {
            "population": c.population,
            "check": c.check,
            "figures": ", ".join(c.figures),
            "published": "; ".join(c.published),
            "expected": f"{c.expected_low:.1f}–{c.expected_high:.1f}",
            "expected_low": c.expected_low,
            "expected_high": c.expected_high,
            "ok": c.ok,
            "note": c.note,
        }
        for c in consistency_checks(edition)
    ]
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS)).astype({"ok": bool})
