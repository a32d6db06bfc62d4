"""``tables.xlsx``: the market-research crosstabs of an edition, from ``estimates.parquet``, with
the published figures beside them, the audit and the trends.

Sheets: "Sommaire" (a link to every question block and to the other sheets), one sheet per
population, "Audit" (every published figure against the computed one) and, when the edition has
trends, "Tendances".

A population's sheet has one block per question (profile variables, questions, derived
indicators, in codebook order; a grid has one sub-block per row); items as rows (answer codes,
nets — "Net : …" — and, for multiple-choice questions, their rank, then the published figure of
the item when the synthesis prints one on the item's own base); as columns the total and each
level of the population's breakdowns, each as two cells: the weighted share (rounded as the
publication rounds, stored as a fraction with a percent format) and the significance letters. A
profile variable is not crossed with itself: its own breakdown's columns stay empty in its block.

Significance letters follow the convention of Q and SPSS tables: every breakdown level has a
letter (A, B, C… across the sheet); a cell carries the letter of each other level *of the same
breakdown* that it is significantly higher than at the edition's test level (``Edition.significance``), as
``estimates.parquet``'s ``higher_than`` says (:func:`baro_pipeline.estimation.higher_levels`: the
difference of the two levels with the covariance the design and its calibration give them, a t
test, the p-values adjusted within the breakdown's pairs of levels as the edition's
``letters_adjust`` asks). Small bases (n < ``flag_base``) are flagged ``*`` and not tested; suppressed cells (n <
``suppress_base``) show "–" with their n kept in the base row.

Every text — labels and wordings of the edition, texts of the audit and the trends — is written
as a text cell, never as a formula, and with Excel's quote prefix when it starts with a character
that a spreadsheet would read as the start of a formula (OWASP's CSV-injection list). The workbook
holds no formula: its links are cell hyperlinks.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from numbers import Real
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..edition import Edition
from .cells import AUDIT, BACK, BOLD, BOLD_TEXT, CONTENTS, COUNT_FORMAT, HEADER_FILL, PERCENT_FORMAT, POINTS_FORMAT, TITLE, TRENDS, Look, link, print_setup, put, sheet_titles
from .crosstabs import population_sheet


COLUMN_HEADER = Look(font=BOLD, fill=HEADER_FILL, alignment=Alignment(wrap_text=True))


@dataclass(frozen=True)
class FrameColumn:
    """A column of a table copied to a sheet: its header, number format, and the factor that
    turns its values into what the format expects (points -> fractions for a percent format)."""

    name: str
    header: str
    number_format: str | None = None
    scale: float = 1.0
    width: float = 12


def share(name: str, header: str) -> FrameColumn:
    """A share in points, shown as a percentage."""
    return FrameColumn(name, header, PERCENT_FORMAT, 0.01, 9)


AUDIT_SHEET_COLUMNS = (
    FrameColumn("figure_id", "chiffre", width=24),
    FrameColumn("population", "population", width=10),
    FrameColumn("page", "page", COUNT_FORMAT, width=6),
    FrameColumn("wording", "libellé publié", width=50),
    FrameColumn("question", "question", width=10),
    FrameColumn("item", "item", width=12),
    FrameColumn("base", "base", width=16),
    FrameColumn("operator", "op.", width=5),
    share("published", "publié"),
    share("computed_pct", "calculé"),
    FrameColumn("difference_pts", "écart (pts)", "+0.00;-0.00;0.00", width=10),
    FrameColumn("moe_pts", "marge d'erreur (pts)", "0.0", width=10),
    FrameColumn("n", "n", COUNT_FORMAT, width=8),
    FrameColumn("n_eff", "n effectif", COUNT_FORMAT, width=9),
    FrameColumn("verdict", "verdict", width=14),
    FrameColumn("reason", "raison", width=60),
    FrameColumn("source", "source", width=14),
    FrameColumn("problems", "problèmes de la publication", width=40),
)
TRENDS_SHEET_COLUMNS = (
    FrameColumn("population", "population", width=10),
    FrameColumn("question", "question", width=10),
    FrameColumn("previous_question", "question précédente", width=10),
    FrameColumn("item", "item", width=12),
    FrameColumn("item_label", "réponse", width=50),
    FrameColumn("breakdown", "ventilation", width=12),
    FrameColumn("breakdown_label", "niveau", width=24),
    FrameColumn("n_previous", "n précédent", COUNT_FORMAT, width=9),
    share("pct_previous", "% précédent"),
    FrameColumn("n", "n", COUNT_FORMAT, width=9),
    share("pct", "%"),
    FrameColumn("estimate_previous", "estimation précédente", "0.000", width=11),
    FrameColumn("estimate", "estimation", "0.000", width=11),
    FrameColumn("change_pts", "évolution (pts)", POINTS_FORMAT, width=10),
    FrameColumn("se_change_pts", "erreur-type (pts)", "0.00", width=10),
    FrameColumn("p_value", "p", "0.000", width=8),
    FrameColumn("significant", "significative", width=10),
)


def frame_value(value: Any, scale: float) -> Any:
    """A table's value as a cell holds it: numbers scaled, numpy scalars as Python ones, missing as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, Real) and not isinstance(value, bool) and scale != 1:
        return float(value) * scale
    return value if isinstance(value, (bool, Real)) else str(value)


