"""Excel exports as text cells: the sheet holding the id and status columns, its header on row 1."""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..edition import Codebook
from ..errors import BaroError, ExportError
from .cells import text_frame, value_cells, value_text
from .columns import column_names
from .files import ExportLimits, check_shape, check_size
from .table import NO_ISSUES, ROW, TextTable

if TYPE_CHECKING:  # openpyxl is imported when an .xlsx is read (~0.3 s of a core; a CSV run's report imports it later)
    from openpyxl.workbook import Workbook

HEADER_SEARCH_ROWS = 10  # Excel: how far down a misplaced header row is looked for
Row = tuple[object, ...]


@cache
def formula_errors() -> frozenset[str]:
    """A formula's errors (#N/A, #DIV/0!…): blank cells, as pandas reads them."""
    from openpyxl.cell.cell import ERROR_CODES

    return frozenset(ERROR_CODES)


def read_xlsx_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    with readable_workbook(path):
        # The unpacked size bounds what openpyxl will hold (an .xlsx is zipped XML, ~10× its size).
        check_size(path, sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()), limits, unpacked=True)
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        name, row = interview_sheet(book, codebook, path)
        with readable_workbook(path):
            rows = sheet_rows(book, name, None)
    finally:
        book.close()
    where = f"{path}, sheet '{name}'"
    columns = list(itertools.zip_longest(*rows[1:]))
    width = max(len(rows[0]), len(columns))
    check_shape(path, len(rows), width, limits)
    if row > 0:
        raise ExportError(
            f"the column names are on row {row + 1}, not on row 1 (the rows above hold titles or a merged header)",
            where=where,
            fix=f"delete row(s) 1–{row} so that the column names are on row 1, and save again",
        )
    names = column_names([value_text(v, formula_errors()) for v in padded(rows[0], width)], path)
    if len(rows) > 1 and two_line_header(dict(zip(names, padded(rows[1], width))), codebook.columns.id):
        raise ExportError(
            "two-line header: row 1 holds column names and row 2 continues them (row 2 has no respondent id)",
            where=where,
            fix="keep a single header row: unmerge the header cells, put one column name per column on row 1 and delete row 2",
        )
    blank = (None,) * (len(rows) - 1)
    cells = {n: value_cells(columns[i] if i < len(columns) else blank, formula_errors()) for i, n in enumerate(names)}
    del rows, columns  # the cells are all that is needed now: their memory is free before the frame is built
    kept = filled_rows(cells.values(), len(blank))
    frame = text_frame({n: c.filter(kept) for n, c in cells.items()})
    frame.insert(0, ROW, np.flatnonzero(kept.to_numpy(zero_copy_only=False)) + 1)  # sheet row i+1 is data row i
    return TextTable(frame, NO_ISSUES, sheet=name)


@contextmanager
def readable_workbook(path: Path) -> Iterator[None]:
    """Whatever a damaged workbook raises, as the :class:`ExportError` that says so."""
    try:
        yield
    except (MemoryError, BaroError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged workbook fails anywhere in zipfile, zlib, the XML parser or openpyxl
        kind = type(exc).__name__ if type(exc).__module__ == "builtins" else f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
        raise ExportError(f"not a readable Excel workbook ({kind})", where=str(path), fix="open it in Excel and save it again as .xlsx") from None


def sheet_rows(book: Workbook, name: str, last: int | None) -> list[Row]:
    """The values of a sheet's rows (up to row ``last``), without its empty rows at the end.

    Its stated dimensions are ignored (writers get them wrong): the rows are as long as their cells.
    """
    sheet = book[name]
    sheet.reset_dimensions()
    rows = list(sheet.iter_rows(max_row=last, values_only=True))
    while rows and not any(filled(v) for v in rows[-1]):
        rows.pop()
    return rows


def interview_sheet(book: Workbook, codebook: Codebook, path: Path) -> tuple[str, int]:
    """The one sheet whose header row (among its top rows) holds the id and status columns: its name, and the header's index."""
    tech = codebook.columns
    with readable_workbook(path):
        tops = {sheet.title: sheet_rows(book, sheet.title, HEADER_SEARCH_ROWS) for sheet in book.worksheets}
    headers = {name: next((i for i, row in enumerate(top) if holds(row, (tech.id, tech.status))), None) for name, top in tops.items()}
    found = [(name, row) for name, row in headers.items() if row is not None]
    if not found:
        raise ExportError(
            f"no sheet has the respondent id column '{tech.id}' (sheets: {', '.join(tops)})",
            where=str(path),
            fix=f"put the interviews on one sheet with the column names ({tech.id}, {tech.status}, …) on row 1, or map the id column in the codebook (columns: {{id: NAME}})",
        )
    if len(found) > 1:
        raise ExportError(
            f"several sheets hold interviews (a header with '{tech.id}' and '{tech.status}'): {', '.join(repr(n) for n, _ in found)}",
            where=str(path),
            fix="keep the interviews on one sheet: delete the other copies (or rename their header) and save again",
        )
    return found[0]


def holds(row: Row, names: tuple[str, ...]) -> bool:
    """Whether a row holds every one of ``names``. Two names, not one: a notice or variable-list sheet
    may name the id column in a cell."""
    cells = {value_text(v).strip() for v in row}
    return all(name in cells for name in names)


def two_line_header(first: dict[str, object], id_column: str) -> bool:
    """Whether the first data row continues the header: no respondent id, but something in another column."""
    text = {n: value_text(v, formula_errors()).strip() for n, v in first.items()}
    return text[id_column] == "" and any(text.values())


def filled(value: object) -> bool:
    return value is not None and value != ""


def padded(row: Row, width: int) -> Row:
    return row + (None,) * (width - len(row))


def filled_rows(cells: Iterable[pa.Array], rows: int) -> pa.Array:
    """Which rows hold something other than blanks and spaces in some cell."""
    kept = pa.array(np.zeros(rows, dtype=bool))
    for column in cells:
        kept = pc.or_(kept, pc.not_equal(pc.utf8_trim_whitespace(column), ""))
    return kept
