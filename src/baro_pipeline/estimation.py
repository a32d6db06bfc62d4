"""Estimation stage: every item of every question as a share (or a mean) with its design-based SE.

The codebook's questions become the columns of one respondents × items matrix
(:func:`item_matrix`): 1/0 for an answer code, a net or a derived indicator (the value itself for
a numeric question), NaN outside the item's base. The item keys and bases are those of
``docs/edition-format.md`` ("Items and bases"):

==========================================  ==========  ============  ===========
indicator                                   question    item          kind
==========================================  ==========  ============  ===========
answer code c of a single or multi question question id ``"c"``       ``code``
net n                                       question id ``"n"``       ``net``
grid row r, code c / net n                  question id ``"r:c"``     ``code``/``net``
derived indicator d                         ``d``       ``d``         ``derived``
numeric question (mean)                     question id question id   ``mean``
==========================================  ==========  ============  ===========

The base of a question's item is the respondents asked (``asked_if``) who gave a code that counts
in the base (answers, and not-answers with ``in_base: true``); for a multi question, who ticked at
least one such code. Not-answer codes out of the base have no item. Profile (quota) variables
are items too (kind ``code``), so that the sample's structure is visible; open-text questions
never are.

:func:`estimate_items` turns such a matrix into estimates with the kernels of
:mod:`baro_pipeline.stats` (R ``survey``: ``svymean``, ``svyby``, ``svyciprop``), and
:func:`estimate_population` makes the rows of ``estimates.parquet`` for one population: every
item on the whole population and on every level of its breakdowns, in one matrix call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .edition import Codebook, Condition, Derived, Edition, EstimationSettings, Indicator, Population, Question, Thresholds
from .errors import EstimationError
from .significance import Significance
from .stats import (
    CodedItems,
    Design,
    MeanEstimates,
    adjusted_p_values,
    binary_column,
    coded_column,
    covariance_from_pair_sums,
    independent_difference,
    jk1_rake,
    own_base_covariance,
    pair_sums,
    pairwise_differences,
    proportion_ci,
    rank_uncertainty,
    rescaled,
    svyciprop_terms,
    svymean,
    versus_rest,
)
from .routing import asked, condition_mask
from .weighting import SurveySample

ITEM_COLUMNS = ("question", "item", "item_label", "kind", "base", "question_type", "answer")
ESTIMATE_COLUMNS = (
    "n", "n_weighted", "n_eff", "estimate", "se", "se_method", "se_kish", "ci_low", "ci_high",
    "ci_method", "level", "moe_pts", "deff", "pct", "small_base", "suppressed",
)
KEY_COLUMNS = (
    "edition", "population", "question", "item", "item_label", "kind", "base",
    "breakdown", "breakdown_level", "breakdown_label",
)
POPULATION_COLUMNS = KEY_COLUMNS + (
    "n", "n_weighted", "n_eff", "estimate", "se", "se_method", "se_kish", "ci_low", "ci_high",
    "ci_method", "level", "moe_pts", "deff", "pct", "rank", "top_n", "p_top", "rank_low", "rank_high", "small_base", "suppressed", "significant", "p_value",
    "higher_than",
)
# Added by mirror_comparisons: the same item of the mirror question of another population.
MIRROR_COLUMNS = (
    "mirror_population", "mirror_question", "mirror_item", "mirror_difference", "mirror_se", "mirror_p_value", "mirror_significant",
)
# A mirror item is the same answer at the same breakdown level.
MIRROR_KEYS = ["item_label", "breakdown", "breakdown_label"]
# Withheld when the base is under the suppression threshold (n, n_weighted and n_eff are kept).
SUPPRESSED_COLUMNS = ("estimate", "se", "se_kish", "ci_low", "ci_high", "moe_pts", "deff", "pct")
TOTAL = "total"
TOTAL_LABEL = "Ensemble"
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
RANK_DECIMALS = 12  # estimates equal to 12 decimals are ties
DEFAULT_TOP = 3  # p_top of a multi question whose codebook names no 'top', and of a grid's rows


# --------------------------------------------------------------------------------------------
# Items: one matrix column per item, NaN outside its base
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ItemMatrix:
    """Respondents × items, as coded items (:class:`~baro_pipeline.stats.CodedItems`: a state
    per respondent and a table of the items' values per state), and one ``items`` row per item
    (:data:`ITEM_COLUMNS`), kept as tuples until asked for (one DataFrame, not one per question).

    An item is 1/0 for code, net and derived items (the answer itself for kind ``mean``) and NaN
    outside the item's base; ``items.answer`` marks real answer codes (what a ranking ranks).
    Kept coded, the sums of every item over respondents are counts per state: :func:`values`
    spells the matrix out, for a few columns.
    """

    coded: tuple[CodedItems, ...]
    rows: tuple[tuple, ...]  # per item, its values of ITEM_COLUMNS
    n: int

    @cached_property
    def items(self) -> pd.DataFrame:
        """One row per item, columns :data:`ITEM_COLUMNS`."""
        return pd.DataFrame(list(self.rows), columns=list(ITEM_COLUMNS))

    @property
    def values(self) -> np.ndarray:
        """The (n, k) matrix."""
        return np.column_stack([c.dense() for c in self.coded]) if self.coded else np.empty((self.n, 0))

    def column(self, j: int) -> np.ndarray:
        """Item j, (n,)."""
        ends = np.cumsum([c.table.shape[1] for c in self.coded])
        source = int(np.searchsorted(ends, j, side="right"))
        coded = self.coded[source]
        return coded.table[:, j - (ends[source] - coded.table.shape[1])][coded.state]


def stacked(blocks: Sequence[ItemMatrix], n: int) -> ItemMatrix:
    """Item matrices side by side (an empty matrix of n rows when there is none)."""
    return ItemMatrix(tuple(c for b in blocks for c in b.coded), tuple(r for b in blocks for r in b.rows), n)


def item_rows(q: Question, keys: Sequence[str], labels: Sequence[str], kinds: Sequence[str], answers: Sequence[bool]) -> tuple[tuple, ...]:
    """The ``items`` rows of a question's columns (base ``asked``)."""
    return tuple((q.id, key, label, kind, "asked", q.type, bool(answer)) for key, label, kind, answer in zip(keys, labels, kinds, answers))


def ticks(frame: pd.DataFrame, q: Question) -> np.ndarray:
    """(codes, n) bool: which of ``q.all_codes()`` each respondent ticked (a multi question), code by code."""
    return np.stack([frame[q.columns[c]].to_numpy(dtype=float) == 1 for c in q.all_codes()])


def code_states(frame: pd.DataFrame, q: Question, column: str) -> np.ndarray:
    """(n,) position of each respondent's code in ``q.all_codes()``; that length when blank (not
    asked) or not one of its codes. Each answer is cast to an integer (16 bits when the codes
    fit) and looked up by its offset from the lowest code in a table indexed by code: a few passes
    over small integers, no search; the cast counts only where it is exact (NaN, 2.5 and values
    out of the integers' range are no code).
    """
    codes = np.asarray(q.all_codes())
    low, high = int(codes.min()), int(codes.max())
    whole_type, offset_type = (np.int16, np.uint16) if -(1 << 15) <= low and high < (1 << 15) - 1 else (np.int64, np.uint64)
    lookup: np.ndarray = np.full(high - low + 2, len(codes), dtype=state_dtype(len(codes) + 1))
    lookup[codes - low] = np.arange(len(codes))
    cells = frame[column].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):  # NaN and out-of-range values cast to any integer: not exact below
        whole = cells.astype(whole_type)
    offset = np.subtract(whole, whole_type(low)).view(offset_type)  # wraps: below the lowest code is beyond the highest
    states = lookup[np.minimum(offset, offset_type(high - low + 1))]
    return np.where(whole == cells, states, lookup[-1])


