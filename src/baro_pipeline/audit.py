"""Audit stage: every published figure of an edition against the data, with a verdict and a reason.

For each figure of ``published.yaml`` the audit takes the estimate of its indicator on its base
that the estimation stage made (:func:`~baro_pipeline.figures.figure_estimates` of
:func:`audit_specs`), rounds it as the publication does, and gives a verdict: ``match``,
``within_moe``, ``mismatch``, ``not_computed`` or ``inconsistent_publication`` (the publication
contradicts itself, found from the printed numbers alone by :func:`publication_checks`). A figure
that does not match is compared with its estimates under the usual slips (unweighted, other base,
"don't know" out of the base, top box instead of net, rounding down, the other population) and
the reason names the slip that reproduces the printed value, or says that none does.

The audit reads estimates only: no sample, no respondent id, no kernel. See docs/audit.md.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from typing import Any
from dataclasses import dataclass, replace
from collections.abc import Container, Mapping, Sequence

import numpy as np
import pandas as pd

from .edition import Codebook, Condition, Edition, Indicator, PublishedFigure, Question
from .errors import AuditMismatchError, UsageError
from .estimation import published_round
from .figures import EMPTY_BASE, NO_DATA, Spec
from .significance import Significance

# Rendering order: what needs a look first.
VERDICTS = ("mismatch", "inconsistent_publication", "within_moe", "not_computed", "match")

AUDIT_COLUMNS = (
    "edition", "figure_id", "population", "indicator", "question", "item", "base", "published",
    "operator", "computed", "computed_pct", "difference_pts", "n", "n_eff", "se_pts", "ci_low_pts",
    "ci_high_pts", "moe_pts", "verdict", "reason", "reason_parts", "source", "page", "wording", "problems",
)
FLOAT_COLUMNS = ("published", "computed", "computed_pct", "difference_pts", "n_eff", "se_pts", "ci_low_pts", "ci_high_pts", "moe_pts")
CHECK_COLUMNS = ("population", "check", "figures", "published", "expected", "expected_low", "expected_high", "ok", "note")
RENDER_FORMATS = ("table", "csv", "markdown", "json")

# The same figure in another population: wordings sharing at least this many final words.
MIN_SHARED_WORDING_WORDS = 4
OTHER_ROUNDING = {
    "half_up": ("down", "rounding down instead of to the nearest"),
    "down": ("half_up", "rounding to the nearest instead of down"),
}
_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# Frozen values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonPart:
    """One clause of a figure's reason: a code and its facts (numbers, labels), which a report
    words in its own language, and the clause in English, as ``reason`` keeps it."""

    code: str
    text: str
    facts: tuple[tuple[str, object], ...] = ()

    def record(self) -> dict[str, object]:
        return {"code": self.code, **dict(self.facts)}


@dataclass(frozen=True)
class Slip:
    """A usual way of getting a figure wrong: the estimate it gives, and how it is rounded."""

    name: str  # short, for the list of slips tried
    label: str  # what was done instead, for the reason
    spec: Spec
    rounding: str
    facts: tuple[tuple[str, object], ...] = ()  # the slip's code and what it changed, for ReasonPart


@dataclass(frozen=True)
class Computed:
    """One estimate in points, or why it cannot be computed (``missing``)."""

    value: float = math.nan  # unrounded
    n: int | None = None
    n_eff: float = math.nan
    se: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    moe: float = math.nan
    small_base: bool = False
    missing: ReasonPart | None = None


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


# --------------------------------------------------------------------------------------------
# Texts of the audit table
# --------------------------------------------------------------------------------------------


def is_derived(indicator: Indicator) -> bool:
    return indicator.code is None and indicator.net is None


def indicator_text(indicator: Indicator) -> str:
    """E.g. ``PS_Q1 net oui``, ``Q3 row r1 code 1``, ``D_genai derived``."""
    if is_derived(indicator):
        return f"{indicator.question} derived"
    what = f"net {indicator.net}" if indicator.net is not None else f"code {indicator.code}"
    row = f" row {indicator.row}" if indicator.row else ""
    return f"{indicator.question}{row} {what}"


def base_text(base: str | Condition) -> str:
    return base if isinstance(base, str) else base.describe()


def number_text(value: float) -> str:
    """A printed percentage as the publication writes it: 45, 80.5."""
    return f"{value:.1f}".removesuffix(".0")


def signed_text(difference: float) -> str:
    """A difference in points with its sign, never "-0.0"."""
    return f"{round(difference, 1) + 0.0:+.1f}"


def printed_text(figure: PublishedFigure) -> str:
    return ("≥" if figure.operator == ">=" else "") + number_text(figure.value)


def problems_text(figure: PublishedFigure) -> str:
    return "; ".join(f"{p.kind}: {p.note}" for p in figure.problems)


# --------------------------------------------------------------------------------------------
# Consistency of the publication (no data)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Slips: the usual ways of getting a figure wrong
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# What the audit compares, and the estimation stage's rows of it in points
# --------------------------------------------------------------------------------------------


def no_data(population: str) -> ReasonPart:
    text = f"no data for population '{population}' (no validated export given to the audit)"
    return ReasonPart("no_data", text, (("population", population),))


def missing_data(population: str, samples: Container[str]) -> ReasonPart | None:
    """What is missing to compute anything in a population (None when nothing): ``samples``, the populations' samples."""
    return None if population in samples else no_data(population)


