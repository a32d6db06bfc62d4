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
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from string import ascii_uppercase
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.child import INVALID_TITLE_REGEX
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from .edition import Edition, Population, PublishedFigure, Question
from .estimation import TOTAL
from .report import question_base_text

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
BOLD = Font(bold=True)
ITALIC = Font(italic=True, color="555555")
LINK = Font(color="0563C1", underline="single")
SMALL_BASE_FILL = PatternFill("solid", fgColor="FCE4D6")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
RIGHT = Alignment(horizontal="right")
WITHHELD = "–"
SMALL_BASE_MARK = "*"


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


def put(ws: Worksheet, row: int, column: int, value: Any, number_format: str | None = None) -> Cell:
    """Write one cell: a text always as text (never a formula), a number with its format, NaN as empty."""
    cell = ws.cell(row, column)
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters an xlsx cannot hold
        cell.value = text
        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula
        if text.startswith(FORMULA_STARTS):
            cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
        return cell
    cell.value = None if value is None or pd.isna(value) else value
    if number_format is not None:
        cell.number_format = number_format
    return cell


def link(cell: Cell, sheet: str, ref: str = "A1") -> Cell:
    """Make ``cell`` a link to ``ref`` of ``sheet`` in the same workbook (a hyperlink, not a formula)."""
    cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"{quote_sheetname(sheet)}!{ref}")
    cell.font = LINK
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


# --------------------------------------------------------------------------------------------
# Population sheets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One column of the table: a breakdown level (or the total) and its letter ("" for the total)."""

    breakdown: str
    level: str
    breakdown_label: str
    label: str
    letter: str


@dataclass(frozen=True)
class Item:
    """One row of a block: an item of the estimates, its row in the crosstab's arrays, and the
    figure the synthesis prints for it on its own base (if any)."""

    question: str
    key: str
    label: str
    kind: str
    base: str
    pos: int
    rank: float
    published: PublishedFigure | None
    rank_low: float = math.nan  # the rank's interval (estimates.parquet)
    rank_high: float = math.nan


@dataclass(frozen=True)
class Crosstab:
    """A population's estimates as (items, levels) arrays (``n``, ``pct``, ``letters``…)."""

    levels: tuple[Level, ...]
    cells: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ItemColumn:
    """A column left of the levels: its header, its width, and what an item's row shows there."""

    header: str
    width: float
    value: Callable[[Item], Any]
    number_format: Callable[[Item], str | None] = lambda item: None


def item_label(item: Item) -> str:
    prefix = {"net": "Net : ", "mean": "Moyenne : "}.get(item.kind, "")
    # A grid item's label is "<row> – <answer>": the sub-block names the row already.
    return prefix + (item.label.split(" – ", 1)[1] if ":" in item.key and " – " in item.label else item.label)


def published_share(item: Item) -> float | None:
    return None if item.published is None else item.published.value / 100


def published_format(item: Item) -> str:
    return AT_LEAST_PERCENT_FORMAT if item.published is not None and item.published.operator == ">=" else PERCENT_FORMAT


def rank_interval_cell(item: Item) -> str | None:
    """The rank interval of an answer on the whole population at the edition's level, "2–5"
    ("1–1": the data separate it from every other answer), from ``rank_low``/``rank_high``."""
    return None if math.isnan(item.rank_low) else f"{int(item.rank_low)}–{int(item.rank_high)}"


ITEM_COLUMNS = (
    ItemColumn("question", 12, lambda item: item.key),
    ItemColumn("réponse", 60, item_label),
    ItemColumn("rang", 6, lambda item: None if math.isnan(item.rank) else int(item.rank)),
    ItemColumn("intervalle", 10, rank_interval_cell),
    ItemColumn("publié", 9, published_share, published_format),
)
FIRST_LEVEL_COLUMN = len(ITEM_COLUMNS) + 1


def level_column(j: int) -> int:
    """The "%" column of the ``j``-th level (its "sig." column is the next one)."""
    return FIRST_LEVEL_COLUMN + LEVEL_WIDTH * j


def column_letter_names(count: int) -> list[str]:
    """A, B, … Z, AA, AB, … (as many as there are breakdown levels)."""
    names = list(ascii_uppercase)
    while len(names) < count:
        names += [a + b for a in ascii_uppercase for b in ascii_uppercase]
    return names[:count]