def state_dtype(n_states: int) -> type:
    """The smallest unsigned integer type for states 0..n_states - 1 (coded items of 1e6 respondents
    and hundreds of questions then hold a byte per answer)."""
    return np.uint8 if n_states <= 1 << 8 else np.uint16 if n_states <= 1 << 16 else np.intp


def codes_in_base(q: Question, not_answers_in_base: bool | None = None) -> np.ndarray:
    """(codes,) bool over ``q.all_codes()``: answers, and not-answers kept in the base.

    ``not_answers_in_base`` overrides the codebook's ``in_base`` for every not-answer code.
    """
    return np.array(
        [c in q.codes or (q.not_answers[c].in_base if not_answers_in_base is None else not_answers_in_base) for c in q.all_codes()]
    )


def net_membership(q: Question) -> np.ndarray:
    """(codes, nets) bool: which codes each net groups."""
    return np.array([[c in net.codes for net in q.nets] for c in q.all_codes()], dtype=bool).reshape(len(q.all_codes()), len(q.nets))


def scale_rows(q: Question, in_base: np.ndarray, row: str | None = None, row_label: str = "") -> pd.DataFrame:
    """The ``items`` rows of one scale: its codes in the base, then its nets."""
    codes = np.array(q.all_codes())[in_base]
    own_keys = [str(c) for c in codes] + [net.id for net in q.nets]
    own_labels = [q.code_label(int(c)) for c in codes] + [net.label for net in q.nets]
    keys = [f"{row}:{k}" for k in own_keys] if row else own_keys
    labels = [f"{row_label} – {label}" for label in own_labels] if row else own_labels
    kinds = ["code"] * len(codes) + ["net"] * len(q.nets)
    return item_rows(q, keys, labels, kinds, [int(c) in q.codes for c in codes] + [False] * len(q.nets))


