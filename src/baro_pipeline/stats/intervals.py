"""Confidence intervals of proportions from design-based estimates, as R's ``svyciprop``.

Every method is vectorised over arrays of estimates. ``df`` are the degrees of freedom of the t
quantiles (R: ``degf(design)``, n - 1 for ``ids = ~1``; ``MeanEstimates.df``). ``wilson`` is not
in R: the Wilson score interval on Kish's effective sample size (normal quantile), as
``statsmodels.stats.proportion.proportion_confint(p n_eff, n_eff, method="wilson")``.

At p = 0 or 1 the design-based SE is 0 and the SE-based methods (logit, likelihood, xlogit,
asin, mean) return the point [p, p]; ``beta`` falls back on Kish's n_eff (Clopper-Pearson from 0
or to 1) and ``wilson`` gives its usual non-degenerate interval: prefer those two at 0 % and 100 %.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ..errors import EstimationError
from .design import Array, Design
from .distributions import norm_isf, t_isf
from .coded import AnswerCounts
from .variance import Items, MeanEstimates, class_answer_counts, is_coded, variance_layout

INTERVAL_METHODS = ("logit", "likelihood", "xlogit", "beta", "asin", "mean", "wilson")

# R's MASS-style profile of the glm: at most this many steps each side, each of zmax/5 SEs.
PROFILE_STEPS = 9


# R's glm.control(): IRLS stops when the deviance changes by less than this (relative).
GLM_EPSILON = 1e-8
GLM_MAXIT = 25


@dataclass(frozen=True)
class SvycipropTerms:
    """What R's ``svyciprop`` takes from the design beyond the estimate and its SE.

    R fits ``svyglm(y ~ 1, family = quasibinomial)`` on the design (or its ``subset()``), with
    prior weights w / mean(w): ``logit`` and ``likelihood`` start from that glm's IRLS coefficient
    (not exactly logit(p)), ``likelihood`` scales the sandwich variance by the glm's model-based
    information (from IRLS weights one iteration behind) and profiles its deviance over the
    dispersion, ``beta`` corrects n_eff by ``nrow(design) - 1`` degrees of freedom. Those depend
    on which rows R keeps: a calibrated design's subset keeps every row (weight 0 outside),
    another design's subset drops them, and the glm drops rows with a missing answer. Every
    field broadcasts with the estimates.
    """

    design_rows: np.ndarray  # R: nrow(design)
    glm_rows: np.ndarray  # rows of the glm's model frame
    deviance_scale: np.ndarray  # sum of prior weights / dispersion: z^2 = 2 deviance_scale KL(p || mu)
    information: np.ndarray  # R: 1 / naive.cov of the intercept
    coefficient: np.ndarray  # R: the glm's IRLS intercept


def full_design_terms(p: Array, n: Array) -> SvycipropTerms:
    """Terms of a base that is the whole design with no missing answer (n respondents),
    taking the glm's IRLS to convergence."""
    n = np.asarray(n, dtype=float)
    return SvycipropTerms(design_rows=n, glm_rows=n, deviance_scale=n - 1, information=n * p * (1 - p), coefficient=special.logit(p))


