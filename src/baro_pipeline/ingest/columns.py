"""The export's columns: names in the header, the codebook's expected columns, which hold text, numbers or codes."""

from __future__ import annotations

import difflib
from pathlib import Path
from collections.abc import Mapping

import pandas as pd

from ..edition import Codebook, Question
from ..errors import ExportError


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


def code_columns(codebook: Codebook) -> dict[str, int]:
    """Export columns that hold a question's codes or 0/1 ticks, with the largest value they may hold."""
    ticks = {c: 1 for q in codebook.profile + codebook.questions if q.type == "multi" and q.encoding != "codes" for c in q.columns.values()}
    return ticks | {c: int(max(labels)) for c, labels in coded_columns(codebook).items()}


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