def single_scale(states: np.ndarray, shown: np.ndarray, q: Question, in_base: np.ndarray, row: str | None = None, row_label: str = "") -> ItemMatrix:
    """Code and net items of a single question or one grid row, coded by the code given.

    The base: shown the question and gave a code that counts in the base. The state is the
    code's position, or one more (out of the base); each state's row of the table is its
    codes' one-hot and nets.
    """
    out = len(in_base)
    states = np.where(shown, states, out).astype(states.dtype)
    table = np.column_stack([np.eye(out, dtype=bool)[:, in_base], net_membership(q)]).astype(float)
    table[~in_base] = np.nan
    return ItemMatrix((CodedItems(states, np.vstack([table, np.full(table.shape[1], np.nan)])),), scale_rows(q, in_base, row, row_label), len(states))


def multi_scale(chosen: np.ndarray, shown: np.ndarray, q: Question, in_base: np.ndarray) -> ItemMatrix:
    """Code and net items of a multi question (``chosen``: its :func:`ticks`), 0/1 each: the base
    is shown it and ticked a code that counts in the base.
    """
    base = shown & np.logical_or.reduce(chosen[in_base])
    nets = [np.logical_or.reduce(chosen[members]) for members in net_membership(q).T]
    return ItemMatrix(tuple(binary_column(base, ones) for ones in [*chosen[in_base], *nets]), scale_rows(q, in_base), len(base))


def mean_item(frame: pd.DataFrame, q: Question, shown: np.ndarray) -> ItemMatrix:
    """A numeric question's answers (not-answer codes out), NaN outside those asked who answered."""
    cells = frame[q.column].to_numpy(dtype=float)
    answered = shown & ~np.isnan(cells) & ~np.isin(cells, np.asarray(list(q.not_answers), dtype=float))
    values = np.where(answered, cells, np.nan)
    return ItemMatrix((coded_column(values),), item_rows(q, [q.id], [q.label or q.id], ["mean"], [False]), len(values))


def question_items(frame: pd.DataFrame, codebook: Codebook, q: Question, not_answers_in_base: bool | None = None) -> ItemMatrix:
    """Every item of one question, in codebook order (codes, then nets; grid: row by row)."""
    if q.type == "text":
        return stacked([], len(frame))
    shown = asked(frame, codebook, q)
    if q.type == "numeric":
        return mean_item(frame, q, shown)
    in_base = codes_in_base(q, not_answers_in_base)
    if q.type == "grid":
        return stacked([single_scale(code_states(frame, q, r.column), shown, q, in_base, r.id, r.label) for r in q.rows], len(frame))
    if q.type == "multi":
        return multi_scale(ticks(frame, q), shown, q, in_base)
    return single_scale(code_states(frame, q, q.single_column), shown, q, in_base)