def svyciprop_terms(
    design: Design, estimates: MeanEstimates, y: Items, domains: Array | None = None, answers: AnswerCounts | None = None
) -> SvycipropTerms:
    """The terms of ``svyciprop`` for the 0/1 items of ``estimates = svymean(design, y, domains)``.

    R equivalent of a base: ``subset(design, domain & !is.na(y))``. A calibrated design keeps
    every row (weight 0 outside the base), so R rescales the glm's prior weights to W = w N / W_b;
    another design keeps the base's n_b rows: W = w n_b / W_b. The glm's dispersion
    (``summary.svyglm``: svyvar of Pearson residuals about its fit mu) is
    n_b / (n_b - 1) p (1 - p) / (mu (1 - mu)). The glm's first IRLS step depends on each
    respondent's W, so each domain (a loop over a handful) costs an elementwise pass over
    n x (distinct bases among the items) and their sums per item; for coded items
    (:class:`CodedItems`) on a design whose weights fall in few classes (raking from equal
    design weights), a pass over the domain's classes instead of the respondents (``answers``:
    their :func:`class_answer_counts` when the caller has counted them).
    """
    n_b, w_b, p = (np.atleast_2d(a) for a in (estimates.n, estimates.n_weighted, estimates.estimate))
    answered, domain_answers = answer_counts(design, y, domains, answers)
    if design.calibration != "none":  # R's subset() keeps every row of a calibrated design
        rows = np.full(n_b.shape, float(design.n))
        glm_rows, deviance_scale = np.broadcast_to(answered, n_b.shape), rows * (n_b - 1) / n_b
    else:
        rows, glm_rows, deviance_scale = n_b, n_b, n_b - 1
    information, coefficient = np.empty_like(p), np.empty_like(p)
    with np.errstate(divide="ignore", invalid="ignore"):  # empty bases and p = 0 or 1 give NaN
        for j, (weights, ones, zeros) in enumerate(domain_answers):
            first = first_irls_step(weights, rows[j] / w_b[j], ones, zeros)
            information[j], coefficient[j] = quasibinomial_irls(first, p[j], rows[j])
        # Pearson residuals are taken about the glm's fit, not p: their variance is p(1-p) / (fit (1 - fit))
        fitted = special.expit(coefficient)
        deviance_scale = deviance_scale * fitted * (1 - fitted) / (p * (1 - p))
    terms = (rows, glm_rows, deviance_scale, information, coefficient)
    return SvycipropTerms(*(np.reshape(t, np.shape(estimates.n)) for t in terms))


