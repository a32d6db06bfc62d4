"""Who was asked what: the codebook's routing (``asked_if``) and conditions applied to a frame of answers.

The codebook says who is asked each question and what a condition (a base, a derived term)
means; these functions apply it to respondents, vectorised. Validation, estimation and the
synthetic exports read the routing from here, not from each other.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .edition import Codebook, Condition, Question


def condition_mask(frame: pd.DataFrame, codebook: Codebook, condition: Condition) -> np.ndarray:
    """Which respondents meet an edition condition (routing, base, derived term), vectorised.

    ``in`` on a multi question means one of those codes ticked; a blank answer (not asked) is
    False, so is a respondent not asked.
    """
    if condition.all:
        return np.logical_and.reduce([condition_mask(frame, codebook, part) for part in condition.all])
    if condition.any:
        return np.logical_or.reduce([condition_mask(frame, codebook, part) for part in condition.any])
    q = codebook.question(str(condition.question))  # a condition of one question names it (the loader checks)
    if q.type == "multi":
        return np.asarray(ticked(frame, [q.columns[c] for c in condition.codes]).any(axis=1))
    column = next(r.column for r in q.rows if r.id == condition.row) if q.type == "grid" else q.single_column
    # numpy's comparisons against a few codes: pandas' isin hashes every cell, several times slower
    return np.isin(frame[column].to_numpy(), np.array(condition.codes, dtype=float))


def asked(frame: pd.DataFrame, codebook: Codebook, q: Question) -> np.ndarray:
    """Who was asked the question (everyone when it has no routing)."""
    return np.ones(len(frame), bool) if q.asked_if is None else condition_mask(frame, codebook, q.asked_if)


def answer_columns(q: Question) -> tuple[str, ...]:
    """Columns of the normalised frame that hold the question's answers (not its "autre" text)."""
    return tuple(c for c in q.export_columns() if c != q.other_text)


def ticked(frame: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """Which of these 0/1 tick columns hold a 1 (respondents × columns; a blank is not a tick)."""
    return np.column_stack([frame[c].to_numpy() == 1 for c in columns])
