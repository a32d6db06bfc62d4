"""tables.xlsx: contents, a sheet per population, a block per question, the published figures
beside the computed ones, the audit and the trends; numbers as numbers, texts never formulas."""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.styles import Font

from baro_pipeline.edition import load_edition
from baro_pipeline.estimation import ItemMatrix, Levels, higher_levels
from baro_pipeline.significance import Significance
from baro_pipeline.stats import coded_column, design_from_calibration, independent_difference, pairwise_differences, rake, svymean
from baro_pipeline.report import FIRST_LEVEL_COLUMN, column_letter_names, sheet_titles, tables_xlsx
from baro_pipeline.report.cells import BOLD_TEXT, ITALIC_TEXT, put
from baro_pipeline.trends import TREND_COLUMNS

from test_report import REPO, run_of

TOTAL_COLUMN = FIRST_LEVEL_COLUMN


@pytest.fixture(scope="module")
def run(run_2025):
    return run_of(run_2025)


def workbook(run, estimates=None) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(tables_xlsx(run.edition, run.estimates if estimates is None else estimates, run.audit)))


@pytest.fixture(scope="module")
def book(run) -> openpyxl.Workbook:
    return workbook(run)


def blocks(ws) -> dict[str, dict[str, tuple]]:
    """Question id -> item key -> its row's values, read as a reader of the sheet would: a block
    starts with a bold id in column A."""
    found: dict[str, dict[str, tuple]] = {}
    current = None
    banner = banner_row(ws)
    for cells in ws.iter_rows(min_row=banner + 1):
        a = cells[0]
        if a.value is not None and a.font.bold and cells[1].value is not None and cells[1].font.bold:
            current = found.setdefault(str(a.value), {})
        elif a.value is not None and current is not None:
            current[str(a.value)] = tuple(c.value for c in cells)
    return found


def banner_row(ws) -> int:
    """The banner's row of level labels (the one with "réponse" in column B)."""
    return next(r[0].row for r in ws.iter_rows(min_row=1, max_row=12) if r[1].value == "réponse")


def level_columns(ws) -> dict[str, int]:
    """Level label -> its % column (from the banner)."""
    return {c.value: c.column for c in ws[banner_row(ws)] if c.value and c.column >= FIRST_LEVEL_COLUMN}


def test_a_sheet_per_population_with_every_question(run, book):
    assert book.sheetnames == ["Sommaire", "ps", "gp", "Audit"]
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
        value = round(row[TOTAL_COLUMN - 1] * 100, 9)
        assert value >= figure.value if figure.operator == ">=" else value == figure.value, figure.id
        checked += 1
    assert checked == len(run.edition.figures) - 1


def test_banner_letters_and_notes(book):
    ws = book["ps"]
    columns = level_columns(ws)
    assert list(columns)[:3] == ["Ensemble", "Médecin généraliste", "Médecin spécialiste libéral"]
    letters = [c.value for c in ws[banner_row(ws) + 1] if c.value]
    assert letters == [f"({x})" for x in column_letter_names(8)]
    notes = " ".join(str(ws.cell(r, 1).value) for r in (2, 3, 4))
    assert "test t bilatéral de la différence, erreur-type linéarisée avec la covariance des deux colonnes" in notes
    assert "sans ajustement pour tests multiples" in notes
    assert "* : base faible (n < 30)" in notes and "– : valeur non publiée (n < 10), n conservé" in notes


def test_letters_are_the_levels_each_level_is_higher_than(run, book):
    ws = book["ps"]
    row = blocks(ws)["Q1"]["1"]  # "Oui, tous les jours ou presque", by profession (A–D) and age (E–H)
    est = run.estimates[(run.estimates["population"] == "ps") & (run.estimates["question"] == "Q1") & (run.estimates["item"] == "1")]
    professions = est[est["breakdown"] == "profession"].set_index("breakdown_level")
    letters = dict(zip("1234", "ABCD"))
    for i, level in enumerate("1234"):
        expected = "".join(letters[other] for other in professions.at[level, "higher_than"])
        assert (row[FIRST_LEVEL_COLUMN + 2 * (i + 1)] or "") == expected, level
    assert any(len(x) for x in professions["higher_than"])  # the item has letters to check
    assert all(ch in "ABCD" for ch in (row[FIRST_LEVEL_COLUMN + 2] or ""))  # never a letter of the age columns