def answer_counts(
    design: Design, y: Items, domains: Array | None, answers: AnswerCounts | None = None
) -> tuple[np.ndarray, Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Each item's base size over the design (k,), and per domain (weights, ones, zeros): the
    respondents' weights (0 outside the domain) and (n, k) marks of their answers 1 and 0 or, for
    coded items on a design whose weights fall in few classes, the weights and counts of the
    classes that have rows in the domain.
    """
    layout = variance_layout(design)
    if is_coded(y) and layout.classes is not None:
        check_binary([item.table for item in y])
        counts = class_answer_counts(layout, y, domains) if answers is None else answers
        weights = layout.classes.kinds[:, 1]
        return counts.answered, ((weights[classes], ones, zeros) for classes, ones, zeros in counts.domains())
    y = np.column_stack([item.dense() for item in y]) if is_coded(y) else np.asarray(y, dtype=float).reshape(design.n, -1)
    check_binary([y])
    in_domain = np.ones((design.n, 1), dtype=bool) if domains is None else np.asarray(domains)
    ones, zeros = (y == 1).astype(float), (y == 0).astype(float)
    return (~np.isnan(y)).sum(axis=0), ((design.weights * in_domain[:, j], ones, zeros) for j in range(in_domain.shape[1]))


def check_binary(tables: Sequence[np.ndarray]) -> None:
    if any(np.any((t != 0) & (t != 1) & ~np.isnan(t)) for t in tables):
        raise EstimationError("svyciprop terms need 0/1 items", where="svyciprop_terms", fix="pass indicators (NaN = not in the base)")


def first_irls_step(weights: Array, scales: Array, ones: Array, zeros: Array) -> Array:
    """Sums over each item's base of R's first IRLS step from mu_i = (W_i y_i + 0.5) / (W_i + 1):
    working weight x working response, working weight, and the deviance at the start; shape (3, k).

    The prior weights of item l are W = weights x scales[l] (0 outside the domain); ``ones`` and
    ``zeros`` (n, k) mark its answers 1 and 0. Terms are computed once per distinct scale (items
    with the same base share one), and each item sums those of its own scale only, in numpy's
    own loops (einsum): the sums, to the last bit, do not depend on the machine's cores. A BLAS
    product would sum every scale for every item, on threads that cost more than the sums at a
    barometer's size and whose number changes the last bits.
    """
    levels, which = np.unique(scales, return_inverse=True)
    prior = weights[:, None] * levels
    steps: Array = np.zeros((3, len(scales)))
    for answer, indicator in ((1.0, ones), (0.0, zeros)):
        mu = (prior * answer + 0.5) / (prior + 1)
        working = prior * mu * (1 - mu)
        response = special.logit(mu) + (answer - mu) / (mu * (1 - mu))
        deviance = -2 * prior * np.log(np.abs(1 - answer - mu))  # -2 W log(mu) for a 1, log(1 - mu) for a 0
        terms = np.stack([working * response, working, deviance], axis=1)  # (n, 3, levels)
        for level in range(len(levels)):
            items = np.flatnonzero(which.reshape(-1) == level)
            steps[:, items] += np.einsum("nk,nt->tk", indicator[:, items], terms[:, :, level])
    return steps


def quasibinomial_irls(first: Array, p: Array, prior_total: Array) -> tuple[Array, Array]:
    """R's ``glm.fit(y ~ 1, weights = W, family = quasibinomial)`` for every 0/1 item at once, from
    its first step (:func:`first_irls_step`): its model-based information sum(W mu (1 - mu)) with
    the weights of its last iteration, and its intercept. After the first step every mu is equal,
    so a step needs only p and sum(W) = ``prior_total``; R stops when the deviance changes by
    less than ``GLM_EPSILON`` (relative).
    """
    information, coefficient, deviance_before = first[1], first[0] / first[1], first[2]
    done = np.zeros(coefficient.shape, dtype=bool)
    for _ in range(GLM_MAXIT):
        deviance = -2 * prior_total * (special.xlogy(p, special.expit(coefficient)) + special.xlogy(1 - p, special.expit(-coefficient)))
        done |= np.abs(deviance - deviance_before) / (np.abs(deviance) + 0.1) < GLM_EPSILON
        if done.all():
            break
        mu = special.expit(coefficient)
        information = np.where(done, information, prior_total * mu * (1 - mu))
        coefficient = np.where(done, coefficient, coefficient + (p - mu) / (mu * (1 - mu)))
        deviance_before = deviance
    return information, coefficient


def proportion_ci(
    estimate: ArrayLike,
    se: ArrayLike,
    *,
    n: ArrayLike,
    n_eff: ArrayLike | None = None,
    df: ArrayLike | None = None,
    method: str = "logit",
    level: float,
    terms: SvycipropTerms | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper confidence limits of proportions.

    R: ``svyciprop(~y, design, method, level)`` with ``df`` (default n - 1). ``logit`` and
    ``xlogit`` are Wald intervals on the logit scale (R's ``logit`` takes the glm's IRLS
    coefficient, ``xlogit`` the mean: identical here); ``likelihood`` profiles the quasibinomial
    deviance as R does (grid, interpolating spline and all; ``terms`` from
    :func:`svyciprop_terms`, default: the base is the whole design); ``beta`` is Korn-Graubard's
    Clopper-Pearson with n_eff = p(1-p)/se^2; ``asin`` a Wald interval on asin(sqrt p) (clipped to
    [0, pi/2] where R wraps around); ``mean`` p +- t se; ``wilson`` needs ``n_eff``. ``level`` has no
    default (R's is 0.95): it is the run's, from the edition's ``Significance`` policy.
    """
    if method not in INTERVAL_METHODS:
        raise EstimationError(f"unknown interval method '{method}'", where="proportion_ci", fix=f"use one of {', '.join(INTERVAL_METHODS)}")
    if not 0 < level < 1:
        raise EstimationError(f"confidence level {level} is not between 0 and 1", where="proportion_ci", fix="use e.g. 0.95")
    p, se, n = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, se, n)))
    df = n - 1 if df is None else np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "wilson":
            if n_eff is None:
                raise EstimationError("the Wilson interval needs n_eff", where="proportion_ci", fix="pass n_eff=estimates.n_eff")
            return wilson(p, np.broadcast_to(np.asarray(n_eff, dtype=float), p.shape), alpha)
        if method == "beta":
            rows = n if terms is None else np.broadcast_to(terms.design_rows, p.shape)
            return korn_graubard(p, se, df, rows, n_eff, alpha)
        t = t_isf(alpha / 2, df)
        if method == "mean":
            low, high = p - t * se, p + t * se
        elif method == "asin":
            centre, half = np.arcsin(np.sqrt(p)), t * se / (2 * np.sqrt(p * (1 - p)))
            low, high = np.sin(np.clip(centre - half, 0, np.pi / 2)) ** 2, np.sin(np.clip(centre + half, 0, np.pi / 2)) ** 2
        elif method == "likelihood":
            low, high = profile_likelihood(p, se, df, full_design_terms(p, n) if terms is None else terms, alpha)
        else:  # R's logit: the glm's coefficient and sandwich SE at its fit; xlogit: the mean's delta method
            centre = special.logit(p) if terms is None or method == "xlogit" else np.broadcast_to(terms.coefficient, p.shape)
            fitted = special.expit(centre)
            half = t * se / (fitted * (1 - fitted))
            low, high = special.expit(centre - half), special.expit(centre + half)
    degenerate = (se == 0) | (p == 0) | (p == 1)
    return np.where(degenerate, p, low), np.where(degenerate, p, high)


