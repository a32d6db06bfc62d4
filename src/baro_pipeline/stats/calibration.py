"""Calibration of weights to population margins: raking, linear (GREG), bounded raking, trimming.

Every method works on the cell table: respondents are collapsed to the distinct combinations of
the calibration variables (:func:`~baro_pipeline.stats.design.calibration_cells`), the cell totals
of the base weights are calibrated, and each respondent's weight is its base weight times its
cell's factor. All respondents of a cell get the same factor in every one of these methods, so
this is exact and costs one pass over the respondents whatever the number of iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..errors import WeightingError
from .design import Array, Design, calibration_cells, check_codes, margin_model_matrix

# Weights within this relative distance of a trimming bound are on it, not outside.
TRIM_TOLERANCE = 1e-12


@dataclass(frozen=True)
class CalibrationResult:
    """Calibrated weights and how they were reached."""

    weights: np.ndarray
    method: str
    iterations: int
    converged: bool
    max_margin_error: float


@dataclass(frozen=True)
class CellProblem:
    """A calibration problem collapsed to cells: base totals per cell and targets per margin."""

    cell: np.ndarray  # (n,) cell of each respondent
    cell_codes: np.ndarray  # (G, J) category of each cell in each margin
    base_weights: np.ndarray  # (n,)
    cell_base: np.ndarray  # (G,) sum of the base weights of each cell
    targets: tuple[Array, ...]  # J arrays (K_j,): population totals per category

    def margin(self, j: int, cell_totals: np.ndarray) -> np.ndarray:
        """Totals per category of margin j of cell totals (G,), or (G, R): one column per replicate."""
        n_cells = len(self.cell_codes)
        onehot = sparse.csr_array((np.ones(n_cells), (self.cell_codes[:, j], np.arange(n_cells))), shape=(len(self.targets[j]), n_cells))
        margin: Array = onehot @ cell_totals
        return margin

    def margins(self, cell_totals: np.ndarray) -> list[np.ndarray]:
        return [self.margin(j, cell_totals) for j in range(len(self.targets))]

    def margin_error(self, cell_totals: np.ndarray) -> float:
        """Largest |achieved - target| / target over the categories with a positive target."""
        errors = [np.abs(achieved[t > 0].T - t[t > 0]) / t[t > 0] for achieved, t in zip(self.margins(cell_totals), self.targets)]
        return float(max(e.max(initial=0.0) for e in errors))

    def weights(self, cell_totals: np.ndarray) -> np.ndarray:
        """Respondent weights: base weight times the factor of the cell."""
        weights: Array = self.base_weights * (cell_totals / self.cell_base)[self.cell]
        return weights


def cell_problem(codes: Sequence[Array], totals: Sequence[Array], base_weights: Array | None = None) -> CellProblem:
    """Check the inputs of a calibration and collapse them to cells."""
    codes = [np.asarray(c) for c in codes]
    targets = tuple(np.asarray(t, dtype=float) for t in totals)
    if not codes or len(codes) != len(targets):
        raise WeightingError(
            f"{len(codes)} calibration variable(s) but {len(targets)} set(s) of totals",
            where="calibration margins",
            fix="give one array of population totals per calibration variable",
        )
    n = len(codes[0])
    for j, (c, t) in enumerate(zip(codes, targets)):
        check_codes(c, n, f"calibration variable {j}", WeightingError)
        if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise WeightingError(
                f"the totals of calibration variable {j} must be finite and non-negative",
                where=f"calibration variable {j}",
                fix="give one population total (share x n) per category",
            )
        if n and c.max() >= len(t):
            raise WeightingError(
                f"calibration variable {j} has code {c.max()} but only {len(t)} target categories",
                where=f"calibration variable {j}",
                fix="code the categories 0..K-1 in the order of the totals",
            )
    sums = np.array([t.sum() for t in targets])
    if not np.allclose(sums, sums[0], rtol=1e-9, atol=0):
        raise WeightingError(
            f"the margins' totals differ: {', '.join(f'variable {j}: {s:.10g}' for j, s in enumerate(sums))}",
            where="calibration margins",
            fix="scale every margin to the same population size (shares that sum to 1, times n)",
        )
    w0 = np.ones(n) if base_weights is None else np.asarray(base_weights, dtype=float)
    if w0.shape != (n,) or not np.all(np.isfinite(w0)) or np.any(w0 <= 0):
        raise WeightingError(
            "base weights must be one positive, finite number per respondent",
            where="base weights",
            fix="give design weights > 0 (or none for weights of 1)",
        )
    cell, cell_codes = calibration_cells(codes)
    problem = CellProblem(cell, cell_codes, w0, np.bincount(cell, weights=w0), targets)
    check_categories(problem, codes)
    return problem


def check_categories(problem: CellProblem, codes: Sequence[np.ndarray]) -> None:
    """Every category with a positive target needs respondents; one with a zero target, none."""
    for j, t in enumerate(problem.targets):
        counts = np.bincount(codes[j], minlength=len(t))
        for k in np.flatnonzero((t > 0) & (counts == 0)):
            raise WeightingError(
                f"category {k} of calibration variable {j} has a target of {t[k]:.6g} but no respondent",
                where=f"calibration variable {j}, category {k}",
                fix="merge the category with a neighbour in the targets and the codes",
            )
        for k in np.flatnonzero((t == 0) & (counts > 0)):
            raise WeightingError(
                f"category {k} of calibration variable {j} has {counts[k]} respondent(s) but a target of 0",
                where=f"calibration variable {j}, category {k}",
                fix="give the category its population total, or drop those respondents",
            )


def rake_cells(problem: CellProblem, cell_totals: np.ndarray, *, tol: float, max_iter: int, what: str = "raking") -> tuple[np.ndarray, int, float]:
    """Iterative proportional fitting of cell totals (G,) or (G, R) (every column at once) until
    every margin of every column is within ``tol`` (relative) of its targets.
    """
    cell_totals = cell_totals.copy()
    for iteration in range(1, max_iter + 1):
        for j, target in enumerate(problem.targets):
            achieved = problem.margin(j, cell_totals)
            # a category with a zero target has no cell, so its 0/0 factor is never used
            factor = np.divide(target.reshape(-1, *[1] * (achieved.ndim - 1)), achieved, out=np.ones_like(achieved), where=achieved > 0)
            cell_totals *= factor[problem.cell_codes[:, j]]
        error = problem.margin_error(cell_totals)
        if error <= tol:
            return cell_totals, iteration, error
    raise WeightingError(
        f"{what} did not converge in {max_iter} iterations (max relative margin error {error:.3g}, tolerance {tol:.3g})",
        where=what,
        fix="check the targets against the sample (tiny or empty cells), merge sparse categories, or raise max_iter",
    )


def rake(codes: Sequence[Array], totals: Sequence[Array], base_weights: Array | None = None, *, tol: float = 1e-10, max_iter: int = 1000) -> CalibrationResult:
    """Raking (iterative proportional fitting) of the base weights to the margins.

    R: ``survey::rake()``. The cell totals are scaled margin after margin until every margin is
    within ``tol`` (relative) of its targets; the fixed point is unique, so any raking converged
    this far agrees with R's to about ``tol``.
    """
    problem = cell_problem(codes, totals, base_weights)
    cell_totals, iterations, error = rake_cells(problem, problem.cell_base, tol=tol, max_iter=max_iter)
    return CalibrationResult(problem.weights(cell_totals), "raking", iterations, True, error)


def model_totals(problem: CellProblem) -> tuple[np.ndarray, np.ndarray]:
    """Cell model matrix (intercept + dummies) and the population totals of its columns."""
    model, kept = margin_model_matrix(problem.cell_codes)
    population = np.concatenate([[problem.targets[0].sum()], *(t[k] for t, k in zip(problem.targets, kept))])
    return model, population


def calibrate_linear(codes: Sequence[Array], totals: Sequence[Array], base_weights: Array | None = None) -> CalibrationResult:
    """Linear calibration (GREG): w = w0 (1 + x'lambda), closest to w0 in chi-square distance.

    R: ``survey::calibrate(design, ~a + b + ..., population, calfun = "linear")``. One solve of the
    normal equations on the cell table; weights can be negative, as in R.
    """
    problem = cell_problem(codes, totals, base_weights)
    model, population = model_totals(problem)
    normal = model.T @ (problem.cell_base[:, None] * model)
    lam = np.linalg.lstsq(normal, population - model.T @ problem.cell_base, rcond=None)[0]
    cell_totals = problem.cell_base * (1 + model @ lam)
    return CalibrationResult(problem.weights(cell_totals), "linear", 1, True, problem.margin_error(cell_totals))


def check_bounds_feasible(problem: CellProblem, bounds: tuple[float, float]) -> None:
    """Each category's target must lie within [L, U] times its base total, else no g in bounds meets it."""
    low, high = bounds
    if not 0 <= low < 1 < high:
        raise WeightingError(
            f"calibration bounds ({low}, {high}) must satisfy 0 <= L < 1 < U",
            where="bounded raking",
            fix="use bounds such as (0.5, 2) on the ratio w / w0",
        )
    for j, (base, t) in enumerate(zip(problem.margins(problem.cell_base), problem.targets)):
        for k in np.flatnonzero((t < low * base * (1 - 1e-12)) | (t > high * base * (1 + 1e-12))):
            raise WeightingError(
                f"category {k} of calibration variable {j} needs w/w0 = {t[k] / base[k]:.4g} on average "
                f"(target {t[k]:.6g}, base total {base[k]:.6g}), outside the bounds ({low}, {high})",
                where=f"calibration variable {j}, category {k}",
                fix="widen the bounds or merge the category with a neighbour",
            )


def calibrate_raking_bounded(
    codes: Sequence[Array], totals: Sequence[Array], base_weights: Array | None = None, *, bounds: tuple[float, float] = (0.5, 2.0), tol: float = 1e-10, max_iter: int = 1000
) -> CalibrationResult:
    """Raking calibration with bounds on g = w / w0: w = w0 min(max(exp(x'lambda), L), U).

    R: ``survey::calibrate(design, ~a + b + ..., population, calfun = "raking", bounds = c(L, U))``,
    solved like R's ``grake()`` by Newton steps with a generalised inverse. The calibrated weights
    are unique, so they agree with R's whatever the path (R's derivative switches off at
    ``bounds - 1`` on the log scale instead of ``log(bounds)``; it changes the steps, not the end).
    """
    problem = cell_problem(codes, totals, base_weights)
    check_bounds_feasible(problem, bounds)
    low, high = np.log(bounds[0]) if bounds[0] > 0 else -np.inf, np.log(bounds[1])
    model, population = model_totals(problem)
    eta = np.zeros(model.shape[1])
    for iteration in range(1, max_iter + 1):
        x_eta = model @ eta
        free = (x_eta > low) & (x_eta < high)  # cells whose g is not at a bound move with eta
        g = np.exp(np.clip(x_eta, low, high))
        hessian = model.T @ ((problem.cell_base * g * free)[:, None] * model)
        eta = eta + np.linalg.pinv(hessian, rcond=256 * np.finfo(float).eps) @ (population - model.T @ (problem.cell_base * g))
        cell_totals = problem.cell_base * np.exp(np.clip(model @ eta, low, high))
        error = problem.margin_error(cell_totals)
        if error <= tol:
            return CalibrationResult(problem.weights(cell_totals), "raking_bounded", iteration, True, error)
    raise WeightingError(
        f"bounded raking did not meet the margins within bounds {tuple(bounds)} in {max_iter} iterations "
        f"(max relative margin error {error:.3g})",
        where="bounded raking",
        fix="widen the bounds, merge sparse categories, or raise max_iter",
    )


def trim_weights(
    weights: Array, *, lower: float | None = None, upper: float | None = None, strict: bool = False,
    codes: Sequence[Array] | None = None, totals: Sequence[Array] | None = None, max_rounds: int = 10_000
) -> CalibrationResult:
    """Trimming: weights outside [lower, upper] are set to the bound and the amount trimmed is
    shared equally (added) among the weights that were inside, keeping the total. Weights within
    a relative ``TRIM_TOLERANCE`` of a bound count as on it (R compares exactly).

    R: ``survey::trimWeights(design, upper, lower, strict)``. ``strict=False`` makes one pass, as R,
    and may leave weights outside the bounds (``converged`` is then False); ``strict=True`` repeats
    until none is outside. Caps that no set of weights with this total can meet raise
    ``WeightingError``. ``codes`` and ``totals``, when given, measure ``max_margin_error`` (NaN
    otherwise: trimming keeps the total but not the margins).
    """
    w = np.asarray(weights, dtype=float)
    low = -np.inf if lower is None else float(lower)
    high = np.inf if upper is None else float(upper)
    n, total = len(w), w.sum()
    if low > high or high * n < total * (1 - 1e-12) or low * n > total * (1 + 1e-12):
        raise WeightingError(
            f"trimming bounds [{low:.6g}, {high:.6g}] cannot hold {n} weights summing to {total:.6g} "
            f"(mean {total / max(n, 1):.6g})",
            where="trimming",
            fix="choose lower <= mean weight <= upper",
        )
    # A weight equal to a bound to rounding is on it, as R's exact equality: bounds are often
    # quantiles of the weights themselves, and calibration noise must not decide what is trimmed.
    low_cut, high_cut = low - abs(low) * TRIM_TOLERANCE, high + abs(high) * TRIM_TOLERANCE
    rounds = 0
    outside = (w < low_cut) | (w > high_cut)
    while outside.any() and (strict or rounds == 0):
        if rounds == max_rounds:
            raise WeightingError(
                f"strict trimming still had weights outside the bounds after {max_rounds} rounds",
                where="trimming",
                fix="widen the bounds",
            )
        clipped = np.clip(w, low, high)
        clipped[~outside] += (w - clipped).sum() / np.count_nonzero(~outside)
        w, rounds = clipped, rounds + 1
        outside = (w < low_cut) | (w > high_cut)
    if strict:  # what is left beyond a bound is rounding: the bounds hold exactly
        w = np.clip(w, low, high)
    error = np.nan
    if codes is not None and totals is not None:
        problem = cell_problem(codes, totals, w)
        error = problem.margin_error(problem.cell_base)
    return CalibrationResult(w, "trimmed", rounds, not outside.any(), error)


def kish_deff(weights: Array) -> float:
    """Kish's design effect of unequal weights, 1 + cv^2 = n sum(w^2) / sum(w)^2 (efficiency = 1/deff).

    R: ``survey`` has none; it is ``1 + (sd(w) / mean(w))^2`` with the population variance.
    """
    w = np.asarray(weights, dtype=float)
    return float(len(w) * np.dot(w, w) / w.sum() ** 2)


def design_from_calibration(
    result: CalibrationResult, codes: Sequence[Array], base_weights: Array | None = None, calibrated_weights: Array | None = None
) -> Design:
    """The design of calibrated weights, keeping the margins for the variance (R: the design object
    ``rake()`` / ``calibrate()`` / ``trimWeights()`` return, with its ``postStrata``). For trimmed
    weights, ``calibrated_weights`` are the raked weights they were trimmed from: R's variance keeps
    them in its calibration residuals."""
    return Design(
        weights=result.weights,
        calibration_codes=tuple(np.asarray(c) for c in codes),
        calibration=result.method,
        base_weights=None if base_weights is None else np.asarray(base_weights, dtype=float),
        calibrated_weights=calibrated_weights,
    )