def empty_base(spec: Spec) -> ReasonPart:
    return ReasonPart("empty_base", f"empty base: no respondent in base '{base_text(spec.base)}' of {indicator_text(spec.indicator)}")


def suppressed_base(n: int, suppress_base: int) -> ReasonPart:
    text = f"suppressed base: {n} respondent(s), under the suppression threshold of {suppress_base}"
    return ReasonPart("suppressed_base", text, (("n", n), ("threshold", suppress_base)))


def not_computed_part(spec: Spec, row: Mapping[str, Any]) -> ReasonPart:
    """Why the estimation stage has no estimate for a spec, in the audit's words."""
    if row["not_computed"] == NO_DATA:
        return no_data(spec.population)
    if row["not_computed"] == EMPTY_BASE:
        return empty_base(spec)
    return ReasonPart("not_estimable", str(row["note"]))


def computed_from(spec: Spec, row: Mapping[str, Any], suppress_base: int) -> Computed:
    """One row of the figure estimates (:func:`~baro_pipeline.figures.figure_estimates`) in points;
    a suppressed base is not computed."""
    if row["not_computed"]:
        return Computed(n=None if pd.isna(row["n"]) else int(row["n"]), missing=not_computed_part(spec, row))
    n = int(row["n"])
    return Computed(
        value=100 * float(row["estimate"]),
        n=n,
        n_eff=float(row["n_eff"]),
        se=100 * float(row["se"]),
        ci_low=100 * float(row["ci_low"]),
        ci_high=100 * float(row["ci_high"]),
        moe=float(row["moe_pts"]),
        small_base=bool(row["small_base"]),
        missing=suppressed_base(n, suppress_base) if row["suppressed"] else None,
    )


def computed_estimates(figure_rows: pd.DataFrame, suppress_base: int) -> dict[Spec, Computed]:
    """Every spec's estimate in points, from the estimation stage's rows."""
    return {spec: computed_from(spec, row, suppress_base) for spec, row in zip(figure_rows.index, figure_rows.to_dict("records"))}


def audit_specs(edition: Edition) -> list[Spec]:
    """What the audit compares the edition's figures with: each figure's spec, then every slip's, once each."""
    specs = [figure_spec(f) for f in edition.figures] + [s.spec for f in edition.figures for s in candidate_slips(f, edition)]
    return list(dict.fromkeys(specs))


# --------------------------------------------------------------------------------------------
# Verdicts and reasons
# --------------------------------------------------------------------------------------------


def printed_as(value: float, rounding: str) -> float:
    return float(published_round(np.array([value]), rounding=rounding)[0])


def reproduces(figure: PublishedFigure, value: float, rounding: str) -> bool:
    """Whether a value, rounded as said, prints as the figure (or satisfies its '>=' bound)."""
    printed = printed_as(value, rounding)
    return printed >= figure.value if figure.operator == ">=" else printed == figure.value


def published_in_ci(figure: PublishedFigure, main: Computed) -> bool:
    if figure.operator == ">=":
        return main.ci_high >= figure.value
    return main.ci_low <= figure.value <= main.ci_high


def data_verdict(figure: PublishedFigure, main: Computed, rounding: str) -> str:
    """The verdict from the data alone (before the publication's own contradictions)."""
    if main.missing:
        return "not_computed"
    if reproduces(figure, main.value, rounding):
        return "match"
    return "within_moe" if published_in_ci(figure, main) else "mismatch"


