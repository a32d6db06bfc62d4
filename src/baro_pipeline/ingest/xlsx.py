"""Excel exports as text cells: the sheet holding the id and status columns, its header on row 1."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..edition import Codebook
from ..errors import ExportError
from .columns import column_names
from .files import ExportLimits, check_shape, check_size
from .table import NO_ISSUES, ROW, TextTable

HEADER_SEARCH_ROWS = 10  # Excel: how far down a misplaced header row is looked for


def read_xlsx_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    try:
        # The unpacked size bounds what openpyxl will hold (an .xlsx is zipped XML, ~10× its size).
        check_size(path, sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()), limits, unpacked=True)
        # keep_default_na=False: a cell reading "NaN", "NA" or "null" is what the export says, not a blank
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str, engine="openpyxl", keep_default_na=False)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged workbook fails anywhere in zipfile, zlib, the XML parser or openpyxl
        kind = type(exc).__name__ if type(exc).__module__ == "builtins" else f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"
        raise ExportError(f"not a readable Excel workbook ({kind})", where=str(path), fix="open it in Excel and save it again as .xlsx") from None
    tech = codebook.columns
    rows = {name: header_row(grid, (tech.id, tech.status)) for name, grid in sheets.items()}
    found = [(name, sheets[name], row) for name, row in rows.items() if row is not None]
    if not found:
        raise ExportError(
            f"no sheet has the respondent id column '{tech.id}' (sheets: {', '.join(sheets)})",
            where=str(path),
            fix=f"put the interviews on one sheet with the column names ({tech.id}, {tech.status}, …) on row 1, or map the id column in the codebook (columns: {{id: NAME}})",
        )
    if len(found) > 1:
        raise ExportError(
            f"several sheets hold interviews (a header with '{tech.id}' and '{tech.status}'): {', '.join(repr(n) for n, _, _ in found)}",
            where=str(path),
            fix="keep the interviews on one sheet: delete the other copies (or rename their header) and save again",
        )
    name, grid, row = found[0]
    where = f"{path}, sheet '{name}'"
    check_shape(path, len(grid), grid.shape[1], limits)
    if row > 0:
        raise ExportError(
            f"the column names are on row {row + 1}, not on row 1 (the rows above hold titles or a merged header)",
            where=where,
            fix=f"delete row(s) 1–{row} so that the column names are on row 1, and save again",
        )
    names = column_names(grid.iloc[0].fillna("").tolist(), path)
    body = grid.iloc[1:].fillna("").set_axis(names, axis=1)
    if len(body) and body[tech.id].iloc[0].strip() == "" and body.iloc[0].str.strip().ne("").any():
        raise ExportError(
            "two-line header: row 1 holds column names and row 2 continues them (row 2 has no respondent id)",
            where=where,
            fix="keep a single header row: unmerge the header cells, put one column name per column on row 1 and delete row 2",
        )
    body = body[body.apply(lambda column: column.str.strip().ne("")).any(axis=1)]  # drop empty rows
    body.insert(0, ROW, body.index.to_numpy(dtype=np.int64))  # sheet row i+1 is data row i
    return TextTable(body.reset_index(drop=True), NO_ISSUES, sheet=str(name))


def header_row(grid: pd.DataFrame, names: tuple[str, ...]) -> int | None:
    """Index of the first of the top rows that holds every one of ``names``, if any.

    Two names, not one: a notice or variable-list sheet may name the id column in a cell.
    """
    top = grid.head(HEADER_SEARCH_ROWS).apply(lambda column: column.str.strip())
    holds = np.logical_and.reduce([top.eq(name).any(axis=1).to_numpy() for name in names])
    rows = np.flatnonzero(holds)
    return int(rows[0]) if len(rows) else None
