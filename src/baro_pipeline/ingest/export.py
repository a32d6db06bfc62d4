"""One export read and normalised: the readers per format, the source facts, the normalised frame."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from ..edition import Codebook
from ..errors import ExportError
from .columns import check_columns, expected_columns, number_columns, text_columns
from .csv import read_csv_text
from .files import ExportLimits, FORMATS, export_limits, file_bytes
from .numbers import check_readable, number_issues, parsed_numbers, ticks_from_binary, ticks_from_slots
from .sav import read_sav_text
from .table import NO_ISSUES, ROW, TextTable, no_data_row, stripped
from .xlsx import read_xlsx_text


@dataclass(frozen=True)
class SourceFile:
    """One export file as read: what the manifest records about it."""

    path: str
    format: str  # "csv" | "xlsx" | "sav"
    sha256: str | None  # None where not asked for (read_export's ``hashed``: baro validate)
    size_bytes: int
    encoding: str | None  # CSV only: "utf-8", "windows-1252" or "latin-1"
    delimiter: str | None  # CSV only: ";", "," or "\t"
    bom: bool
    rows_read: int  # data rows, including those with the wrong number of fields
    extra_columns: tuple[str, ...] = ()  # columns the codebook does not name (ignored)
    sheet: str | None = None  # Excel: the sheet read (the first one holding the id column)
    line_end: str | None = None  # CSV only: "CRLF", "LF" or "CR" (the header line's)


@dataclass(frozen=True, eq=False)
class Export:
    """One export, normalised (see the module docstring), one row per interview as read."""

    population: str
    source: SourceFile
    frame: pd.DataFrame
    issues: pd.DataFrame  # reading problems (ISSUE_COLUMNS): bad field counts, cells that are not numbers


def read_export(path: Path, codebook: Codebook, hashed: bool = True) -> Export:
    """Read and normalise one export; an unreadable file or missing column is an :class:`ExportError`.

    ``hashed=False``: no sha256 of the file (~0.17 s of a core at 300 MB), for a reader that records none (baro validate)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"unknown export format '{path.suffix}'", where=str(path), fix="export as .csv, .xlsx or .sav")
    limits = export_limits()
    release_arrow_memory()  # the texts of an export read before, validated and dropped since
    data = file_bytes(path, limits)
    if not data or data.isspace():  # not data.strip(): that would copy the file
        raise ExportError("the file is empty", where=str(path), fix="export the interviews again")
    # hashed while the reader reads (hashlib lets go of the GIL): an SPSS file's forked child, a CSV's Arrow threads
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(hashlib.sha256, data) if hashed else None
        table = READERS[fmt](path, data, codebook, limits)
    rows_read = len(table.frame) + int((~table.issues["row"].isin(table.frame[ROW])).sum())  # + the rows left out
    if rows_read == 0:
        raise no_data_row(path)
    expected = expected_columns(codebook)
    extra = check_columns([*(c for c in table.frame.columns if c != ROW), *table.numbers], expected, path)
    source = SourceFile(
        path=str(path),
        format=fmt,
        sha256=digest.result().hexdigest() if digest else None,
        size_bytes=len(data),
        encoding=table.encoding,
        delimiter=table.delimiter,
        bom=table.bom,
        rows_read=rows_read,
        extra_columns=extra,
        sheet=table.sheet,
        line_end=table.line_end,
    )
    del data  # the file's bytes are not needed any more: their memory is free before the frame is built
    # The columns in a dict of their own, the table gone: each column's texts are freed as it is
    # converted (a column taken out of a frame one by one rebuilds its index each time).
    text, read_issues = dict(table.frame.items()) | dict(table.numbers), table.issues
    del table
    frame, cell_issues = normalised_frame(text, codebook, path)
    issues = pd.concat([read_issues, cell_issues], ignore_index=True).sort_values(["row", "column"], ignore_index=True)
    del text  # the texts left: extra columns, the cells of technical columns as read
    release_arrow_memory()
    return Export(codebook.population, source, frame, issues)


def release_arrow_memory() -> None:
    """Give back to the system the pages Arrow's allocator kept of what was freed (the texts of an export
    read, or of one validated and dropped): it keeps them for Arrow alone, and numpy's arrays, which
    are most of the memory after ingest, cannot use them."""
    pa.default_memory_pool().release_unused()


READERS: dict[str, Callable[[Path, bytes, Codebook, ExportLimits], TextTable]] = {
    "csv": read_csv_text,
    "xlsx": read_xlsx_text,
    "sav": read_sav_text,
}


def normalised_frame(text: dict[str, pd.Series | pa.ChunkedArray], codebook: Codebook, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text cells -> typed columns named as in the codebook, and the cells that are not numbers.

    The number columns are taken out of ``text`` as they are converted: a column's texts are freed as
    soon as it is numbers, so that the export is not held twice.
    """
    tech = codebook.columns
    who = pd.DataFrame({"row": text[ROW], "respondent_id": stripped(text[tech.id])})
    columns: dict[str, pd.Series | np.ndarray] = {ROW: text[ROW], tech.id: who["respondent_id"]}
    columns.update({c: stripped(text[c]) for c in (tech.status, tech.start, tech.end, *text_columns(codebook))})
    numbers = {c: text.pop(c) for c in (tech.loi, *number_columns(codebook))}  # freed as they are converted
    values, bad = parsed_numbers(numbers)
    check_readable(bad, text[ROW], path)
    columns.update(values)
    issues = [number_issues(numbers[c], c, who, bad[c]) for c in bad]
    for q in codebook.questions:
        if q.type == "multi" and q.encoding == "codes":
            ticks, found = ticks_from_slots(text, q, who)
            columns.update(ticks)
            issues.append(found)
        elif q.type == "multi":
            columns.update(ticks_from_binary({c: columns[c] for c in q.columns.values()}))
    order = [ROW, *(getattr(tech, k) for k in tech.__dataclass_fields__)]
    order += [c for q in codebook.profile + codebook.questions for c in q.export_columns()]  # codebook order
    # copy=False: the columns as they are, not copied into one block (the frame is most of the memory)
    return pd.DataFrame({c: columns[c] for c in order}, copy=False), pd.concat([NO_ISSUES, *issues], ignore_index=True)
