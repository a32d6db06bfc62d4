"""Small exports for tests, written from code (no binary fixture is committed).

:func:`clean_frame` makes N complete interviews that respect a codebook (routing, caps, exclusive
codes, no straight-liner) in the export's shape: codes as numbers, multi questions as 1/0 per
code (blank when not asked), open text as text. :func:`with_multi_encoding` turns it into the
other encodings, and the writers put it in a CSV, Excel or SPSS file. :func:`weighted` turns
kept rows made by hand into the weighting stage's sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from baro_pipeline import audit
from baro_pipeline.audit.slips import candidate_slips
from baro_pipeline.edition import Codebook, Edition, Population, Question, WeightingSettings
from baro_pipeline.estimation.figures import figure_estimates
from baro_pipeline.ingest import coded_columns, slot_columns
from baro_pipeline.routing import condition_mask
from baro_pipeline.validation import QUARANTINE_COLUMNS, RowCounts, Validated
from baro_pipeline.weighting import RAKING, SurveySample, weighted_sample

OPEN_TEXT = "Réponse libre confidentielle"  # the tests check that it never leaves ingest/validation


def clean_frame(codebook: Codebook, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """N complete, valid interviews as an export (binary 1/0 multi encoding)."""
    rng = np.random.default_rng(seed)
    tech = codebook.columns
    start = pd.Timestamp("2025-01-06 09:00") + pd.to_timedelta(rng.integers(0, 10 * 86400, n), unit="s")
    loi = rng.integers(400, 900, n)  # no speeder: the shortest is above 0.5 × the median
    frame = pd.DataFrame(
        {
            tech.id: [f"R{i:04d}" for i in range(1, n + 1)],
            tech.status: codebook.statuses["complete"],
            tech.start: start.strftime("%Y-%m-%d %H:%M:%S"),
            tech.end: (start + pd.to_timedelta(loi, unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
            tech.loi: loi.astype(float),
        }
    )
    for q in codebook.profile + codebook.questions:
        shown = np.ones(n, bool) if q.asked_if is None else condition_mask(frame, codebook, q.asked_if)
        answers = ANSWERS[q.type](q, n, rng)
        frame = frame.assign(**{c: values.where(shown) for c, values in answers.items()})
    return frame


def single_answers(q: Question, n: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    return {q.column: pd.Series(rng.choice(q.all_codes(), n).astype(float))}


def numeric_answers(q: Question, n: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    low, high = q.minimum if q.minimum is not None else 0, q.maximum if q.maximum is not None else 100
    return {q.column: pd.Series(rng.integers(low, high + 1, n).astype(float))}


def grid_answers(q: Question, n: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    codes = np.array(q.all_codes(), dtype=float)
    cells = rng.integers(0, len(codes), (n, len(q.rows)))
    same = (cells == cells[:, :1]).all(axis=1)
    cells[same, -1] = (cells[same, -1] + 1) % len(codes)  # no straight-liner
    return {r.column: pd.Series(codes[cells[:, i]]) for i, r in enumerate(q.rows)}


def multi_answers(q: Question, n: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    """Ticks among non-exclusive codes (1..cap of them), or one exclusive code alone."""
    codes = q.all_codes()
    free = np.array([c not in q.exclusive for c in codes])
    cap = min(q.max_answers or free.sum(), free.sum())
    count = rng.integers(1, cap + 1, n)
    rank = np.argsort(np.argsort(np.where(free, rng.random((n, len(codes))), np.inf), axis=1), axis=1)
    ticked = rank < count[:, None]
    if q.exclusive:
        alone = rng.random(n) < 0.2
        ticked[alone] = np.array(codes) == q.exclusive[0]
    answers = {q.columns[c]: pd.Series(ticked[:, i].astype(float)) for i, c in enumerate(codes)}
    if q.other_text:
        answers[q.other_text] = pd.Series(np.where(rng.random(n) < 0.5, OPEN_TEXT, None), dtype=object)
    return answers


def text_answers(q: Question, n: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    return {q.column: pd.Series(np.full(n, OPEN_TEXT), dtype=object)}


ANSWERS = {"single": single_answers, "numeric": numeric_answers, "grid": grid_answers, "multi": multi_answers, "text": text_answers}


def multi_questions(codebook: Codebook) -> list[Question]:
    return [q for q in codebook.questions if q.type == "multi"]


def with_multi_encoding(frame: pd.DataFrame, codebook: Codebook, encoding: str) -> pd.DataFrame:
    """``"binary"``: 1/0 (as made); ``"blank"``: 1/blank; ``"codes"``: slot columns each holding a ticked code."""
    if encoding == "binary":
        return frame
    out = frame.copy()
    for q in multi_questions(codebook):
        columns = list(q.columns.values())
        if encoding == "blank":
            out[columns] = frame[columns].where(frame[columns] == 1)
            continue
        codes = np.array(q.all_codes(), dtype=float)
        slots = np.sort(np.where(frame[columns].to_numpy() == 1, codes, np.inf), axis=1)
        out = out.drop(columns=columns).assign(**{s: np.where(np.isinf(slots[:, i]), np.nan, slots[:, i]) for i, s in enumerate(slot_columns(q))})
    return out


def codebook_with_encoding(codebook: Codebook, encoding: str) -> Codebook:
    """The codebook reading multi questions as ``binary`` or ``codes``."""
    kind = "codes" if encoding == "codes" else "binary"
    questions = tuple(dataclasses.replace(q, encoding=kind) if q.type == "multi" else q for q in codebook.questions)
    return dataclasses.replace(codebook, questions=questions)


def write_csv(frame: pd.DataFrame, path: Path, delimiter: str = ";", encoding: str = "utf-8-sig") -> Path:
    frame.to_csv(path, sep=delimiter, index=False, encoding=encoding)
    return path


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str = "export") -> Path:
    frame.to_excel(path, sheet_name=sheet, index=False, engine="openpyxl")
    return path


def write_sav(frame: pd.DataFrame, path: Path, codebook: Codebook, labels: dict[str, dict[float, str]] | None = None) -> Path:
    """SPSS file with the codebook's value labels (or ``labels``) on coded columns."""
    text = frame.select_dtypes(exclude="number").columns
    value_labels = {c: v for c, v in (labels or coded_columns(codebook)).items() if c in frame.columns}
    pyreadstat.write_sav(frame.astype({c: object for c in text}).fillna({c: "" for c in text}), str(path), variable_value_labels=value_labels)
    return path




def weighted(frame: pd.DataFrame, population: Population, settings: WeightingSettings = RAKING) -> SurveySample:
    """Kept rows made by hand (nothing excluded or quarantined), weighted as the pipeline's stage does."""
    counts = RowCounts(read=len(frame), kept=len(frame), quarantined=0, excluded={}, flagged={})
    kept = Validated(population.id, frame, pd.DataFrame(columns=list(QUARANTINE_COLUMNS)), counts)
    return weighted_sample(kept, population, settings)


def audited(edition: Edition, samples: Mapping[str, SurveySample]) -> pd.DataFrame:
    """The audit table of an edition's figures on these samples, as the pipeline computes it: the
    estimation stage's figure estimates, then those of the slips they call for, then the audit of them."""
    figure_rows = figure_estimates(audit.figure_specs(edition), edition, samples)
    return audit.audit_edition(edition, figure_rows, figure_estimates(audit.slip_specs(edition, figure_rows), edition, samples))


def every_spec(edition: Edition) -> list[audit.Spec]:
    """Each figure's spec and every slip's, once each: what the audit could ask of the estimation."""
    return list(dict.fromkeys([*audit.figure_specs(edition), *(s.spec for f in edition.figures for s in candidate_slips(f, edition))]))
