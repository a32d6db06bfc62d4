"""Ingest stage: read one population's export (CSV, Excel or SPSS) into a normalised frame.

Every format is first read as text cells (blank = ``""``) with a ``_row`` column, then converted
by one function, :func:`normalised_frame`, driven by the codebook alone:

- codes and numbers become floats (NaN = blank); ``"1.0"``, ``" 1 "`` and decimal commas are
  accepted; a cell that is not a number becomes NaN and an *issue* (quarantined by validation);
- a multiple-choice question becomes one 0/1 column per code (named as in the codebook), NaN for
  a respondent with no answer at all. Two export encodings (``encoding:`` in the codebook):
  ``binary`` (1/0 or 1/blank per code: blanks beside a tick mean "not ticked") and ``codes``
  (slot columns ``<column or id>_1 … _k``, k = number of codes, each holding a ticked code; slot
  i is named like code i's column when the question has a code i, so ``columns: {i: NAME}``
  renames it);
- open-text columns stay text (they are read for validation and dropped there).

Only a regular file (after links) is read, and no further than the size limit. Numbers are
written with the ASCII digits 0–9; a number beyond a float (``1e400``) is not one.

CSV: encoding detected (UTF-8 with or without BOM, else Windows-1252 or Latin-1, decided by what
decodes and by typical mojibake; anything else is an error, never a guess), delimiter detected on
the header line among ``;`` ``,`` and tab, lines ended by LF, CR LF or CR alone, cells read as
strings by ``pyarrow.csv``; a row with the wrong number of fields is kept out of the frame as an
issue with its row number (and its id only where it can be trusted: :func:`trusted_ids`), a cell
over ``MAX_FIELD_MB`` blanked and an issue of its row.
Excel: the one sheet whose header row holds the id and status columns; the column names must be
on row 1. SPSS: read once in a forked child first (ReadStat can crash on a damaged file); value
labels are checked against the codebook's labels.

Limits (:func:`export_limits`): a file too large for the machine is refused before it is parsed,
by its size, its number of columns and its number of cells (rows × columns, counted from the
line breaks, the workbook's unpacked size or the SPSS header); the default size and number of
cells follow the memory available. Each limit is overridable by an environment variable
(:data:`LIMIT_VARIABLES`). A file that is mostly unreadable (rows with the wrong number of
fields, cells that are not numbers where codes are expected) is refused as soon as that is
clear, rather than quarantined cell by cell.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import faulthandler
import hashlib
import io
import os
import re
import signal
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyreadstat

from .edition import Codebook, Edition, Question
from .errors import ExportError, ExportReadError, UsageError

ROW = "_row"  # 1-based data row number in the file (header not counted), for the quarantine
ISSUE_COLUMNS = ("row", "respondent_id", "column", "value", "rule", "reason")
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".sav": "sav"}
DELIMITERS = {";": "';'", ",": "','", "\t": "tab"}
LINE_END = re.compile(rb"\r\n|\n|\r")  # pyarrow reads each as a line end
LINE_ENDS = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}
FILE_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"}
HEADER_SEARCH_ROWS = 10  # Excel: how far down a misplaced header row is looked for
# ASCII digits only: "\d" also matches "１" or "٣", which the numeric conversion then reads as blank.
OTHER_DIGIT = r"(?![0-9])\d"  # a Unicode digit that is not ASCII
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# Typical French characters. Their UTF-8 bytes in a file that is not UTF-8 mean mixed encodings;
# their UTF-8 bytes read as Windows-1252 ("Ã©" for "é", "â€™" for "’") in UTF-8 text mean the
# file was encoded twice.
FRENCH = "éèêëàâäîïôöùûüçœæÉÈÊÀÂÎÔÛÇŒ’‘“”«»…–—°€"
UTF8_FRENCH = tuple(c.encode("utf-8") for c in FRENCH)
MOJIBAKE = tuple(  # as UTF-8 bytes, looked for in the file's bytes
    b.decode("cp1252").encode("utf-8") for b in UTF8_FRENCH if all(x not in b for x in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))
)
# Byte order marks of encodings that are refused, UTF-32 first (its little-endian mark starts like UTF-16's).
WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
WIDE_SAMPLE = 4096  # bytes looked at for the NULs of UTF-16 or UTF-32 text without a byte order mark
C1_BYTES = re.compile(rb"[\x80-\x9f]")  # printable in Windows-1252, control characters in Latin-1
DECODED_SLICE = 2**23  # bytes decoded at a time when checking a file's encoding (small: memory reused)
CSV_BLOCK = 2**24  # bytes pyarrow parses at a time: the fewer blocks, the fewer pieces per column
MAX_CSV_BLOCK = 2**31 - 1  # pyarrow's largest block (a 32-bit size)
MAX_FIELD_MB = 1  # a cell larger than this is not an answer (Excel holds 32,767 characters a cell)
MAX_DIGITS = 15  # a whole number of up to 15 digits is exact as a float (under 2**53)
# A file is refused as unreadable when its unreadable rows (or cells) pass this share of its rows,
# and this many: beyond that it is not the codebook's export (labels for codes, garbage, another
# file), and quarantining it cell by cell would only cost memory.
UNREADABLE_SHARE = 0.5
UNREADABLE_MIN = 100
# Limits of what is parsed at all (overridable by environment variable, see export_limits).
LIMIT_VARIABLES = {"max_mb": "BARO_MAX_EXPORT_MB", "max_columns": "BARO_MAX_EXPORT_COLUMNS", "max_cells": "BARO_MAX_EXPORT_CELLS"}
DEFAULT_MAX_COLUMNS = 5_000
# The size and cells allowed by default are the memory available divided by these: ingest and
# validation peak at about 22 bytes per cell and 8 per byte of CSV (2 per byte of unpacked .xlsx),
# and the rest is room for weighting and estimation, which run while the frames are held.
BYTES_PER_CELL = 50
BYTES_PER_FILE_BYTE = 10
ASSUMED_MEMORY = 4 * 2**30  # bytes, where the memory available cannot be told (not Linux)


@dataclass(frozen=True)
class SourceFile:
    """One export file as read: what the manifest records about it."""

    path: str
    format: str  # "csv" | "xlsx" | "sav"
    sha256: str
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


@dataclass(frozen=True)
class ExportLimits:
    """What an export may be at most; beyond, it is refused before being parsed."""

    max_mb: float  # file size (an .xlsx: unpacked), in MiB
    max_columns: int
    max_cells: int


@dataclass(frozen=True, eq=False)
class TextTable:
    """An export as text cells (blank = ""), with ``_row``, before conversion."""

    frame: pd.DataFrame
    issues: pd.DataFrame  # rows that could not be split into the header's fields (not in ``frame``), cells over the size limit
    encoding: str | None = None
    delimiter: str | None = None
    bom: bool = False
    sheet: str | None = None
    line_end: str | None = None


# --------------------------------------------------------------------------------------------
# Finding and reading
# --------------------------------------------------------------------------------------------


def find_export(edition: Edition, population: str, root: Path) -> Path:
    """``<root>/<edition.exports>/<population>.csv|xlsx|sav``: exactly one of them."""
    folder = Path(root) / edition.exports
    found = sorted(p for p in folder.glob(f"{population}.*") if p.suffix.lower() in FORMATS)
    if not found:
        raise ExportError(
            f"no export for population '{population}'",
            where=str(folder),
            fix=f"put the export there as {population}.csv, {population}.xlsx or {population}.sav",
        )
    if len(found) > 1:
        raise ExportError(
            f"several exports for population '{population}': {', '.join(p.name for p in found)}",
            where=str(folder),
            fix="keep one of them and move the others out of the folder",
        )
    return found[0]


def read_export(path: Path, codebook: Codebook) -> Export:
    """Read and normalise one export; an unreadable file or missing column is an :class:`ExportError`."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"unknown export format '{path.suffix}'", where=str(path), fix="export as .csv, .xlsx or .sav")
    limits = export_limits()
    data = file_bytes(path, limits)
    if not data or data.isspace():  # not data.strip(): that would copy the file
        raise ExportError("the file is empty", where=str(path), fix="export the interviews again")
    table = READERS[fmt](path, data, codebook, limits)
    rows_read = len(table.frame) + int((~table.issues["row"].isin(table.frame[ROW])).sum())  # + the rows left out
    if rows_read == 0:
        raise no_data_row(path)
    expected = expected_columns(codebook)
    extra = check_columns([c for c in table.frame.columns if c != ROW], expected, path)
    source = SourceFile(
        path=str(path),
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
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
    frame, cell_issues = normalised_frame(table.frame, codebook, path)
    issues = pd.concat([table.issues, cell_issues], ignore_index=True).sort_values(["row", "column"], ignore_index=True)
    return Export(codebook.population, source, frame, issues)


def no_data_row(path: Path, detail: str = "") -> ExportError:
    return ExportError(f"the export has a header but no data row{detail}", where=str(path), fix="export the interviews again (every status)")


def file_bytes(path: Path, limits: ExportLimits) -> bytes:
    """The bytes of a regular file (after links), read no further than the size limit.

    A FIFO, a device (a link to ``/dev/zero``) or a directory is refused before it is opened: reading
    one would hang or never end. The limit holds while reading, as a file may grow after ``stat``.
    """
    try:
        info = path.stat()
        kind = stat.S_IFMT(info.st_mode)
        if kind != stat.S_IFREG:
            raise ExportError(
                f"not a regular file but {FILE_KINDS.get(kind, 'a special file')}" + (f" (a link to {path.resolve()})" if path.is_symlink() else ""),
                where=str(path),
                fix="put the export itself there, as an ordinary file (copy it rather than link a pipe or device)",
            )
        limit = int(limits.max_mb * 2**20)
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise ExportReadError(f"cannot read the file ({exc.strerror})", where=str(path), fix="check the path and its permissions") from None
    check_size(path, max(info.st_size, len(data)), limits)
    return data


def issue_frame(who: pd.DataFrame, column: object, value: object, rule: object, reason: object) -> pd.DataFrame:
    """Issue rows (ISSUE_COLUMNS) for the rows of ``who`` (its ``row`` and ``respondent_id``).

    ``column``, ``value``, ``rule`` and ``reason`` are a text for every row or one per row.
    """
    cells = {"column": column, "value": value, "rule": rule, "reason": reason}
    frame = pd.DataFrame(
        {
            "row": who["row"].to_numpy(dtype=np.int64),
            "respondent_id": who["respondent_id"].to_numpy(dtype=object),
            **{k: v if isinstance(v, str) else np.asarray(v, dtype=object) for k, v in cells.items()},
        }
    )
    return frame.astype(dict.fromkeys(["respondent_id", *cells], "str"))


NO_ISSUES = issue_frame(pd.DataFrame({"row": [], "respondent_id": []}), "", "", "", "")


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def export_limits() -> ExportLimits:
    """The limits in force: each environment variable of :data:`LIMIT_VARIABLES` if set, else the default.

    The default size and number of cells follow the memory available now: a file the machine
    cannot hold is refused with a message rather than by the kernel's out-of-memory killer, and
    a large export that it can hold is read.
    """
    memory = available_memory() or ASSUMED_MEMORY
    return ExportLimits(
        max_mb=limit_setting("max_mb", memory // (BYTES_PER_FILE_BYTE * 2**20)),
        max_columns=int(limit_setting("max_columns", DEFAULT_MAX_COLUMNS)),
        max_cells=int(limit_setting("max_cells", memory // BYTES_PER_CELL)),
    )


def limit_setting(name: str, default: float) -> float:
    variable = LIMIT_VARIABLES[name]
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"environment variable {variable}={text!r} is not a positive number", fix=f"set {variable} to a positive number, or unset it for the default")
    return value


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None where it cannot be told."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_fix(name: str, what: str) -> str:
    return (
        f"check that this is the interviews' export ({what}); if it truly is that large, raise the limit with the "
        f"environment variable {LIMIT_VARIABLES[name]} on a machine with the memory for it "
        f"(about {BYTES_PER_CELL} bytes per cell and {BYTES_PER_FILE_BYTE} per byte of file)"
    )


def check_size(path: Path, size: int, limits: ExportLimits, unpacked: bool = False) -> None:
    if size > limits.max_mb * 2**20:
        what = "the workbook unpacks to" if unpacked else "the file is"
        raise ExportError(
            f"{what} {size / 2**20:,.1f} MB, more than the limit of {limits.max_mb:,g} MB",
            where=str(path),
            fix=limit_fix("max_mb", "not a database dump or several files in one"),
        )


def check_shape(path: Path, rows: int, columns: int, limits: ExportLimits) -> None:
    """Refuse, before parsing, a table with too many columns or cells for the limits."""
    if columns > limits.max_columns:
        raise ExportError(
            f"the header has {columns:,} columns, more than the limit of {limits.max_columns:,}",
            where=f"{path}, line 1",
            fix=limit_fix("max_columns", "a wrong delimiter or a transposed table also gives thousands of columns"),
        )
    if rows * columns > limits.max_cells:
        raise ExportError(
            f"the file has about {rows:,} rows × {columns:,} columns = {rows * columns:,} cells, more than the limit of {limits.max_cells:,}",
            where=str(path),
            fix=limit_fix("max_cells", "one row per interview"),
        )


def too_unreadable(bad: int, rows: int) -> bool:
    """Whether ``bad`` unreadable rows or cells among ``rows`` rows mean the file is not the codebook's export."""
    return bad > max(UNREADABLE_MIN, UNREADABLE_SHARE * rows)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def read_csv_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    encoding, bom = detected_encoding(data, path)
    start = len(codecs.BOM_UTF8) if bom else 0
    first_end = LINE_END.search(data, start)
    if first_end is None:  # one line: a header (maybe cut short), no interview
        raise no_data_row(path, " (the file ends within its first line)")
    header = data[start : first_end.start()].decode(encoding)
    if header.count('"') % 2:
        raise ExportError(
            "the header line has a quote (\") that is never closed: the reader would take the lines after it as column names",
            where=f"{path}, line 1",
            fix='remove the stray " from the column names, or close it',
        )
    delimiter = detected_delimiter(header, path)
    try:
        raw_names = next(csv.reader([header], delimiter=delimiter))
    except csv.Error as exc:  # e.g. a name over csv's field size limit
        raise ExportError(f"cannot read the header line ({exc})", where=f"{path}, line 1", fix="put the column names on line 1, one per column") from None
    rows = line_ends(data, first_end.end(), len(data)) + (not data.endswith((b"\n", b"\r")))
    check_shape(path, rows, len(raw_names), limits)
    names = column_names(raw_names, path)
    table, rejected = csv_table(data, names, delimiter, encoding, path)
    # Arrow's strings as they are (pandas' own strings would copy every offset to 64 bits)
    frame = table.to_pandas(types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)
    bad_rows = np.array([number - 1 for number, _, _ in rejected], dtype=np.int64)  # pyarrow counts the header as row 1
    frame.insert(0, ROW, np.delete(np.arange(1, len(frame) + len(bad_rows) + 1), bad_rows - 1))
    frame, oversized = without_oversized_fields(frame, table, codebook)
    issues = pd.concat([field_count_issues(rejected, names, delimiter, frame, codebook), oversized], ignore_index=True)
    return TextTable(frame, issues, encoding=encoding, delimiter=delimiter, bom=bom, line_end=LINE_ENDS[first_end.group()])


def without_oversized_fields(frame: pd.DataFrame, table: pa.Table, codebook: Codebook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame with every cell over MAX_FIELD_MB blanked (its row quarantined, not the file refused),
    and an issue per such cell. Told from the table's string lengths: no cell is measured twice."""
    limit = MAX_FIELD_MB * 2**20
    over = {name: size for name in table.column_names if (pc.max(size := pc.binary_length(table.column(name))).as_py() or 0) > limit}  # one column's sizes held at a time
    if not over:
        return frame, NO_ISSUES
    masks = {name: pc.greater(size, limit).to_numpy(zero_copy_only=False) for name, size in over.items()}
    frame = frame.assign(**{name: frame[name].where(~mask, "") for name, mask in masks.items()})
    who = pd.DataFrame({"row": frame[ROW], "respondent_id": stripped(frame[codebook.columns.id]) if codebook.columns.id in frame else None})
    issues = [
        issue_frame(
            who[mask],
            name,
            "",
            "field_size",
            [f"the field of column '{name}' is {n / 2**20:,.1f} MB, more than the limit of {MAX_FIELD_MB} MB per field: a text pasted by mistake, or a quote left open before it; shorten it or export again" for n in over[name].to_numpy(zero_copy_only=False)[mask]],
        )
        for name, mask in masks.items()
    ]
    return frame, pd.concat(issues, ignore_index=True)


def csv_table(data: bytes, names: list[str], delimiter: str, encoding: str, path: Path) -> tuple[pa.Table, list[tuple[int, int, str]]]:
    """The rows after the header line as text cells (blank = ""), and the rows with the wrong number of
    fields (number, fields, text), kept out of the table.

    Parsed on every core first; a file with rows of the wrong number of fields is parsed again on
    one, as pyarrow tells such a row's number to its handler only then. A row longer than a parse
    block (a huge text) is parsed again in one block the size of the file.
    """
    rejected: list[tuple[int, int, str]] = []

    def reject(row: pv.InvalidRow) -> str:
        # Keep the row's number and field count; its text is parsed once for the respondent id.
        # Stop the parse once most rows are rejected (an exception raised here would be printed).
        rejected.append((row.number, row.actual_columns, row.text))
        return "error" if too_unreadable(len(rejected), row.number - 1) else "skip"

    def parsed(threads: bool, handler: Callable[[pv.InvalidRow], str], block: int) -> pa.Table:
        rejected.clear()
        return pv.read_csv(
            pa.BufferReader(data),  # the bytes as they are: no decoded copy of the file
            read_options=pv.ReadOptions(use_threads=threads, column_names=names, skip_rows=1, encoding=encoding, block_size=block),
            parse_options=pv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=handler),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked already (detected_encoding), or made so by pyarrow's transcoding
            ),
        )

    def either_block(threads: bool, handler: Callable[[pv.InvalidRow], str]) -> pa.Table:
        try:
            return parsed(threads, handler, CSV_BLOCK)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or len(data) <= CSV_BLOCK:
                raise
        return parsed(threads, handler, min(len(data) + 1, MAX_CSV_BLOCK))

    try:
        try:
            return either_block(True, lambda row: "error"), rejected
        except pa.ArrowInvalid:
            return either_block(False, reject), rejected
    except pa.ArrowInvalid as exc:
        if rejected and too_unreadable(len(rejected), rejected[-1][0] - 1):
            raise field_count_error(rejected, names, delimiter, path) from None
        reason = str(exc).split(":")[0]  # the rest may quote a line of data
        raise ExportError(f"cannot parse the CSV ({reason})", where=str(path), fix="check the quoting of text values, or export the file again") from None


def field_count_issues(rejected: list[tuple[int, int, str]], names: list[str], delimiter: str, frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """One issue per row that does not have the header's number of fields (e.g. a truncated last line)."""
    if not rejected:
        return NO_ISSUES
    ids = trusted_ids(rejected, names, delimiter, frame, codebook)
    counts = np.array([actual for _, actual, _ in rejected])
    reasons = np.char.add(
        np.char.add("the row has ", counts.astype(str)),
        f" fields where the header has {len(names)}: a truncated or shifted line (an unquoted {DELIMITERS[delimiter]} in a text?); fix that line or export again",
    )
    who = pd.DataFrame({"row": [n - 1 for n, _, _ in rejected], "respondent_id": ids})
    return issue_frame(who, "", "", "field_count", reasons)


def trusted_ids(rejected: list[tuple[int, int, str]], names: list[str], delimiter: str, frame: pd.DataFrame, codebook: Codebook) -> list[str | None]:
    """The respondent id of each row with the wrong number of fields, where it can be trusted, else None.

    A line shifted by an unquoted delimiter in a text, or the rest of a line broken inside a text,
    puts other text at the id's place: the id is taken only from before the first column that may
    hold free text (open texts, columns the codebook does not name), never from a row's last field
    (a cut line may end inside it), and only when it is shaped like the well-formed rows' ids.
    """
    expected = expected_columns(codebook)
    free = [i for i, name in enumerate(names) if name in text_columns(codebook) or name not in expected]
    place = names.index(codebook.columns.id) if codebook.columns.id in names else len(names)  # missing: refused later
    if place == len(names) or (free and min(free) < place):
        return [None] * len(rejected)
    found = pd.Series([field_at(text, place, delimiter) if place < actual - 1 else "" for _, actual, text in rejected], dtype="str")
    shaped = id_shapes(found).isin(set(id_shapes(frame[codebook.columns.id].dropna().astype("str").str.strip())))
    return [text if ok and text else None for text, ok in zip(found, shaped)]


def field_at(line: str, place: int, delimiter: str) -> str:
    """The stripped field at ``place`` of a line ("" when the line has no such field or cannot be split)."""
    try:
        fields = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a field over csv's size limit: nothing to trust
        return ""
    return fields[place].strip() if place < len(fields) else ""


def id_shapes(ids: pd.Series) -> pd.Series:
    """An id's shape: each letter an "a", each digit a "9" ("TLN-PS-000001" -> "aaa-aa-999999")."""
    return ids.str.replace(r"[^\W\d_]", "a", regex=True).str.replace(r"\d", "9", regex=True)


def line_ends(data: bytes, start: int, end: int) -> int:
    """Line ends between ``start`` and ``end``: CR LF, LF or CR alone (an old Mac export)."""
    return data.count(b"\n", start, end) + data.count(b"\r", start, end) - data.count(b"\r\n", start, end)


def field_count_error(rejected: list[tuple[int, int, str]], names: list[str], delimiter: str, path: Path) -> ExportError:
    """Most rows so far do not have the header's fields: the file is not one table with this header."""
    first, fields, _ = rejected[0]
    return ExportError(
        f"{len(rejected)} of the first {rejected[-1][0] - 1} data rows do not have the header's {len(names)} fields "
        f"(row {first - 1} has {fields}): the rows are not separated by {DELIMITERS[delimiter]} like the header line, "
        "or the file is not a table (garbage, another file appended)",
        where=str(path),
        fix=f"export the interviews again as one table, the column names on line 1 and every line separated by {DELIMITERS[delimiter]}",
    )


def detected_encoding(data: bytes, path: Path) -> tuple[str, bool]:
    """``(encoding, bom)``: UTF-8 (with or without BOM), else Windows-1252 or Latin-1; never a guess."""
    wide = next((name for bom, name in WIDE_BOMS if data.startswith(bom)), None) or wide_without_bom(data)
    if wide:
        raise ExportError(f"the file is {wide} text", where=str(path), fix="save it as 'CSV UTF-8' (or Windows-1252)")
    bom = data.startswith(codecs.BOM_UTF8)
    start = len(codecs.BOM_UTF8) if bom else 0
    not_utf8 = None if is_utf8(data, start) else first_undecodable(data, "utf-8", start)
    if not_utf8 is not None:
        if bom:
            raise ExportError(
                f"the file starts with a UTF-8 byte order mark but line {line_of(data, not_utf8)} is not UTF-8",
                where=str(path),
                fix="the file mixes encodings: export it again as 'CSV UTF-8'",
            )
        return single_byte_encoding(data, path, not_utf8), False
    twice = first_held(data, MOJIBAKE)
    if twice:
        raise ExportError(
            f"the text looks encoded twice ('{twice.decode()}' where a French character is expected, line {line_of(data, data.index(twice))})",
            where=str(path),
            fix="the export was converted to UTF-8 twice: export it again from the source, as 'CSV UTF-8'",
        )
    return "utf-8", bom


def wide_without_bom(data: bytes) -> str | None:
    """UTF-16 or UTF-32 text without a byte order mark, told by its NUL bytes: one in two or three in
    four of a text's first bytes, where a CSV in a single-byte encoding or UTF-8 has none."""
    head = data[:WIDE_SAMPLE]
    share = head.count(0) / len(head)
    return "UTF-32 (no byte order mark)" if share >= 0.6 else "UTF-16 (no byte order mark)" if share >= 0.3 else None


def is_utf8(data: bytes, start: int) -> bool:
    """Whether the bytes from ``start`` on are UTF-8, as Arrow tells without decoding them (no copy)."""
    offsets = pa.array([start, len(data)], pa.int64()).buffers()[1]
    try:
        pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def first_undecodable(data: bytes, encoding: str, start: int) -> int | None:
    """Offset of the first byte from ``start`` on that ``encoding`` cannot decode, or None.

    Decoded a slice of lines at a time (a line end never splits a character), so that the text of a
    large file is never held whole.
    """
    view = memoryview(data)
    while start < len(data):
        end = data.find(b"\n", start + DECODED_SLICE) + 1 or len(data)
        try:
            str(view[start:end], encoding)
        except UnicodeDecodeError as exc:
            return start + exc.start
        start = end
    return None


def single_byte_encoding(data: bytes, path: Path, first_non_utf8: int) -> str:
    """Windows-1252 if it uses bytes 0x80–0x9F (’ œ € …), else Latin-1 (both agree on the rest)."""
    utf8 = first_held(data, UTF8_FRENCH)
    if utf8:
        raise ExportError(
            f"the file mixes encodings: line {line_of(data, first_non_utf8)} is not UTF-8, "
            f"but line {line_of(data, data.index(utf8))} holds UTF-8 accented characters",
            where=str(path),
            fix="export the whole file again in one encoding, preferably 'CSV UTF-8'",
        )
    not_cp1252 = first_undecodable(data, "cp1252", 0)
    if not_cp1252 is not None:
        raise ExportError(
            f"cannot tell the encoding: not UTF-8, and byte 0x{data[not_cp1252]:02X} on line {line_of(data, not_cp1252)} "
            "is neither Windows-1252 nor plausible Latin-1 text",
            where=str(path),
            fix="export the file again as 'CSV UTF-8'",
        )
    return "windows-1252" if C1_BYTES.search(data) else "latin-1"


def first_held(data: bytes, sequences: tuple[bytes, ...]) -> bytes | None:
    """The first of ``sequences``, in their order, that ``data`` holds (None if none).

    Whether any is there is told by one pass of a regular expression: a search per sequence would
    read a large file once per sequence.
    """
    if not re.search(b"|".join(map(re.escape, sequences)), data):
        return None
    return next(s for s in sequences if s in data)


def line_of(data: bytes, offset: int) -> int:
    return line_ends(data, 0, offset) + 1


def detected_delimiter(header: str, path: Path) -> str:
    """The candidate delimiter found most often in the header line (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(counts.values())
    winners = [DELIMITERS[d] for d, n in counts.items() if n == best]
    if best == 0:
        raise ExportError(
            "no delimiter in the header line (looked for ';', ',' and tab)",
            where=f"{path}, line 1",
            fix="export as CSV separated by ';' (or ',' or tab), with the column names on line 1",
        )
    if len(winners) > 1:
        raise ExportError(
            f"cannot tell the delimiter: the header line has as many {' as '.join(winners)}",
            where=f"{path}, line 1",
            fix="export the CSV again with ';' as the delimiter and quote names that contain ',' or ';'",
        )
    return next(d for d, n in counts.items() if n == best)


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# SPSS
# --------------------------------------------------------------------------------------------


def read_sav_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    check_sav_readable_apart(path)
    try:
        _, header = pyreadstat.read_sav(str(path), metadataonly=True)
        check_shape(path, header.number_rows or 0, header.number_columns or 0, limits)
        frame, meta = pyreadstat.read_sav(str(path))
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ExportError(f"not a readable SPSS .sav file ({exc})", where=str(path), fix="save it again from SPSS as .sav") from None
    check_value_labels(meta.variable_value_labels, codebook, path)
    text = frame.apply(cell_text)
    text.insert(0, ROW, np.arange(1, len(frame) + 1, dtype=np.int64))
    return TextTable(text, NO_ISSUES)


def check_sav_readable_apart(path: Path) -> None:
    """Read the SPSS file once in a child process first: ReadStat, a C library, can crash the process
    (a segmentation fault) on a damaged file, and a crash there must be this error, not the run's end.

    A forked child reads it into plain arrays (no pandas, no threads) and exits; only its fate is
    used. Where processes cannot be forked (not POSIX), the file is read directly.
    """
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            faulthandler.disable()  # its crash is reported by the parent, not dumped on stderr
            pyreadstat.read_sav(str(path), output_format="dict")
        finally:
            os._exit(0)  # an error is found again, and reported, by the parent's own read
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise ExportError(
            f"not a readable SPSS .sav file: the SPSS reader crashed on it ({signal.Signals(os.WTERMSIG(status)).name})",
            where=str(path),
            fix="the file is damaged: save it again from SPSS as .sav, or export the interviews as CSV",
        )


def check_value_labels(labels: Mapping[str, Mapping[float, str]], codebook: Codebook, path: Path) -> None:
    """A value label that names a codebook code differently means the column or codes moved."""
    for column, expected in coded_columns(codebook).items():
        for value, label in labels.get(column, {}).items():
            code = float(value)
            if code in expected and folded(str(label)) != folded(expected[code]):
                raise ExportError(
                    f"column '{column}': code {code:g} is labelled '{label}' in the file but '{expected[code]}' in the codebook",
                    where=str(path),
                    fix="check that the column is mapped to the right question and that its codes did not change this edition; "
                    "correct the codebook's codes (or the file's value labels)",
                )


def coded_columns(codebook: Codebook) -> dict[str, dict[float, str]]:
    """Export columns that hold a question's codes, with the codebook's labels (multi 0/1 columns excluded)."""
    columns: dict[str, dict[float, str]] = {}
    for q in codebook.profile + codebook.questions:
        labels = {float(c): q.code_label(c) for c in q.all_codes()}
        if q.type == "single":
            columns[q.single_column] = labels
        elif q.type == "grid":
            columns.update(dict.fromkeys((r.column for r in q.rows), labels))
        elif q.type == "multi" and q.encoding == "codes":
            columns.update(dict.fromkeys(slot_columns(q), labels))
    return columns


def folded(label: str) -> str:
    """A label compared without accents, case, apostrophe style or extra whitespace."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", label) if not unicodedata.combining(c))
    return " ".join(plain.replace("’", "'").replace("‘", "'").casefold().split())


def cell_text(column: pd.Series) -> pd.Series:
    """Cells as text ("" when blank); whole numbers without a trailing ".0"."""
    if not pd.api.types.is_numeric_dtype(column):
        return column.astype(str).where(column.notna(), "")
    values = column.to_numpy(dtype=float)
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    text = np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str), values.astype(str))
    return pd.Series(np.where(np.isnan(values), "", text), index=column.index, dtype="str")


