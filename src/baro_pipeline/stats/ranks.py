"""Rank uncertainty: how sure the data are of a ranking's order (p_top, rank intervals, separable pairs).

The items of one ranked question (shares on one base) are jointly normal around their estimates
with the covariance of their influence values, the calibration residuals included (the
residuals that give their SEs), or of their JK1 replicates with the raking redone: both from the
SEs of the items and of their pairwise sums (:func:`pair_sums`, :func:`covariance_from_pair_sums`),
computed by the kernels that give the SEs (linearised, per weight class, from the shares'
co-occurrences: :func:`share_pair_ses`). A fixed-seed simulation of that distribution gives

- ``p_top``: the share of draws in which an item is among the top N (Goldstein & Spiegelhalter
  1996, league tables: the probability of a rank, not the rank alone);
- the critical value of the largest standardised pairwise difference, max_j |T_ij| over the
  pairs compared (a max-t simultaneous test). Item i's rank interval is
  [1 + #items significantly above it, k − #items significantly below it]: the marginal
  confidence set of a rank of Mogstad, Romano, Shaikh & Wilhelm (2024, ReStud), with the
  correlation of the items kept (Klein, Wright & Wieczorek 2020 build joint sets from
  individual intervals; correlated shares of one base need the differences' own SEs). Since an
  item significantly above another has the larger estimate, ``rank_low <= rank <= rank_high``
  for the observed rank (ties share the lowest rank).

R has no function for it (``survey`` reports no rank uncertainty). In R:
``v <- svymean(~q_1 + q_2 + ..., subset(design, base))``, ``S <- vcov(v)``, then
``d <- MASS::mvrnorm(1e4, coef(v), S)``, ``colMeans(t(apply(-d, 1, rank, ties.method = "min")) <= N)``
for p_top, and the max-t quantile of the pairwise differences of ``d - coef(v)`` over their SEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from numpy.typing import ArrayLike

from .design import Array, Design
from .coded import co_occurrences, is_coded, projected_sums
from .layout import VarianceLayout
from .linearised import domain_means, svymean
from .variance import BINARY_TABLE, CodedItems, Items, coded_column, influence_values, variance_layout, variance_matrix

DRAWS = 10_000
SEED = 22  # issue 22: every run draws the same numbers
PAIRS_AT_ONCE = 16  # items of share_pair_ses counted together at least (gp at 1e6: ~5 MiB of counts each)
# ... or as many as have this many bytes of counts (at small sizes, every item of a question at once)
PAIR_COUNTS_BYTES = 1 << 24
# Draws × items simulated at once: their temporaries (~1 MB each) stay in the heap, where a
# larger array would be mapped and faulted in afresh each time.
SIMULATION_BLOCK = 1 << 17


@dataclass(frozen=True)
class RankUncertainty:
    """Per item (k,): the observed rank (1 = largest; ties share the lowest), the probability of
    being among the top N, and the rank interval at the confidence level."""

    rank: np.ndarray
    p_top: np.ndarray
    rank_low: np.ndarray
    rank_high: np.ndarray


def deviations(covariance: np.ndarray, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """(draws, k) normal deviations with this covariance."""
    noise: Array = standard_normals(draws, len(covariance), seed) @ np.ascontiguousarray(square_roots(covariance).T)
    return noise


def deviations_each(covariance: np.ndarray, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """(..., k, draws) :func:`deviations` of each covariance (..., k, k), item by item (each
    item's draws in a row): one product per covariance on the same draws, the same numbers."""
    noise: Array = square_roots(covariance) @ normals_by_item(draws, covariance.shape[-1], seed)
    return noise


def square_roots(covariance: np.ndarray) -> np.ndarray:
    """(..., k, k) R with R R' = covariance, by eigenvalues: the covariance of shares that sum to
    a constant is singular, Cholesky would refuse it."""
    values, vectors = np.linalg.eigh(covariance)
    roots: Array = vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]
    return roots


@lru_cache(maxsize=16)
def standard_normals(draws: int, k: int, seed: int) -> np.ndarray:
    """(draws, k) standard normal draws, the same for every ranking of k items (drawn once per run)."""
    found = np.random.default_rng(seed).standard_normal((draws, k))
    found.flags.writeable = False
    return found


