"""Writing the exports: the edition's seed, the output folder's checks and the CSV, xlsx and sav writers."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyreadstat

from ..edition import Codebook, Edition
from ..errors import UsageError
from ..ingest import coded_columns
from .draw import check_respondents, export_frame, interview_roles
from .load import load_model

FORMATS = ("csv", "xlsx", "sav")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet, less the header row
CSV_SLICE_ROWS = 100_000


def default_seed(edition: Edition) -> int:
    """The edition's own seed: its id when it is a number (2025 -> 2025), else the id's CRC-32.

    Each edition draws other interviews, so that a copied edition's trend is sampling noise, not
    zeros; the same edition always writes the same bytes.
    """
    return int(edition.id) if edition.id.isdigit() else zlib.crc32(edition.id.encode("utf-8"))


def write_exports(edition: Edition, *, out: Path, respondents: int | None = None, seed: int | None = None, fmt: str = "csv") -> tuple[Path, ...]:
    """Write ``<out>/<population>.<fmt>`` for each population; returns the files written.

    ``respondents`` is the number of complete interviews validation keeps (default: each
    population's sample size); incomplete, screened-out and quarantined interviews come on top.
    ``seed`` defaults to the edition's own (:func:`default_seed`).
    """
    seed = default_seed(edition) if seed is None else seed
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", fix=f"use one of {', '.join(FORMATS)}")
    if respondents is not None:
        check_respondents(respondents, edition)
    model = load_model(edition)
    out = Path(out)
    for pid, population in edition.populations.items():
        check_no_other_export(out, pid, fmt)
        rows = len(interview_roles(respondents or population.sample_size, model.populations[pid].rates, edition.quality)[0])
        if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
            raise UsageError(f"{rows} interviews of population '{pid}' do not fit in an Excel sheet ({XLSX_MAX_ROWS} rows at most)", fix="use --format csv or sav")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for pid, population in edition.populations.items():
        frame = export_frame(edition, population, model.populations[pid], model.file, respondents or population.sample_size, seed)
        paths.append(written(frame, out / f"{pid}.{fmt}", population.codebook))
        del frame  # one population in memory at a time
    return tuple(paths)


def check_no_other_export(out: Path, population: str, fmt: str) -> None:
    """A population has one export: another format beside the new one would make ingest refuse both."""
    others = sorted(p.name for p in out.glob(f"{population}.*") if p.suffix.lower().lstrip(".") in FORMATS and p.suffix.lower() != f".{fmt}")
    if others:
        raise UsageError(
            f"{out} already holds {', '.join(others)}: a {fmt} export beside it would give population '{population}' two exports",
            fix=f"remove {', '.join(others)} first, or write to another folder with --out",
        )


def written(frame: pd.DataFrame, path: Path, book: Codebook) -> Path:
    """Write to a temporary file, then move it into place: a failed write leaves no half export."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        WRITERS[path.suffix.lstrip(".")](frame, tmp, book)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """``;``-separated UTF-8 with a BOM, unquoted (open texts hold no ``;``, quote or line break).

    Written by Arrow in slices of rows, so that only one slice is ever converted at a time.
    """
    options = pv.WriteOptions(include_header=False, delimiter=";", quoting_style="none")
    with open(path, "wb") as sink:
        sink.write(("\ufeff" + ";".join(frame.columns) + "\n").encode("utf-8"))
        for start in range(0, len(frame), CSV_SLICE_ROWS):
            pv.write_csv(pa.Table.from_pandas(frame.iloc[start : start + CSV_SLICE_ROWS], preserve_index=False), sink, options)


def write_xlsx(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """One sheet named after the population, column names on row 1."""
    frame.to_excel(path, sheet_name=book.population, index=False, engine="openpyxl")


def write_sav(frame: pd.DataFrame, path: Path, book: Codebook) -> None:
    """SPSS with the codebook's value labels on coded columns and question labels on every column."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    data = frame.astype({c: "float64" for c in frame.columns if c not in text}).astype({c: object for c in text}).fillna({c: "" for c in text})
    # arg-type: pyreadstat annotates column_labels list[str | None], which a list[str] is not (list is invariant); it only reads them.
    labels = column_labels(book, list(frame.columns))
    pyreadstat.write_sav(data, str(path), column_labels=labels, variable_value_labels=coded_columns(book))  # type: ignore[arg-type]


def column_labels(book: Codebook, columns: list[str]) -> list[str]:
    """Each column's variable label: the question's label, with the code or row it holds."""
    labels = {book.columns.id: "Identifiant répondant", book.columns.status: "Statut de l'interview", book.columns.start: "Début", book.columns.end: "Fin", book.columns.loi: "Durée (secondes)"}
    for q in book.profile + book.questions:
        if q.type == "multi":
            labels.update({q.columns[c]: f"{q.label} : {q.code_label(c)}" for c in q.all_codes()})
        elif q.type == "grid":
            labels.update({r.column: f"{q.label} : {r.label}" for r in q.rows})
        elif q.column:
            labels[q.column] = q.label
        if q.other_text:
            labels[q.other_text] = f"{q.label} : autre, précisez"
    return [labels.get(c, c)[:255] for c in columns]


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "sav": write_sav}
