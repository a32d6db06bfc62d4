"""Excel and SPSS values as the text cells every reader returns, written by Arrow column by column.

The cells are those :func:`table.cell_text` writes (blank = "", whole numbers without ".0"),
as Arrow strings like the CSV reader's: numbers become text in C, not cell by cell in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EXACT = 2**53  # whole floats below this are written as integers, as cell_text does
SMALL = 1000
SMALL_TEXTS = pa.array([*map(str, range(SMALL)), ""], pa.string())  # the text of each small whole number, then of a blank


def number_cells(values: np.ndarray) -> pa.Array:
    """Floats as text cells: NaN blank, whole numbers as integers (codes: nearly every cell), the others
    (812.5, inf, 1e+20) as numpy writes them."""
    blank = np.isnan(values)
    if (blank | ((values >= 0) & (values < SMALL) & (values == np.round(values)))).all():
        # a column of codes: each cell's text looked up, faster than Arrow writes numbers
        return SMALL_TEXTS.take(pa.array(np.where(blank, SMALL, values).astype(np.int32)))
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < EXACT)
    text = pc.cast(pa.array(np.where(whole, values, 0).astype(np.int64), mask=~whole), pa.string())
    other = ~(whole | blank)
    if other.any():
        text = pc.replace_with_mask(text, pa.array(other), pa.array(values[other].astype(str), pa.string()))
    return pc.fill_null(text, "")


def value_cells(values: Sequence[object], blanks: frozenset[str] = frozenset()) -> pa.Array:
    """A column of cell values (int, float, str, None, dates…) as text cells; the texts of ``blanks`` blank.

    Arrow types the column in C; a column it cannot type as one kind (codes beside texts, dates)
    is written value by value with :func:`value_text`.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([value_text(v, blanks) for v in values], pa.string())
    if pa.types.is_floating(array.type) or (pa.types.is_integer(array.type) and exact(array)):
        return number_cells(array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    if pa.types.is_integer(array.type):
        return pc.fill_null(pc.cast(array, pa.string()), "")
    if pa.types.is_string(array.type):
        if blanks:
            array = pc.if_else(pc.is_in(array, value_set=pa.array(sorted(blanks), pa.string())), "", array)
        return pc.fill_null(array, "")
    if pa.types.is_null(array.type):
        return pa.array([""] * len(array), pa.string())
    return pa.array([value_text(v, blanks) for v in values], pa.string())


def exact(integers: pa.Array) -> bool:
    """Whether whole numbers are all exact as floats."""
    bounds = pc.min_max(integers).as_py()
    return bounds["min"] is None or (-EXACT < bounds["min"] and bounds["max"] < EXACT)


def value_text(value: object, blanks: frozenset[str] = frozenset()) -> str:
    """One cell value as text: None blank, a whole float as an integer, anything else as ``str``."""
    if value is None or (isinstance(value, str) and value in blanks):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < EXACT:
        return str(int(value))
    return str(value)


def text_frame(columns: Mapping[str, pa.Array]) -> pd.DataFrame:
    """Text cells as a frame of Arrow strings, as the CSV reader's (no copy to pandas' own strings)."""
    table = pa.table(dict(columns))
    return table.to_pandas(types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)
