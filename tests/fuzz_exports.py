"""Generated exports for the property-based harness (tests/test_fuzz.py): Hypothesis strategies.

An export is drawn in three steps:

1. interviews that fit the 2025 codebook (:func:`exports.clean_frame`, the edition loaded by
   the library), each with a status drawn among the codebook's, and an open text planted in every
   open-text cell: marker strings (:data:`MARKER`) joined by delimiters, quotes, line ends or
   accents, so that each piece of a text split by a stray delimiter still holds the marker;
2. a layout: CSV (delimiter, quoting, encoding with or without BOM, line ends), .xlsx or .sav;
3. mutations, each named (:class:`Mutation`): of cells (:data:`CELL_PAYLOADS`), of the table
   (columns shuffled, duplicated, missing or added; no data row) or of the file's bytes (cut at
   any byte, bytes inserted, a BOM of another encoding, emptied).

:class:`Drawn` is what a property needs: the file, how many data rows it holds when that is known,
the rows that must not be kept, the ids written.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import io
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from baro_pipeline.edition import Codebook, load_edition
from baro_pipeline.ingest import cell_text, number_columns, text_columns
from broken import typed
from exports import clean_frame, write_sav

REPO = Path(__file__).resolve().parents[1]
EDITION = load_edition("2025", REPO)
POPULATIONS = tuple(EDITION.populations)
MARKER = "OTXMARK"  # every planted open text holds it; never in an output
MAX_ROWS = 12
# An example takes its interviews from one of a few pools, made once: making interviews costs more
# than validating them, and the mutations, not the clean answers, are what an example is about.
POOL_ROWS, POOLS = 64, 4
# Huge fields: beyond pyarrow's 16 MiB block (ingest.CSV_BLOCK) only under `make fuzz`, where a few seconds per example are spent.
HUGE_FIELDS = (2**10, 2**16, 2**20 + 3) + ((17 * 2**20,) if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else ())


def codebook(population: str) -> Codebook:
    return EDITION.populations[population].codebook


@functools.cache
def number_names(population: str) -> frozenset[str]:
    """The columns read as numbers, the length of interview among them (asked of every cell a mutation changes)."""
    book = codebook(population)
    return frozenset({book.columns.loi, *number_columns(book)})


@functools.cache
def open_text_names(population: str) -> tuple[str, ...]:
    return text_columns(codebook(population))


def respondent_id(population: str, i: int) -> str:
    return f"TLN-{population.upper()}-{i:06d}"


ID_PATTERN = re.compile(r"TLN-(PS|GP)-\d{6}")


# --------------------------------------------------------------------------------------------
# Interviews
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """An export as text cells, before it is written."""

    population: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@functools.lru_cache(maxsize=256)
def clean_cells(population: str, n: int, seed: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """N valid interviews of the population as text cells ("1", not "1.0"; blank = "")."""
    with warnings.catch_warnings():  # clean_frame adds columns one question at a time
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        frame = clean_frame(codebook(population), n, seed)
    frame[codebook(population).columns.id] = [respondent_id(population, i) for i in range(1, n + 1)]
    cells = frame.apply(cell_text)
    return tuple(frame.columns), tuple(map(tuple, cells.to_numpy().tolist()))


SEPARATORS = (" ", ";", ",", "\t", '"', "'", "\n", "\r\n", "\r", "é", "’", "«", "|", "\\")


@st.composite
def open_text(draw: st.DrawFn, k: int) -> str:
    """Marker pieces joined by what breaks a careless reader (delimiters, quotes, line ends)."""
    pieces = draw(st.integers(1, 3))
    joins = draw(st.lists(st.sampled_from(SEPARATORS), min_size=pieces - 1, max_size=pieces - 1))
    words = [f"{MARKER}{k:03d}{chr(97 + p)}" for p in range(pieces)]
    return "".join(w + j for w, j in zip(words, [*joins, ""]))


@st.composite
def interviews(draw: st.DrawFn, population: str) -> Table:
    """Codebook-conformant interviews, statuses drawn, open texts planted in every open-text cell."""
    n = draw(st.integers(1, MAX_ROWS))
    header, pool = clean_cells(population, POOL_ROWS, draw(st.integers(0, POOLS - 1)))
    start = draw(st.integers(0, POOL_ROWS - n))
    rows = pool[start : start + n]
    book = codebook(population)
    statuses = draw(st.lists(st.sampled_from(["complete"] * 4 + ["incomplete", "screened_out"]), min_size=n, max_size=n))
    texts = [header.index(c) for c in open_text_names(population)]
    status = header.index(book.columns.status)
    out, k = [], 0
    for row, state in zip(rows, statuses):
        cells = list(row)
        cells[status] = book.statuses[state]
        for i in texts:
            if cells[i] or draw(st.booleans()):
                cells[i], k = draw(open_text(k)), k + 1
        out.append(tuple(cells))
    return Table(population, header, tuple(out))


# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------

NUMBERS = ("inf", "-inf", "Infinity", "NaN", "nan", "1e400", "-1e400", "٣", "२", "３", "²", "1٢", "0x1", "1_0", "+-1")
CONTROLS = ("\x00", "\x01", "\x07", "\x08", "\x1a", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\u200b")
PUNCTUATION = (";", ",", "\t", '"', '""', "'", "\n", "\r\n", "\r", "=1+1", "@SUM(A1)")
BREAKS_LINES = ('"', "\r", "\n")  # in a cell left unquoted, these change the rows of the file
ID_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Mutation:
    """A named change of the table or of the file; ``rows_kept``: the file still holds the drawn rows."""

    name: str
    table: Callable[[Table], Table] | None = None
    data: Callable[[bytes], bytes] | None = None
    rows_kept: bool = True


def with_cell(table: Table, row: int, column: int, text: str) -> Table:
    rows = list(table.rows)
    rows[row] = (*rows[row][:column], text, *rows[row][column + 1 :])
    return dataclasses.replace(table, rows=tuple(rows))


def numeric_columns(table: Table) -> list[int]:
    """The number columns (codes, ticks, the length of interview)."""
    names = number_names(table.population)
    return [i for i, name in enumerate(table.header) if name in names]


def spoiled(population: str, column: str, old: str, new: str) -> bool:
    """Whether a cell changed from ``old`` to ``new`` makes its interview invalid (it must not be kept):
    a number cell that is neither blank nor a finite plain number, a changed status, an id with a control character."""
    book = codebook(population)
    text = new.strip()
    if column in number_names(population):
        return text != "" and not (PLAIN_NUMBER.fullmatch(text) and np.isfinite(float(text.replace(",", "."))))
    if column == book.columns.status:
        return text != old
    return column == book.columns.id and bool(ID_CONTROLS.search(new))


def cell_payloads(layout: Layout) -> st.SearchStrategy[str]:
    """Hostile texts a cell may get, less what the format cannot hold (Excel: control characters; SPSS: NUL)."""
    texts = st.sampled_from(NUMBERS + CONTROLS + PUNCTUATION)
    if layout.format == "xlsx":  # and no formula: a text starting with "=" is written as one
        return texts.map(lambda t: ILLEGAL_CHARACTERS_RE.sub("", t)).filter(lambda t: t != "" and "=" not in t)
    return texts.map(lambda t: t.replace("\x00", "")).filter(bool) if layout.format == "sav" else texts


def special_columns(table: Table) -> list[int]:
    """The technical columns (id, status, dates, length) and open texts: a few among a hundred, drawn half the time."""
    book = codebook(table.population)
    names = {*(getattr(book.columns, k) for k in book.columns.__dataclass_fields__), *open_text_names(table.population)}
    return [i for i, name in enumerate(table.header) if name in names]


@st.composite
def cell_mutation(draw: st.DrawFn, table: Table, layout: Layout) -> Mutation:
    """A hostile number in place of a number cell (the length of interview, unbounded, half the time); a hostile
    text in place of any cell or at its start, middle or end; or a huge field (CSV)."""
    row = draw(st.integers(0, len(table.rows) - 1))
    kind = draw(st.sampled_from(["number"] * 4 + ["text"] * 5 + (["huge"] if layout.format == "csv" else [])))
    if kind == "number":
        loi = table.header.index(codebook(table.population).columns.loi)
        column = draw(st.just(loi) | st.sampled_from(numeric_columns(table)))
        payload, at = draw(st.sampled_from(NUMBERS)), "instead"
    else:
        column = draw(st.sampled_from(special_columns(table)) | st.integers(0, len(table.header) - 1))
    where = f"cell {table.header[column]!r} of row {row}"
    if kind == "huge":
        size = draw(st.sampled_from(HUGE_FIELDS))
        unit = MARKER if table.header[column] in open_text_names(table.population) else draw(st.sampled_from(["x", "é", "1"]))
        return Mutation(f"{where}: a field of {size:,} characters", table=lambda t: with_cell(t, row, column, unit * (size // len(unit))))
    if kind == "text":
        payload = draw(cell_payloads(layout))
        at = draw(st.sampled_from(["instead", "start", "middle", "end"]))
    rows_kept = layout.quoted or not any(c in payload for c in BREAKS_LINES)

    def put(t: Table) -> Table:
        text = t.rows[row][column]
        middle = len(text) // 2
        new = {"instead": payload, "start": payload + text, "middle": text[:middle] + payload + text[middle:], "end": text + payload}[at]
        return with_cell(t, row, column, new)

    return Mutation(f"{where}: {payload!r} {'in place' if at == 'instead' else 'at the ' + at}", table=put, rows_kept=rows_kept)


def shuffled(order: list[int]) -> Callable[[Table], Table]:
    return lambda t: dataclasses.replace(t, header=tuple(t.header[i] for i in order), rows=tuple(tuple(r[i] for i in order) for r in t.rows))


@st.composite
def table_mutation(draw: st.DrawFn, table: Table) -> Mutation:
    """Columns shuffled, duplicated, missing or added; or no data row at all."""
    kind = draw(st.sampled_from(["shuffle", "duplicate", "drop", "extra", "header_only"]))
    width = len(table.header)
    if kind == "shuffle":
        return Mutation("columns shuffled", table=shuffled(draw(st.permutations(range(width)))))
    if kind == "header_only":
        return Mutation("header only", rows_kept=False, table=lambda t: dataclasses.replace(t, rows=()))
    column = draw(st.integers(0, width - 1))
    if kind == "drop":
        order = [i for i in range(width) if i != column]
        return Mutation(f"column {table.header[column]!r} dropped", table=shuffled(order))
    if kind == "duplicate":
        return Mutation(f"column {table.header[column]!r} twice", table=shuffled([*range(width), column]))
    name = draw(st.sampled_from(["panel_source", "", " ", "OTHER_col", "Q1 ", "é\x00"]))
    return Mutation(f"extra column {name!r}", table=lambda t: dataclasses.replace(t, header=(*t.header, name), rows=tuple((*r, "x") for r in t.rows)))


BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
BYTES = (b"\x00", b"\xff", b"\xc3", b"\xe2\x80", b"\x1a", b'"', b"\r", b"\n", b";", b"\x85", b"\xef\xbb\xbf")


@st.composite
def data_mutation(draw: st.DrawFn, size: int) -> Mutation:
    """The file's bytes cut at any byte, bytes inserted, a BOM put in front, or emptied."""
    kind = draw(st.sampled_from(["truncate", "insert", "bom", "empty"]))
    if kind == "empty":
        return Mutation("empty file", rows_kept=False, data=lambda d: b"")
    if kind == "bom":
        bom = draw(st.sampled_from(BOMS))
        return Mutation(f"BOM {bom!r} in front", data=lambda d: bom + d)
    at = draw(st.integers(0, max(size - 1, 0)))
    if kind == "truncate":
        return Mutation(f"cut at byte {at}", rows_kept=False, data=lambda d: d[:at])
    inserted = draw(st.sampled_from(BYTES) | st.binary(min_size=1, max_size=4))
    rows_kept = not any(b in inserted for b in b'"\r\n')
    return Mutation(f"{inserted!r} inserted at byte {at}", rows_kept=rows_kept, data=lambda d: d[:at] + inserted + d[at:])


