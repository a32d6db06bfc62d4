"""A codebook drafted from a real export's metadata (``baro new-edition NEW --from-export FILE``).

An SPSS ``.sav`` says a lot: variable labels, value labels, measurement levels and, when the file
has them, multiple-response sets (pyreadstat's metadata). An Excel export says less: column names
and, when its second row holds them, labels. From either this module drafts one population's
codebook as YAML-ready data: questions, their types, codes and labels, multi-answer blocks
(``Q3_1``, ``Q3_2``… of 0/1 values) and grids (``Q4_r1``, ``Q4_r2``… of one code set).

What the export cannot say is left to a person: a value the export lacks is a ``TODO: …`` value,
a guess it made is a ``review:`` entry (both listed by ``baro validate``; docs/edition-format.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from .edition import TODO, Columns, _ID
from .errors import ExportError, UsageError

EXPORT_FORMATS = (".sav", ".xlsx")
MAX_CODES = 30  # an unlabelled column of whole numbers with at most this many values is coded
# A question column is named like a question number (Q1, QS2, P10b); other coded columns are
# taken for profile (quota) variables (PROFESSION, AGE): a guess the analyst reviews.
QUESTION_NAME = re.compile(r"^[A-Za-z]{1,3}\d+[A-Za-z0-9]*$")
BLOCK_COLUMN = re.compile(r"^(?P<prefix>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*?)_(?P<suffix>[A-Za-z0-9]+)$")
NOT_ANSWER = re.compile(r"ne (sai[st]|se prononce) pas|\bnsp\b|refus|don'?t know|prefer not", re.IGNORECASE)
LABEL_SEPARATOR = " : "  # "question label : code or row label", as SPSS exports of blocks label their columns
OTHER_SUFFIX = "_other"


@dataclass(frozen=True)
class ExportMetadata:
    """One export's cells (numbers where a column holds only numbers) and what it says about them."""

    path: Path
    frame: pd.DataFrame
    labels: Mapping[str, str] = field(default_factory=dict)  # column -> variable label
    value_labels: Mapping[str, Mapping[int, str]] = field(default_factory=dict)  # column -> code -> label
    measures: Mapping[str, str] = field(default_factory=dict)  # column -> nominal | ordinal | scale | unknown
    multi_sets: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # set name -> (label, columns)


@dataclass(frozen=True)
class DraftedCodebook:
    """A codebook as YAML-ready data, the review entries it needs, and the export's facts."""

    data: dict[str, Any]
    review: tuple[dict[str, str], ...]
    complete: int  # complete interviews in the export
    fieldwork: tuple[str, str] | None  # first and last day of the complete interviews


# --------------------------------------------------------------------------------------------
# Reading the metadata
# --------------------------------------------------------------------------------------------


def export_metadata(path: Path) -> ExportMetadata:
    """The metadata of a ``.sav`` or ``.xlsx`` export."""
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise UsageError(f"cannot draft an edition from '{path.name}'", where=str(path), fix="give a respondent-level export as .sav (SPSS) or .xlsx (Excel)")
    if not path.is_file():
        raise UsageError(f"export not found: {path}", fix="give the path of an export file")
    return sav_metadata(path) if suffix == ".sav" else xlsx_metadata(path)


def sav_metadata(path: Path) -> ExportMetadata:
    try:
        frame, meta = pyreadstat.read_sav(str(path))
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ExportError(f"not a readable SPSS .sav file ({exc})", where=str(path), fix="save it again from SPSS as .sav") from None
    dichotomies = {
        name.lstrip("$"): (str(spec.get("label") or ""), tuple(spec["variable_list"]))
        for name, spec in (meta.mr_sets or {}).items()
        if spec.get("type") == "D"
    }
    return ExportMetadata(
        path,
        blanks_as_missing(frame),
        {c: str(label) for c, label in meta.column_names_to_labels.items() if label},
        {c: {int(code): str(label) for code, label in labels.items()} for c, labels in meta.variable_value_labels.items()},
        dict(meta.variable_measure),
        dichotomies,
    )


def xlsx_metadata(path: Path) -> ExportMetadata:
    """The first sheet; its second row is a label row when it holds text above columns of numbers."""
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken workbook
        raise ExportError(f"not a readable Excel workbook ({type(exc).__name__})", where=str(path), fix="save it again from Excel as .xlsx") from None
    frame = blanks_as_missing(frame.set_axis([str(c) for c in frame.columns], axis=1))
    labels: dict[str, str] = {}
    if has_label_row(frame):
        labels = {c: str(v) for c, v in frame.iloc[0].items() if isinstance(v, str) and v.strip()}
        frame = frame.iloc[1:].reset_index(drop=True)
    return ExportMetadata(path, frame.apply(numbers_where_numeric), labels)