def frame_sheet(ws: Worksheet, title: str, frame: pd.DataFrame, columns: Sequence[FrameColumn]) -> None:
    """A table as a sheet: a title, a header row (frozen, filtered, repeated on every printed page), a row per record."""
    put(ws, 1, 1, title, look=TITLE)
    link(ws, 2, 1, BACK, CONTENTS)
    head = 3
    for col, column in enumerate(columns, start=1):
        put(ws, head, col, column.header, look=COLUMN_HEADER)
        ws.column_dimensions[get_column_letter(col)].width = column.width
    for row, record in enumerate(frame[[c.name for c in columns]].itertuples(index=False), start=head + 1):
        for col, (column, value) in enumerate(zip(columns, record), start=1):
            put(ws, row, col, frame_value(value, column.scale), column.number_format)
    ws.freeze_panes = ws.cell(head + 1, 1)
    ws.auto_filter.ref = f"A{head}:{get_column_letter(len(columns))}{head + len(frame)}"
    print_setup(ws, f"{head}:{head}")


def contents_sheet(ws: Worksheet, edition: Edition, blocks: Mapping[str, list[tuple[str, str, int]]], others: Sequence[str]) -> None:
    """The contents: a link to each question block of each population's sheet, then to the other sheets."""
    put(ws, 1, 1, edition.title, look=TITLE)
    for col, text in enumerate(("feuille", "question", "intitulé"), start=1):
        put(ws, 3, col, text, look=BOLD_TEXT)
    row = 4
    for sheet, starts in blocks.items():
        for question, title, first in starts:
            put(ws, row, 1, sheet)
            put(ws, row, 2, question)
            link(ws, row, 3, title, sheet, f"A{first}")
            row += 1
    for sheet in others:
        link(ws, row, 1, sheet, sheet)
        row += 1
    for letter, width in zip("ABC", (16, 14, 70)):
        ws.column_dimensions[letter].width = width
    print_setup(ws, "3:3")


def tables_xlsx(edition: Edition, estimates: pd.DataFrame, audit: pd.DataFrame, trends: pd.DataFrame | None = None) -> bytes:
    """``tables.xlsx`` of a run: the contents, a sheet per population (named by its id), the
    audit, and the trends when the edition has some."""
    workbook = Workbook()
    contents = workbook.active
    contents.title = CONTENTS
    others = (AUDIT,) if trends is None else (AUDIT, TRENDS)
    titles = sheet_titles(list(edition.populations), (CONTENTS, *others))
    blocks = {
        titles[pid]: population_sheet(workbook.create_sheet(titles[pid]), edition, population, estimates[estimates["population"] == pid])
        for pid, population in edition.populations.items()
    }
    frame_sheet(workbook.create_sheet(AUDIT), f"{edition.title} — audit des chiffres publiés", audit, AUDIT_SHEET_COLUMNS)
    if trends is not None:
        frame_sheet(workbook.create_sheet(TRENDS), f"{edition.title} — évolutions depuis {edition.previous}", trends, TRENDS_SHEET_COLUMNS)
    contents_sheet(contents, edition, blocks, others)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
