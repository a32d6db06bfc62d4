"""The workbook's cells: sheet names, formats, fonts, links and the written value that is never a formula."""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence
from weakref import WeakKeyDictionary

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import quote_sheetname
from openpyxl.workbook.child import INVALID_TITLE_REGEX
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet


CONTENTS, AUDIT, TRENDS = "Sommaire", "Audit", "Tendances"
BACK = f"← {CONTENTS}"
BANNER_ROWS = 4  # breakdown, level, letter, "%" / "sig."
LEVEL_WIDTH = 2  # "%" and "sig." under each level
ADJUSTMENT_NAMES = {"bonferroni": "Bonferroni", "holm": "Holm"}
# ``pct`` is rounded to whole points, as the publication rounds (estimation.published_round).
PERCENT_FORMAT = "0%"
AT_LEAST_PERCENT_FORMAT = '"≥ "0%'
MEAN_FORMAT = "0.0"
COUNT_FORMAT = "#,##0"
WEIGHTED_COUNT_FORMAT = "#,##0.0"
POINTS_FORMAT = "+0.0;-0.0;0.0"
# What a spreadsheet may take for the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_SHEET_TITLE = 31  # Excel's limit


@dataclass(frozen=True, eq=False)
class Look:
    """A cell's font, fill and alignment (None: the workbook's default). Compared by identity:
    :func:`put` gives a workbook's first cell of a look its parts through openpyxl's setters, then
    copies that cell's style to the next ones (openpyxl hashes a font, fill or alignment again on
    each assignment)."""

    font: Font | None = None
    fill: PatternFill | None = None
    alignment: Alignment | None = None


BOLD = Font(bold=True)
ITALIC = Font(italic=True, color="555555")
SMALL_BASE_FILL = PatternFill("solid", fgColor="FCE4D6")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
RIGHT = Alignment(horizontal="right")
PLAIN = Look()
TITLE = Look(font=Font(bold=True, size=13))
BOLD_TEXT = Look(font=BOLD)
ITALIC_TEXT = Look(font=ITALIC)
LINK = Look(font=Font(color="0563C1", underline="single"))
WITHHELD = "–"
SMALL_BASE_MARK = "*"
# A cell's style: its look, number format and quote prefix.
Style = tuple[Look, str | None, bool]
DEFAULT_STYLE: Style = (PLAIN, None, False)
# Each workbook's style ids of each style, from the first cell that had it.
_STYLE_IDS: WeakKeyDictionary[Workbook, dict[Style, StyleArray]] = WeakKeyDictionary()


def put(ws: Worksheet, row: int, column: int, value: Any, number_format: str | None = None, look: Look = PLAIN) -> Cell:
    """Write one cell in ``look``: a text always as text (never a formula), a number with its format, NaN as empty."""
    cell = ws.cell(row, column)
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters an xlsx cannot hold
        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula
        # the quote prefix: Excel keeps it text when the cell is edited
        style: Style = (look, None, cell.value.startswith(FORMULA_STARTS))
    else:
        cell.value = None if value is None or pd.isna(value) else value
        style = (look, number_format, False)
    if style != DEFAULT_STYLE:
        styled(cell, style)
    return cell


def styled(cell: Cell, style: Style) -> None:
    """Give a new cell ``style``: the style ids of the workbook's first cell with it, copied as
    openpyxl copies a cell's style; that first cell gets it through openpyxl's setters."""
    ids = _STYLE_IDS.setdefault(cell.parent.parent, {})
    if style in ids:
        cell._style = copy(ids[style])
        return
    look, number_format, quoted = style
    for part in ("font", "fill", "alignment"):
        if getattr(look, part) is not None:
            setattr(cell, part, getattr(look, part))
    if number_format is not None:
        cell.number_format = number_format
    cell.quotePrefix = quoted
    ids[style] = copy(cell._style)


def link(ws: Worksheet, row: int, column: int, text: str, sheet: str, ref: str = "A1") -> Cell:
    """Write ``text`` as a link to ``ref`` of ``sheet`` in the same workbook (a hyperlink, not a formula)."""
    cell = put(ws, row, column, text, look=LINK)
    cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"{quote_sheetname(sheet)}!{ref}")
    return cell


def print_setup(ws: Worksheet, title_rows: str) -> None:
    """Landscape A4, fitted to the page's width, ``title_rows`` repeated on every page."""
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = title_rows


def sheet_titles(names: Sequence[str], reserved: Sequence[str]) -> dict[str, str]:
    """A sheet title for each name (a population id): the name made valid for Excel (no
    ``\\ / ? * [ ] :``, no quote at either end, 31 characters at most) and unique, case ignored,
    beside the ``reserved`` titles."""
    taken = {title.lower() for title in reserved}
    titles: dict[str, str] = {}
    for name in names:
        base = INVALID_TITLE_REGEX.sub("_", name).strip("'")[:MAX_SHEET_TITLE] or "population"
        title, copy = base, 1
        while title.lower() in taken:
            copy += 1
            title = f"{base[: MAX_SHEET_TITLE - len(str(copy)) - 3]} ({copy})"
        taken.add(title.lower())
        titles[name] = title
    return titles