def blanks_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.replace(r"^\s*$", np.nan, regex=True)


def numbers_where_numeric(column: pd.Series) -> pd.Series:
    """The column as numbers when every cell it holds is one, else as it is (an empty column: text)."""
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if column.notna().any() and numbers.notna().sum() == column.notna().sum() else column


def has_label_row(frame: pd.DataFrame) -> bool:
    """Row 2 is a label row when it holds text in most columns whose other cells are all numbers."""
    if len(frame) < 2:
        return False
    first, rest = frame.iloc[0], frame.iloc[1:]
    numeric = [c for c in frame.columns if rest[c].notna().any() and pd.to_numeric(rest[c], errors="coerce").notna().sum() == rest[c].notna().sum()]
    texts = sum(isinstance(first[c], str) and pd.isna(pd.to_numeric(first[c], errors="coerce")) for c in numeric)
    return bool(numeric) and texts > len(numeric) / 2


# --------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------


def todo(text: str) -> str:
    return f"{TODO}: {text}"


def is_coded(meta: ExportMetadata, column: str) -> bool:
    """A column of codes (not a count or a length): labelled, declared nominal/ordinal, or few whole numbers."""
    values = meta.frame[column].dropna()
    if not pd.api.types.is_numeric_dtype(meta.frame[column]):
        return False
    if meta.value_labels.get(column) or meta.measures.get(column) in ("nominal", "ordinal"):
        return True
    whole = bool((values == values.round()).all())
    return whole and meta.measures.get(column) != "scale" and values.nunique() <= MAX_CODES


def codes_of(meta: ExportMetadata, columns: list[str]) -> dict[int, str]:
    """The codes the columns' value labels name, and any other value they hold (label to fill in)."""
    labelled: dict[int, str] = {}
    for column in columns:
        labelled.update(meta.value_labels.get(column, {}))
    seen = pd.unique(meta.frame[columns].stack().dropna()) if columns else []
    missing = {int(v): todo("the export has no label for this code") for v in seen if int(v) not in labelled}
    return dict(sorted({**labelled, **missing}.items()))


def block_label(meta: ExportMetadata, columns: list[str]) -> tuple[str | None, list[str | None]]:
    """A block's question label and each column's own label, from labels 'question : part'."""
    labels = [meta.labels.get(c) for c in columns]
    if not all(labels) or not all(LABEL_SEPARATOR in str(label) for label in labels):
        return None, [None] * len(columns)
    common = os.path.commonprefix([str(label) for label in labels])
    cut = common.rfind(LABEL_SEPARATOR)
    if cut <= 0:
        return None, [None] * len(columns)
    return common[:cut], [str(label)[cut + len(LABEL_SEPARATOR) :] for label in labels]


def labelled(entry: dict[str, Any], label: str | None) -> dict[str, Any]:
    """Wording and label: the export's label for both (it has no wording), or a TODO."""
    text = label or todo("the question's wording (the export has no label for it)")
    return {**entry, "wording": text, "label": text}


def split_not_answers(entry: dict[str, Any]) -> list[int]:
    """Move codes labelled like "ne sait pas" to ``not_answers`` (kept in the base); returns them."""
    found = [code for code, label in entry["codes"].items() if NOT_ANSWER.search(label)]
    if found:
        entry["not_answers"] = {code: {"label": entry["codes"].pop(code), "in_base": True} for code in found}
    return found


def single_question(meta: ExportMetadata, column: str, qid: str, profile: bool) -> dict[str, Any]:
    entry = labelled({"id": qid, "type": "single"}, meta.labels.get(column))
    if column != qid or profile:
        entry["column"] = column
    entry["codes"] = codes_of(meta, [column])
    return entry


def other_column(meta: ExportMetadata, column: str) -> str | None:
    """The open-text "autre, précisez" column of a multi code column (``Q3_98`` -> ``Q3_98_other``)."""
    name = column + OTHER_SUFFIX
    return name if name in meta.frame.columns and not pd.api.types.is_numeric_dtype(meta.frame[name]) else None