READERS: dict[str, Callable[[Path, bytes, Codebook, ExportLimits], TextTable]] = {
    "csv": read_csv_text,
    "xlsx": read_xlsx_text,
    "sav": read_sav_text,
}


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------


def column_names(raw: list[str], path: Path) -> list[str]:
    """Header names stripped; a blank name becomes "(column N)" (an extra column); duplicates are an error."""
    names = [str(n).strip() or f"(column {i + 1})" for i, n in enumerate(raw)]
    seen = pd.Series(names)
    twice = seen[seen.duplicated()].unique().tolist()
    if twice:
        raise ExportError(
            f"column name(s) {', '.join(repr(n) for n in twice)} appear more than once in the header",
            where=str(path),
            fix="rename or remove the duplicate columns so that each name is unique",
        )
    return names


def slot_columns(q: Question) -> tuple[str, ...]:
    """``encoding: codes``: the k slot columns, each holding one ticked code."""
    return tuple(q.columns.get(i, f"{q.column or q.id}_{i}") for i in range(1, len(q.all_codes()) + 1))


def expected_columns(codebook: Codebook) -> dict[str, str]:
    """Every export column the codebook names -> how to map it in the codebook (NAME = the export's name)."""
    fields = codebook.columns.__dataclass_fields__
    expected = {getattr(codebook.columns, k): f"columns: {{{k}: NAME}}" for k in fields}
    for q in codebook.profile + codebook.questions:
        where = f" under {q.id}"
        if q.type == "grid":
            expected.update({r.column: f"rows: [{{id: {r.id}, column: NAME}}]{where}" for r in q.rows})
        elif q.type == "multi":
            columns = dict(enumerate(slot_columns(q), start=1)) if q.encoding == "codes" else q.columns
            expected.update({col: f"columns: {{{key}: NAME}}{where}" for key, col in columns.items()})
        else:
            expected[q.column] = f"column: NAME{where}"
        if q.other_text:
            expected[q.other_text] = f"other_text: NAME{where}"
    return expected