def raked_levels(seed: int, n: int = 600) -> tuple:
    """Three levels of a breakdown g and an item y tied to a raking variable z whose share rises
    with the level: the design, the item matrix, the levels and y."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    z = (rng.random(n) < 0.3 + 0.2 * g).astype(np.intp)
    y = (rng.random(n) < np.where(z == 1, 0.7, 0.2) + 0.08 * (g == 2)).astype(float)
    design = design_from_calibration(rake([z], [np.array([n / 2, n / 2])], np.ones(n)), [z], np.ones(n))
    keys = pd.DataFrame({"breakdown": "g", "breakdown_level": ["0", "1", "2"], "breakdown_label": ["g0", "g1", "g2"]})
    return design, ItemMatrix((coded_column(y),), (), n), Levels(keys, np.column_stack([g == level for level in range(3)])), y


def test_letters_count_the_covariance_calibration_gives_the_levels():
    """Seed 17: level 2 is above level 1 for the independent-sample test (p < 0.05), not once the
    covariance of the two levels through the raking is counted: no letter."""
    design, matrix, levels, y = raked_levels(17)
    means = svymean(design, y[:, None], levels.masks)
    independent = independent_difference(means.estimate[2, 0], means.se[2, 0], means.estimate[1, 0], means.se[1, 0])
    exact = pairwise_differences(design, y[:, None], levels.masks, [[2, 1]])
    assert independent.diff > 0 and independent.p < 0.05 < exact.p[0, 0]
    higher = higher_levels(design, matrix, levels, np.ones((3, 1), dtype=bool), Significance())
    assert "1" not in higher[2]
    assert higher == [[str(b) for b in range(3) if b != a and pairwise_differences(design, y[:, None], levels.masks, [[a, b]]).p[0, 0] < 0.05
                       and means.estimate[a, 0] > means.estimate[b, 0]] for a in range(3)]


def test_holm_removes_the_letters_its_adjustment_makes_insignificant():
    """Seed 0: the pair (2, 1) has p = 0.032 alone and 0.065 after Holm over the three pairs."""
    design, matrix, levels, y = raked_levels(0)
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    p = pairwise_differences(design, y[:, None], levels.masks, pairs).p[:, 0]
    assert 0.05 / 2 < p[2] < 0.05 and p[1] < 0.05 / 3
    plain = higher_levels(design, matrix, levels, np.ones((3, 1), dtype=bool), Significance())
    holm = higher_levels(design, matrix, levels, np.ones((3, 1), dtype=bool), Significance(), "holm")
    assert plain == [[], [], ["0", "1"]] and holm == [[], [], ["0"]]


def test_untestable_cells_take_part_in_no_pair():
    design, matrix, levels, _ = raked_levels(0)
    testable = np.array([[True], [True], [False]])
    assert higher_levels(design, matrix, levels, testable, Significance()) == [[], [], []]


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
    assert isinstance(q1["1"][hospital], float) and q1["1"][hospital + 1] == "*"
    base = next(r for r in ws.iter_rows(values_only=True) if r[1] == "Base (n)" and r[specialist] == 6)
    assert base[hospital] == 22


def test_grid_rows_are_sub_blocks_and_nets_are_named(book):
    ws = book["ps"]
    labels = [r[1] for r in ws.iter_rows(values_only=True)]
    assert "Vous-même" in labels and "Net : A confiance" in labels
    q12 = blocks(ws)["Q12"]
    assert q12["r1:confiance"][TOTAL_COLUMN - 1] == 0.84 and q12["r1:confiance"][1] == "Net : A confiance"
    q3 = blocks(ws)["Q3"]
    assert q3["1"][2] == 1 and q3["1"][1] == "L'aide au diagnostic"  # rank of a multiple-choice answer


def total_cell(ws, question: str, item: str):
    """The Ensemble "%" cell of an item (its row found by the item key under the block's id)."""
    row = next(cells[0].row for cells in block_rows(ws, question) if cells[0].value == item)
    return ws.cell(row, TOTAL_COLUMN)


def block_rows(ws, question: str) -> list[tuple]:
    """The rows of one question's block, from its bold id in column A to the next block."""
    rows, inside = [], False
    for cells in ws.iter_rows(min_row=banner_row(ws) + 1):
        starts = cells[0].value is not None and cells[0].font.bold and cells[1].font.bold
        if starts:
            inside = cells[0].value == question
        elif inside:
            rows.append(cells)
    return rows


def test_shares_are_fractions_with_a_percent_format_and_bases_are_counts(run, book):
    ws = book["ps"]
    share = total_cell(ws, "Q12", "r1:confiance")
    assert (share.value, share.data_type, share.number_format) == (0.84, "n", "0%")
    rows = {cells[0].value or cells[1].value: cells for cells in block_rows(ws, "Q1")}  # item key, else the row's name
    n, weighted = rows["Base (n)"][TOTAL_COLUMN - 1], rows["Base pondérée"][TOTAL_COLUMN - 1]
    assert (n.value, type(n.value), n.number_format) == (1000, int, "#,##0")
    assert weighted.number_format == "#,##0.0" and weighted.number_format != share.number_format
    est = run.estimates
    q1 = est[(est["population"] == "ps") & (est["question"] == "Q1") & (est["breakdown"] == "profession") & (est["item"] == "2")]
    generalist = rows["2"][FIRST_LEVEL_COLUMN + 1]  # level A, 0-based index of its "%" cell
    assert generalist.value == pytest.approx(q1[q1["breakdown_level"] == "1"]["pct"].iloc[0] / 100, abs=1e-12)
    assert generalist.number_format == "0%"


def test_contents_links_to_every_block_and_sheet(run, book):
    contents = book["Sommaire"]
    links = [(c.value, c.hyperlink.location) for row in contents.iter_rows() for c in row if c.hyperlink is not None]
    assert all(c.hyperlink is None or c.hyperlink.target is None for row in contents.iter_rows() for c in row)  # internal only
    targets = []
    for _, location in links:
        match = re.fullmatch(r"'?([^'!]+)'?!([A-Z]+\d+)", location)
        assert match, location
        sheet, ref = match.groups()
        targets.append((sheet, book[sheet][ref].value))
    for pid in run.edition.populations:
        linked = [value for sheet, value in targets if sheet == pid]
        assert linked == list(blocks(book[pid])), pid  # each link lands on its block's id, all blocks in order
    assert ("Audit", book["Audit"]["A1"].value) in targets
    labels = {text for text, _ in links}
    assert "Profession" in labels and "Audit" in labels
    for name in ("ps", "gp", "Audit"):  # and back
        assert [c.value for row in book[name].iter_rows(max_row=12) for c in row if c.hyperlink is not None and c.hyperlink.location == "'Sommaire'!A1"] == ["← Sommaire"]


def test_no_breakdown_is_crossed_with_itself(run, book):
    for pid, population in run.edition.populations.items():
        ws = book[pid]
        columns = level_columns(ws)
        for breakdown in population.breakdowns:
            est = run.estimates[(run.estimates["population"] == pid) & (run.estimates["breakdown"] == breakdown)]
            own = [columns[label] for label in est["breakdown_label"].unique()]
            other = [c for label, c in columns.items() if c not in own]
            rows = block_rows(ws, breakdown)
            assert rows and all(cells[c - 1].value is None and cells[c].value is None for cells in rows for c in own), (pid, breakdown)
            assert any(cells[other[0] - 1].value is not None for cells in rows)  # the total is still there
            q1 = total_cell(ws, "Q1", "1").row  # another question keeps the breakdown's columns
            assert all(ws.cell(q1, c).value is not None for c in own), (pid, breakdown)


def test_print_setup_landscape_fit_to_width_banner_repeated(book):
    for name in book.sheetnames:
        ws = book[name]
        assert ws.page_setup.orientation == "landscape", name
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight, ws.sheet_properties.pageSetUpPr.fitToPage) == (1, 0, True), name
    banner = banner_row(book["ps"])
    assert book["ps"].print_title_rows == f"${banner - 1}:${banner + 2}"  # breakdown, level, letter, % / sig.
    assert book["Audit"].print_title_rows == "$3:$3"


