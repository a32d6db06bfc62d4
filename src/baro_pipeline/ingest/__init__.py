"""Ingest stage: read one population's export (CSV, Excel or SPSS) into a normalised frame.

Every format is first read as text cells (blank = ``""``) with a ``_row`` column, then converted
by one function, :func:`normalised_frame`, driven by the codebook alone:

- codes and numbers become floats (NaN = blank): float32 where every value of the column is
  exactly one (codes, ticks), else float64; ``"1.0"``, ``" 1 "`` and decimal commas are
  accepted; a cell that is not a number becomes NaN and an *issue* (quarantined by validation).
  Cells of digits alone are converted by Arrow's kernels (``ascii_is_decimal``, ``cast``), a
  column's texts freed once it is numbers; the columns holding other cells are parsed as texts
  (pandas' string methods on Arrow, ``pd.to_numeric``), each distinct text once;
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
strings by ``pyarrow.csv``, except in a clean file the codes, ticks and length of interview, read
as unsigned integers (no text made; the file read again as text when pyarrow refuses a cell there,
or when it holds a hex prefix "0x" that pyarrow would read as a number: :func:`csv.code_types`); a row with the wrong number of fields is kept out of the frame as an
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

# The stage's names, from the module of each part (``from baro_pipeline.ingest import read_export``).
from .columns import coded_columns, expected_columns, number_columns, slot_columns, text_columns
from .csv import MAX_FIELD_MB
from .export import Export, SourceFile, read_export, release_arrow_memory
from .files import ASSUMED_MEMORY, BYTES_PER_CELL, BYTES_PER_FILE_BYTE, LIMIT_VARIABLES, ExportLimits, export_limits, file_bytes, find_export, find_exports, largest_export_bytes
from .numbers import digit_numbers, parsed_numbers, text_numbers
from .table import ISSUE_COLUMNS, NO_ISSUES, ROW, TextTable, cell_text, issue_frame

__all__ = [
    "ASSUMED_MEMORY",
    "BYTES_PER_CELL",
    "BYTES_PER_FILE_BYTE",
    "ISSUE_COLUMNS",
    "LIMIT_VARIABLES",
    "MAX_FIELD_MB",
    "NO_ISSUES",
    "ROW",
    "Export",
    "ExportLimits",
    "SourceFile",
    "TextTable",
    "cell_text",
    "coded_columns",
    "digit_numbers",
    "expected_columns",
    "export_limits",
    "file_bytes",
    "find_export",
    "find_exports",
    "largest_export_bytes",
    "issue_frame",
    "number_columns",
    "parsed_numbers",
    "read_export",
    "release_arrow_memory",
    "slot_columns",
    "text_columns",
    "text_numbers",
]