def check_columns(present: list[str], expected: Mapping[str, str], path: Path) -> tuple[str, ...]:
    """The extra columns; missing ones are an error with close-name hints for renamed columns."""
    missing = [c for c in expected if c not in present]
    extra = tuple(c for c in present if c not in expected)
    if missing:
        folded_extra = {c.casefold(): c for c in extra}
        notes = []
        for column in missing:
            close = difflib.get_close_matches(column.casefold(), list(folded_extra), n=1, cutoff=0.5)
            note = f"column '{column}' missing"
            if close:
                name = folded_extra[close[0]]
                note += f"; '{name}' looks like it: map it in the codebook with {expected[column].replace('NAME', name)}"
            notes.append(note)
        raise ExportError(
            f"{len(missing)} column(s) of the codebook missing from the export: " + "; ".join(notes),
            where=str(path),
            fix="rename the export's columns or map them in the codebook as suggested; remove from the codebook a question not asked this edition",
        )
    return extra


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------


def normalised_frame(text: pd.DataFrame, codebook: Codebook, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text cells -> typed columns named as in the codebook, and the cells that are not numbers."""
    tech = codebook.columns
    who = pd.DataFrame({"row": text[ROW], "respondent_id": stripped(text[tech.id])})
    columns: dict[str, pd.Series | np.ndarray] = {ROW: text[ROW], tech.id: who["respondent_id"]}
    columns.update({c: stripped(text[c]) for c in (tech.status, tech.start, tech.end, *text_columns(codebook))})
    values, bad = parsed_numbers(text[[tech.loi, *number_columns(codebook)]])
    check_readable(bad, text[ROW], path)
    columns.update(values)
    issues = [number_issues(text[c], c, who, bad[c]) for c in bad]
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


def text_columns(codebook: Codebook) -> tuple[str, ...]:
    """Open-text columns: text questions and "autre, précisez" fields (read, never output)."""
    questions = codebook.profile + codebook.questions
    return tuple(q.single_column for q in questions if q.type == "text") + tuple(q.other_text for q in questions if q.other_text)


def number_columns(codebook: Codebook) -> tuple[str, ...]:
    """Columns read as numbers: codes, numeric answers and binary multi columns (slots are read apart)."""
    return tuple(
        c
        for q in codebook.profile + codebook.questions
        if q.type != "text" and not (q.type == "multi" and q.encoding == "codes")
        for c in q.export_columns()
        if c != q.other_text
    )


def stripped(column: pd.Series) -> pd.Series:
    """Text without surrounding spaces; NaN when blank."""
    text = column.astype("str").str.strip()
    return text.where(text != "")


def parsed_numbers(cells: pd.DataFrame) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Floats from text cells ("1", "1.0", " 1 ", "1,5"), NaN where blank or not a number, an array of
    its own per column; and where not a number, for the columns that hold such a cell.

    A column of digits and blanks alone (codes: the usual case) is read from its bytes; the others
    are parsed as texts.
    """
    digits = {c: digit_numbers(cells[c]) for c in cells}
    values, bad = text_numbers(cells[[c for c, (_, other) in digits.items() if other.any()]])
    return {c: values.get(c, read) for c, (read, _) in digits.items()}, bad


def digit_numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Cells of 1 to MAX_DIGITS ASCII digits as their number, blank cells as NaN; and which cells are neither.

    Worked out on the text's bytes, a few array operations per digit and mostly one digit: that is
    what a column of codes holds, and parsing each of its cells as a text costs far more. Piece by
    piece of the column as read: small arrays, reused from one piece to the next.
    """
    text = pa.array(column, type=pa.string())  # as a CSV's columns are read: 32-bit offsets
    pieces = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    found = [piece_digit_numbers(p) for p in pieces] or [piece_digit_numbers(pa.array([], pa.string()))]
    return np.concatenate([values for values, _ in found]), np.concatenate([other for _, other in found])


def piece_digit_numbers(text: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`digit_numbers` of one piece of a column."""
    offsets = np.frombuffer(text.buffers()[1], np.int32, len(text) + 1, 4 * text.offset)
    chars = np.frombuffer(text.buffers()[2] or b"\0", np.uint8)
    lengths = np.diff(offsets)
    zero = np.uint8(ord("0"))  # a character below "0" wraps above 9
    digit = chars.take(offsets[:-1], mode="clip") - zero  # first characters (past the text for a blank)
    values = digit.astype(np.float64)
    other = (lengths > MAX_DIGITS) | ((digit > 9) & (lengths > 0))
    if text.null_count:
        other |= text.is_null().to_numpy(zero_copy_only=False)
    longer = np.flatnonzero(lengths > 1)
    for place in range(1, min(int(lengths.max(initial=0)), MAX_DIGITS)):
        longer = longer[lengths[longer] > place]
        digit = chars[offsets[longer] + place] - zero
        other[longer[digit > 9]] = True
        values[longer] = values[longer] * 10 + digit
    values[(lengths == 0) | other] = np.nan
    return values, other


def text_numbers(cells: pd.DataFrame) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """:func:`parsed_numbers` of cells as texts: each column's distinct texts parsed once, every column's
    at once as one long column (string operations cost per call and per text, not per cell)."""
    distinct = [pd.factorize(cells[c], use_na_sentinel=False) for c in cells]
    text = pd.Series([t for _, texts in distinct for t in texts], dtype="str")
    text = text.str.strip().str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text.where(text.str.fullmatch(NUMBER)), errors="coerce").to_numpy(dtype="float64")
    numbers = np.where(np.isinf(numbers), np.nan, numbers)  # "1e400": beyond any float, not an answer
    bad = text.ne("").to_numpy(dtype=bool) & np.isnan(numbers)
    bounds = np.cumsum([0, *(len(texts) for _, texts in distinct)])
    places = dict(zip(cells.columns, zip((place for place, _ in distinct), bounds[:-1], bounds[1:])))
    values = {c: numbers[start:end][place] for c, (place, start, end) in places.items()}
    unreadable = {c: bad[start:end][place] for c, (place, start, end) in places.items() if bad[start:end].any()}
    return values, pd.DataFrame(unreadable, index=cells.index, copy=False)