def table_levels(population: Population, estimates: pd.DataFrame) -> list[Level]:
    """The total, then every breakdown level present in the estimates, lettered in order."""
    keys = estimates[["breakdown", "breakdown_level", "breakdown_label"]].drop_duplicates()
    keys = keys[keys["breakdown"] == TOTAL].to_numpy().tolist() + keys[keys["breakdown"] != TOTAL].to_numpy().tolist()
    labels = {b: population.codebook.question(b).label or b for b in population.breakdowns}
    letters = iter(column_letter_names(len(keys)))
    return [
        Level(b, str(lvl), "Ensemble" if b == TOTAL else labels.get(b, b), str(label), "" if b == TOTAL else next(letters))
        for b, lvl, label in keys
    ]


def wide(estimates: pd.DataFrame, levels: Sequence[Level], column: str) -> np.ndarray:
    """(items, levels) array of one column of the estimates; items in the estimates' order."""
    keyed = estimates.set_index(["question", "item", "breakdown", "breakdown_level"])[column]
    items = estimates[["question", "item"]].drop_duplicates()
    index = pd.MultiIndex.from_tuples(
        [(q, i, lv.breakdown, lv.level) for q, i in items.itertuples(index=False) for lv in levels]
    )
    return keyed.reindex(index).to_numpy().reshape(len(items), len(levels))


def significance_letters(higher_than: np.ndarray, levels: Sequence[Level]) -> np.ndarray:
    """(items, levels) strings: the letters of the levels of the same breakdown each cell is
    significantly higher than (the level codes of the estimates' ``higher_than``)."""
    letter = {(lv.breakdown, lv.level): lv.letter for lv in levels}
    return np.array(
        [["".join(letter[(lv.breakdown, str(code))] for code in listed_codes(codes)) for codes, lv in zip(row, levels)] for row in higher_than],
        dtype=object,
    )


def listed_codes(codes: Any) -> Iterable[Any]:
    """A cell's ``higher_than``: a list (a run's estimates), an array (read back from Parquet) or
    NaN (no such row in the estimates)."""
    return codes if isinstance(codes, (list, np.ndarray)) else ()


def crosstab(population: Population, estimates: pd.DataFrame) -> Crosstab:
    """The population's estimates as arrays, with their significance letters."""
    levels = tuple(table_levels(population, estimates))
    cells = {c: wide(estimates, levels, c) for c in ("n", "n_weighted", "estimate", "se", "pct", "rank", "rank_low", "rank_high", "small_base", "suppressed", "higher_than")}
    cells["small_base"] = cells["small_base"].astype(bool)
    cells["suppressed"] = cells["suppressed"].astype(bool)
    cells["letters"] = significance_letters(cells.pop("higher_than"), levels)
    return Crosstab(levels, cells)


def level_value(table: Crosstab, item: Item, j: int) -> tuple[Any, str | None]:
    """What an item's cell of level ``j`` shows, and its number format: the share rounded as
    published (a fraction, percent format), a mean to 1 decimal, or "–" when withheld."""
    estimate = table.cells["estimate"][item.pos, j]
    if table.cells["suppressed"][item.pos, j] or pd.isna(estimate):
        return WITHHELD, None
    if item.kind == "mean":
        return round(float(estimate), 1), MEAN_FORMAT
    return float(table.cells["pct"][item.pos, j]) / 100, PERCENT_FORMAT


def published_figures(edition: Edition, population: Population) -> dict[tuple[str, str], PublishedFigure]:
    """(question, item) -> the population's figure printed on the item's own base (the others,
    on another base, are on the audit sheet only: no column of the block holds their base)."""
    figures: dict[tuple[str, str], PublishedFigure] = {}
    for figure in edition.figures:
        if figure.population == population.id and figure.base == "asked":
            figures.setdefault((figure.indicator.question, figure.indicator.item), figure)
    return figures


def table_items(edition: Edition, population: Population, estimates: pd.DataFrame, table: Crosstab) -> dict[str, list[Item]]:
    """Question id -> its items, in the estimates' order (the crosstab's rows)."""
    printed = published_figures(edition, population)
    rows = estimates[["question", "item", "item_label", "kind", "base"]].drop_duplicates(["question", "item"])
    blocks: dict[str, list[Item]] = {}
    for pos, (question, key, label, kind, base) in enumerate(rows.itertuples(index=False)):
        rank, low, high = (float(table.cells[c][pos, 0]) for c in ("rank", "rank_low", "rank_high"))
        item = Item(str(question), str(key), str(label), str(kind), str(base), pos, rank, printed.get((str(question), str(key))), low, high)
        blocks.setdefault(item.question, []).append(item)
    return blocks