def test_published_figures_beside_the_computed_ones(run, book):
    column = list(level_columns(book["ps"]).values())[0] - 1  # "publié", left of Ensemble
    assert book["ps"].cell(banner_row(book["ps"]), column).value == "publié"
    beside = 0
    for figure in run.edition.figures:
        row = next(cells for cells in block_rows(book[figure.population], figure.indicator.question) if cells[0].value == figure.indicator.item)
        published = row[column - 1]
        if figure.base != "asked":  # gp_genai_all: printed on the whole public, not on the question's base
            assert published.value is None, figure.id
            continue
        assert published.value == pytest.approx(figure.value / 100, abs=1e-12), figure.id
        assert published.number_format == ('"≥ "0%' if figure.operator == ">=" else "0%"), figure.id
        beside += 1
    assert beside == len(run.edition.figures) - 1


def sheet_records(ws) -> list[dict]:
    header = [c.value for c in ws[3]]
    return [dict(zip(header, cells)) for cells in ws.iter_rows(min_row=4)]


def test_the_audit_sheet_has_every_figure(run, book):
    records = sheet_records(book["Audit"])
    assert [r["chiffre"].value for r in records] == list(run.audit["figure_id"])
    first = records[0]
    expected = run.audit.iloc[0]
    assert (first["publié"].value, first["publié"].number_format) == (pytest.approx(expected["published"] / 100), "0%")
    assert first["calculé"].value == pytest.approx(expected["computed_pct"] / 100) and first["verdict"].value == expected["verdict"]
    assert "Tendances" not in book.sheetnames