def contradictions(
    edition: Edition, checks: Sequence[PublicationCheck], verdicts: Mapping[str, str]
) -> tuple[dict[str, list[ReasonPart]], dict[str, list[ReasonPart]]]:
    """Per figure: the contradictions it is held responsible for, and the failed checks it is only part of.

    A failed check blames the figures the data does not reproduce; when the data reproduces them
    all (or cannot be computed), it blames the check's own subject (the net, the product).
    A figure whose problems say ``self_contradiction`` is always blamed.
    """
    blamed = {
        f.id: [
            ReasonPart("self_contradiction", f"the publication contradicts itself: {p.note.rstrip('. ')}")
            for p in f.problems if p.kind == "self_contradiction"
        ]
        for f in edition.figures
    }
    involved: dict[str, list[ReasonPart]] = {f.id: [] for f in edition.figures}
    for check in (c for c in checks if not c.ok):
        culprits = [f for f in check.figures if verdicts[f] in ("mismatch", "within_moe")] or list(check.blamed)
        for f in check.figures:
            if f in culprits:
                blamed[f].append(check.part)
            else:
                text = f"the publication's {check.check} check fails ({check.note})"
                involved[f].append(ReasonPart("check_involved", text, (("check", check.part.record()),)))
    return blamed, involved


def difference_part(figure: PublishedFigure, main: Computed, rounding: str, significance: Significance) -> ReasonPart:
    inside = published_in_ci(figure, main)
    printed = printed_as(main.value, rounding)
    text = (
        f"computed {main.value:.1f} % → {number_text(printed)}, "
        f"{signed_text(main.value - figure.value)} pts; the published {printed_text(figure)} is {'inside' if inside else 'outside'} "
        f"the {significance.percent_in('en')} % CI {main.ci_low:.1f}–{main.ci_high:.1f}"
    )
    facts = (
        ("computed", main.value), ("computed_pct", printed), ("difference", main.value - figure.value), ("published", printed_text(figure)),
        ("inside", inside), ("ci_low", main.ci_low), ("ci_high", main.ci_high),
    )
    return ReasonPart("difference", text, facts)


def slip_record(slip: Slip, computed: Computed) -> dict[str, object]:
    return {**dict(slip.facts), "value": computed.value, "printed": number_text(printed_as(computed.value, slip.rounding))}


def slips_part(figure: PublishedFigure, main: Computed, rounding: str, tried: Sequence[tuple[Slip, Computed]]) -> ReasonPart:
    """Which slip reproduces the printed value, or that none does (with the values each gives)."""
    distinct = [
        (s, c) for s, c in tried
        if not c.missing and (s.rounding != rounding or abs(c.value - main.value) > _EPS)
    ]
    hits = [(s, c) for s, c in distinct if reproduces(figure, c.value, s.rounding)]
    if hits:
        text = "reproduced by " + " or by ".join(
            f"{s.label} ({c.value:.1f} % → {number_text(printed_as(c.value, s.rounding))})" for s, c in hits
        )
        return ReasonPart("reproduced_by", text, (("slips", [slip_record(s, c) for s, c in hits]),))
    if not distinct:
        return ReasonPart("no_slip_tried", "no usual slip could be tried")
    values = ", ".join(f"{s.name} {number_text(printed_as(c.value, s.rounding))}" for s, c in distinct)
    return ReasonPart("no_slip_reproduces", f"no usual slip reproduces it ({values})", (("slips", [slip_record(s, c) for s, c in distinct]),))


def figure_notes(figure: PublishedFigure, main: Computed, flag_base: int, involved: Sequence[ReasonPart]) -> list[ReasonPart]:
    """What an auditor should know even about a match: small base, known problems, failed checks."""
    small = main.small_base and not main.missing
    notes = [ReasonPart("small_base", f"small base (n = {main.n}, under {flag_base})", (("n", main.n), ("flag_base", flag_base)))] if small else []
    notes += [
        ReasonPart("known_problem", f"known problem ({p.kind}): {p.note.rstrip('. ')}", (("kind", p.kind),))
        for p in figure.problems if p.kind != "self_contradiction"
    ]
    return notes + list(involved)


def figure_reason(
    figure: PublishedFigure,
    main: Computed,
    verdict_from_data: str,
    blamed: Sequence[ReasonPart],
    notes: Sequence[ReasonPart],
    rounding: str,
    tried: Sequence[tuple[Slip, Computed]],
    significance: Significance,
) -> list[ReasonPart]:
    """The clauses of a figure's reason, in the order ``reason`` joins them."""
    parts = list(blamed)
    if main.missing:
        parts.append(replace(main.missing, text=f"not computed: {main.missing.text}") if blamed else main.missing)
    elif verdict_from_data != "match" or blamed:
        parts.append(difference_part(figure, main, rounding, significance))
    if verdict_from_data in ("mismatch", "within_moe"):
        parts.append(slips_part(figure, main, rounding, tried))
    return parts + list(notes)