def derived_items(frame: pd.DataFrame, codebook: Codebook, d: Derived) -> ItemMatrix:
    """A derived indicator: any-of / all-of its conditions, NaN outside its base (everyone if none)."""
    combine = np.logical_or if d.rule == "any_of" else np.logical_and
    met = combine.reduce([condition_mask(frame, codebook, term) for term in d.terms])
    base = np.ones(len(frame), bool) if d.base is None else condition_mask(frame, codebook, d.base)
    row = (d.id, d.id, d.label, "derived", "all" if d.base is None else d.base.describe(), "derived", False)
    return ItemMatrix((binary_column(base, met),), (row,), len(frame))


def item_matrix(frame: pd.DataFrame, codebook: Codebook) -> ItemMatrix:
    """Every item of every profile variable and question (open text aside), then every derived indicator."""
    blocks = [question_items(frame, codebook, q) for q in codebook.profile + codebook.questions]
    blocks += [derived_items(frame, codebook, d) for d in codebook.derived]
    return stacked(blocks, len(frame))


# --------------------------------------------------------------------------------------------
# One indicator on one base (what a published figure measures)
# --------------------------------------------------------------------------------------------


def indicator_items(frame: pd.DataFrame, codebook: Codebook, indicator: Indicator, not_answers_in_base: bool | None) -> ItemMatrix:
    """The items of the indicator's question (or its derived indicator)."""
    derived = {d.id: d for d in codebook.derived}
    if indicator.question in derived:
        return derived_items(frame, codebook, derived[indicator.question])
    try:
        q = codebook.question(indicator.question)
    except KeyError:
        raise EstimationError(
            f"unknown question or derived indicator '{indicator.question}'",
            where=f"codebook of population {codebook.population}",
            fix="name a question, profile variable or derived indicator of this codebook",
        ) from None
    return question_items(frame, codebook, q, not_answers_in_base)


def indicator_column(block: ItemMatrix, codebook: Codebook, indicator: Indicator) -> tuple[np.ndarray, str]:
    """(n,) values of one indicator on its own base, and its kind, from the items of its question."""
    found = np.flatnonzero(block.items["item"].to_numpy() == indicator.item)
    if not len(found):
        known = ", ".join(block.items["item"]) or "none (open-text question)"
        raise EstimationError(
            f"{indicator.question} has no item '{indicator.item}' (a not-answer code out of the base has no share)",
            where=f"codebook of population {codebook.population}",
            fix=f"use one of its items: {known}",
        )
    return block.column(int(found[0])), str(block.items["kind"].iloc[found[0]])


def indicator_values(
    frame: pd.DataFrame,
    codebook: Codebook,
    indicator: Indicator,
    base: str | Condition = "asked",
    *,
    not_answers_in_base: bool | None = None,
    block: ItemMatrix | None = None,
) -> np.ndarray:
    """(n,) values of one indicator on a base, NaN outside it.

    ``base``: ``"asked"``, the item's own base; ``"all"``, the whole population (those outside the
    item's base count as 0, "no"); a :class:`Condition`, the subgroup that meets it within the
    item's own base. ``not_answers_in_base`` overrides the codebook's ``in_base`` of the
    question's not-answer codes (e.g. ``False``: "don't know" excluded from the base). ``block``:
    the question's items (:func:`indicator_items`) when already built for another indicator.
    """
    block = indicator_items(frame, codebook, indicator, not_answers_in_base) if block is None else block
    values, kind = indicator_column(block, codebook, indicator)
    if isinstance(base, Condition):
        return np.where(condition_mask(frame, codebook, base), values, np.nan)
    if base == "asked":
        return values
    if base == "all" and kind != "mean":
        return np.nan_to_num(values, nan=0.0)
    raise EstimationError(
        f"base {base!r} does not apply to {kind} item '{indicator.item}' of {indicator.question}",
        where=f"population {codebook.population}",
        fix="use 'asked', 'all' (shares only) or a condition {question: .., in: [..]}",
    )