def multi_question(meta: ExportMetadata, qid: str, columns: list[str], codes: list[int], label: str | None, parts: list[str | None]) -> dict[str, Any]:
    entry = labelled({"id": qid, "type": "multi"}, label)
    entry["codes"] = {code: part or todo("the export has no label for this code") for code, part in zip(codes, parts)}
    overrides = {code: column for code, column in zip(codes, columns) if column != f"{qid}_{code}"}
    if overrides:
        entry["columns"] = overrides
    ticks = meta.frame[columns].eq(1).to_numpy()
    alone = [code for i, code in enumerate(codes) if ticks[:, i].any() and not (ticks[ticks[:, i]].sum(axis=1) > 1).any()]
    if alone:
        entry["exclusive"] = alone
    others = [name for name in (other_column(meta, c) for c in columns) if name]
    if others:
        entry["other_text"] = others[0]
    return entry


def grid_question(meta: ExportMetadata, qid: str, columns: list[str], suffixes: list[str], label: str | None, parts: list[str | None]) -> dict[str, Any]:
    entry = labelled({"id": qid, "type": "grid"}, label)
    rows = []
    for column, suffix, part in zip(columns, suffixes, parts):
        row = {"id": suffix if _ID.match(suffix) else f"r{suffix}", "label": part or todo("the export has no label for this row")}
        if column != f"{qid}_{row['id']}":
            row["column"] = column
        rows.append(row)
    entry["rows"] = rows
    entry["codes"] = codes_of(meta, columns)
    return entry


def is_dichotomy(meta: ExportMetadata, columns: list[str]) -> bool:
    return bool(meta.frame[columns].stack().dropna().isin([0, 1]).all()) and all(pd.api.types.is_numeric_dtype(meta.frame[c]) for c in columns)