def audit_row(edition: Edition, figure: PublishedFigure, main: Computed, verdict: str, reason: Sequence[ReasonPart]) -> dict[str, object]:
    computed_pct = math.nan if main.missing else printed_as(main.value, edition.estimation.rounding)
    value = math.nan if main.missing else main.value
    return {
        "edition": edition.id,
        "figure_id": figure.id,
        "population": figure.population,
        "indicator": indicator_text(figure.indicator),
        "question": figure.indicator.question,
        "item": figure.indicator.item,
        "base": base_text(figure.base),
        "published": figure.value,
        "operator": figure.operator,
        "computed": value,
        "computed_pct": computed_pct,
        "difference_pts": value - figure.value,
        "n": main.n,
        "n_eff": main.n_eff,
        "se_pts": main.se,
        "ci_low_pts": main.ci_low,
        "ci_high_pts": main.ci_high,
        "moe_pts": main.moe,
        "verdict": verdict,
        "reason": "; ".join(p.text for p in reason),
        "reason_parts": json.dumps([p.record() for p in reason], ensure_ascii=False),
        "source": figure.source,
        "page": figure.page,
        "wording": figure.wording,
        "problems": problems_text(figure),
    }


def audit_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The rows with stable dtypes: counts as nullable integers, numbers as floats (NaN when not computed)."""
    frame = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    return frame.astype({"n": "Int64", "page": "Int64"} | dict.fromkeys(FLOAT_COLUMNS, float))


def audit_edition(edition: Edition, figure_rows: pd.DataFrame) -> pd.DataFrame:
    """The audit table (``audit.parquet``): one row per published figure, in the edition's order.

    ``figure_rows`` are the estimation stage's rows of :func:`audit_specs`
    (:func:`~baro_pipeline.figures.figure_estimates`); a population without a sample gives
    ``not_computed`` figures.
    """
    rounding = edition.estimation.rounding
    slips = {f.id: candidate_slips(f, edition) for f in edition.figures}
    computed = computed_estimates(figure_rows, edition.thresholds.suppress_base)
    mains = {f.id: computed[figure_spec(f)] for f in edition.figures}
    verdicts = {f.id: data_verdict(f, mains[f.id], rounding) for f in edition.figures}
    blamed, involved = contradictions(edition, consistency_checks(edition), verdicts)
    rows = []
    for f in edition.figures:
        main = mains[f.id]
        verdict = "inconsistent_publication" if blamed[f.id] else verdicts[f.id]
        tried = [(s, computed[s.spec]) for s in slips[f.id]]
        notes = figure_notes(f, main, edition.thresholds.flag_base, involved[f.id])
        reason = figure_reason(f, main, verdicts[f.id], blamed[f.id], notes, rounding, tried, edition.significance)
        rows.append(audit_row(edition, f, main, verdict, reason))
    return audit_frame(rows)


# --------------------------------------------------------------------------------------------
# Summaries and rendering
# --------------------------------------------------------------------------------------------


def verdict_counts(audit_df: pd.DataFrame) -> dict[str, int]:
    """Figures per verdict, every verdict listed (zeros included), in rendering order."""
    counts = audit_df["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def strict_failure(audit_df: pd.DataFrame) -> AuditMismatchError | None:
    """For ``--strict``: an error naming the mismatched figures, or None when there is none."""
    ids = audit_df.loc[audit_df["verdict"] == "mismatch", "figure_id"].tolist()
    if not ids:
        return None
    editions = sorted(set(audit_df["edition"])) if "edition" in audit_df else []
    return AuditMismatchError(
        f"{len(ids)} published figure(s) do not match the data: {', '.join(ids)}",
        where=f"audit of edition {', '.join(editions)}" if editions else None,
        fix="read each figure's reason (baro audit EDITION); fix its indicator, base or value in published.yaml "
        "if the edition is wrong, or run without --strict to accept the publication's error",
    )


def ordered_for_reading(audit_df: pd.DataFrame) -> pd.DataFrame:
    """What needs a look first: verdicts in VERDICTS order; within one, populations in order of appearance, then the edition's order."""
    populations = list(dict.fromkeys(audit_df["population"]))
    population_rank = audit_df["population"].map(populations.index).to_numpy()
    verdict_rank = audit_df["verdict"].map({v: i for i, v in enumerate(VERDICTS)}).fillna(len(VERDICTS)).to_numpy()
    return audit_df.iloc[np.lexsort((population_rank, verdict_rank))]  # lexsort is stable