def trends_of(run) -> pd.DataFrame:
    """A trends table as trends.trends_table gives one: ps Q1 moved by 3 points since 'last year'."""
    est = run.estimates[(run.estimates["population"] == "ps") & (run.estimates["question"] == "Q1")]
    return est.assign(
        edition="2025", previous_edition="2024", previous_question="Q1", n_previous=est["n"], estimate_previous=est["estimate"] - 0.03,
        se_previous=est["se"], pct_previous=est["pct"] - 3, change_pts=3.0, se_change_pts=1.5, z=2.0, p_value=0.0455, significant=True,
    )[list(TREND_COLUMNS)]


def test_the_trends_sheet_when_the_edition_has_trends(run):
    trends = trends_of(run)
    book = openpyxl.load_workbook(io.BytesIO(tables_xlsx(run.edition, run.estimates, run.audit, trends)))
    assert book.sheetnames == ["Sommaire", "ps", "gp", "Audit", "Tendances"]
    records = sheet_records(book["Tendances"])
    assert len(records) == len(trends)
    first = records[0]
    assert first["%"].value == pytest.approx(trends["pct"].iloc[0] / 100) and first["%"].number_format == "0%"
    assert first["% précédent"].value == pytest.approx(trends["pct_previous"].iloc[0] / 100)
    assert first["évolution (pts)"].value == 3.0 and first["n"].number_format == "#,##0"
    assert any(c.hyperlink is not None and c.hyperlink.location == "'Tendances'!A1" for row in book["Sommaire"].iter_rows() for c in row)


HOSTILE = ('=HYPERLINK("http://example.org","x")', "=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1")


def hostile(texts: pd.Series) -> pd.Series:
    """Each text behind one of the hostile starts, in turn."""
    return pd.Series([HOSTILE[i % len(HOSTILE)] + str(t) for i, t in enumerate(texts)], index=texts.index)


