"""The text table every reader returns, and the issue rows (quarantine reasons) of the stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExportError

ROW = "_row"  # 1-based data row number in the file (header not counted), for the quarantine
ISSUE_COLUMNS = ("row", "respondent_id", "column", "value", "rule", "reason")
# A file is refused as unreadable when its unreadable rows (or cells) pass this share of its rows,
# and this many: beyond that it is not the codebook's export (labels for codes, garbage, another
# file), and quarantining it cell by cell would only cost memory.
UNREADABLE_SHARE = 0.5
UNREADABLE_MIN = 100


@dataclass(frozen=True, eq=False)
class TextTable:
    """An export as text cells (blank = ""), with ``_row``, before conversion; a clean CSV's codes as numbers already."""

    frame: pd.DataFrame
    issues: pd.DataFrame  # rows that could not be split into the header's fields (not in ``frame``), cells over the size limit
    encoding: str | None = None
    delimiter: str | None = None
    bom: bool = False
    sheet: str | None = None
    line_end: str | None = None
    numbers: Mapping[str, pa.ChunkedArray] = field(default_factory=dict)  # columns read as whole numbers (null = blank), not in ``frame``


def no_data_row(path: Path, detail: str = "") -> ExportError:
    return ExportError(f"the export has a header but no data row{detail}", where=str(path), fix="export the interviews again (every status)")


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


def too_unreadable(bad: int, rows: int) -> bool:
    """Whether ``bad`` unreadable rows or cells among ``rows`` rows mean the file is not the codebook's export."""
    return bad > max(UNREADABLE_MIN, UNREADABLE_SHARE * rows)


def cell_text(column: pd.Series) -> pd.Series:
    """Cells as text ("" when blank); whole numbers without a trailing ".0"."""
    if not pd.api.types.is_numeric_dtype(column):
        return column.astype(str).where(column.notna(), "")
    values = column.to_numpy(dtype=float)
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    text = np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str), values.astype(str))
    return pd.Series(np.where(np.isnan(values), "", text), index=column.index, dtype="str")


def stripped(column: pd.Series) -> pd.Series:
    """Text without surrounding spaces (pandas' ``str.strip``: Arrow's ``utf8_trim_whitespace``); NaN when blank.

    Blanked by Arrow's ``if_else``, where there is a blank (ids, statuses and dates have none): pandas'
    ``where`` on Arrow strings costs ~10 times more on a column of mostly blanks (open texts)."""
    text = pc.utf8_trim_whitespace(pa.chunked_array(pa.array(column.astype("str"))))
    blank = pc.equal(text, "")
    if pc.any(blank).as_py():
        text = pc.if_else(blank, pa.scalar(None, text.type), text)
    return pd.Series(pd.array(text, dtype="str"), index=column.index, name=column.name)
