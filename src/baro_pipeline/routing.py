"""Who was asked what: the codebook's routing (``asked_if``) and conditions applied to a frame of answers.

The codebook says who is asked each question and what a condition (a base, a derived term)
means; these functions apply it to respondents, vectorised. Validation, estimation and the
synthetic exports read the routing from here, not from each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .edition import Codebook, Condition, Question


def condition_mask(frame: pd.DataFrame, codebook: Codebook, condition: Condition) -> np.ndarray:
    """Which respondents meet an edition condition (routing, base, derived term), vectorised.

    ``in`` on a multi question means one of those codes ticked; a blank answer (not asked) is
    False, so is a respondent not asked. A fresh array (:class:`Conditions` keeps its masks).
    """
    return Conditions(frame, codebook).computed(condition)


def asked(frame: pd.DataFrame, codebook: Codebook, q: Question) -> np.ndarray:
    """Who was asked the question (everyone when it has no routing)."""
    return np.ones(len(frame), bool) if q.asked_if is None else condition_mask(frame, codebook, q.asked_if)


def answer_columns(q: Question) -> tuple[str, ...]:
    """Columns of the normalised frame that hold the question's answers (not its "autre" text)."""
    return tuple(c for c in q.export_columns() if c != q.other_text)


def ticked(frame: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """Which of these 0/1 tick columns hold a 1 (respondents × columns; a blank is not a tick)."""
    return np.column_stack([frame[c].to_numpy() == 1 for c in columns])

@dataclass(frozen=True, eq=False)
class Conditions:
    """The conditions met by a frame's respondents, each computed once (the estimation asks the
    same ones many times: the questions of one routing, the figures of one base); masks are kept,
    read-only. A code's membership is a lookup in a table indexed by code, over the frame's columns
    as they are (float32 codes are not cast), not pandas' ``isin`` (a hash of every cell).
    """

    frame: pd.DataFrame
    codebook: Codebook
    masks: dict[Condition, np.ndarray] = field(default_factory=dict)

    def met(self, condition: Condition) -> np.ndarray:
        """(n,) bool: who meets the condition."""
        if condition not in self.masks:
            mask = self.computed(condition)
            mask.flags.writeable = False  # shared by every caller
            self.masks[condition] = mask
        return self.masks[condition]

    def asked(self, q: Question) -> np.ndarray:
        """(n,) bool: who was asked the question (everyone when it has no routing)."""
        return np.ones(len(self.frame), bool) if q.asked_if is None else self.met(q.asked_if)

    def computed(self, condition: Condition) -> np.ndarray:
        if condition.all:
            return np.logical_and.reduce([self.met(part) for part in condition.all])
        if condition.any:
            return np.logical_or.reduce([self.met(part) for part in condition.any])
        q = self.codebook.question(str(condition.question))  # a condition of one question names it (the loader checks)
        if q.type == "multi":
            return np.logical_or.reduce([code_cells(self.frame, q.columns[c]) == 1 for c in condition.codes])
        column = next(r.column for r in q.rows if r.id == condition.row) if q.type == "grid" else q.single_column
        return code_membership(code_cells(self.frame, column), condition.codes)


def code_cells(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column of codes as floats: the frame's own array when it holds floats (no copy)."""
    cells = frame[column].to_numpy()
    return cells if cells.dtype.kind == "f" else frame[column].to_numpy(dtype=float, na_value=np.nan)


def code_offsets(cells: np.ndarray, low: int, high: int) -> np.ndarray:
    """(n,) each cell's offset from ``low`` where it is a whole number in [low, high], else an
    offset beyond high - low: an index into a table of :func:`table_size` entries, the codes
    low..high first.

    Each cell is cast to an integer (16 bits when the codes fit: the table then spans every
    16-bit offset) and counts only where the cast is exact (NaN, 2.5 and values out of the
    integers' range are no code).
    """
    whole_type, offset_type = (np.int16, np.uint16) if short_codes(low, high) else (np.int64, np.uint64)
    with np.errstate(invalid="ignore"):  # NaN and out-of-range values cast to any integer: not exact below
        whole = cells.astype(whole_type)
    inexact = whole != cells
    offset = np.subtract(whole, whole_type(low), out=whole).view(offset_type)  # wraps: below the lowest code is beyond the highest
    if short_codes(low, high):  # not exact: the last offset, no code (a product costs less than a mask or a where)
        return np.bitwise_or(offset, inexact * np.uint16(0xFFFF), out=offset)
    beyond = offset_type(high - low + 1)
    return np.where(inexact, beyond, np.minimum(offset, beyond))


def short_codes(low: int, high: int) -> bool:
    """Whether codes low..high and one more offset fit 16 bits."""
    return -(1 << 15) <= low and high < (1 << 15) - 1


def table_size(low: int, high: int) -> int:
    """Entries of a table indexed by :func:`code_offsets`."""
    return 1 << 16 if short_codes(low, high) else high - low + 2


# Cells looked up a block at a time: at 1e6 rows a column's temporaries (its integer cast, the
# take's intp offsets: 2 to 8 MB) would each be fresh pages to fault in (memory.py's thresholds),
# a block's (256 KiB at most) are reused: ~5.5 ms a column down to ~2 (mostly the result's faults).
LOOKUP_BLOCK = 1 << 15


def code_lookup(cells: np.ndarray, codes: Sequence[int], values: np.ndarray, other: object) -> np.ndarray:
    """(n,) ``values[i]`` where a cell holds ``codes[i]``, ``other`` where it holds none of them
    (blank, another number, not a whole number): a table indexed by each cell's offset from the
    lowest code (:func:`code_offsets`), no search."""
    wanted = np.asarray(codes)
    low, high = int(wanted.min()), int(wanted.max())
    table = np.full(table_size(low, high), other, dtype=values.dtype)
    table[wanted - low] = values
    found = np.empty(len(cells), dtype=values.dtype)
    for start in range(0, len(cells), LOOKUP_BLOCK):  # every offset is in the table: clip changes none
        block = slice(start, start + LOOKUP_BLOCK)
        np.take(table, code_offsets(cells[block], low, high), out=found[block], mode="clip")
    return found


def code_membership(cells: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """(n,) bool: which cells hold one of ``codes`` (as ``isin`` of the codes as floats)."""
    return code_lookup(cells, codes, np.ones(len(codes), dtype=bool), False)
