"""Text cells to numbers and 0/1 ticks, and the quarantine reasons of cells that are not numbers."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..edition import Question
from ..errors import ExportError
from .columns import slot_columns
from .table import cell_text, issue_frame, too_unreadable


# ASCII digits only: "\d" also matches "１" or "٣", which the numeric conversion then reads as blank.
OTHER_DIGIT = r"(?![0-9])\d"  # a Unicode digit that is not ASCII
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
MAX_DIGITS = 15  # a whole number of up to 15 digits is exact as a float (under 2**53)
FLOAT32_DIGITS = 7  # and of up to 7 digits as a float32 (under 2**24)
THREADED_ROWS = 50_000  # columns converted on every core from this many rows (fewer: the threads cost more than they save)


def parsed_numbers(cells: MutableMapping[str, pd.Series | pa.ChunkedArray]) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Numbers from text cells ("1", "1.0", " 1 ", "1,5"), NaN where blank or not a number, an array of
    its own per column (float32 where exact: :func:`narrowest`); and where not a number, for the
    columns that hold such a cell.

    A column of digits and blanks alone (codes: the usual case) is converted by Arrow's kernels
    (:func:`digit_numbers`), several columns at a time (the kernels let go of the GIL), and taken
    out of ``cells``: its texts are freed then, not once every column is read. The columns left in
    ``cells`` hold other cells, parsed as texts (:func:`text_numbers`).
    """
    values = {}
    rows = max((len(column) for column in cells.values()), default=0)
    with ThreadPoolExecutor(os.cpu_count() if rows >= THREADED_ROWS else 1) as pool:
        for c, (read, other) in zip(list(cells), pool.map(digit_numbers, list(cells.values()))):
            values[c] = narrowest(read)
            if not other.any():
                del cells[c]
    parsed, bad = text_numbers(pd.DataFrame({c: cells[c] for c in cells}))
    return values | {c: narrowest(v) for c, v in parsed.items()}, bad


def narrowest(values: np.ndarray) -> np.ndarray:
    """float32 when every value is exactly one (codes, ticks, lengths in seconds): half the memory, the
    same numbers once read back as float64; else the float64 values as they are."""
    if values.dtype == np.float32:
        return values
    small = values.astype(np.float32)
    return small if np.array_equal(small, values, equal_nan=True) else values


def digit_numbers(column: pd.Series | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Cells of 1 to MAX_DIGITS ASCII digits as their number, blank cells as NaN; and which cells are neither.

    By Arrow's kernels on the column as read (no per-cell Python): ``ascii_is_decimal`` tells the
    cells of digits 0–9 alone ("１" and "٣" are not), Arrow's cast reads them, exactly as
    ``float()`` would (whole numbers under 2**53); as float32 when no cell is longer than
    FLOAT32_DIGITS (codes: exact, and no float64 array made to be narrowed). A column of whole
    numbers already (the codes of a clean CSV, :func:`csv.code_types`) is cast: float32 up to 16 bits.
    """
    if isinstance(column, pa.ChunkedArray):
        width = pa.float32() if column.type.bit_width <= 16 else pa.float64()
        values = pc.cast(column, width).to_numpy()  # nulls as NaN; chunk by chunk, into one array (no combined copy first)
        return np.require(values, requirements="W"), np.zeros(len(column), bool)
    text = pa.array(column, type=pa.string())  # a CSV's column as read: no copy
    size = pc.binary_length(text)
    digits = pc.and_kleene(pc.ascii_is_decimal(text), pc.less_equal(size, MAX_DIGITS))
    width = pa.float32() if (pc.max(size).as_py() or 0) <= FLOAT32_DIGITS else pa.float64()
    values = pc.cast(pc.if_else(digits, text, None), width)  # null (NaN) where not digits
    other = pc.invert(pc.or_kleene(digits, pc.equal(size, 0))).fill_null(True)  # a null cell is no number either
    # writable: ticks are filled in place (:func:`ticks_from_binary`); a copy only where Arrow's own buffer is read-only
    return np.require(values.to_numpy(zero_copy_only=False), requirements="W"), other.to_numpy(zero_copy_only=False)


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


def ticks_from_slots(text: dict[str, pd.Series | pa.ChunkedArray], q: Question, who: pd.DataFrame) -> tuple[dict[str, pd.Series], pd.DataFrame]:
    """Slot columns each holding a ticked code -> one 0/1 column per code (NaN if no slot is filled).

    The slot columns are taken out of ``text`` (see :func:`parsed_numbers`)."""
    slots = slot_columns(q)
    cells = {c: text.pop(c) for c in slots}
    values, bad = parsed_numbers(cells)
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
        q.columns[c]: pd.Series(np.where(answered, (matrix == c).any(axis=1), np.nan), index=who.index, dtype="float32")
        for c in q.all_codes()
    }
    unreadable = [number_issues(cells[c], c, who, bad[c]) for c in bad]
    return ticks, pd.concat([found, *unreadable], ignore_index=True)