# --------------------------------------------------------------------------------------------
# Layouts and writing
# --------------------------------------------------------------------------------------------

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be")
LINE_ENDS = ("\n", "\r\n", "\r", "mixed")


@dataclass(frozen=True)
class Layout:
    format: str  # "csv" | "xlsx" | "sav"
    delimiter: str = ";"
    quoting: str = "minimal"  # "minimal" | "all" | "none"
    encoding: str = "utf-8-sig"
    line_ends: tuple[str, ...] = ("\n",)  # one per line, cycled

    @property
    def quoted(self) -> bool:
        return self.format != "csv" or self.quoting != "none"


@st.composite
def layouts(draw: st.DrawFn, formats: tuple[str, ...] = ("csv", "csv", "csv", "csv", "xlsx", "sav"), hostile: bool = True) -> Layout:
    fmt = draw(st.sampled_from(formats))
    if fmt != "csv":
        return Layout(fmt)
    encodings = ENCODINGS if hostile else ENCODINGS[:4]
    ends = draw(st.sampled_from(LINE_ENDS if hostile else LINE_ENDS[:2]))
    line_ends = tuple(draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=2, max_size=5))) if ends == "mixed" else (ends,)
    return Layout(
        "csv",
        delimiter=draw(st.sampled_from([";", ",", "\t"])),
        quoting=draw(st.sampled_from(["minimal", "all", "none"] if hostile else ["minimal", "all"])),
        encoding=draw(st.sampled_from(encodings)),
        line_ends=line_ends,
    )