def problem_figures(audit_df: pd.DataFrame) -> pd.DataFrame:
    """The figures that need a look: every verdict but ``match``."""
    return audit_df[audit_df["verdict"] != "match"]


def fitted(text: str, width: int) -> str:
    """Text cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def counts_text(audit_df: pd.DataFrame) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(audit_df).items() if n)
    return f"{len(audit_df)} figure(s): {counts}" if counts else "no published figure"


def population_counts_text(audit_df: pd.DataFrame) -> str:
    counts = audit_df["population"].value_counts(sort=False)
    return f"{len(audit_df)} figure(s) ({', '.join(f'{pop} {n}' for pop, n in counts.items())})"


def figure_numbers(row: pd.Series) -> tuple[str, str, str, str]:
    """Published (``≥80`` for ``>=``), computed, difference and margin of error as printed, ``—`` when missing."""
    published = ("≥" if row["operator"] == ">=" else "") + number_text(row["published"])
    computed = "—" if pd.isna(row["computed"]) else f"{row['computed']:.1f}"
    diff = "—" if pd.isna(row["difference_pts"]) else signed_text(row["difference_pts"])
    moe = "—" if pd.isna(row["moe_pts"]) else f"±{row['moe_pts']:.1f}"
    return published, computed, diff, moe


def figure_lines(row: pd.Series, id_width: int, population_width: int, width: int) -> list[str]:
    """One figure of the table: the numbers, the wording, and the reason unless it matches."""
    published, computed, diff, _ = figure_numbers(row)
    figure = f"{fitted(str(row['figure_id']), id_width):<{id_width}}"
    lines = [f"  {figure}  {row['population']:<{population_width}}  {published:>9}  {computed:>8}  {diff:>6}"]
    lines.append(fitted(f"      « {row['wording']} »", width))
    if row["verdict"] != "match" and row["reason"]:
        lines += textwrap.wrap(str(row["reason"]), width, initial_indent="      → ", subsequent_indent="        ")
    return lines


def audit_table_text(audit_df: pd.DataFrame, shown: pd.DataFrame, width: int) -> str:
    """The audit for a terminal: the counts of ``audit_df``, then ``shown`` (ordered for reading) in
    blocks by verdict; lines ≤ width."""
    population_width = max([len("pop"), *(len(str(p)) for p in audit_df["population"])])
    # Beside the id: indent, population, published, computed, diff and the spaces between.
    longest_id = max((len(str(i)) for i in shown["figure_id"]), default=0)
    id_width = max(min(longest_id, width - 33 - population_width), len("figure"))
    header = f"  {'figure':<{id_width}}  {'pop':<{population_width}}  {'published':>9}  {'computed':>8}  {'diff':>6}"
    lines = textwrap.wrap(f"Audit: {counts_text(audit_df)}", width)
    if shown.empty:
        lines.append("no figure needs a look")
    for verdict, group in shown.groupby("verdict", sort=False):
        lines += ["", *textwrap.wrap(f"{verdict}: {population_counts_text(group)}", width), header]
        for _, row in group.iterrows():
            lines += figure_lines(row, id_width, population_width, width)
    return "\n".join(lines)


def markdown_cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def audit_markdown(audit_df: pd.DataFrame, shown: pd.DataFrame) -> str:
    """The audit for a person: the counts of ``audit_df``, then ``shown`` (ordered for reading) as a
    pipe table of the columns one reads, numbers rounded to a tenth of a point."""
    columns = ["figure", "population", "page", "wording", "published", "computed", "diff", "MOE", "verdict", "reason"]
    rows = [
        [row["figure_id"], row["population"], row["page"], row["wording"], *figure_numbers(row), row["verdict"], row["reason"]]
        for _, row in shown.iterrows()
    ]
    lines = [f"**Audit**: {counts_text(audit_df)}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_audit(audit_df: pd.DataFrame, fmt: str = "table", width: int = 80, problems_only: bool = False) -> str:
    """The audit as text, what needs a look first: ``table`` (terminal), ``markdown`` (a person),
    ``csv`` or ``json`` (records, every column); ``problems_only`` leaves out the matches."""
    shown = ordered_for_reading(problem_figures(audit_df) if problems_only else audit_df)
    if fmt == "table":
        return audit_table_text(audit_df, shown, width)
    if fmt == "markdown":
        return audit_markdown(audit_df, shown)
    if fmt == "csv":
        return shown.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        return shown.to_json(orient="records", force_ascii=False, indent=2)
    raise UsageError(f"unknown audit format '{fmt}'", fix=f"use one of {', '.join(RENDER_FORMATS)}")