def wilson(p: Array, n_eff: Array, alpha: float) -> tuple[Array, Array]:
    """Wilson score interval on n_eff (normal quantile)."""
    z2 = norm_isf(alpha / 2) ** 2
    centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
    half = np.sqrt(z2) / (1 + z2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2))
    return centre - half, centre + half


def korn_graubard(p: Array, se: Array, df: Array, design_rows: Array, n_eff: ArrayLike | None, alpha: float) -> tuple[Array, Array]:
    """R's ``beta`` method: Clopper-Pearson with n_eff = p(1-p)/se^2, rescaled by
    (t quantile at nrow(design) - 1 df / t quantile at df)^2. At p = 0 or 1 (se = 0) Kish's n_eff
    replaces it; without it, or where se = 0 inside (0, 1), the interval is the point p.
    """
    from scipy import stats  # here only: importing it costs a run ~0.5 s (stats/distributions.py)

    effective = p * (1 - p) / se**2
    if n_eff is not None:
        effective = np.where((p > 0) & (p < 1), effective, np.broadcast_to(np.asarray(n_eff, dtype=float), p.shape))
    effective = effective * (stats.t.ppf(alpha / 2, design_rows - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    low = np.where(p > 0, stats.beta.ppf(alpha / 2, effective * p, effective * (1 - p) + 1), 0.0)
    high = np.where(p < 1, stats.beta.ppf(1 - alpha / 2, effective * p + 1, effective * (1 - p)), 1.0)
    point = ~np.isfinite(effective) | (effective <= 0)
    return np.where(point, p, low), np.where(point, p, high)


# --------------------------------------------------------------------------------------------
# R's "likelihood" method: confint.svyglm(method = "likelihood") on svyglm(y ~ 1, quasibinomial)
# --------------------------------------------------------------------------------------------


def profile_likelihood(p: Array, se: Array, df: Array, terms: SvycipropTerms, alpha: float) -> tuple[Array, Array]:
    """R's profile-likelihood interval of the intercept of the quasibinomial glm, back to p.

    As ``MASSprofile_glm`` and ``confint_profile``: the signed root z(b) of the scaled deviance
    difference is computed on a grid b0 + s zmax/5 SE (s = +-1..9, stopping once |z| >= zmax), an
    FMM spline through it is evaluated at 3 x (points) equally spaced b, and the cut-offs
    +-t sqrt(lambda) are interpolated linearly in the inverse; lambda = sandwich / model-based
    variance of the intercept. Where the grid does not reach a cut-off (R returns NA) the exact
    root of z(b) is used.
    """
    from scipy import stats  # here only: importing it costs a run ~0.5 s (stats/distributions.py)

    shape = p.shape
    p, se, df, glm_rows, scale, information, b0 = (
        np.broadcast_to(a, shape).ravel()
        for a in (p, se, df, terms.glm_rows, terms.deviance_scale, terms.information, terms.coefficient)
    )
    fitted = special.expit(b0)
    se_b = se / (fitted * (1 - fitted))  # the glm's sandwich SE of its intercept
    lam = se_b**2 * information  # R: cov.unscaled / naive.cov
    unscaled = stats.norm.cdf(stats.t.ppf(alpha / 2, df) * np.sqrt(lam))  # R: 2 alpha of MASSprofile_glm
    cutoff = np.stack([stats.norm.ppf(unscaled), stats.norm.isf(unscaled)], axis=1)
    # R: sqrt(qf(alpha, 1, rows - 1, lower = FALSE)), the same as a t quantile; scipy's F is inexact so far out
    zmax = stats.t.isf(unscaled / 4, glm_rows - 1)
    steps = np.arange(1, PROFILE_STEPS + 1) * (zmax / 5 * se_b)[:, None]
    grid = np.concatenate([b0[:, None] - steps[:, ::-1], b0[:, None], b0[:, None] + steps], axis=1)
    z = signed_root(p[:, None], fitted[:, None], grid, scale[:, None])
    # R takes steps while |z| of the previous one is below zmax: keep up to the first at or beyond it
    reached = np.abs(z) >= zmax[:, None]
    up = np.minimum(np.argmax(reached[:, PROFILE_STEPS + 1 :], axis=1) + 1, PROFILE_STEPS)
    up = np.where(reached[:, PROFILE_STEPS + 1 :].any(axis=1), up, PROFILE_STEPS)
    down_reached = reached[:, PROFILE_STEPS - 1 :: -1]
    down = np.where(down_reached.any(axis=1), np.argmax(down_reached, axis=1) + 1, PROFILE_STEPS)
    limits = np.full((len(p), 2), np.nan)
    valid = np.isfinite(b0) & (se_b > 0)
    for lo, hi in sorted({(a, b) for a, b in zip(down[valid], up[valid])}):  # a few grid shapes, not items
        rows = np.flatnonzero(valid & (down == lo) & (up == hi))
        keep = slice(PROFILE_STEPS - lo, PROFILE_STEPS + 1 + hi)
        limits[rows] = spline_inverse(grid[rows, keep], z[rows, keep], cutoff[rows])
    missing = valid[:, None] & np.isnan(limits)
    if missing.any():
        exact = exact_root(p, fitted, b0, se_b, scale, cutoff)
        limits = np.where(missing, exact, limits)
    return special.expit(limits[:, 0]).reshape(shape), special.expit(limits[:, 1]).reshape(shape)


def signed_root(p: Array, fitted: Array, b: Array, scale: Array) -> Array:
    """sign(b - b0) sqrt(2 scale (KL(p || expit(b)) - KL(p || fitted))): R's profile statistic for a
    0/1 item, whose quasibinomial deviance is 2 (sum of prior weights) KL(p || mu) + constant.
    """
    def cross_entropy(mu: Array) -> Array:
        entropy: Array = -special.xlogy(p, mu) - special.xlogy(1 - p, 1 - mu)
        return entropy

    increase = cross_entropy(special.expit(b)) - cross_entropy(fitted)
    root: Array = np.sign(b - special.logit(fitted)) * np.sqrt(np.maximum(2 * scale * increase, 0.0))
    return root


def spline_inverse(x: Array, y: Array, cutoff: Array) -> Array:
    """R's ``approx(spline(x, y)$y, spline(x, y)$x, xout = cutoff)`` row by row (x increasing)."""
    n_out = 3 * x.shape[1]
    xout = np.linspace(x[:, :1], x[:, -1:], n_out, axis=1)[:, :, 0]
    yout = fmm_evaluate(x, y, fmm_coefficients(x, y), xout)
    order = np.argsort(yout, axis=1, kind="stable")  # approx() sorts by its x
    ys, xs = np.take_along_axis(yout, order, axis=1), np.take_along_axis(xout, order, axis=1)
    result = np.empty_like(cutoff)
    rows = np.arange(len(x))
    for side in range(cutoff.shape[1]):
        c = cutoff[:, side]
        j = np.clip((ys < c[:, None]).sum(axis=1) - 1, 0, n_out - 2)
        y0, y1, x0, x1 = ys[rows, j], ys[rows, j + 1], xs[rows, j], xs[rows, j + 1]
        inside = (c >= ys[:, 0]) & (c <= ys[:, -1])
        result[:, side] = np.where(inside, x0 + (x1 - x0) * ((c - y0) / (y1 - y0)), np.nan)
    return result


def fmm_coefficients(x: Array, y: Array) -> tuple[Array, Array, Array]:
    """Coefficients (b, c, d) of R's ``spline(method = "fmm")`` (Forsythe, Malcolm and Moler: end
    conditions from cubics through the first and last four points), row by row; the loops run
    over the knots.
    """
    n = x.shape[1]
    b, c, d = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    d[:, 0] = x[:, 1] - x[:, 0]
    c[:, 1] = (y[:, 1] - y[:, 0]) / d[:, 0]
    for i in range(1, n - 1):
        d[:, i] = x[:, i + 1] - x[:, i]
        b[:, i] = 2 * (d[:, i - 1] + d[:, i])
        c[:, i + 1] = (y[:, i + 1] - y[:, i]) / d[:, i]
        c[:, i] = c[:, i + 1] - c[:, i]
    b[:, 0], b[:, n - 1] = -d[:, 0], -d[:, n - 2]
    c[:, 0] = c[:, n - 1] = 0.0
    if n > 3:
        c0 = c[:, 2] / (x[:, 3] - x[:, 1]) - c[:, 1] / (x[:, 2] - x[:, 0])
        cn = c[:, n - 2] / (x[:, n - 1] - x[:, n - 3]) - c[:, n - 3] / (x[:, n - 2] - x[:, n - 4])
        c[:, 0] = c0 * d[:, 0] * d[:, 0] / (x[:, 3] - x[:, 0])
        c[:, n - 1] = -cn * d[:, n - 2] * d[:, n - 2] / (x[:, n - 1] - x[:, n - 4])
    for i in range(1, n):  # elimination
        t = d[:, i - 1] / b[:, i - 1]
        b[:, i] -= t * d[:, i - 1]
        c[:, i] -= t * c[:, i - 1]
    c[:, n - 1] /= b[:, n - 1]
    for i in range(n - 2, -1, -1):  # back substitution
        c[:, i] = (c[:, i] - d[:, i] * c[:, i + 1]) / b[:, i]
    b[:, n - 1] = (y[:, n - 1] - y[:, n - 2]) / d[:, n - 2] + d[:, n - 2] * (c[:, n - 2] + 2 * c[:, n - 1])
    for i in range(n - 1):
        b[:, i] = (y[:, i + 1] - y[:, i]) / d[:, i] - d[:, i] * (c[:, i + 1] + 2 * c[:, i])
        d[:, i] = (c[:, i + 1] - c[:, i]) / d[:, i]
        c[:, i] *= 3
    c[:, n - 1] *= 3
    d[:, n - 1] = d[:, n - 2]
    return b, c, d


def fmm_evaluate(x: Array, y: Array, coefficients: tuple[Array, Array, Array], u: Array) -> Array:
    """R's ``spline_eval``: the cubic of the knot interval [x_i, x_i+1] holding each u."""
    b, c, d = coefficients
    i = np.clip(np.sum(x[:, None, :] <= u[:, :, None], axis=2) - 1, 0, x.shape[1] - 1)
    dx = u - np.take_along_axis(x, i, axis=1)

    def pick(a: Array) -> Array:
        return np.take_along_axis(a, i, axis=1)

    values: Array = pick(y) + dx * (pick(b) + dx * (pick(c) + dx * pick(d)))
    return values


def exact_root(p: Array, fitted: Array, b0: Array, se_b: Array, scale: Array, cutoff: Array) -> Array:
    """The b where the signed root reaches each cut-off, by bisection (both sides at once)."""
    low = np.stack([b0 - 50 * se_b - 50, b0], axis=1)
    high = np.stack([b0, b0 + 50 * se_b + 50], axis=1)
    for _ in range(200):
        mid = (low + high) / 2
        above = signed_root(p[:, None], fitted[:, None], mid, scale[:, None]) > cutoff
        high, low = np.where(above, mid, high), np.where(above, low, mid)
    root: Array = (low + high) / 2
    return root