def write_banner(ws: Worksheet, levels: Sequence[Level], top: int) -> None:
    """The column headers: each breakdown over its levels, each level with its letter, then
    "%" / "sig." under each level."""
    for col, column in enumerate(ITEM_COLUMNS, start=1):
        put(ws, top + 1, col, column.header).font = BOLD
    spans: dict[str, list[int]] = {}
    for j, level in enumerate(levels):
        col = level_column(j)
        spans.setdefault(level.breakdown, []).append(col)
        header(ws, top + 1, col, col + 1, level.label)
        header(ws, top + 2, col, col + 1, f"({level.letter})" if level.letter else "")
        put(ws, top + 3, col, "%").font = BOLD
        put(ws, top + 3, col + 1, "sig.").font = BOLD
    for breakdown, cols in spans.items():
        header(ws, top, cols[0], cols[-1] + 1, next(lv.breakdown_label for lv in levels if lv.breakdown == breakdown))


def header(ws: Worksheet, row: int, first: int, last: int, text: str) -> None:
    """A banner cell merged over columns first..last."""
    ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    cell = put(ws, row, first, text)
    cell.alignment = Alignment(horizontal="center", wrap_text=True)
    cell.fill = HEADER_FILL
    cell.font = BOLD


def block_groups(items: list[Item]) -> list[tuple[str, list[Item]]]:
    """A question's items by sub-block: one per grid row (titled with the row's label), else one untitled group."""
    if not all(":" in item.key for item in items):
        return [("", items)]
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.key.partition(":")[0], []).append(item)
    return [(group[0].label.split(" – ", 1)[0], group) for group in groups.values()]


def codebook_question(population: Population, question: str) -> Question | None:
    """The profile variable or question of a block (None for a derived indicator)."""
    book = population.codebook
    return next((x for x in book.profile + book.questions if x.id == question), None)


def block_title(population: Population, question: str, items: list[Item]) -> str:
    q = codebook_question(population, question)
    return (q.label or q.id) if q else items[0].label


def write_block(ws: Worksheet, row: int, question: str, items: list[Item], table: Crosstab, population: Population) -> int:
    """One question's block from ``row``; returns the next free row. A profile variable's own
    breakdown is left out of its block (a variable crossed with itself says nothing)."""
    q = codebook_question(population, question)
    put(ws, row, 1, question).font = BOLD
    put(ws, row, 2, block_title(population, question, items)).font = BOLD
    put(ws, row + 1, 2, q.wording if q else f"Indicateur dérivé, base : {items[0].base}").font = ITALIC
    row += 2
    if q is not None:
        put(ws, row, 2, f"Base : {question_base_text(q, population)}").font = ITALIC
        row += 1
    shown = [j for j, level in enumerate(table.levels) if level.breakdown != question]
    for title, group in block_groups(items):
        if title:
            put(ws, row, 2, title).font = BOLD
            row += 1
        first = group[0].pos
        for name, key, number_format in (("Base (n)", "n", COUNT_FORMAT), ("Base pondérée", "n_weighted", WEIGHTED_COUNT_FORMAT)):
            put(ws, row, 2, name).font = ITALIC
            for j in shown:
                value = table.cells[key][first, j]
                put(ws, row, level_column(j), None if pd.isna(value) else round(float(value), 1) if key == "n_weighted" else int(value), number_format)
            row += 1
        for item in group:
            for col, column in enumerate(ITEM_COLUMNS, start=1):
                put(ws, row, col, column.value(item), column.number_format(item))
            for j in shown:
                write_level_cells(ws, row, level_column(j), table, item, j)
            row += 1
    return row + 1


def write_level_cells(ws: Worksheet, row: int, col: int, table: Crosstab, item: Item, j: int) -> None:
    """An item's "%" and "sig." cells of level ``j``."""
    cell = put(ws, row, col, *level_value(table, item, j))
    cell.alignment = RIGHT
    small, suppressed = table.cells["small_base"][item.pos, j], table.cells["suppressed"][item.pos, j]
    if small and not suppressed:
        cell.fill = SMALL_BASE_FILL
        put(ws, row, col + 1, SMALL_BASE_MARK)
    elif table.cells["letters"][item.pos, j] and not suppressed:  # a withheld share has no letters
        put(ws, row, col + 1, table.cells["letters"][item.pos, j])