def csv_cell(text: str, layout: Layout) -> str:
    needs = any(c in text for c in (layout.delimiter, '"', "\r", "\n"))
    if layout.quoting == "all" or (layout.quoting == "minimal" and needs):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_bytes(table: Table, layout: Layout) -> bytes:
    lines = [layout.delimiter.join(csv_cell(c, layout) for c in cells) for cells in (table.header, *table.rows)]
    ends = [layout.line_ends[i % len(layout.line_ends)] for i in range(len(lines))]
    return "".join(line + end for line, end in zip(lines, ends)).encode(layout.encoding, errors="replace")


def frame_of(table: Table) -> pd.DataFrame:
    return pd.DataFrame(list(table.rows), columns=list(table.header), dtype=object)


def xlsx_bytes(table: Table, layout: Layout) -> bytes:
    """The table on one sheet (characters Excel cannot hold removed)."""
    clean = dataclasses.replace(table, header=tuple(ILLEGAL_CHARACTERS_RE.sub("", c) for c in table.header), rows=tuple(tuple(ILLEGAL_CHARACTERS_RE.sub("", c) for c in r) for r in table.rows))
    out = io.BytesIO()
    frame_of(clean).to_excel(out, index=False, sheet_name="Données", engine="openpyxl")
    return without_save_time(out.getvalue())


