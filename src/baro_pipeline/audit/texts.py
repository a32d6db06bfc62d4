"""Texts of the audit table: numbers, indicators, bases and the clauses of a reason."""

from __future__ import annotations

from dataclasses import dataclass


from ..edition import Condition, Indicator, PublishedFigure


@dataclass(frozen=True)
class ReasonPart:
    """One clause of a figure's reason: a code and its facts (numbers, labels), which a report
    words in its own language, and the clause in English, as ``reason`` keeps it."""

    code: str
    text: str
    facts: tuple[tuple[str, object], ...] = ()

    def record(self) -> dict[str, object]:
        return {"code": self.code, **dict(self.facts)}


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