def adjustment_note(edition: Edition) -> str:
    method = edition.estimation.letters_adjust
    if method == "none":
        return ", sans ajustement pour tests multiples"
    return f", p-values ajustées ({ADJUSTMENT_NAMES[method]}) sur les paires de colonnes de la ventilation, ligne par ligne"


def notes(edition: Edition) -> tuple[str, ...]:
    t = edition.thresholds
    return (
        f"% : pourcentage pondéré (calage sur les marges), arrondi comme la synthèse ({edition.estimation.rounding}) ; base : répondants interrogés ayant répondu.",
        f"sig. : lettres des colonnes de la même ventilation dont la colonne est significativement plus élevée à {edition.significance.level_text} — test t bilatéral de la différence, "
        f"erreur-type linéarisée avec la covariance des deux colonnes (calage pris en compte){adjustment_note(edition)}.",
        f"{SMALL_BASE_MARK} : base faible (n < {t.flag_base}), fond orangé, non testée ; {WITHHELD} : valeur non publiée (n < {t.suppress_base}), n conservé.",
        f"publié : le chiffre imprimé par la publication sur la base de la question, à comparer à l'Ensemble ; chaque chiffre publié et son audit : feuille « {AUDIT} ».",
    )


def population_sheet(ws: Worksheet, edition: Edition, population: Population, estimates: pd.DataFrame) -> list[tuple[str, str, int]]:
    """One population's sheet: title, notes, banner, then every question's block; returns each
    block's question id, title and first row."""
    table = crosstab(population, estimates)
    put(ws, 1, 1, f"{edition.title} — {population.label}").font = Font(bold=True, size=13)
    for i, text in enumerate(notes(edition)):
        put(ws, 2 + i, 1, text).font = ITALIC
    top = 2 + len(notes(edition)) + 1
    link(put(ws, top, 1, BACK), CONTENTS)  # left of the banner: frozen, always in sight
    write_banner(ws, table.levels, top)
    row = top + BANNER_ROWS + 1
    starts = []
    for question, block in table_items(edition, population, estimates, table).items():
        starts.append((question, block_title(population, question, block), row))
        row = write_block(ws, row, question, block, table, population)
    ws.freeze_panes = ws.cell(top + BANNER_ROWS, FIRST_LEVEL_COLUMN)
    print_setup(ws, f"{top}:{top + BANNER_ROWS - 1}")
    for col, column in enumerate(ITEM_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = column.width
    for j in range(len(table.levels)):
        ws.column_dimensions[get_column_letter(level_column(j))].width = 11
        ws.column_dimensions[get_column_letter(level_column(j) + 1)].width = 6
    return starts


# --------------------------------------------------------------------------------------------
# Audit and trends sheets
# --------------------------------------------------------------------------------------------


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
    put(ws, 1, 1, title).font = Font(bold=True, size=13)
    link(put(ws, 2, 1, BACK), CONTENTS)
    head = 3
    for col, column in enumerate(columns, start=1):
        cell = put(ws, head, col, column.header)
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True)
        ws.column_dimensions[get_column_letter(col)].width = column.width
    for row, record in enumerate(frame[[c.name for c in columns]].itertuples(index=False), start=head + 1):
        for col, (column, value) in enumerate(zip(columns, record), start=1):
            put(ws, row, col, frame_value(value, column.scale), column.number_format)
    ws.freeze_panes = ws.cell(head + 1, 1)
    ws.auto_filter.ref = f"A{head}:{get_column_letter(len(columns))}{head + len(frame)}"
    print_setup(ws, f"{head}:{head}")


# --------------------------------------------------------------------------------------------
# The workbook
# --------------------------------------------------------------------------------------------


def contents_sheet(ws: Worksheet, edition: Edition, blocks: Mapping[str, list[tuple[str, str, int]]], others: Sequence[str]) -> None:
    """The contents: a link to each question block of each population's sheet, then to the other sheets."""
    put(ws, 1, 1, edition.title).font = Font(bold=True, size=13)
    for col, text in enumerate(("feuille", "question", "intitulé"), start=1):
        put(ws, 3, col, text).font = BOLD
    row = 4
    for sheet, starts in blocks.items():
        for question, title, first in starts:
            put(ws, row, 1, sheet)
            put(ws, row, 2, question)
            link(put(ws, row, 3, title), sheet, f"A{first}")
            row += 1
    for sheet in others:
        link(put(ws, row, 1, sheet), sheet)
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
