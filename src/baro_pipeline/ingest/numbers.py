"""Text cells to numbers and 0/1 ticks, and the quarantine reasons of cells that are not numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..edition import Question
from ..errors import ExportError
from .columns import slot_columns
from .table import cell_text, issue_frame, too_unreadable


# ASCII digits only: "\d" also matches "１" or "٣", which the numeric conversion then reads as blank.
OTHER_DIGIT = r"(?![0-9])\d"  # a Unicode digit that is not ASCII
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
MAX_DIGITS = 15  # a whole number of up to 15 digits is exact as a float (under 2**53)


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
