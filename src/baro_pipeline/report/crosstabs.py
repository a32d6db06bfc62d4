"""The workbook's population sheets: one block per question, one column per breakdown level, significance letters."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from string import ascii_uppercase
from typing import Any
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from ..edition import Edition, Population, PublishedFigure, Question
from ..estimation import TOTAL
from .labels import question_base_text
from .cells import ADJUSTMENT_NAMES, AT_LEAST_PERCENT_FORMAT, AUDIT, BACK, BANNER_ROWS, BOLD, BOLD_TEXT, CONTENTS, COUNT_FORMAT, HEADER_FILL, ITALIC_TEXT, LEVEL_WIDTH, MEAN_FORMAT, PERCENT_FORMAT, RIGHT, SMALL_BASE_FILL, SMALL_BASE_MARK, TITLE, WEIGHTED_COUNT_FORMAT, WITHHELD, Look, link, print_setup, put


BANNER = Look(font=BOLD, fill=HEADER_FILL, alignment=Alignment(horizontal="center", wrap_text=True))
SHARE = Look(alignment=RIGHT)
SMALL_BASE_SHARE = Look(fill=SMALL_BASE_FILL, alignment=RIGHT)


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
    found = dict.fromkeys(zip(*(estimates[c].tolist() for c in ("breakdown", "breakdown_level", "breakdown_label"))))  # in order of appearance
    keys = [key for key in found if key[0] == TOTAL] + [key for key in found if key[0] != TOTAL]
    labels = {b: population.codebook.question(b).label or b for b in population.breakdowns}
    letters = iter(column_letter_names(len(keys)))
    return [
        Level(b, str(lvl), "Ensemble" if b == TOTAL else labels.get(b, b), str(label), "" if b == TOTAL else next(letters))
        for b, lvl, label in keys
    ]


def cell_rows(estimates: pd.DataFrame, levels: Sequence[Level]) -> np.ndarray:
    """(items, levels) positions of the estimates' rows, -1 where an item has no row at a level;
    items in the estimates' order. Found once for every column of the crosstab."""
    positions: dict[tuple[str, str], int] = {}
    items = [positions.setdefault(key, len(positions)) for key in zip(estimates["question"].tolist(), estimates["item"].tolist())]  # in order of appearance
    # a level's column: its last one when labels differ (table_levels keeps each label)
    columns = {(lv.breakdown, lv.level): j for j, lv in enumerate(levels)}
    rows = np.full((len(positions), len(levels)), -1)
    rows[items, [columns[key] for key in zip(estimates["breakdown"].tolist(), estimates["breakdown_level"].tolist())]] = np.arange(len(estimates))
    return rows


def wide(estimates: pd.DataFrame, rows: np.ndarray, column: str) -> np.ndarray:
    """(items, levels) array of one column of the estimates at ``rows`` (:func:`cell_rows`), NaN where there is no row."""
    return np.asarray(pd.api.extensions.take(estimates[column].array, rows.ravel(), allow_fill=True)).reshape(rows.shape)


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
    """The population's estimates as arrays, with what the "%" and "sig." cells of each level show."""
    levels = tuple(table_levels(population, estimates))
    rows = cell_rows(estimates, levels)
    cells = {c: wide(estimates, rows, c) for c in ("n", "n_weighted", "estimate", "pct", "rank", "rank_low", "rank_high", "small_base", "suppressed", "higher_than")}
    suppressed = cells["suppressed"].astype(bool)
    flagged = cells["small_base"].astype(bool) & ~suppressed
    means = (wide(estimates, rows, "kind") == "mean").any(axis=1)
    cells["shown"] = shown_values(cells["pct"], cells["estimate"], suppressed, means)
    cells["flagged"] = flagged
    cells["sig"] = sig_texts(significance_letters(cells.pop("higher_than"), levels), suppressed, flagged)
    return Crosstab(levels, cells)


def shown_values(pct: np.ndarray, estimate: np.ndarray, suppressed: np.ndarray, means: np.ndarray) -> np.ndarray:
    """(items, levels): what each "%" cell shows: the share rounded as published (a fraction,
    for a percent format), a mean (the items ``means`` says) to 1 decimal, or "–" when withheld."""
    shown = (pct / 100).astype(object)
    for i in np.flatnonzero(means):
        shown[i] = [round(value, 1) for value in estimate[i].tolist()]
    shown[suppressed | pd.isna(estimate)] = WITHHELD
    return shown


