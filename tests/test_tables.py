"""tables.xlsx: a sheet per population, a block per question, the published figures at their printed values."""

from __future__ import annotations

import io

import numpy as np
import openpyxl
import pytest

from baro_pipeline.stats.significance import independent_difference
from baro_pipeline.tables import FIRST_LEVEL_COLUMN, column_letter_names, tables_xlsx

from test_report import run_2025

TOTAL_COLUMN = FIRST_LEVEL_COLUMN


@pytest.fixture(scope="module")
def run():
    return run_2025()


def workbook(run, estimates=None) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(tables_xlsx(run.edition, run.estimates if estimates is None else estimates)))


@pytest.fixture(scope="module")
def book(run) -> openpyxl.Workbook:
    return workbook(run)


def blocks(ws) -> dict[str, dict[str, tuple]]:
    """Question id -> item key -> its row's values, read as a reader of the sheet would: a block
    starts with a bold id in column A."""
    found: dict[str, dict[str, tuple]] = {}
    current = None
    banner = next(r[0].row for r in ws.iter_rows(min_row=1, max_row=12) if r[1].value == "réponse")
    for cells in ws.iter_rows(min_row=banner + 1):
        a = cells[0]
        if a.value is not None and a.font.bold and cells[1].value is not None and cells[1].font.bold:
            current = found.setdefault(str(a.value), {})
        elif a.value is not None and current is not None:
            current[str(a.value)] = tuple(c.value for c in cells)
    return found


def level_columns(ws) -> dict[str, int]:
    """Level label -> its % column (from the banner)."""
    header = next(r for r in ws.iter_rows(min_row=1, max_row=12) if r[1].value == "réponse")
    return {c.value: c.column for c in header if c.value and c.column >= FIRST_LEVEL_COLUMN}


def test_a_sheet_per_population_with_every_question(run, book):
    assert book.sheetnames == ["ps", "gp"]
    for pid, population in run.edition.populations.items():
        book_ids = [q.id for q in population.codebook.profile + population.codebook.questions if q.type != "text"]
        book_ids += [d.id for d in population.codebook.derived]
        assert list(blocks(book[pid])) == book_ids


def test_published_figures_are_at_their_printed_values(run, book):
    checked = 0
    for figure in run.edition.figures:
        if any(p.kind == "self_contradiction" for p in figure.problems):
            continue  # gp_genai_all: the publication contradicts itself (docs/audit.md)
        row = blocks(book[figure.population])[figure.indicator.question][figure.indicator.item]
        value = row[TOTAL_COLUMN - 1]
        assert value >= figure.value if figure.operator == ">=" else value == figure.value, figure.id
        checked += 1
    assert checked == len(run.edition.figures) - 1


def test_banner_letters_and_notes(book):
    ws = book["ps"]
    columns = level_columns(ws)
    assert list(columns)[:3] == ["Ensemble", "Médecin généraliste", "Médecin spécialiste libéral"]
    letters = [c.value for c in next(ws.iter_rows(min_row=8, max_row=8)) if c.value]
    assert letters == [f"({x})" for x in column_letter_names(8)]
    notes = " ".join(str(ws.cell(r, 1).value) for r in (2, 3, 4))
    assert "test z bilatéral sur erreurs-types linéarisées" in notes and "échantillons indépendants" in notes
    assert "* : base faible (n < 30)" in notes and "– : valeur non publiée (n < 10), n conservé" in notes


def test_letters_mark_a_significantly_higher_level_of_the_same_breakdown(run, book):
    ws = book["ps"]
    row = blocks(ws)["Q1"]["1"]  # "Oui, tous les jours ou presque", by profession (A–D) and age (E–H)
    est = run.estimates[(run.estimates["population"] == "ps") & (run.estimates["question"] == "Q1") & (run.estimates["item"] == "1")]
    professions = est[est["breakdown"] == "profession"].set_index("breakdown_level")
    for i, (level, letter) in enumerate(zip("1234", "ABCD")):
        expected = ""
        for other, other_letter in zip("1234", "ABCD"):
            d = independent_difference(professions.at[level, "estimate"], professions.at[level, "se"], professions.at[other, "estimate"], professions.at[other, "se"])
            if other != level and d.diff > 0 and d.p < 0.05:
                expected += other_letter
        column = FIRST_LEVEL_COLUMN + 2 * (i + 1)
        assert (row[column] or "") == expected, letter
    assert all(ch in "ABCD" for ch in (row[FIRST_LEVEL_COLUMN + 2] or ""))  # never a letter of the age columns


def test_suppressed_cells_keep_n_and_small_bases_are_flagged(run):
    estimates = run.estimates.copy()
    at = (estimates["population"] == "ps") & (estimates["question"] == "Q1") & (estimates["breakdown"] == "profession")
    withheld, small = at & (estimates["breakdown_level"] == "2"), at & (estimates["breakdown_level"] == "3")
    estimates.loc[withheld, ["n", "small_base", "suppressed", "estimate", "pct"]] = [6, True, True, np.nan, np.nan]
    estimates.loc[small, ["n", "small_base"]] = [22, True]
    ws = workbook(run, estimates)["ps"]
    q1 = blocks(ws)["Q1"]
    specialist, hospital = FIRST_LEVEL_COLUMN + 2 * 2 - 1, FIRST_LEVEL_COLUMN + 2 * 3 - 1
    assert q1["1"][specialist] == "–" and q1["1"][specialist + 1] is None
    assert isinstance(q1["1"][hospital], int) and q1["1"][hospital + 1] == "*"
    base = next(r for r in ws.iter_rows(values_only=True) if r[1] == "Base (n)" and r[specialist] == 6)
    assert base[hospital] == 22


def test_grid_rows_are_sub_blocks_and_nets_are_named(book):
    ws = book["ps"]
    labels = [r[1] for r in ws.iter_rows(values_only=True)]
    assert "Vous-même" in labels and "Net : A confiance" in labels
    q12 = blocks(ws)["Q12"]
    assert q12["r1:confiance"][TOTAL_COLUMN - 1] == 84 and q12["r1:confiance"][1] == "Net : A confiance"
    q3 = blocks(ws)["Q3"]
    assert q3["1"][2] == 1 and q3["1"][1] == "L'aide au diagnostic"  # rank of a multiple-choice answer