def without_save_time(xlsx: bytes) -> bytes:
    """The workbook with a fixed time where openpyxl writes the time it saved it (docProps/core.xml, each
    member's date): the same bytes at every write, so that an example replays the same (a byte mutation
    draws its place within the file's size)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2025-01-06T09:00:00Z", source.read(info)) if info.filename == "docProps/core.xml" else source.read(info)
            target.writestr(zipfile.ZipInfo(info.filename, date_time=(2025, 1, 6, 9, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def sav_bytes(table: Table, layout: Layout) -> bytes:
    """An SPSS file: columns of numbers as numbers, with the codebook's value labels; NULs removed (SPSS strings are C strings)."""
    names = [c if c.isidentifier() else f"v{i}_" + re.sub(r"\W", "_", c) for i, c in enumerate(table.header)]
    frame = typed(frame_of(table).set_axis(names, axis=1).replace("\x00", "", regex=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.sav"
        write_sav(frame.loc[:, ~frame.columns.duplicated()], path, codebook(table.population))
        return path.read_bytes()


WRITERS = {"csv": csv_bytes, "xlsx": xlsx_bytes, "sav": sav_bytes}


# --------------------------------------------------------------------------------------------
# Drawn exports
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """One drawn export, written, and what the properties need to know of it."""

    population: str
    layout: Layout
    data: bytes
    mutations: tuple[Mutation, ...]
    rows: int | None  # data rows in the file, when the mutations keep them (None: not known)
    spoiled_ids: frozenset[str]  # ids of the interviews that must not be kept
    written_ids: frozenset[str]  # every id cell written, stripped

    @property
    def file_name(self) -> str:
        return f"{self.population}.{self.layout.format}"

    def __repr__(self) -> str:
        changes = "; ".join(m.name for m in self.mutations) or "none"
        return f"Drawn({self.file_name}, {self.layout}, rows={self.rows}, mutations: {changes}; {len(self.data):,} bytes, the first {self.data[:200]!r})"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        """What Hypothesis prints of a failing example: the mutations by name, not every byte."""
        printer.text(repr(self))  # type: ignore[attr-defined]


@st.composite
def exports(draw: st.DrawFn, population: str | None = None, structural: bool = True) -> Drawn:
    """An export drawn as the module docstring says. ``structural=False``: only cell mutations, in a layout
    that quotes and a single-byte or UTF-8 encoding: a file that must be read, its problems quarantined row by row."""
    population = population or draw(st.sampled_from(POPULATIONS))
    clean = draw(interviews(population))
    layout = draw(layouts() if structural else layouts(formats=("csv", "csv", "xlsx"), hostile=False))
    table, mutations = clean, []
    for _ in range(draw(st.integers(0, 3))):
        mutation = draw(st.one_of(cell_mutation(table, layout), table_mutation(table)) if structural and table.rows else cell_mutation(table, layout))
        table = mutation.table(table)
        mutations.append(mutation)
        if not table.rows:
            break
    data = WRITERS[layout.format](table, layout)
    for _ in range(draw(st.integers(0, 2)) if structural else 0):
        mutation = draw(data_mutation(len(data)))
        data = mutation.data(data)
        mutations.append(mutation)
    quoted = layout.quoted or not any(c in cell for row in table.rows for cell in row for c in BREAKS_LINES)
    rows = len(table.rows) if quoted and all(m.rows_kept for m in mutations) else None
    return Drawn(population, layout, data, tuple(mutations), rows, spoiled_ids(clean, table), written_ids(table))


def id_cells(table: Table) -> list[str]:
    name = codebook(table.population).columns.id
    return [r[table.header.index(name)] for r in table.rows] if name in table.header else []


def written_ids(table: Table) -> frozenset[str]:
    return frozenset(i.strip() for i in id_cells(table))


def spoiled_ids(clean: Table, table: Table) -> frozenset[str]:
    """Ids (as written) of the interviews a mutation made invalid: :func:`spoiled` for a changed cell of each column, by name
    (a clean cell spoils nothing)."""
    ids = id_cells(table)
    columns = [(name, clean.header.index(name), table.header.index(name)) for name in dict.fromkeys(table.header) if name in clean.header]
    return frozenset(
        ids[i]
        for i, (old, new) in enumerate(zip(clean.rows, table.rows))
        if ids and any(old[a] != new[b] and spoiled(table.population, name, old[a], new[b]) for name, a, b in columns)
    )


def known_export(layout: Layout, cells: dict[str, str] | None = None, rows: int | None = 12) -> Drawn:
    """An export as the strategies could draw it, made by hand: 12 clean ps interviews, ``cells`` set in
    place on the first interview where they are all answered (the failures found once, tried on every run)."""
    clean = Table("ps", *clean_cells("ps", 12, 7))
    cells = cells or {}
    row = next(i for i, r in enumerate(clean.rows) if all(r[clean.header.index(c)] for c in cells))
    table, mutations = clean, []
    for name, text in cells.items():
        column = clean.header.index(name)
        mutations.append(Mutation(f"cell {name!r} of row {row}: {text!r} in place", table=lambda t, c=column, v=text: with_cell(t, row, c, v)))
        table = mutations[-1].table(table)
    return Drawn("ps", layout, WRITERS[layout.format](table, layout), tuple(mutations), rows, spoiled_ids(clean, table), written_ids(table))
