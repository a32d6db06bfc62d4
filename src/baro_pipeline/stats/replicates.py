"""Jackknife (JK1) variance of raked means with the raking redone in every replicate.

Replicate r drops respondent r (the others' base weights times n/(n-1), a factor the raking
absorbs) and rakes again. Respondents of the same cell with the same base weight give the same
replicate raking, so the raking runs once per distinct (cell, base weight), all of them at once
as the columns of one cell table, warm-started from the full-sample raking. A replicate mean then
needs only its cell factors and the dropped respondent's own values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import WeightingError
from .calibration import CellProblem, cell_problem, rake_cells
from .design import Array, Design
from .variance import MeanEstimates, as_items, sum_by, svymean


def jk1_rake(codes: Sequence[Array], totals: Sequence[Array], base_weights: Array | None, y: Array, *, tol: float = 1e-10, max_iter: int = 1000) -> MeanEstimates:
    """Means of the items (columns of y, NaN = not in the base) with their JK1 standard errors.

    R: ``rake(as.svrepdesign(svydesign(ids = ~1, weights = ~w0), type = "JK1"), ...)`` then
    ``svymean()``: variance (n-1)/n sum over replicates of (mean_r - average of mean_r)^2 (R's
    default ``mse = FALSE``). ``deff`` divides it by the same SRS variance as :func:`svymean`; the
    other fields are those of the full-sample raked weights. Memory: (n, k) replicate means and
    a cell x (distinct cell, base weight) table.
    """
    problem = cell_problem(codes, totals, base_weights)
    full, _, _ = rake_cells(problem, problem.cell_base, tol=tol, max_iter=max_iter)
    factor = full / problem.cell_base
    design = Design(problem.weights(full))
    estimates = svymean(design, y)
    y = np.asarray(as_items(design, y, None, "jk1_rake")[0])
    keys, group = np.unique(np.stack([problem.cell, problem.base_weights]), axis=1, return_inverse=True)
    group = group.reshape(-1)
    dropped_cell, dropped_weight = keys[0].astype(np.intp), keys[1]
    base = np.repeat(problem.cell_base[:, None], len(dropped_cell), axis=1)
    base[dropped_cell, np.arange(len(dropped_cell))] -= dropped_weight
    check_replicate_margins(problem, base, dropped_cell)
    raked, _, _ = rake_cells(problem, base * factor[:, None], tol=tol, max_iter=max_iter, what="replicate raking")
    replicate_factor = np.divide(raked, base, out=np.zeros_like(raked), where=base > 0)  # (G, groups)
    answered = ~np.isnan(y)
    values = np.where(answered, y, 0.0)
    w0 = problem.base_weights[:, None]
    cell_sums, cell_counts = (sum_by(problem.cell, len(base), w0 * a) for a in (values, answered))
    own = replicate_factor[problem.cell, group][:, None] * w0  # the dropped respondent's raked weight
    numerator = (replicate_factor.T @ cell_sums)[group] - own * values
    denominator = (replicate_factor.T @ cell_counts)[group] - own * answered
    replicate_means = numerator / denominator
    n = len(y)
    variance = (n - 1) / n * ((replicate_means - replicate_means.mean(axis=0)) ** 2).sum(axis=0)
    srs_variance = estimates.se**2 / estimates.deff
    return dataclasses.replace(estimates, se=np.sqrt(variance), deff=variance / srs_variance)


def check_replicate_margins(problem: CellProblem, base: np.ndarray, dropped_cell: np.ndarray) -> None:
    """A replicate must keep respondents in every category with a positive target."""
    for j, target in enumerate(problem.targets):
        empty = (problem.margin(j, base) <= 0) & (target[:, None] > 0)
        if empty.any():
            category, replicate = np.argwhere(empty)[0]
            raise WeightingError(
                f"dropping a respondent of cell {problem.cell_codes[dropped_cell[replicate]].tolist()} leaves category "
                f"{category} of calibration variable {j} without respondents: its jackknife replicate cannot be raked",
                where=f"calibration variable {j}, category {category}",
                fix="merge the category with a neighbour (it has a single respondent)",
            )
