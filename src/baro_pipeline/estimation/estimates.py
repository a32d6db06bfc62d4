"""Estimates of an item matrix: share or mean, SE (linearised or JK1), interval, MOE and deff."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..edition import EstimationSettings, Thresholds
from ..errors import EstimationError
from ..significance import Significance
from ..stats.coded import AnswerCounts
from ..stats.distributions import t_isf
from ..stats import CodedItems, Design, DomainSums, MeanEstimates, domain_means, jk1_rake, proportion_ci, svyciprop_terms, svymean, variance_layout


ESTIMATE_COLUMNS = (
    "n", "n_weighted", "n_eff", "estimate", "se", "se_method", "se_kish", "ci_low", "ci_high",
    "ci_method", "level", "moe_pts", "deff", "pct", "small_base", "suppressed",
)
# Withheld when the base is under the suppression threshold (n, n_weighted and n_eff are kept).
SUPPRESSED_COLUMNS = ("estimate", "se", "se_kish", "ci_low", "ci_high", "moe_pts", "deff", "pct")
MEAN_CI_METHOD = "t"  # mean ± t·se
GLM_INTERVALS = ("logit", "likelihood", "beta")  # methods that take terms of svyciprop's glm
# se_method of each calibration of stats.Design: Taylor linearisation with the calibration residuals.
SE_METHODS = {
    "none": "linearised",
    "raking": "linearised (raking)",
    "linear": "linearised (linear calibration)",
    "raking_bounded": "linearised (bounded raking)",
    "trimmed": "linearised (raking, trimmed)",
}
ROUNDING_EPSILON = 1e-9  # 76.49999999997 (float noise of 0.765 × 100) rounds as 76.5
JK1_METHOD = "jk1 (raking redone in each replicate)"


def published_round(values_pct: np.ndarray, rounding: str = "half_up") -> np.ndarray:
    """Percentages rounded as a publication prints them (NaN stays NaN).

    ``half_up``: to the nearest whole number, halves up (76.5 -> 77, 12.5 -> 13; not numpy's
    rounding to even); ``down``: floor (76.9 -> 76). A tiny epsilon absorbs float noise
    (0.765 × 100 = 76.49999999999999 counts as 76.5; 0.29 × 100 = 28.999999999999996 as 29).
    """
    shift = {"half_up": 0.5, "down": 0.0}
    if rounding not in shift:
        raise EstimationError(f"unknown rounding '{rounding}'", fix="use 'half_up' or 'down' (estimation.rounding in edition.yaml)")
    return np.floor(np.asarray(values_pct, dtype=float) + shift[rounding] + ROUNDING_EPSILON)


def mean_interval(estimate: np.ndarray, se: np.ndarray, df: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean ± t·se (R: ``confint(svymean(~y, design), df = degf(design))``)."""
    half = t_isf((1 - level) / 2, df) * se
    return estimate - half, estimate + half