# --------------------------------------------------------------------------------------------
# Estimates
# --------------------------------------------------------------------------------------------


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
    half = scipy_stats.t.isf((1 - level) / 2, df) * se
    return estimate - half, estimate + half


def intervals(
    design: Design, found: MeanEstimates, values, domains: np.ndarray | None, mean_items: np.ndarray, significance: Significance
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits at the edition's level: its method for shares (R: ``svyciprop(~y, design, method, level)``,
    on each item's base and domain), mean ± t·se for the ``mean_items`` (k,); both on the base's
    degrees of freedom. Limits never cross the estimate: where the SE is all but 0 (a calibration
    margin) back-transformed limits can land an ulp on the wrong side.
    """
    shares = np.where(mean_items, np.nan, found.estimate)
    terms = svyciprop_terms(design, found, shares_only(values, mean_items), domains) if significance.interval in GLM_INTERVALS else None
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
) -> pd.DataFrame:
    """Estimates of k items (columns of ``values``, NaN outside each item's base; or coded items,
    :attr:`ItemMatrix.coded`), on d domains.

    R: ``svymean(~y, design, deff = "replace")`` per item (its base a ``subset()`` of the design:
    the rest of the sample stays in it); with ``domains`` (n, d) bool, ``svyby(~y, ~domain,
    design, svymean, deff = "replace")``; intervals ``svyciprop(~y, design, method =
    significance.interval, level = significance.level)`` for shares and ``confint(svymean(...), df =
    degf(design))`` (mean ± t·se) for the items whose ``kinds`` is ``"mean"``. With
    ``settings.variance == "jk1"`` the SEs are JK1's (:func:`replicate_estimates`); the
    significance of breakdown levels stays linearised.

    One row per item (k rows), or per domain and item with domains (d × k rows, domain by domain:
    row r is domain r // k, item r % k), columns :data:`ESTIMATE_COLUMNS`:
    ``moe_pts`` is the larger half of the interval, max(estimate - ci_low, ci_high - estimate),
    × 100 for a share (percentage points) and in the item's own unit for a mean; ``pct`` is the
    share in percent rounded as the edition publishes (:func:`published_round`), NaN for a mean;
    ``small_base`` is n < ``thresholds.flag_base``; ``suppressed`` is n < ``thresholds.suppress_base``,
    and then the estimate, SEs, interval, moe, deff and pct are NaN (n, n_weighted, n_eff kept).
    """
    values = values if isinstance(values, (list, tuple)) else np.asarray(values, dtype=float)
    found = replicate_estimates(design, values, domains) if settings.variance == "jk1" else svymean(design, values, domains=domains)
    mean_items = np.asarray(kinds if kinds is not None else ["code"] * found.estimate.shape[-1]) == "mean"
    low, high = intervals(design, found, values, domains, mean_items, significance)
    is_mean = np.broadcast_to(mean_items, found.estimate.shape)
    n, estimate = found.n.ravel(), found.estimate.ravel()
    table = pd.DataFrame(
        {
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
            "suppressed": n < thresholds.suppress_base,
        },
        columns=list(ESTIMATE_COLUMNS),
    )
    table.loc[table["suppressed"], list(SUPPRESSED_COLUMNS)] = np.nan
    return table


# --------------------------------------------------------------------------------------------
# estimates.parquet rows of one population
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Levels:
    """The domains of ``estimates.parquet``: the whole population, then each breakdown level."""

    keys: pd.DataFrame  # d rows: breakdown, breakdown_level, breakdown_label
    masks: np.ndarray  # (n, d) bool


def breakdown_levels(frame: pd.DataFrame, population: Population) -> Levels:
    """The total (everyone) and one domain per code of each breakdown variable (profile variables)."""
    book = population.codebook
    keys = [(TOTAL, TOTAL, TOTAL_LABEL)]
    masks = [np.ones(len(frame), bool)]
    for b in population.breakdowns:
        q = book.question(b)
        cells = frame[q.column].to_numpy(dtype=float)
        keys += [(b, str(c), q.code_label(c)) for c in q.all_codes()]
        masks += [cells == c for c in q.all_codes()]
    return Levels(pd.DataFrame(keys, columns=["breakdown", "breakdown_level", "breakdown_label"]), np.column_stack(masks))


def level_p_values(design: Design, matrix: ItemMatrix, levels: Levels) -> np.ndarray:
    """(d, k) p-values of each breakdown level against the rest of its population (NaN for the total).

    R: ``svyglm(y ~ I(level), subset(design, in base))``, the coefficient's t test.
    """
    p = np.full((levels.masks.shape[1], len(matrix.items)), np.nan)
    breakdown = (levels.keys["breakdown"] != TOTAL).to_numpy()
    if breakdown.any() and matrix.coded:
        p[breakdown] = versus_rest(design, list(matrix.coded), levels.masks[:, breakdown]).p
    return p


def level_pairs(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of levels of one breakdown, as (p, 2) columns of ``levels.masks`` (a before b),
    and the breakdown of each pair (the family of its adjustment)."""
    breakdowns = levels.keys["breakdown"].to_numpy()
    pairs = [(a, b) for a in range(len(breakdowns)) for b in range(a + 1, len(breakdowns)) if breakdowns[a] == breakdowns[b] != TOTAL]
    return np.array(pairs, dtype=np.intp).reshape(-1, 2), breakdowns[[a for a, _ in pairs]]


def higher_levels(design: Design, matrix: ItemMatrix, levels: Levels, testable: np.ndarray, significance: Significance, adjust: str = "none") -> list[list[str]]:
    """For each level and item (row r: level r // k, item r % k), the codes of the other levels of
    its breakdown whose estimate it is significantly above: the letters of ``tables.xlsx``.

    Every pair of levels of a breakdown with both cells ``testable`` (d, k) is tested with the
    covariance the design gives the two levels (:func:`pairwise_differences`; R: ``svyby(...,
    covmat = TRUE)`` then ``svycontrast``) at the edition's test level, the p-values adjusted by
    ``adjust`` (the edition's ``letters_adjust``) within a breakdown's pairs for one item.
    """
    d, k = testable.shape
    higher = np.zeros((d, d, k), dtype=bool)
    pairs, family = level_pairs(levels)
    if len(pairs) and matrix.coded:
        diff = pairwise_differences(design, list(matrix.coded), levels.masks, pairs)
        tested = testable[pairs[:, 0]] & testable[pairs[:, 1]]
        p = adjusted_p_values(np.where(tested, diff.p, np.nan), family, adjust)
        significant = significance.significant(p)
        higher[pairs[:, 0], pairs[:, 1]] = significant & (diff.diff > 0)
        higher[pairs[:, 1], pairs[:, 0]] = significant & (diff.diff < 0)
    codes = levels.keys["breakdown_level"].astype(str).to_numpy()
    return [list(codes[higher[i, :, j]]) for i in range(d) for j in range(k)]


def ranks(table: pd.DataFrame, ranked: pd.Series) -> pd.Series:
    """Rank of the ``ranked`` rows (:func:`ranked_items`) within their question and level.

    Descending estimate; ties share the lowest rank; null for other rows and withheld estimates.
    """
    ranked = ranked & table["estimate"].notna()
    groups = table[ranked].assign(estimate=table["estimate"].round(RANK_DECIMALS))
    rank = groups.groupby(["breakdown", "breakdown_level", "question"], sort=False)["estimate"].rank(method="min", ascending=False)
    return rank.reindex(table.index).astype("Int64")


def ranked_covariance(design: Design, y: np.ndarray, domains: np.ndarray, settings: EstimationSettings) -> np.ndarray:
    """(d, k, k) covariance of the means of one ranked question's items y (n, k) on each domain
    (R: ``vcov(svyby(~y1 + y2 + ..., ~domain, design, svymean, covmat = TRUE))``), from the
    variance its SEs come from: JK1 replicates re-raked (``variance: jk1``), else linearised.

    Items on one base (a multi question's codes) take the SEs of their pairwise sums; items on
    bases of their own (grid rows, not-answers out of each row's base) take the covariance of
    their influence values (:func:`~baro_pipeline.stats.ranks.own_base_covariance`), with JK1's
    SEs on its correlations under ``variance: jk1``.
    """
    means = replicate_estimates if settings.variance == "jk1" else svymean
    missing = np.isnan(y)
    if (missing == missing[:, :1]).all():
        return covariance_from_pair_sums(means(design, pair_sums(y), domains).se, y.shape[1])
    linearised = own_base_covariance(design, y, domains)
    return rescaled(linearised, means(design, y, domains).se) if settings.variance == "jk1" else linearised


def ranked_items(items: pd.DataFrame, codebook: Codebook) -> pd.Series:
    """Which ``items`` rows a ranking ranks: the answer codes of a multi question, and a grid's
    rows by the answer it ranks them by (:meth:`~baro_pipeline.edition.Question.ranked_answer`)."""
    answer_of_grid = {q.id: q.ranked_answer() for q in codebook.questions if q.type == "grid"}
    grid_rows = items["question"].map(answer_of_grid) == items["item"].str.partition(":")[2]
    multi_codes = (items["question_type"] == "multi") & (items["kind"] == "code") & items["answer"]
    return multi_codes | grid_rows


def rank_uncertainties(
    table: pd.DataFrame, matrix: ItemMatrix, levels: Levels, design: Design, codebook: Codebook, settings: EstimationSettings, confidence: float
) -> pd.DataFrame:
    """Columns ``top_n``, ``p_top``, ``rank_low``, ``rank_high`` of ``table`` (rows level by
    level, item by item): for the rows with a rank, per question and level, the question's
    ``top`` (``top_n``; :data:`DEFAULT_TOP` when the codebook names none), the probability of
    being among those top (``p_top``) and the rank interval at the edition's level
    (:func:`~baro_pipeline.stats.rank_uncertainty`, on the same ties as ``rank``); null
    elsewhere. The covariances of a question's items on every level come from one call.
    """
    k = len(matrix.items)
    found = {c: np.full(len(table), np.nan) for c in ("top_n", "p_top", "rank_low", "rank_high")}
    ranked = table["rank"].notna().to_numpy().reshape(-1, k)  # (levels, items)
    estimate = table["estimate"].round(RANK_DECIMALS).to_numpy()
    questions = matrix.items["question"].to_numpy()
    for question in pd.unique(questions[ranked.any(axis=0)]):
        items = np.flatnonzero((questions == question) & ranked.any(axis=0))
        covariances = ranked_covariance(design, np.column_stack([matrix.column(int(j)) for j in items]), levels.masks, settings)
        top = codebook.question(question).top or DEFAULT_TOP
        for level in np.flatnonzero(ranked[:, items].any(axis=1)):
            chosen = ranked[level, items]
            rows = level * k + items[chosen]
            ranking = rank_uncertainty(estimate[rows], covariances[level][np.ix_(chosen, chosen)], top=top, level=confidence)
            found["top_n"][rows], found["p_top"][rows], found["rank_low"][rows], found["rank_high"][rows] = (
                top, ranking.p_top, ranking.rank_low, ranking.rank_high
            )
    return pd.DataFrame(found, index=table.index).astype({"top_n": "Int64", "rank_low": "Int64", "rank_high": "Int64"})


def estimate_population(sample: SurveySample, population: Population, edition: Edition) -> pd.DataFrame:
    """Every row of ``estimates.parquet`` for one population: every item × (total + breakdown levels).

    One :func:`estimate_items` call on the domains matrix of all levels; ``significant`` says
    whether a level differs from the rest of its population at the edition's test level (``p_value``
    under ``edition.significance.alpha``; false for the
    total, for suppressed rows and for the breakdown variable's own items, which the level fixes);
    ``higher_than`` lists the levels of the same breakdown it is significantly above
    (:func:`higher_levels`: small bases, suppressed rows and those own items are not tested);
    ``rank`` ranks the answer codes of each multi question and the rows of each grid
    (:func:`ranked_items`), ``p_top``, ``rank_low`` and
    ``rank_high`` say how sure that rank is (:func:`rank_uncertainties`).
    """
    frame, design = sample.frame, sample.design
    matrix = item_matrix(frame, population.codebook)
    levels = breakdown_levels(frame, population)
    d, k = levels.masks.shape[1], len(matrix.items)
    stats_table = estimate_items(
        design, list(matrix.coded), settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds,
        domains=levels.masks, kinds=matrix.items["kind"].to_numpy(),
    )
    items = matrix.items.iloc[np.tile(np.arange(k), d)].reset_index(drop=True)
    keys = levels.keys.iloc[np.repeat(np.arange(d), k)].reset_index(drop=True)
    # An item of the breakdown variable itself is fixed by the level (1 or 0): nothing to test.
    own_level = (keys["breakdown"] == items["question"]).to_numpy()
    p_value = np.where(stats_table["suppressed"] | own_level, np.nan, level_p_values(design, matrix, levels).ravel())
    testable = ~(stats_table["small_base"] | stats_table["suppressed"] | stats_table["estimate"].isna()).to_numpy() & ~own_level
    higher_than = higher_levels(design, matrix, levels, testable.reshape(d, k), edition.significance, edition.estimation.letters_adjust)
    table = pd.concat([items, keys, stats_table], axis=1).assign(
        edition=edition.id, population=population.id, p_value=p_value, significant=edition.significance.significant(p_value), higher_than=higher_than
    )
    table = table.assign(rank=ranks(table, ranked_items(items, population.codebook)))
    uncertainty = rank_uncertainties(table, matrix, levels, design, population.codebook, edition.estimation, edition.significance.level)
    return pd.concat([table, uncertainty], axis=1)[list(POPULATION_COLUMNS)]


def mirror_comparisons(edition: Edition, estimates: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every population's rows with :data:`MIRROR_COLUMNS`: for an item of a mirror question
    (``edition.mirrors``), the item of the other population's question with the same label at the
    same breakdown level (the total always; a breakdown level when both populations have it, by
    its label). ``mirror_difference`` is this estimate minus the other's; the samples are
    independent, so its SE is sqrt(se² + se'²) and the test is a z test (``mirror_p_value``,
    ``mirror_significant`` at the edition's test level). Null for the other rows and for withheld estimates.

    R: ``svycontrast`` of the two estimates with a block-diagonal covariance.
    """
    tables = {pop: table.assign(**empty_mirror_columns(len(table))) for pop, table in estimates.items()}
    for mirror in edition.mirrors:
        (a_pop, a_question), (b_pop, b_question) = mirror.questions.items()
        pairs = pd.merge(
            mirror_rows(tables[a_pop], a_question), mirror_rows(tables[b_pop], b_question), on=MIRROR_KEYS, suffixes=("_a", "_b")
        )
        diff = independent_difference(pairs["estimate_a"], pairs["se_a"], pairs["estimate_b"], pairs["se_b"])
        sides = (("a", a_pop, "b", b_pop, b_question, 1.0), ("b", b_pop, "a", a_pop, a_question, -1.0))
        for this, pop, other, other_pop, other_question, sign in sides:
            found = {
                "mirror_population": other_pop,
                "mirror_question": other_question,
                "mirror_item": pairs[f"item_{other}"].to_numpy(),
                "mirror_difference": sign * diff.diff,
                "mirror_se": diff.se,
                "mirror_p_value": diff.p,
                "mirror_significant": edition.significance.significant(diff.p),
            }
            rows = pairs[f"row_{this}"].to_numpy()
            for column, values in found.items():
                tables[pop].loc[rows, column] = values
    return tables


def empty_mirror_columns(n: int) -> dict[str, np.ndarray]:
    """Mirror columns of rows compared with nothing: null, and not significant."""
    empty = {"mirror_significant": np.zeros(n, dtype=bool)}
    for column in ("mirror_difference", "mirror_se", "mirror_p_value"):
        empty[column] = np.full(n, np.nan)
    for column in ("mirror_population", "mirror_question", "mirror_item"):
        empty[column] = np.full(n, None, dtype=object)
    return {c: empty[c] for c in MIRROR_COLUMNS}


def mirror_rows(table: pd.DataFrame, question: str) -> pd.DataFrame:
    """The rows of one mirror question with what the comparison needs; ``row`` is their index."""
    rows = table[table["question"] == question]
    return rows[MIRROR_KEYS + ["item", "estimate", "se"]].assign(row=rows.index)