def number_issues(column: pd.Series, name: str, who: pd.DataFrame, bad: pd.Series) -> pd.DataFrame:
    """One issue per cell of ``column`` that is not a number."""
    value = column[bad].astype("str").str.strip()
    reason = np.select(
        [value.str.contains(OTHER_DIGIT).to_numpy(dtype=bool), value.str.replace(",", ".", regex=False).str.fullmatch(NUMBER).to_numpy(dtype=bool)],
        [f"'{name}' holds a digit other than 0–9 (full-width or of another script): write codes and numbers with the digits 0–9",
         f"'{name}' holds a number too large to be an answer (beyond ±1.8e308)"],
        f"'{name}' holds something that is not a number where a code or number is expected",
    )
    return issue_frame(who[bad], name, value, "number", reason)


def check_readable(bad: pd.DataFrame, rows: pd.Series, path: Path) -> None:
    """Refuse an export whose number columns mostly hold text (labels exported for codes, another file).

    Counted before any issue row is made, so that a file of garbage costs no more memory than its cells.
    """
    counts = bad.sum()
    if not too_unreadable(int(counts.sum()), len(rows)):
        return
    worst = counts.idxmax()
    first = int(rows[bad[worst].to_numpy()].iloc[0])
    raise ExportError(
        f"{int(counts.sum()):,} cells of {len(rows):,} rows are not numbers where the codebook expects codes or numbers "
        f"(most in column '{worst}': {counts[worst]:,}, the first at row {first})",
        where=str(path),
        fix="export the answers as codes, not as labels (in Toluna: values, not texts), "
        "and check that the codebook is this export's (same columns in the same meaning)",
    )