def sig_texts(letters: np.ndarray, suppressed: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """(items, levels): what each "sig." cell shows ("": no cell): the mark of a small base, else
    the letters of a share not withheld."""
    sig = letters.copy()
    sig[suppressed] = ""
    sig[flagged] = SMALL_BASE_MARK
    return sig


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
    described: dict[tuple[str, str], list[str]] = {}  # (question, item) -> its first row's label, kind, base
    for question, key, *description in zip(*(estimates[c].tolist() for c in ("question", "item", "item_label", "kind", "base"))):
        described.setdefault((question, key), description)
    blocks: dict[str, list[Item]] = {}
    for pos, ((question, key), (label, kind, base)) in enumerate(described.items()):
        rank, low, high = (float(table.cells[c][pos, 0]) for c in ("rank", "rank_low", "rank_high"))
        item = Item(str(question), str(key), str(label), str(kind), str(base), pos, rank, printed.get((str(question), str(key))), low, high)
        blocks.setdefault(item.question, []).append(item)
    return blocks


def write_banner(ws: Worksheet, levels: Sequence[Level], top: int) -> None:
    """The column headers: each breakdown over its levels, each level with its letter, then
    "%" / "sig." under each level."""
    for col, column in enumerate(ITEM_COLUMNS, start=1):
        put(ws, top + 1, col, column.header, look=BOLD_TEXT)
    spans: dict[str, list[int]] = {}
    for j, level in enumerate(levels):
        col = level_column(j)
        spans.setdefault(level.breakdown, []).append(col)
        header(ws, top + 1, col, col + 1, level.label)
        header(ws, top + 2, col, col + 1, f"({level.letter})" if level.letter else "")
        put(ws, top + 3, col, "%", look=BOLD_TEXT)
        put(ws, top + 3, col + 1, "sig.", look=BOLD_TEXT)
    for breakdown, cols in spans.items():
        header(ws, top, cols[0], cols[-1] + 1, next(lv.breakdown_label for lv in levels if lv.breakdown == breakdown))


def header(ws: Worksheet, row: int, first: int, last: int, text: str) -> None:
    """A banner cell merged over columns first..last."""
    ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    put(ws, row, first, text, look=BANNER)


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
    put(ws, row, 1, question, look=BOLD_TEXT)
    put(ws, row, 2, block_title(population, question, items), look=BOLD_TEXT)
    put(ws, row + 1, 2, q.wording if q else f"Indicateur dérivé, base : {items[0].base}", look=ITALIC_TEXT)
    row += 2
    if q is not None:
        put(ws, row, 2, f"Base : {question_base_text(q, population)}", look=ITALIC_TEXT)
        row += 1
    shown = [j for j, level in enumerate(table.levels) if level.breakdown != question]
    for title, group in block_groups(items):
        if title:
            put(ws, row, 2, title, look=BOLD_TEXT)
            row += 1
        first = group[0].pos
        for name, key, number_format in (("Base (n)", "n", COUNT_FORMAT), ("Base pondérée", "n_weighted", WEIGHTED_COUNT_FORMAT)):
            put(ws, row, 2, name, look=ITALIC_TEXT)
            for j in shown:
                value = table.cells[key][first, j]
                put(ws, row, level_column(j), None if pd.isna(value) else round(float(value), 1) if key == "n_weighted" else int(value), number_format)
            row += 1
        for item in group:
            for col, column in enumerate(ITEM_COLUMNS, start=1):
                put(ws, row, col, column.value(item), column.number_format(item))
            write_level_cells(ws, row, table, item, shown)
            row += 1
    return row + 1


def write_level_cells(ws: Worksheet, row: int, table: Crosstab, item: Item, shown: Sequence[int]) -> None:
    """An item's "%" and "sig." cells at the ``shown`` levels: the share or the mean in its
    format (a withheld "–" is a text: no format), a small base's filled."""
    number_format = MEAN_FORMAT if item.kind == "mean" else PERCENT_FORMAT
    values, flagged, sig = (table.cells[c][item.pos].tolist() for c in ("shown", "flagged", "sig"))
    for j in shown:
        col = level_column(j)
        put(ws, row, col, values[j], number_format, SMALL_BASE_SHARE if flagged[j] else SHARE)
        if sig[j]:
            put(ws, row, col + 1, sig[j])


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
    put(ws, 1, 1, f"{edition.title} — {population.label}", look=TITLE)
    for i, text in enumerate(notes(edition)):
        put(ws, 2 + i, 1, text, look=ITALIC_TEXT)
    top = 2 + len(notes(edition)) + 1
    link(ws, top, 1, BACK, CONTENTS)  # left of the banner: frozen, always in sight
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