@pytest.fixture(scope="module")
def hostile_book(run, tmp_path_factory) -> bytes:
    """tables.xlsx of an edition whose title, labels and wordings start as formulas, and of
    estimates, audit and trends whose texts do too."""
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(REPO / "editions" / "2025", root / "editions" / "2025")
    for file, key, start in (("edition.yaml", "title", '=HYPERLINK(\\"http://example.org\\",\\"x\\") '), ("edition.yaml", "label", "@"),
                             ("codebook_ps.yaml", "label", "=1+1 "), ("codebook_ps.yaml", "wording", "\\t=1+1 "),
                             ("codebook_gp.yaml", "label", "-"), ("codebook_gp.yaml", "wording", "\\r+1 ")):
        path = root / "editions" / "2025" / file
        path.write_text(path.read_text(encoding="utf-8").replace(f'{key}: "', f'{key}: "{start}'), encoding="utf-8")
    edition = load_edition("2025", root)
    assert edition.title.startswith("=HYPERLINK(") and edition.populations["ps"].codebook.question("Q1").wording.startswith("\t=")
    estimates = run.estimates[run.estimates["question"].isin(["profession", "sex", "Q1", "Q12", "Q8"])]  # a few blocks are enough
    estimates = estimates.assign(item_label=lambda e: hostile(e["item_label"]), breakdown_label=lambda e: hostile(e["breakdown_label"]))
    audit = run.audit.assign(**{c: hostile(run.audit[c]) for c in ("figure_id", "wording", "reason", "source", "problems", "verdict")})
    trends = trends_of(run).assign(item_label=lambda t: hostile(t["item_label"]) + "\x01")
    return tables_xlsx(edition, estimates, audit, trends)


def test_no_text_becomes_a_formula(hostile_book):
    book = openpyxl.load_workbook(io.BytesIO(hostile_book))
    cells = [c for ws in book for row in ws.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str)]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    for start in HOSTILE:
        found = [c for c in texts if c.value.startswith(start.replace("\r", "\n"))]  # XML reads a CR as LF
        assert found and all(c.data_type == "s" and c.quotePrefix for c in found), repr(start)
    assert any(c.value.startswith('=HYPERLINK("http://example.org","x") Baromètre') for c in texts)  # the title, kept as written
    assert not any("\x01" in c.value for c in texts)  # a control character an xlsx cannot hold is dropped
    with zipfile.ZipFile(io.BytesIO(hostile_book)) as xlsx:
        sheets = [name for name in xlsx.namelist() if name.startswith("xl/worksheets/")]
        assert sheets and not [name for name in sheets if re.search(rb"<f[ >]", xlsx.read(name))]
        assert not [name for name in xlsx.namelist() if name.endswith(".rels") and b"example.org" in xlsx.read(name)]


def test_sheet_titles_are_valid_and_unique():
    titles = sheet_titles(["audit", "a/b:c", "p" * 40, "P" * 40, "'q'"], ("Sommaire", "Audit"))
    assert titles == {"audit": "audit (2)", "a/b:c": "a_b_c", "p" * 40: "p" * 31, "P" * 40: "P" * 27 + " (2)", "'q'": "q"}


def test_cells_of_one_look_keep_a_style_of_their_own():
    """put registers a look once per workbook and copies its style to the next cells: a cell
    changed later leaves the others as they were, a quoted text keeps the look, a text takes no
    number format, and another workbook registers the look again."""
    ws = openpyxl.Workbook().active
    first, second, third = (put(ws, row, 1, "a", look=BOLD_TEXT) for row in (1, 2, 6))
    third.font = Font(italic=True)
    assert first.font.bold and second.font.bold and not second.font.italic and third.font.italic and not third.font.bold
    quoted = put(ws, 3, 1, "=1+1", look=BOLD_TEXT)
    assert quoted.quotePrefix and quoted.font.bold and not second.quotePrefix
    share, withheld = put(ws, 4, 1, 0.5, "0%", look=BOLD_TEXT), put(ws, 5, 1, "–", "0%", look=BOLD_TEXT)
    assert share.number_format == "0%" and withheld.number_format == "General" and withheld.font.bold
    other = openpyxl.Workbook().active  # its first font is the italic one
    put(other, 1, 1, "x", look=ITALIC_TEXT)
    bold = put(other, 2, 1, "y", look=BOLD_TEXT)
    assert bold.font.bold and not bold.font.italic
