"""Verdicts and reasons: every published figure against its estimates, as the rows of ``audit.parquet``."""

from __future__ import annotations

import json
import math
from typing import Any
from dataclasses import dataclass, replace
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..edition import Edition, PublishedFigure
from ..estimation import published_round
from ..estimation.figures import EMPTY_BASE, NO_DATA, Spec
from ..significance import Significance
from .publication import PublicationCheck, _EPS, consistency_checks
from .slips import Slip, candidate_slips, figure_spec
from .texts import ReasonPart, base_text, indicator_text, number_text, printed_text, problems_text, signed_text


# Rendering order: what needs a look first.
VERDICTS = ("mismatch", "inconsistent_publication", "within_moe", "not_computed", "match")
AUDIT_COLUMNS = (
    "edition", "figure_id", "population", "indicator", "question", "item", "base", "published",
    "operator", "computed", "computed_pct", "difference_pts", "n", "n_eff", "se_pts", "ci_low_pts",
    "ci_high_pts", "moe_pts", "verdict", "reason", "reason_parts", "source", "page", "wording", "problems",
)
FLOAT_COLUMNS = ("published", "computed", "computed_pct", "difference_pts", "n_eff", "se_pts", "ci_low_pts", "ci_high_pts", "moe_pts")


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


def no_data(population: str) -> ReasonPart:
    text = f"no data for population '{population}' (no validated export given to the audit)"
    return ReasonPart("no_data", text, (("population", population),))


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
    """One row of the figure estimates (:func:`~baro_pipeline.estimation.figures.figure_estimates`) in points;
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


# The data verdicts whose reason names the slips tried: a figure the data reproduce needs none.
SLIPPED_VERDICTS = ("mismatch", "within_moe")


def figure_specs(edition: Edition) -> list[Spec]:
    """What the audit compares the edition's figures with first: each figure's own spec, once each."""
    return list(dict.fromkeys(figure_spec(f) for f in edition.figures))


def slip_specs(edition: Edition, figure_rows: pd.DataFrame) -> list[Spec]:
    """The slips' specs (:func:`~.slips.candidate_slips`) of the figures whose own estimate
    (``figure_rows``: the rows of :func:`figure_specs`) the data do not reproduce, once each and
    not already estimated: the audit tries the slips of those figures only (the 2025 edition: 1
    figure of 60)."""
    verdicts = data_verdicts(edition, computed_estimates(figure_rows, edition.thresholds.suppress_base))
    slipped = [s.spec for f in edition.figures if verdicts[f.id] in SLIPPED_VERDICTS for s in candidate_slips(f, edition)]
    return [spec for spec in dict.fromkeys(slipped) if spec not in figure_rows.index]


def data_verdicts(edition: Edition, computed: Mapping[Spec, Computed]) -> dict[str, str]:
    """Each figure's :func:`data_verdict` (by figure id), from its own spec's estimate."""
    return {f.id: data_verdict(f, computed[figure_spec(f)], edition.estimation.rounding) for f in edition.figures}


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
    if verdict_from_data in SLIPPED_VERDICTS:
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


def audit_edition(edition: Edition, figure_rows: pd.DataFrame, slip_rows: pd.DataFrame) -> pd.DataFrame:
    """The audit table (``audit.parquet``): one row per published figure, in the edition's order.

    ``figure_rows`` and ``slip_rows`` are the estimation stage's rows of :func:`figure_specs` and
    then of :func:`slip_specs` (:func:`~baro_pipeline.estimation.figures.figure_estimates`); a population
    without a sample gives ``not_computed`` figures.
    """
    rounding = edition.estimation.rounding
    suppress_base = edition.thresholds.suppress_base
    computed = computed_estimates(figure_rows, suppress_base) | computed_estimates(slip_rows, suppress_base)
    verdicts = data_verdicts(edition, computed)
    blamed, involved = contradictions(edition, consistency_checks(edition), verdicts)
    rows = []
    for f in edition.figures:
        main = computed[figure_spec(f)]
        verdict = "inconsistent_publication" if blamed[f.id] else verdicts[f.id]
        tried = [(s, computed[s.spec]) for s in candidate_slips(f, edition)] if verdicts[f.id] in SLIPPED_VERDICTS else []
        notes = figure_notes(f, main, edition.thresholds.flag_base, involved[f.id])
        reason = figure_reason(f, main, verdicts[f.id], blamed[f.id], notes, rounding, tried, edition.significance)
        rows.append(audit_row(edition, f, main, verdict, reason))
    return audit_frame(rows)