def intervals(
    design: Design, found: MeanEstimates, values, domains: np.ndarray | None, mean_items: np.ndarray, significance: Significance,
    answers: AnswerCounts | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits at the edition's level: its method for shares (R: ``svyciprop(~y, design, method, level)``,
    on each item's base and domain), mean ± t·se for the ``mean_items`` (k,); both on the base's
    degrees of freedom. Limits never cross the estimate: where the SE is all but 0 (a calibration
    margin) back-transformed limits can land an ulp on the wrong side.
    """
    shares = np.where(mean_items, np.nan, found.estimate)
    terms = svyciprop_terms(design, found, shares_only(values, mean_items), domains, answers) if significance.interval in GLM_INTERVALS else None
    low, high = proportion_ci(
        shares, found.se, n=found.n, n_eff=found.n_eff, df=found.df, method=significance.interval, level=significance.level, terms=terms
    )
    mean_low, mean_high = mean_interval(found.estimate, found.se, found.df, significance.level)
    low, high = np.where(mean_items, mean_low, low), np.where(mean_items, mean_high, high)
    return np.minimum(low, found.estimate), np.maximum(high, found.estimate)


def shares_only(values, mean_items: np.ndarray):
    """The items (a matrix or coded items) with the means taken out of every base (all NaN)."""
    if isinstance(values, np.ndarray):
        return np.where(mean_items, np.nan, values)
    cuts = np.cumsum([0] + [c.table.shape[1] for c in values])
    return [CodedItems(c.state, np.where(mean_items[a:b], np.nan, c.table)) for c, a, b in zip(values, cuts[:-1], cuts[1:])]


def se_method(design: Design, settings: EstimationSettings) -> str:
    """How the SEs were computed, for the ``se_method`` column."""
    return JK1_METHOD if settings.variance == "jk1" else SE_METHODS[design.calibration]


def replicate_estimates(design: Design, values, domains: np.ndarray | None) -> MeanEstimates:
    """Means with JK1 jackknife SEs, the raking redone in every replicate (``variance: jk1``).

    R: ``rake(as.svrepdesign(svydesign(ids = ~1, weights = ~w0), type = "JK1"), ...)`` then
    ``svymean`` / ``svyby``. A domain's mean is its items' mean with NaN outside the domain (the
    same ratio in every replicate), so the d domains are d × k columns of one :func:`jk1_rake`;
    the margins are the raked totals of the design. n replicates of an (n, d k) matrix: for a
    barometer's thousand respondents, not for a tracker's million.
    """
    if design.calibration != "raking":
        raise EstimationError(
            f"variance jk1 re-rakes every replicate, but these weights come from '{design.calibration}'",
            where="edition.yaml, estimation.variance",
            fix="use variance: linearised (it accounts for every calibration), or rake without bounds or trimming",
        )
    y = values if isinstance(values, np.ndarray) else np.column_stack([c.dense() for c in values])
    masks = np.ones((design.n, 1), dtype=bool) if domains is None else domains
    expanded = np.concatenate([np.where(masks[:, [j]], y, np.nan) for j in range(masks.shape[1])], axis=1)
    codes = design.calibration_codes
    totals = [np.bincount(c, weights=design.weights) for c in codes]
    base = np.ones(design.n) if design.base_weights is None else design.base_weights
    found = jk1_rake(codes, totals, base, expanded)
    shape = (masks.shape[1], y.shape[1]) if domains is not None else (y.shape[1],)
    return MeanEstimates(**{f: getattr(found, f).reshape(shape) for f in MeanEstimates.__dataclass_fields__})


def estimate_items(
    design: Design,
    values: np.ndarray | Sequence[CodedItems],
    *,
    settings: EstimationSettings,
    significance: Significance,
    thresholds: Thresholds,
    domains: np.ndarray | None = None,
    kinds: Sequence[str] | None = None,
    sums: DomainSums | None = None,
    answers: AnswerCounts | None = None,
) -> pd.DataFrame:
    """Estimates of k items (columns of ``values``, NaN outside each item's base; or coded items,
    :attr:`ItemMatrix.coded`), on d domains.

    R: ``svymean(~y, design, deff = "replace")`` per item (its base a ``subset()`` of the design:
    the rest of the sample stays in it); with ``domains`` (n, d) bool, ``svyby(~y, ~domain,
    design, svymean, deff = "replace")``; intervals ``svyciprop(~y, design, method =
    significance.interval, level = significance.level)`` for shares and ``confint(svymean(...), df =
    degf(design))`` (mean ± t·se) for the items whose ``kinds`` is ``"mean"``. With
    ``settings.variance == "jk1"`` the SEs are JK1's (:func:`replicate_estimates`); the
    significance of breakdown levels stays linearised. ``sums``: the items' sums on the domains
    (:func:`~baro_pipeline.stats.item_sums`) when the caller has them for its tests too; ``answers``:
    the items' answer counts per weight class (:class:`~baro_pipeline.stats.coded.AnswerCounts`) when the
    caller has counted them with the sums.

    One row per item (k rows), or per domain and item with domains (d × k rows, domain by domain:
    row r is domain r // k, item r % k), columns :data:`ESTIMATE_COLUMNS`:
    ``moe_pts`` is the larger half of the interval, max(estimate - ci_low, ci_high - estimate),
    × 100 for a share (percentage points) and in the item's own unit for a mean; ``pct`` is the
    share in percent rounded as the edition publishes (:func:`published_round`), NaN for a mean;
    ``small_base`` is n < ``thresholds.flag_base``; ``suppressed`` is n < ``thresholds.suppress_base``,
    and then the estimate, SEs, interval, moe, deff and pct are NaN (n, n_weighted, n_eff kept).
    """
    values = values if isinstance(values, (list, tuple)) else np.asarray(values, dtype=float)
    if settings.variance == "jk1":
        found = replicate_estimates(design, values, domains)
    else:
        found = svymean(design, values, domains=domains) if sums is None else domain_means(variance_layout(design), sums)
    mean_items = np.asarray(kinds if kinds is not None else ["code"] * found.estimate.shape[-1]) == "mean"
    low, high = intervals(design, found, values, domains, mean_items, significance, answers)
    is_mean = np.broadcast_to(mean_items, found.estimate.shape)
    n, estimate = found.n.ravel(), found.estimate.ravel()
    suppressed = n < thresholds.suppress_base
    columns = {
        "n": n.astype(int),
        "n_weighted": found.n_weighted.ravel(),
        "n_eff": found.n_eff.ravel(),
        "estimate": estimate,
        "se": found.se.ravel(),
        "se_method": se_method(design, settings),
        "se_kish": found.se_kish.ravel(),
        "ci_low": low.ravel(),
        "ci_high": high.ravel(),
        "ci_method": np.where(is_mean, MEAN_CI_METHOD, significance.interval).ravel(),
        "level": significance.level,
        "moe_pts": (np.fmax(found.estimate - low, high - found.estimate) * np.where(is_mean, 1.0, 100.0)).ravel(),
        "deff": found.deff.ravel(),
        "pct": np.where(is_mean.ravel(), np.nan, published_round(estimate * 100, settings.rounding)),
        "small_base": n < thresholds.flag_base,
        "suppressed": suppressed,
    }
    # withheld as arrays: a frame's .loc costs more than the table of a few figures
    withheld = {c: np.where(suppressed, np.nan, columns[c]) for c in SUPPRESSED_COLUMNS}
    return pd.DataFrame(columns | withheld, columns=list(ESTIMATE_COLUMNS))