def blocks(meta: ExportMetadata, columns: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """Runs of adjacent columns ``<prefix>_<suffix>`` sharing one prefix: (prefix, columns, suffixes).

    A column alone is a block of one (prefix: its name, suffix: "").
    """
    runs: list[tuple[str, list[str], list[str]]] = []
    for column in columns:
        match = BLOCK_COLUMN.match(column)
        prefix, suffix = (match["prefix"], match["suffix"]) if match else (column, "")
        if suffix and runs and runs[-1][0] == prefix and runs[-1][2][-1]:
            runs[-1][1].append(column)
            runs[-1][2].append(suffix)
        else:
            runs.append((prefix, [column], [suffix]))
    # A block of one column is a column of its own, named in full.
    return [run if len(run[1]) > 1 else (run[1][0], run[1], [""]) for run in runs]


def question_id(name: str) -> str:
    """A codebook id from an export name: letters, digits and '_', starting with a letter."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name.lstrip("$"))
    return ident if _ID.match(ident) else f"v_{ident}"


def drafted_questions(meta: ExportMetadata, technical: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(profile variables, questions) in the export's column order."""
    in_sets = {c for _, columns in meta.multi_sets.values() for c in columns}
    others = {c + OTHER_SUFFIX for c in meta.frame.columns if other_column(meta, c)}
    columns = [c for c in meta.frame.columns if c not in technical | in_sets | others]
    profile: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for name, (label, set_columns) in meta.multi_sets.items():
        codes = list(range(1, len(set_columns) + 1))
        parts = [meta.labels.get(c) for c in set_columns]
        questions.append(multi_question(meta, question_id(name), list(set_columns), codes, label or None, parts))
    for prefix, members, suffixes in blocks(meta, columns):
        if len(members) > 1 and is_dichotomy(meta, members) and all(s.isdigit() for s in suffixes):
            questions.append(multi_question(meta, question_id(prefix), members, [int(s) for s in suffixes], *block_label(meta, members)))
        elif len(members) > 1 and all(is_coded(meta, c) for c in members):
            questions.append(grid_question(meta, question_id(prefix), members, suffixes, *block_label(meta, members)))
        else:
            for column in members:
                target = questions if QUESTION_NAME.match(column) or not is_coded(meta, column) else profile
                target.append(column_question(meta, column, profile=target is profile))
    return profile, questions


def column_question(meta: ExportMetadata, column: str, profile: bool) -> dict[str, Any]:
    """One column's question: single when coded, else numeric (numbers) or text."""
    qid = column.lower() if profile and _ID.match(column.lower()) else question_id(column)
    if is_coded(meta, column):
        return single_question(meta, column, qid, profile)
    values = meta.frame[column].dropna()
    if pd.api.types.is_numeric_dtype(meta.frame[column]):
        entry = labelled({"id": qid, "type": "numeric"}, meta.labels.get(column))
        bounds = {"min": float(values.min()), "max": float(values.max())} if len(values) else {}
        return {**entry, **({"column": column} if column != qid else {}), **bounds}
    return {**labelled({"id": qid, "type": "text"}, meta.labels.get(column)), **({"column": column} if column != qid else {})}


# --------------------------------------------------------------------------------------------
# What the export cannot say: review entries
# --------------------------------------------------------------------------------------------


def answer_columns_of(entry: dict[str, Any]) -> list[str]:
    if entry["type"] == "multi":
        return [entry.get("columns", {}).get(code, f"{entry['id']}_{code}") for code in list(entry["codes"]) + list(entry.get("not_answers", {}))]
    if entry["type"] == "grid":
        return [row.get("column", f"{entry['id']}_{row['id']}") for row in entry["rows"]]
    return [entry.get("column", entry["id"])]


def routing_review(meta: ExportMetadata, complete: pd.Series, entry: dict[str, Any], file: str) -> dict[str, str] | None:
    """A question blank for some complete interviews is routed (or optional): ``required: false`` and a review entry."""
    blank = meta.frame.loc[complete, answer_columns_of(entry)].isna().all(axis=1)
    if not blank.any():
        return None
    entry["required"] = False
    return {
        "file": file,
        "key": f"questions.{entry['id']}.asked_if",
        "note": f"blank for {int(blank.sum())} of {int(complete.sum())} complete interviews: if it is routed, write its asked_if "
        "(the export cannot say who was asked) and remove required: false",
    }


def drafted_codebook(meta: ExportMetadata, population: str) -> DraftedCodebook:
    """One population's codebook drafted from its export, with what to review."""
    file = f"codebook_{population}.yaml"
    tech = Columns()
    names = {role: getattr(tech, role) for role in Columns.__dataclass_fields__}
    review = [
        {"file": file, "key": f"columns.{role}", "note": f"the export has no column '{name}': name the export's {role} column"}
        for role, name in names.items()
        if name not in meta.frame.columns
    ]
    status = meta.frame[tech.status].astype(str) if tech.status in meta.frame.columns else pd.Series("complete", index=meta.frame.index)
    statuses = {"complete": "complete", "incomplete": "incomplete", "screened_out": "screened_out"}
    unknown = sorted(set(status.dropna()) - set(statuses.values()))
    if unknown:
        review.append({"file": file, "key": "statuses", "note": f"the export's statuses {unknown} are not complete / incomplete / screened_out: map them"})
    complete = status.eq(statuses["complete"])
    profile, questions = drafted_questions(meta, set(names.values()))
    for section, entry in [("profile", p) for p in profile] + [("questions", q) for q in questions]:
        if "codes" in entry and split_not_answers(entry):
            review.append({"file": file, "key": f"{section}.{entry['id']}.not_answers", "note": "codes labelled like 'ne sait pas' taken for not-answers kept in the base: check in_base"})
        if entry.get("exclusive"):
            review.append({"file": file, "key": f"{section}.{entry['id']}.exclusive", "note": f"codes {entry['exclusive']} are never ticked with another in the export: check they must stand alone"})
    review += [r for r in (routing_review(meta, complete, q, file) for q in questions) if r]
    review.append({"file": file, "key": "profile", "note": f"coded columns not named like a question ({', '.join(p['column'] for p in profile) or 'none'}) were taken for profile (quota) variables: move a question back under questions:"})
    review.append({"file": file, "key": "questions", "note": "types and codes come from the export; each wording is the export's label: write the wording as asked; add nets, max_answers and derived indicators"})
    data = {"population": population, "columns": names, "statuses": statuses, "profile": profile, "questions": questions}
    return DraftedCodebook(data, tuple(review), int(complete.sum()), interview_days(meta, complete, tech.start))


def interview_days(meta: ExportMetadata, complete: pd.Series, column: str) -> tuple[str, str] | None:
    """The first and last day of the complete interviews' start times, if the export has them."""
    if column not in meta.frame.columns:
        return None
    starts = pd.to_datetime(meta.frame.loc[complete, column], errors="coerce").dropna()
    return (starts.min().date().isoformat(), starts.max().date().isoformat()) if len(starts) else None