def ticks_from_binary(cells: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """1/0 or 1/blank per code -> 0/1 per code; a blank beside an answer is 0, all blank stays NaN.

    The arrays (:func:`parsed_numbers`' own) are changed in place: new ones would be as much memory again.
    """
    blanks = {c: np.isnan(values) for c, values in cells.items()}
    unanswered = np.logical_and.reduce(list(blanks.values()))
    for c, values in cells.items():
        values[blanks[c] & ~unanswered] = 0.0
    return cells


def ticks_from_slots(text: pd.DataFrame, q: Question, who: pd.DataFrame) -> tuple[dict[str, pd.Series], pd.DataFrame]:
    """Slot columns each holding a ticked code -> one 0/1 column per code (NaN if no slot is filled)."""
    slots = slot_columns(q)
    values, bad = parsed_numbers(text[list(slots)])
    matrix = np.column_stack(list(values.values()))
    answered = ~np.isnan(matrix).all(axis=1)
    unknown = ~np.isnan(matrix) & ~np.isin(matrix, np.array(q.all_codes(), dtype=float))
    rows, where = np.nonzero(unknown)
    found = issue_frame(
        who.iloc[rows],
        np.array(slots)[where],
        cell_text(pd.Series(matrix[rows, where])),
        "allowed_codes",
        f"not a code of {q.id} (expected one of {', '.join(str(c) for c in q.all_codes())})",
    )
    ticks = {
        q.columns[c]: pd.Series(np.where(answered, (matrix == c).any(axis=1), np.nan), index=text.index, dtype="float64")
        for c in q.all_codes()
    }
    unreadable = [number_issues(text[c], c, who, bad[c]) for c in bad]
    return ticks, pd.concat([found, *unreadable], ignore_index=True)
