"""Tests: Rao-Scott chi-square of a two-way table, differences between domains or samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..errors import EstimationError
from .design import Array, Design, check_codes
from .distributions import norm_sf, t_sf
from .variance import (
    DomainSums,
    Items,
    VarianceLayout,
    as_items,
    degrees_of_freedom,
    influence_values,
    item_sums,
    linearised_variance,
    mean_influence,
    svymean,
    variance_layout,
    variance_matrix,
)

CHISQ_STATISTICS = ("F", "Chisq")
ADJUSTMENTS = ("none", "bonferroni", "holm")  # of the p-values of a family of tests


@dataclass(frozen=True)
class ChisqResult:
    """R's ``svychisq``: ``value`` is the Rao-Scott F (statistic "F", with ``ndf``, ``ddf``) or
    Pearson's X^2 (statistic "Chisq", with ``df``; the p-value is of X^2 / mean design effect).
    Fields that do not apply are NaN.
    """

    statistic: str
    value: float
    ndf: float
    ddf: float
    df: float
    p_value: float
    pearson: float  # Pearson's X^2 of the weighted table scaled to n


@dataclass(frozen=True)
class DifferenceResult:
    """est_a - est_b with its SE, test statistic t, its degrees of freedom (inf: a z test) and the
    two-sided p-value; arrays of shape (k,) for k items."""

    diff: np.ndarray
    se: np.ndarray
    t: np.ndarray
    df: np.ndarray
    p: np.ndarray

    @property
    def z(self) -> np.ndarray:
        """The statistic of a normal test (df = inf)."""
        return self.t


def svychisq(design: Design, a_codes: Array, b_codes: Array, *, statistic: str = "F") -> ChisqResult:
    """Rao-Scott test of independence of two categorical variables (codes 0..K-1 per respondent).

    R: ``svychisq(~a + b, design, statistic = "F")`` (second-order correction: F with d0 and
    d0 (number of PSUs - strata) degrees of freedom) or ``statistic = "Chisq"`` (first order).
    The design effects matrix uses the covariance of the cell proportions with the calibration
    residuals, as R's ``svymean`` of the cell indicators. Levels absent from the sample are left
    out, as R's ``factor()`` does.
    """
    from scipy import stats  # here only: importing it costs a run ~0.5 s (stats/distributions.py)

    if statistic not in CHISQ_STATISTICS:
        raise EstimationError(f"unknown statistic '{statistic}'", where="svychisq", fix=f"use one of {', '.join(CHISQ_STATISTICS)}")
    rows, cols = (observed_levels(np.asarray(c), design.n, name) for c, name in ((a_codes, "a_codes"), (b_codes, "b_codes")))
    nr, nc = rows.max() + 1, cols.max() + 1
    if nr < 2 or nc < 2:
        raise EstimationError("svychisq needs two observed levels of each variable", where="svychisq", fix="test variables that vary")
    cells = np.eye(nr * nc)[rows + nr * cols]  # R's interaction(rows, cols): rows vary fastest
    proportion = svymean(design, cells).estimate
    covariance = variance_matrix(design, influence_values(design, cells))
    n = design.n
    table = n * proportion.reshape(nc, nr).T
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    pearson = float(((table - expected) ** 2 / expected).sum())
    delta = design_effects_matrix(proportion, covariance, nr, nc, n)
    layout = variance_layout(design)
    nu = (layout.n_units if layout.clustered else n) - len(layout.stratum_size)
    if statistic == "F":
        trace = np.trace(delta)
        d0 = trace**2 / np.trace(delta @ delta)
        value = pearson / trace
        return ChisqResult("F", value, d0, d0 * nu, np.nan, float(stats.f.sf(value, d0, d0 * nu)), pearson)
    df = (nr - 1) * (nc - 1)
    return ChisqResult("Chisq", pearson, np.nan, np.nan, float(df), float(stats.chi2.sf(pearson / np.mean(np.diag(delta)), df)), pearson)


def observed_levels(codes: np.ndarray, n: int, name: str) -> np.ndarray:
    check_codes(codes, n, f"svychisq {name}", EstimationError)
    return np.unique(codes, return_inverse=True)[1].reshape(-1)


def design_effects_matrix(proportion: Array, covariance: Array, nr: int, nc: int, n: int) -> Array:
    """R's Delta: the interaction contrasts' design-based covariance over their multinomial one.

    The contrasts are the interaction columns of ~rows * cols, residualised on the main effects,
    over the cells of expand.grid(rows, cols).
    """
    grid_rows, grid_cols = np.arange(nr * nc) % nr, np.arange(nr * nc) // nr
    main = np.column_stack([np.ones(nr * nc), np.eye(nr)[grid_rows][:, 1:], np.eye(nc)[grid_cols][:, 1:]])
    interaction = np.column_stack([(grid_rows == r) & (grid_cols == c) for c in range(1, nc) for r in range(1, nr)]).astype(float)
    contrasts = interaction - main @ np.linalg.lstsq(main, interaction, rcond=None)[0]
    inverse = np.diag(np.divide(1.0, proportion, out=np.zeros_like(proportion), where=proportion != 0))
    multinomial = contrasts.T @ (inverse / n) @ contrasts
    design_based = contrasts.T @ inverse @ covariance @ inverse @ contrasts
    return np.linalg.solve(multinomial, design_based)


def domain_difference(design: Design, y: Items, domain_a: Array, domain_b: Array) -> DifferenceResult:
    """Difference of the means of every item (column of y) between two disjoint domains.

    R: ``svyglm(y ~ I(group == "b"), subset(design, a | b))``, the (negated) slope: its linearised
    SE (the two domains' influence values, calibration residuals included) and t test on
    degf(base) - 1 degrees of freedom. NaN in y: not in the item's base.
    """
    a, b = (np.asarray(x) for x in (domain_a, domain_b))
    if a.shape != (design.n,) or b.shape != (design.n,) or a.dtype != bool or b.dtype != bool:
        raise EstimationError(
            "domains must be boolean arrays, one value per respondent", where="domain_difference", fix="pass masks of the two groups"
        )
    found = pairwise_differences(design, y, np.stack([a, b], axis=1), np.array([[0, 1]]), where="domain_difference")
    return DifferenceResult(*(getattr(found, f)[0] for f in DifferenceResult.__dataclass_fields__))


def pairwise_differences(design: Design, y: Items, domains: Array, pairs: ArrayLike, *, where: str = "pairwise_differences") -> DifferenceResult:
    """Differences of the means of every item between pairs of disjoint domains: for each row
    (a, b) of ``pairs`` (p, 2), the mean of domain column a minus that of b; fields (p, k).

    R: the domains' means with their covariance through the design (``svyby(~y, ~level, design,
    svymean, covmat = TRUE)``, or the coefficients of ``svyglm(y ~ 0 + level)``), then
    ``svycontrast`` of each pair: the SE of a - b counts the covariance that calibration gives
    the two domains. The test is that of :func:`domain_difference` (t on degf(a and b) - 1 df).
    One pass over the data for every domain; the pairs are vectorised over items.
    """
    items, masks = as_items(design, y, domains, where)
    index = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    if masks is None or (index.size and (index.min() < 0 or index.max() >= masks.shape[1])):
        raise EstimationError("pairs must index the columns of the domains", where=where, fix="pass an (n, d) domains matrix and (p, 2) column indexes")
    shared = np.sum(masks[:, index[:, 0]] & masks[:, index[:, 1]], axis=0)
    if np.any(shared):
        raise EstimationError(
            f"the two domains share {int(shared.max())} respondent(s)",
            where=where,
            fix="compare disjoint groups (a difference with an overlapping domain is not a two-group contrast)",
        )
    layout = variance_layout(design)
    return difference_from_sums(layout, item_sums(layout, items, masks), index[:, 0], index[:, 1])


def versus_rest(design: Design, y: Items, domains: Array | None) -> DifferenceResult:
    """Difference of the means of every item between each domain and the rest of the sample;
    fields of shape (d, k) for domains (n, d), which may overlap one another.

    R: for each domain, ``svyglm(y ~ I(domain), subset(design, !is.na(y)))``, the coefficient
    (negated: domain minus rest) and its t test. ``y`` as in :func:`svymean` (a matrix or coded
    items). The sums of each rest are those of the whole sample minus those of its domain: one
    pass over the data for every domain and its rest.
    """
    y, domains = as_items(design, y, domains, "versus_rest")
    if domains is None:
        raise EstimationError("versus_rest needs domains", where="versus_rest", fix="pass an (n, d) boolean matrix of domains")
    d = domains.shape[1]
    layout = variance_layout(design)
    return rest_differences(layout, item_sums(layout, y, np.column_stack([domains, np.ones(design.n, dtype=bool)])), np.arange(d), d)


def rest_differences(layout: VarianceLayout, sums: DomainSums, columns: Array, whole: int) -> DifferenceResult:
    """:func:`versus_rest` of the domains ``columns`` of ``sums`` (on the domain axis), the whole
    sample being domain ``whole``: fields (len(columns), k)."""
    d = len(columns)

    def split(x: Array | None) -> Array | None:
        if x is None or x.ndim == 1:
            return x
        domain = x[..., columns, :]
        return np.concatenate([domain, x[..., [whole], :] - domain], axis=-2)

    # split keeps None where a field is None (uncalibrated designs): each field keeps its type
    rest = DomainSums(**{f: split(getattr(sums, f)) for f in sums.__dataclass_fields__})  # type: ignore[arg-type]
    return difference_from_sums(layout, rest, np.arange(d), d + np.arange(d))


def difference_from_sums(layout: VarianceLayout, sums: DomainSums, a: Array | int, b: Array | int) -> DifferenceResult:
    """Means of domain(s) ``a`` minus those of the disjoint domain(s) ``b`` (indexes on the domain
    axis of ``sums``): linearised SE of the two domains' influence values, calibration residuals
    included, and t test on degf(a and b) - 1 degrees of freedom.
    """
    mean, totals = mean_influence(sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = mean[a] - mean[b]
        se = np.sqrt(np.maximum(linearised_variance(layout, totals.difference(a, b)), 0.0))
        t = diff / se
    df = degrees_of_freedom(layout, sums.count[:, a] + sums.count[:, b]) - 1
    return DifferenceResult(diff, se, t, df, 2 * t_sf(np.abs(t), df))


def independent_difference(est_a: ArrayLike, se_a: ArrayLike, est_b: ArrayLike, se_b: ArrayLike) -> DifferenceResult:
    """Difference of estimates from independent samples (two populations, two editions): SE
    sqrt(se_a^2 + se_b^2), normal test. R: ``svycontrast`` of the two estimates with a block-diagonal
    covariance.
    """
    a, sa, b, sb = (np.asarray(x, dtype=float) for x in (est_a, se_a, est_b, se_b))
    diff, se = a - b, np.sqrt(sa**2 + sb**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return DifferenceResult(diff, se, z, np.full(np.shape(z), np.inf), 2 * norm_sf(np.abs(z)))


def adjusted_p_values(p: ArrayLike, families: ArrayLike, method: str) -> Array:
    """p-values (p, k) adjusted for multiple testing within each family: the rows with the same
    label in ``families`` (p,), one column (item) at a time. NaN (not tested) stays NaN and is not
    counted in its family. ``method``: one of :data:`ADJUSTMENTS`, as R's ``p.adjust`` and
    statsmodels' ``multipletests`` (which takes one family at a time, ~0.1 s a call: too slow for
    a family per breakdown and item, hence these few vectorised lines).
    """
    if method not in ADJUSTMENTS:
        raise EstimationError(f"unknown adjustment '{method}'", where="adjusted_p_values", fix=f"use one of {', '.join(ADJUSTMENTS)}")
    p = np.array(p, dtype=float, ndmin=2)
    if method == "none":
        return p
    labels = np.asarray(families)
    adjusted = np.full_like(p, np.nan)
    for family in np.unique(labels):
        rows = np.flatnonzero(labels == family)
        adjusted[rows] = family_adjusted(p[rows], method)
    return adjusted


def family_adjusted(p: Array, method: str) -> Array:
    """One family's p-values (m, k), each column adjusted over its tested (not NaN) rows:
    Bonferroni m·p; Holm's step-down, the running maximum of (m - i)·p_(i) over the sorted ones."""
    tested = np.sum(~np.isnan(p), axis=0)
    if method == "bonferroni":
        bonferroni: Array = np.minimum(p * tested, 1.0)
        return bonferroni
    order = np.argsort(p, axis=0)  # NaN last: the running maximum carries no NaN into a tested row
    ranked = np.take_along_axis(p, order, axis=0)
    stepped = np.minimum(np.maximum.accumulate((tested - np.arange(len(p))[:, None]) * ranked, axis=0), 1.0)
    adjusted: Array = np.empty_like(p)
    np.put_along_axis(adjusted, order, stepped, axis=0)
    return adjusted
