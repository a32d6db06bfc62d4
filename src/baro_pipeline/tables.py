"""``tables.xlsx``: the market-research crosstabs of an edition, from ``estimates.parquet``.

One sheet per population; one block per question (profile variables, questions, derived
indicators, in codebook order; a grid has one sub-block per row); items as rows (answer codes,
nets — "Net : …" — and, for multiple-choice questions, their rank); as columns the total and each
level of the population's breakdowns, each as two cells: the weighted percentage (rounded as the
publication rounds) and the significance letters.

Significance letters follow the convention of Q and SPSS tables: every breakdown level has a
letter (A, B, C… across the sheet); a cell carries the letter of each other level *of the same
breakdown* that it is significantly higher than at the edition's confidence level (95 %). The
test is a two-sample z test on the design-based (linearised, calibration-aware) SEs of
``estimates.parquet``, treating the two levels as independent samples: SE of the difference
sqrt(se1² + se2²) (:func:`baro_pipeline.stats.significance.independent_difference`). Levels are
disjoint groups of one sample raked together, so this ignores their small calibration covariance.
Small bases (n < ``flag_base``) are flagged ``*`` and not tested; suppressed cells (n <
``suppress_base``) show "–" with their n kept in the base row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from string import ascii_uppercase
from typing import Any, Sequence

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .edition import Edition, Population
from .estimation import TOTAL
from .report import question_base_text
from .stats.significance import independent_difference

FIRST_LEVEL_COLUMN = 4  # A: item key, B: label, C: rank, then two columns per level
BANNER_ROWS = 4  # breakdown, level, letter, "%" / "sig."
BOLD = Font(bold=True)
ITALIC = Font(italic=True, color="555555")
SMALL_BASE_FILL = PatternFill("solid", fgColor="FCE4D6")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
RIGHT = Alignment(horizontal="right")
WITHHELD = "–"
SMALL_BASE_MARK = "*"


@dataclass(frozen=True)
class Level:
    """One column of the table: a breakdown level (or the total) and its letter ("" for the total)."""

    breakdown: str
    level: str
    breakdown_label: str
    label: str
    letter: str


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


def significance_letters(estimate: np.ndarray, se: np.ndarray, testable: np.ndarray, levels: Sequence[Level], alpha: float) -> np.ndarray:
    """(items, levels) strings: the letters of the levels of the same breakdown each cell is
    significantly higher than (two-sample z test, levels as independent samples)."""
    k, d = estimate.shape
    diff = independent_difference(estimate[:, :, None], se[:, :, None], estimate[:, None, :], se[:, None, :])
    same = np.array([[a.breakdown == b.breakdown != TOTAL and a is not b for b in levels] for a in levels])
    higher = (diff.diff > 0) & (np.nan_to_num(diff.p, nan=1.0) < alpha) & same[None] & testable[:, :, None] & testable[:, None, :]
    letters = np.array([lv.letter for lv in levels])
    return np.array([["".join(letters[higher[i, j]]) for j in range(d)] for i in range(k)], dtype=object)


def item_label(item: dict[str, Any]) -> str:
    prefix = {"net": "Net : ", "mean": "Moyenne : "}.get(item["kind"], "")
    label = str(item["item_label"])
    # A grid item's label is "<row> – <answer>": the sub-block names the row already.
    return prefix + (label.split(" – ", 1)[1] if ":" in str(item["item"]) and " – " in label else label)


def cell_value(pct: float, estimate: float, kind: str, suppressed: bool) -> Any:
    """What a cell shows: the published rounding of a share, a mean to 1 decimal, or "–" when withheld."""
    if suppressed or pd.isna(estimate):
        return WITHHELD
    return round(float(estimate), 1) if kind == "mean" else int(pct)


def write_banner(ws: Worksheet, levels: Sequence[Level], top: int) -> None:
    """The column headers: each breakdown over its levels, each level with its letter, then
    "%" / "sig." under each level."""
    for col, text in ((1, "question"), (2, "réponse"), (3, "rang")):
        ws.cell(top + 1, col, text).font = BOLD
    spans: dict[str, list[int]] = {}
    for j, level in enumerate(levels):
        col = FIRST_LEVEL_COLUMN + 2 * j
        spans.setdefault(level.breakdown, []).append(col)
        header(ws, top + 1, col, col + 1, level.label)
        header(ws, top + 2, col, col + 1, f"({level.letter})" if level.letter else "")
        ws.cell(top + 3, col, "%").font = BOLD
        ws.cell(top + 3, col + 1, "sig.").font = BOLD
    for breakdown, cols in spans.items():
        header(ws, top, cols[0], cols[-1] + 1, next(lv.breakdown_label for lv in levels if lv.breakdown == breakdown))


def header(ws: Worksheet, row: int, first: int, last: int, text: str) -> None:
    """A banner cell merged over columns first..last."""
    ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    cell = ws.cell(row, first, text)
    cell.alignment = Alignment(horizontal="center", wrap_text=True)
    cell.fill = HEADER_FILL
    cell.font = BOLD


def block_groups(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """A question's items by sub-block: one per grid row (titled with the row's label), else one untitled group."""
    if not all(":" in str(item["item"]) for item in items):
        return [("", items)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(item["item"]).partition(":")[0], []).append(item)
    return [(str(group[0]["item_label"]).split(" – ", 1)[0], group) for group in groups.values()]


def write_block(ws: Worksheet, row: int, question: str, items: list[dict[str, Any]], cells: dict[str, np.ndarray], population: Population, levels: Sequence[Level]) -> int:
    """One question's block from ``row`` (``items``: its rows of the items table, ``pos`` their
    row in ``cells``); returns the next free row."""
    book = population.codebook
    q = next((x for x in book.profile + book.questions if x.id == question), None)
    ws.cell(row, 1, question).font = BOLD
    ws.cell(row, 2, (q.label or q.id) if q else str(items[0]["item_label"])).font = BOLD
    ws.cell(row + 1, 2, q.wording if q else f"Indicateur dérivé, base : {items[0]['base']}").font = ITALIC
    row += 2
    if q is not None:
        ws.cell(row, 2, f"Base : {question_base_text(q, population)}").font = ITALIC
        row += 1
    for title, group in block_groups(items):
        if title:
            ws.cell(row, 2, title).font = BOLD
            row += 1
        first = group[0]["pos"]
        for name, key, weighted in (("Base (n)", "n", False), ("Base pondérée", "n_weighted", True)):
            ws.cell(row, 2, name).font = ITALIC
            for j in range(len(levels)):
                value = cells[key][first, j]
                ws.cell(row, FIRST_LEVEL_COLUMN + 2 * j, None if pd.isna(value) else round(float(value), 1) if weighted else int(value))
            row += 1
        for item in group:
            i = item["pos"]
            ws.cell(row, 1, str(item["item"]))
            ws.cell(row, 2, item_label(item))
            if pd.notna(cells["rank"][i, 0]):
                ws.cell(row, 3, int(cells["rank"][i, 0]))
            for j in range(len(levels)):
                col = FIRST_LEVEL_COLUMN + 2 * j
                value = ws.cell(row, col, cell_value(cells["pct"][i, j], cells["estimate"][i, j], item["kind"], bool(cells["suppressed"][i, j])))
                value.alignment = RIGHT
                if cells["small_base"][i, j] and not cells["suppressed"][i, j]:
                    value.fill = SMALL_BASE_FILL
                    ws.cell(row, col + 1, SMALL_BASE_MARK)
                elif cells["letters"][i, j]:
                    ws.cell(row, col + 1, cells["letters"][i, j])
            row += 1
    return row + 1


def notes(edition: Edition) -> tuple[str, ...]:
    t = edition.thresholds
    level = f"{edition.estimation.level * 100:g}"
    return (
        f"% : pourcentage pondéré (calage sur les marges), arrondi comme la synthèse ({edition.estimation.rounding}) ; base : répondants interrogés ayant répondu.",
        f"sig. : lettres des colonnes de la même ventilation dont la colonne est significativement plus élevée à {level} % — test z bilatéral sur erreurs-types "
        "linéarisées (calage pris en compte), niveaux traités comme échantillons indépendants : √(se₁² + se₂²).",
        f"{SMALL_BASE_MARK} : base faible (n < {t.flag_base}), fond orangé, non testée ; {WITHHELD} : valeur non publiée (n < {t.suppress_base}), n conservé.",
    )


def population_sheet(ws: Worksheet, edition: Edition, population: Population, estimates: pd.DataFrame) -> None:
    """One population's sheet: title, notes, banner, then every question's block."""
    levels = table_levels(population, estimates)
    items = estimates[["question", "item", "item_label", "kind", "base"]].drop_duplicates(["question", "item"]).reset_index(drop=True)
    cells = {c: wide(estimates, levels, c) for c in ("n", "n_weighted", "estimate", "se", "pct", "rank", "small_base", "suppressed")}
    cells["small_base"] = cells["small_base"].astype(bool)
    cells["suppressed"] = cells["suppressed"].astype(bool)
    testable = ~cells["small_base"] & ~cells["suppressed"] & ~np.isnan(cells["estimate"].astype(float))
    cells["letters"] = significance_letters(cells["estimate"].astype(float), cells["se"].astype(float), testable, levels, 1 - edition.estimation.level)
    ws.cell(1, 1, f"{edition.title} — {population.label}").font = Font(bold=True, size=13)
    for i, text in enumerate(notes(edition)):
        ws.cell(2 + i, 1, text).font = ITALIC
    top = 2 + len(notes(edition)) + 1
    write_banner(ws, levels, top)
    row = top + BANNER_ROWS + 1
    blocks: dict[str, list[dict[str, Any]]] = {}
    for pos, item in enumerate(items.to_dict(orient="records")):
        blocks.setdefault(str(item["question"]), []).append({**item, "pos": pos})
    for question, block in blocks.items():
        row = write_block(ws, row, question, block, cells, population, levels)
    ws.freeze_panes = ws.cell(top + BANNER_ROWS, FIRST_LEVEL_COLUMN)
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 60
    ws.column_dimensions["C"].width = 6
    for j in range(len(levels)):
        ws.column_dimensions[get_column_letter(FIRST_LEVEL_COLUMN + 2 * j)].width = 11
        ws.column_dimensions[get_column_letter(FIRST_LEVEL_COLUMN + 2 * j + 1)].width = 6


def tables_xlsx(edition: Edition, estimates: pd.DataFrame) -> bytes:
    """``tables.xlsx`` of a run: one sheet per population (named by its id)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for pid, population in edition.populations.items():
        population_sheet(workbook.create_sheet(pid), edition, population, estimates[estimates["population"] == pid])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
