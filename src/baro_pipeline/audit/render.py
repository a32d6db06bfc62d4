"""Summaries of the audit table and its formats for ``baro audit``: table, csv, markdown, json."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from ..errors import AuditMismatchError, UsageError
from .texts import number_text, signed_text
from .verdicts import VERDICTS


RENDER_FORMATS = ("table", "csv", "markdown", "json")


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