@lru_cache(maxsize=16)
def normals_by_item(draws: int, k: int, seed: int) -> np.ndarray:
    """(k, draws) :func:`standard_normals`, item by item (a product with rows that BLAS reads)."""
    found = np.ascontiguousarray(standard_normals(draws, k, seed).T)
    found.flags.writeable = False
    return found


def ranks_of(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis: 1 + the number of larger values (ties share the lowest)."""
    found: Array = 1 + (values[..., None, :] > values[..., :, None]).sum(axis=-1)
    return found


def top_shares(draws: np.ndarray, top: int) -> np.ndarray:
    """(..., k) share of the draws (..., k, draws) in which each item is among the ``top``
    largest (ties share the lowest rank): fewer than ``top`` values of its draw above it, which
    is at least the top-th largest (:func:`top_largest`)."""
    k = draws.shape[-2]
    if top >= k:
        return np.ones(draws.shape[:-1])
    shares: Array = (draws >= top_largest(draws, top)[..., None, :]).mean(axis=-1)
    return shares


def top_largest(draws: np.ndarray, top: int) -> np.ndarray:
    """(..., draws) the ``top``-th largest of each draw's k values (..., k, draws), ties counted:
    the ``top`` largest so far kept in order, each item inserted by a max and a min per place
    (2 top passes per item, no partition of each draw's k values)."""
    largest = np.full((top, *draws.shape[:-2], draws.shape[-1]), -np.inf)
    spare = np.empty_like(largest[0])
    for j in range(draws.shape[-2]):
        pushed = draws[..., j, :].copy()
        for place in largest:  # the larger stays, the smaller moves down a place
            np.minimum(place, pushed, out=spare)
            np.maximum(place, pushed, out=place)
            pushed, spare = spare, pushed
    found: Array = largest[-1]
    return found


def difference_se(covariance: np.ndarray) -> np.ndarray:
    """(..., k, k) SE of each difference of two items."""
    var = np.diagonal(covariance, axis1=-2, axis2=-1)
    se: Array = np.sqrt(np.clip(var[..., :, None] + var[..., None, :] - 2 * covariance, 0.0, None))
    return se


def standardised(estimate: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., k, k) t = (estimate_i - estimate_j) / SE of the difference, and (..., k, k) 1 / SE.
    A difference with no variance is known exactly: t is ±inf (0 when the estimates are equal)
    and its 1 / SE is 0 (its deviations in the draws are 0 too).
    """
    se = difference_se(covariance)
    random = se > 0
    diff = estimate[..., :, None] - estimate[..., None, :]
    t = np.divide(diff, se, out=np.copysign(np.inf, diff), where=random)
    t[diff == 0] = 0.0
    return t, np.divide(1.0, se, out=np.zeros_like(se), where=random)


def largest_spreads(noise: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(..., k, draws) max_j |T*_ij| = |noise_i - noise_j| / SE_ij (``noise`` (..., k, draws),
    ``scale`` (..., k, k)), pair by pair: each |noise_i - noise_j| once, for both items of the
    pair (no draws × k × k array; single precision: a quantile of |T*| needs no more digits).
    A symmetric ``scale`` (the SEs of a symmetric covariance) scales each distance once for both."""
    single, factors = noise.astype(np.float32), scale.astype(np.float32)
    symmetric = np.array_equal(factors, np.swapaxes(factors, -1, -2))
    largest = np.zeros_like(single)
    spread = np.empty_like(single[..., 1:, :])  # one buffer for every pair's |T*|
    for i in range(single.shape[-2] - 1):
        later = slice(i + 1, None)
        distance = np.abs(np.subtract(single[..., later, :], single[..., i : i + 1, :], out=spread[..., i:, :]), out=spread[..., i:, :])
        scaled = np.multiply(distance, factors[..., later, i, None], out=np.empty_like(distance) if not symmetric else distance)
        np.maximum(largest[..., later, :], scaled, out=largest[..., later, :])
        if not symmetric:
            scaled = np.multiply(distance, factors[..., i, later, None], out=scaled)
        np.maximum(largest[..., i, :], scaled.max(axis=-2), out=largest[..., i, :])
    return largest


def signs(t: Array, critical: Array | float) -> Array:
    """+1 where t is significantly above 0, -1 below, 0 where the data cannot tell."""
    return np.where(t > critical, 1, np.where(t < -critical, -1, 0))


def separations(estimate: ArrayLike, covariance: ArrayLike, pairs: ArrayLike, *, level: float, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """(m,) for each pair (a, b) of ``pairs`` (m, 2): +1 when a is significantly above b, -1
    when below, 0 when the data cannot separate them; simultaneous over the m pairs at ``level``
    (critical value: the ``level`` quantile of max |T*| over the pairs in the draws).
    """
    estimate, covariance, pairs = np.asarray(estimate, dtype=float), np.asarray(covariance, dtype=float), np.asarray(pairs)
    t, scale = standardised(estimate, covariance)
    noise = deviations(covariance, draws, seed)
    a, b = pairs[:, 0], pairs[:, 1]
    spread = np.abs(noise[:, a] - noise[:, b]) * scale[a, b]
    return signs(t[a, b], np.quantile(spread.max(axis=1), level))


def rank_interval(t: np.ndarray, largest: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(..., k) lowest and highest rank of each item: item i against the k - 1 others at once
    (its critical value: the ``level`` quantile of max_j |T*_ij|, ``largest`` (..., k, draws);
    one quantile for every item of every ranking, each item's draws on their own)."""
    found = signs(t, upper_quantile(largest, level)[..., None])
    return 1 + (found < 0).sum(axis=-1), t.shape[-1] - (found > 0).sum(axis=-1)


def upper_quantile(values: np.ndarray, level: float) -> np.ndarray:
    """``np.quantile(values, level, axis=-1)`` (linear interpolation; a Python float ``level``
    in [0, 1), finite values), to the last bit, from the order statistic below and the smallest
    value above it (:func:`largest_at`): np.quantile partitions at four (the least, the greatest
    and the two it interpolates) along the first axis of a moved copy."""
    n = values.shape[-1]
    virtual = (n - 1) * level
    below = int(np.floor(virtual))
    if n < 2 or not 0 <= level < 1:
        found: Array = np.quantile(values, level, axis=-1)
        return found
    gamma = virtual - below
    low, high = largest_at(values, n - below)
    step = high - low
    # numpy's interpolation: from the nearer of the two values
    found = high - step * (1 - gamma) if gamma >= 0.5 else low + step * gamma
    return found


# Every SAMPLE_STRIDE-th value of a row sets the floor of the values partitioned (:func:`largest_at`).
SAMPLE_STRIDE = 16


def largest_at(values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(...) the ``count``-th and (``count`` - 1)-th largest values of the last axis (2 <= count
    <= its length), each row partitioned among its values at or above a floor: the value of its
    every :data:`SAMPLE_STRIDE`-th that about 2 ``count`` values exceed (the whole row when fewer
    than ``count`` reach it). The same order statistics from a tenth of the values."""
    rows = values.reshape(-1, values.shape[-1])
    sample = rows[:, ::SAMPLE_STRIDE]
    at = max(0, sample.shape[-1] - 1 - 2 * count // SAMPLE_STRIDE)
    floors = np.partition(sample, at, axis=-1)[:, at]
    low, high = np.empty(len(rows), dtype=values.dtype), np.empty(len(rows), dtype=values.dtype)
    for r, (row, floor) in enumerate(zip(rows, floors)):
        top = row[row >= floor]
        top = top if len(top) >= count else row
        parted = np.partition(top, len(top) - count)
        low[r], high[r] = parted[len(top) - count], parted[len(top) - count + 1 :].min()
    return low.reshape(values.shape[:-1]), high.reshape(values.shape[:-1])


def rank_uncertainty(estimate: ArrayLike, covariance: ArrayLike, *, top: int, level: float, draws: int = DRAWS, seed: int = SEED) -> RankUncertainty:
    """p_top and the rank interval of k items with estimates (k,) and covariance (k, k)."""
    return rank_uncertainty_each([estimate], [covariance], top=top, level=level, draws=draws, seed=seed)[0]


def rank_uncertainty_each(
    estimates: Sequence[ArrayLike], covariances: Sequence[ArrayLike], *, top: int, level: float, draws: int = DRAWS, seed: int = SEED
) -> list[RankUncertainty]:
    """:func:`rank_uncertainty` of several rankings (estimates (k,), covariance (k, k) each; the
    levels of a question): rankings of the same size are simulated together, as many as
    :data:`SIMULATION_BLOCK` draws allow, each on the same draws and with the same numbers as on
    its own (every step is item by item or draw by draw).
    """
    found: dict[int, RankUncertainty] = {}
    sizes = [np.size(estimate) for estimate in estimates]
    for k in dict.fromkeys(sizes):
        which = [i for i, size in enumerate(sizes) if size == k]
        together = max(1, SIMULATION_BLOCK // (k * draws))
        for block in (which[start : start + together] for start in range(0, len(which), together)):
            estimate = np.stack([np.asarray(estimates[i], dtype=float) for i in block])
            covariance = np.stack([np.asarray(covariances[i], dtype=float) for i in block])
            noise = deviations_each(covariance, draws, seed)
            t, scale = standardised(estimate, covariance)
            low, high = rank_interval(t, largest_spreads(noise, scale), level)
            shares = top_shares(estimate[..., None] + noise, top)
            for j, i in enumerate(block):
                found[i] = RankUncertainty(ranks_of(estimate[j]), shares[j], low[j], high[j])
    return [found[i] for i in range(len(estimates))]


def pair_sums(y: Items) -> list[CodedItems]:
    """The items y ((n, k) or coded items), then the sum of each pair (i < j, row by row), as
    coded items: the SE kernels' fast path, a byte per respondent. Shares (0/1) are coded without
    a sort, from their :func:`binary_codes` (a sum of two takes 0, 1 or 2); other values by their
    distinct values.
    """
    codes = binary_codes(y)
    if codes is not None:
        return share_pair_sums(codes)
    dense = dense_items(y)
    a, b = np.triu_indices(dense.shape[1], 1)
    return [small_coded_column(column) for column in dense.T] + [small_coded_column(dense[:, i] + dense[:, j]) for i, j in zip(a, b)]


SUM_TABLE = np.array([[0.0], [1.0], [2.0], [np.nan]])  # the states of a sum of two shares; 3: not in the base
# The state in SUM_TABLE of the sum of two shares of BINARY_TABLE states a and b, at 3 a + b.
PAIR_STATES = np.array([3, 3, 3, 3, 0, 1, 3, 1, 2], dtype=np.uint8)


def dense_items(y: Items) -> Array:
    """Items as an (n, k) matrix."""
    return np.column_stack([item.dense() for item in y]) if is_coded(y) else np.asarray(y, dtype=float)


def binary_codes(y: Items) -> list[Array] | None:
    """Each item's states in :data:`BINARY_TABLE` (0: out of the base, 1: a 0, 2: a 1; bytes, as
    :func:`binary_column` codes them), or None when an item takes other values. Coded items are
    looked up state by state, without spelling the items out (read only: a tick box's own states
    are returned as they are)."""
    if not is_coded(y):
        columns = np.asarray(y, dtype=float).T
        return [np.where(np.isnan(c), 0, 1 + c).astype(np.uint8) for c in columns] if np.isin(columns[~np.isnan(columns)], (0.0, 1.0)).all() else None
    lookups = [(item.state, column) for item in y for column in np.asarray(item.table, dtype=float).T]
    if not all(np.isin(column[~np.isnan(column)], (0.0, 1.0)).all() for _, column in lookups):
        return None
    return [binary_states(state, np.where(np.isnan(column), 0, 1 + np.nan_to_num(column)).astype(np.uint8)) for state, column in lookups]


def binary_states(state: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """``lookup[state]``, or the states themselves (read only) when they are bytes and the
    look-up changes none (a tick box's :func:`binary_column`): no pass over the respondents."""
    if state.dtype == np.uint8 and np.array_equal(lookup, np.arange(len(lookup))):
        return state
    found: Array = lookup[state]
    return found


def share_pair_sums(codes: list[Array]) -> list[CodedItems]:
    """:func:`pair_sums` of shares given by their :func:`binary_codes`."""
    a, b = np.triu_indices(len(codes), 1)
    return [CodedItems(c, BINARY_TABLE) for c in codes] + [CodedItems(PAIR_STATES[3 * codes[i] + codes[j]], SUM_TABLE) for i, j in zip(a, b)]


def share_pair_ses(design: Design, codes: list[Array], domains: np.ndarray) -> np.ndarray:
    """(d, k + k (k - 1) / 2) linearised SEs of the means of :func:`share_pair_sums` on each
    domain (n, d), for shares on one base (their :func:`binary_codes`): R's
    ``svyby(~y1 + ... + I(y1 + y2) + ..., ~domain, design, svymean)``. Counted per weight class,
    from the shares' co-occurrences (:func:`~.coded.co_occurrences`), without a pass over the
    rows per pair; else by :func:`svymean`.

    An item's counts per state are sums of the co-occurrences (:func:`state_counts`), and so are
    their projections on the units and the calibration model: the co-occurrences are projected
    once, each item's projected counts follow (a pair sum's from its two shares' and their pair's).
    The same numbers as projecting each item's own counts, to the rounding of those few sums.
    """
    layout = variance_layout(design)
    # weighted sums per cell depend on how they are grouped: summed as ever (and so are 64 items or more: a pattern of ones is 63 bits)
    if layout.classes is None or len(codes) >= 64:
        return svymean(design, share_pair_sums(codes), domains).se
    per_layer = co_occurrences(layout, [c == 2 for c in codes], codes[0] != 0, domains)
    k = len(codes)
    tables = [BINARY_TABLE] * k + [SUM_TABLE] * (k * (k - 1) // 2)
    columns = [columns for columns, *_ in per_layer]
    first, second = item_shares(k)
    diagonal = np.arange(k) * (k + 1)
    # per layer: the rows and the base (R, L) and each share's ones (k, R, L), projected; the
    # co-occurrences of each pair (k k, C, L), projected a few pair sums at a time
    shared = []
    for _, n, inside, both in per_layer:
        flat = both.reshape(k * k, *n.shape)
        shared.append((projected(layout, n[None])[0], projected(layout, inside[None])[0], projected(layout, flat[diagonal]), flat))
    # a few items at a time: the projected counts of all pairs of a large question on every level
    # and every unit of a clustered design would be the run's largest array
    item_bytes = 4 * 8 * sum(n.size for n, *_ in shared)  # an item's projected counts: 4 states at most, floats
    at_once = max(PAIRS_AT_ONCE, PAIR_COUNTS_BYTES // max(item_bytes, 1))
    found = []
    for chunk in np.array_split(np.arange(len(tables)), -(-len(tables) // at_once)):
        a, b = first[chunk], second[chunk]
        pairs = a != b
        states = [state_counts(n, inside, ones, projected(layout, flat[a[pairs] * k + b[pairs]]), a, b) for n, inside, ones, flat in shared]
        items = ((tables[j], columns, [layer[c] for layer in states]) for c, j in enumerate(chunk))
        found.append(domain_means(layout, projected_sums(layout, items, len(chunk), domains.shape[1])).se)
    se: Array = np.concatenate(found, axis=-1)
    return se


def projected(layout: VarianceLayout, counts: np.ndarray) -> np.ndarray:
    """(m, R, L) counts (m, C, L) per weight class and level projected on the units and the
    calibration model (``layout.projection``, R rows), as :func:`~.coded.projected_counts` projects an item's."""
    m, n_classes, n_levels = counts.shape
    block = np.moveaxis(counts, 0, 1).reshape(n_classes, m * n_levels)
    found: Array = np.moveaxis((layout.projection @ block).reshape(layout.projection.shape[0], m, n_levels), 1, 0)
    return found


def item_shares(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The shares a and b of each item of :func:`share_pair_sums` of k shares: a share is its own
    pair (a = b), then each pairwise sum a < b."""
    a, b = np.triu_indices(k, 1)
    own = np.arange(k)
    return np.concatenate([own, a]), np.concatenate([own, b])


def state_counts(n: np.ndarray, inside: np.ndarray, ones: np.ndarray, both: np.ndarray, first: np.ndarray, second: np.ndarray) -> list[np.ndarray]:
    """The counts (..., S) of the states of the items of :func:`share_pair_sums` on the shares
    ``first`` and ``second`` (:func:`item_shares`; singles first: a share, :data:`BINARY_TABLE`:
    out of the base, 0, 1; then pairwise sums, :data:`SUM_TABLE`: 0, 1, 2, out of the base), from
    the counts of the rows ``n``, of the base ``inside`` (...), of each share's ones ``ones``
    (k, ...) and of the ones both shares of each pair sum have ``both`` (pairs, ...): a sum is 2
    where both are 1, 1 where one is, 0 elsewhere in the base. Counts, or any linear map of
    them (their projections); each item's contiguous.
    """
    single = first == second
    out = n - inside
    own = ones[first[single]]
    singles = np.empty((len(own), *n.shape, 3))
    singles[..., 0], singles[..., 1], singles[..., 2] = out, inside - own, own
    a, b = first[~single], second[~single]
    either = ones[a] + ones[b] - both  # the rows with a 1 in a or b
    pairs = np.empty((len(a), *n.shape, 4))
    np.subtract(inside, either, out=pairs[..., 0])
    np.subtract(either, both, out=pairs[..., 1])
    pairs[..., 2], pairs[..., 3] = both, out
    return [*singles, *pairs]


def small_coded_column(values: np.ndarray) -> CodedItems:
    """:func:`coded_column` with states as small as the tick boxes' (its are intp for values other
    than 0/1): the kernels count several items at once on a joint state of the first one's type."""
    coded = coded_column(values)
    return CodedItems(coded.state.astype(np.min_scalar_type(len(coded.table))), coded.table)


def covariance_from_pair_sums(se: np.ndarray, k: int) -> np.ndarray:
    """(..., k, k) covariance of k means from the SEs (..., k + k (k - 1) / 2) of the means of
    :func:`pair_sums`: cov(a, b) = (var(a + b) - var(a) - var(b)) / 2, exact when the items
    share their base. Linearised: the mean of y_a + y_b has the influence values u_a + u_b (the
    same calibration residuals), and the variance is a quadratic form in u. JK1 with the raking
    redone: a replicate's mean of y_a + y_b is the sum of its means of y_a and y_b.
    """
    var = se[..., :k] ** 2
    a, b = np.triu_indices(k, 1)
    covariance = np.zeros(se.shape[:-1] + (k, k))
    covariance[..., np.arange(k), np.arange(k)] = var
    covariance[..., a, b] = covariance[..., b, a] = (se[..., k:] ** 2 - var[..., a] - var[..., b]) / 2
    return covariance


def own_base_covariance(design: Design, y: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """(d, k, k) linearised covariance of the means of k items y (n, k), each on its own base (NaN
    outside: grid rows with not-answers out of their base), on each domain (n, d), where the
    pairwise sums of :func:`covariance_from_pair_sums` would take the bases' intersection.

    A domain mean's influence values are z = b (y - ybar) / W_b (b: in the domain and the item's
    base): those of the mean over everyone of the complete item x = b (y - ybar) W / W_b, whose
    mean is 0. Their covariance after the calibration residuals is R's
    ``vcov(svyratio(~I(b1 * y1) + I(b2 * y2) + ..., ~b1 + b2 + ..., design, covmat = TRUE))``
    (the ratios' pairs across numerators and denominators aside): each item's NA handled apart.
    """
    weights = design.weights
    found = np.zeros((domains.shape[1], y.shape[1], y.shape[1]))
    for j, domain in enumerate(domains.T):
        base = ~np.isnan(y) & domain[:, None]
        base_weight = weights @ base
        values = np.where(base, y, 0.0)
        mean = np.divide(weights @ values, base_weight, out=np.zeros(y.shape[1]), where=base_weight > 0)
        scale = np.divide(weights.sum(), base_weight, out=np.zeros(y.shape[1]), where=base_weight > 0)
        found[j] = variance_matrix(design, influence_values(design, np.where(base, values - mean, 0.0) * scale))
    return found


def rescaled(covariance: np.ndarray, se: np.ndarray) -> np.ndarray:
    """(..., k, k) the correlations of ``covariance`` with the SEs (..., k) (a zero variance: no correlation)."""
    root = np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))
    outer = root[..., :, None] * root[..., None, :]
    correlation = np.divide(covariance, outer, out=np.zeros_like(covariance), where=outer > 0)
    found: Array = correlation * se[..., :, None] * se[..., None, :]
    return found
