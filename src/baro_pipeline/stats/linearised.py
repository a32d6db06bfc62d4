"""Means of many items over many domains with linearised (Taylor) standard errors, as R's survey.

The influence value of a domain mean for respondent i is z_i = b_i (y_i - ybar) / W, with b_i = 1
when i is in the base (domain and answered) and W the base's weight. A calibrated design replaces
z by its residual r = z - x_c'beta on the calibration model (x_c the row of i's calibration cell):
unweighted least squares for raking (R's raking sweeps), least squares weighted by the base
weights for ``calibrate()``. With u_i = w_i r_i, R's ``svyrecvar`` for ``ids = ~1`` (one
stratum, no fpc) gives n/(n-1) sum (u_i - ubar)^2; strata, clusters and fpc give the usual
ultimate-cluster sum over strata of (1 - f_h) m_h/(m_h - 1) sum over PSUs (U - Ubar_h)^2.

Nothing here loops over respondents or items. The data are read once, in row blocks sorted by
calibration cell, and reduced to sums per (cell or stratum) x domain x item by sparse indicator
products; the regression on the calibration model needs only those sums projected on the model
(its normal equations are solved once for all items and domains), and the variance is assembled
from them by expanding sum (w (z - x'beta))^2. :func:`influence_values` materialises u instead
(for a covariance matrix of a few columns, as svychisq needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EstimationError
from .coded import Items, checked_coded, is_coded, item_sums
from .design import Array, Design
from .layout import VarianceLayout, sum_by, variance_layout
from .sums import DomainSums, domain_sums

DEFF_TYPES = ("replace", "without_replacement")


@dataclass(frozen=True)
class MeanEstimates:
    """Means with their linearised SE; every field has shape (k,), or (d, k) with domains."""

    estimate: np.ndarray
    se: np.ndarray
    deff: np.ndarray  # R: deff = "replace" (or TRUE with deff="without_replacement")
    n: np.ndarray  # unweighted respondents in the base (domain and answered, weight > 0)
    n_weighted: np.ndarray  # sum of weights in the base
    n_eff: np.ndarray  # Kish: (sum w)^2 / sum w^2 over the base
    se_kish: np.ndarray  # sqrt(s2_w / n_eff): p(1-p)/n_eff for 0/1 items (weighted SRS with Kish n_eff)
    df: np.ndarray  # R: degf() of the base, the t quantiles' degrees of freedom


@dataclass(frozen=True)
class InfluenceTotals:
    """Sums of the influence values z of estimates (trailing shape (d, k)), enough for their
    variance: ``unit`` sum of w z per unit, ``unit_square`` sum of w^2 z^2 per unit (ids = ~1),
    ``fit`` sum of (least-squares weight) z x, ``cross`` sum of w^2 z x per unit (ids = ~1).

    All but ``unit_square`` are linear in z. For estimates whose influence values never overlap
    (means of disjoint domains), a difference subtracts the linear sums and adds ``unit_square``.
    """

    unit: np.ndarray
    unit_square: np.ndarray
    fit: np.ndarray
    cross: np.ndarray | None

    def difference(self, a: Array | int, b: Array | int) -> InfluenceTotals:
        """Totals of estimate(s) a minus estimate(s) b (axis -2: domains), for disjoint domains."""

        def linear(x: Array) -> Array:
            return x[..., a, :] - x[..., b, :]

        return InfluenceTotals(
            unit=linear(self.unit),
            unit_square=self.unit_square[..., a, :] + self.unit_square[..., b, :],
            fit=linear(self.fit),
            cross=None if self.cross is None else linear(self.cross),
        )


def mean_influence(sums: DomainSums) -> tuple[np.ndarray, InfluenceTotals]:
    """The (shifted) domain means and the sums of their influence values z = b (y - ybar) / W."""
    weight = sums.weight.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums.total.sum(axis=0) / weight
        totals = InfluenceTotals(
            unit=(sums.total - mean * sums.weight) / weight,
            unit_square=(sums.square_w2 - 2 * mean * sums.total_w2 + mean**2 * sums.weight2) / weight**2,
            fit=(sums.fit_y - mean * sums.fit_m) / weight,
            cross=None if sums.cross_y is None or sums.cross_m is None else (sums.cross_y - mean * sums.cross_m) / weight,
        )
    return mean, totals


def stratified(layout: VarianceLayout, second: np.ndarray, first_paired: np.ndarray) -> np.ndarray:
    """Sum over strata of (1 - f_h) m_h/(m_h - 1) (sum U U' - (sum U)(sum U)'/m_h), from per-stratum
    second moments and paired first moments of the PSU totals U.
    """
    shape = (-1,) + (1,) * (second.ndim - 1)
    centred = second - first_paired / layout.stratum_size.reshape(shape)
    return np.tensordot(layout.stratum_factor, centred, axes=1)


def linearised_variance(layout: VarianceLayout, totals: InfluenceTotals) -> np.ndarray:
    """Variance of estimates from the sums of their influence values, calibration residuals included.

    R: ``survey:::svyrecvar`` with the design's ``postStrata`` (raking sweeps or ``calibrate()``'s QR).
    With beta = (X'LX)^+ fit and u = w z - V x'beta (V the fitted weights, :func:`residual_weights`):
    per unit, sum u = unit - (sum V x)'beta and sum u^2 = unit_square - 2 cross'beta + beta'(sum V^2 x x')beta.
    """
    beta = np.tensordot(layout.fit_inverse, totals.fit, axes=1)
    first = totals.unit - np.tensordot(layout.unit_weight_model, beta, axes=1)
    if layout.clustered:  # units are PSUs: their totals are known
        return stratified(
            layout, sum_by(layout.unit_stratum, len(layout.stratum_size), first**2), sum_by(layout.unit_stratum, len(layout.stratum_size), first) ** 2
        )
    second = totals.unit_square
    if layout.calibrated and totals.cross is not None:
        second = (
            second
            - 2 * np.einsum("up...,p...->u...", totals.cross, beta)
            + np.einsum("upq,p...,q...->u...", layout.unit_weight2_model, beta, beta, optimize=True)
        )
    return stratified(layout, second, first**2)


def degrees_of_freedom(layout: VarianceLayout, count: np.ndarray) -> np.ndarray:
    """R: ``degf()`` of the base: PSUs with respondents in it minus strata with respondents in it."""
    in_unit = count > 0
    n_strata = sum_by(layout.unit_stratum, len(layout.stratum_size), in_unit.astype(float)) > 0
    psus = in_unit.sum(axis=0) if layout.clustered else count.sum(axis=0)
    degrees: Array = (psus - n_strata.sum(axis=0)).astype(float)
    return degrees


def as_items(design: Design, y: Items, domains: Array | None, where: str = "svymean") -> tuple[Items, Array | None]:
    """y as an (n, k) float matrix (or checked coded items) and domains as an (n, d) bool matrix,
    checked against the design.
    """
    if is_coded(y):
        items: Items = checked_coded(design, y, where)
    else:
        matrix = np.asarray(y, dtype=float)
        items = matrix = matrix[:, None] if matrix.ndim == 1 else matrix
        if matrix.ndim != 2 or len(matrix) != design.n:
            raise EstimationError(
                f"items have shape {matrix.shape}, the design {design.n} respondents",
                where=where,
                fix="pass one row per respondent of the design, one column per item (NaN = not in the item's base)",
            )
    if domains is not None:
        domains = np.asarray(domains)
        if domains.dtype != bool or domains.ndim != 2 or len(domains) != design.n:
            raise EstimationError(
                f"domains must be an (n, d) boolean matrix, got dtype {domains.dtype} and shape {domains.shape}",
                where=where,
                fix="pass one column per breakdown level, True for its respondents",
            )
    return items, domains


def svymean(design: Design, y: Items, domains: Array | None = None, *, deff: str = "replace") -> MeanEstimates:
    """Weighted means of every item (column of y) in every domain, with linearised SEs.

    R: ``svymean(~y, design, deff = "replace")`` for each item, ``svyby(~y, ~by, design, svymean)``
    for domains. NaN marks a respondent outside the item's base (routed, not asked) and is treated
    as R's ``subset()``: the respondent stays in the design with a zero influence value, and so do
    respondents outside a domain. ``y`` is an (n, k) matrix or a list of :class:`CodedItems`
    (the same numbers, summed as counts per state: much faster for many shares). ``deff="without_replacement"`` is R's ``deff = TRUE``.
    Empty bases give NaN estimates.
    """
    if deff not in DEFF_TYPES:
        raise EstimationError(f"unknown deff '{deff}'", where="svymean", fix=f"use one of {', '.join(DEFF_TYPES)}")
    y, domains = as_items(design, y, domains)
    layout = variance_layout(design)
    result = domain_means(layout, item_sums(layout, y, domains), deff)
    return squeezed(result) if domains is None else result


def domain_means(layout: VarianceLayout, sums: DomainSums, deff: str = "replace") -> MeanEstimates:
    """:func:`svymean` of the items and domains whose sums are ``sums`` (fields (d, k)): what
    several estimates of the same domains share (R: the same ``svyby`` on the same design)."""
    mean, totals = mean_influence(sums)
    count = sums.count.sum(axis=0)
    weight = sums.weight.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.maximum(sums.square.sum(axis=0) / weight - mean**2, 0.0)  # sum w (y - ybar)^2 / W
        variance = np.maximum(linearised_variance(layout, totals), 0.0)
        # R: svyvar() (s2 n/(n-1)) over the base divided by n: the variance under simple random sampling
        srs = s2 / (count - 1) * ((1 - count / weight) if deff == "without_replacement" else 1.0)
        n_eff = weight**2 / sums.weight2.sum(axis=0)
        result = MeanEstimates(
            estimate=sums.shift + mean,
            se=np.sqrt(variance),
            deff=variance / srs,
            n=count,
            n_weighted=weight,
            n_eff=n_eff,
            se_kish=np.sqrt(s2 / n_eff),
            df=degrees_of_freedom(layout, sums.count),
        )
    return result


def squeezed(estimates: MeanEstimates) -> MeanEstimates:
    """Drop the domain axis of estimates over the whole sample."""
    return MeanEstimates(**{f: getattr(estimates, f)[0] for f in estimates.__dataclass_fields__})


def influence_values(design: Design, y: Array) -> Array:
    """The influence values u = w z - V x'beta of the means of complete items, shape (n, k)
    (V = w but after trimming: :func:`residual_weights`).

    R: ``attr(svymean(~y, design, influence = TRUE), "influence")`` after the calibration residuals
    ``svyrecvar`` takes. Materialises an (n, k) matrix: for a few columns (svychisq's cells).
    """
    y = np.asarray(as_items(design, y, None, "influence_values")[0])
    if np.isnan(y).any():
        raise EstimationError(
            "influence values need complete items (no NaN)",
            where="influence_values",
            fix="code missing answers as a category of their own",
        )
    layout = variance_layout(design)
    sums = domain_sums(layout, y, None)
    mean, totals = mean_influence(sums)
    beta = np.tensordot(layout.fit_inverse, totals.fit[:, 0], axes=1)
    fitted = (layout.model @ beta)[layout.cell]
    z = (y - sums.shift - mean[0]) / sums.weight.sum(axis=0)[0]
    influence: Array = layout.weights[:, None] * z - layout.fitted_weights[:, None] * fitted
    return influence


def variance_matrix(design: Design, influence: np.ndarray) -> np.ndarray:
    """Covariance matrix (k, k) of estimates with influence values u (n, k) (calibration residuals
    already taken). R: ``survey:::svyrecvar`` (ultimate clusters, strata, fpc).
    """
    layout = variance_layout(design)
    n_strata = len(layout.stratum_size)
    if layout.clustered:
        psu, psu_stratum = sum_by(layout.unit, layout.n_units, influence), layout.unit_stratum
    else:  # every respondent is a PSU; units are the strata
        psu, psu_stratum = influence, layout.unit
    first = sum_by(psu_stratum, n_strata, psu)
    second = np.stack([psu[psu_stratum == h].T @ psu[psu_stratum == h] for h in range(n_strata)])
    return stratified(layout, second, first[:, :, None] * first[:, None, :])
