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

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TypeGuard
from weakref import WeakKeyDictionary

import numpy as np
from scipy import sparse

from ..errors import EstimationError
from .design import Array, Design, calibration_cells, margin_model_matrix

# Row blocks of about this many bytes of y keep every temporary small and in cache.
BLOCK_BYTES = 1 << 24
# Threads summing row blocks (the products release the GIL).
THREADS = min(8, os.cpu_count() or 1)

DEFF_TYPES = ("replace", "without_replacement")
# Beyond this share of distinct (cell, weights) among the rows, counting per class gains nothing.
MAX_CLASS_SHARE = 0.25


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


# --------------------------------------------------------------------------------------------
# What the variance needs to know about a design, computed once per design
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class VarianceLayout:
    """Cells, units and strata of a design, and the constants of its calibration model.

    A unit is a PSU when the design has clusters, else a stratum (ids = ~1: respondents are the
    PSUs and their sums are expanded per stratum). Cells are the distinct (unit, calibration
    categories) combinations, numbered unit first, so rows sorted by cell are sorted by unit.
    """

    weights: np.ndarray  # (n,)
    fit_weights: np.ndarray  # (n,) weights of z in the least-squares fit of the calibration residuals
    fitted_weights: np.ndarray  # (n,) weights of the fitted part: u = w z - fitted weight x'beta
    cell: np.ndarray  # (n,) cell of each row
    unit: np.ndarray  # (n,) unit of each row
    cell_unit: np.ndarray  # (G,)
    model: np.ndarray  # (G, p) calibration model row of each cell (p = 0: not calibrated)
    fit_inverse: np.ndarray  # (p, p) pseudo-inverse of X' diag(least-squares weights) X
    unit_model: np.ndarray  # (G, U p) model row of each cell in its unit's block of columns
    unit_weight_model: np.ndarray  # (U, p) sum over the unit of fitted weight x
    unit_weight2_model: np.ndarray  # (U, p, p) sum over the unit of fitted weight^2 x x' (ids = ~1)
    unit_stratum: np.ndarray  # (U,)
    stratum_size: np.ndarray  # (H,) PSUs per stratum, m_h
    stratum_factor: np.ndarray  # (H,) (1 - f_h) m_h / (m_h - 1)
    clustered: bool
    classes: WeightClasses | None  # rows of equal cell and weights (None: nearly one per row)
    projection: sparse.csr_array  # per-group sums -> the sums of DomainSums (see sums_projection)

    @property
    def calibrated(self) -> bool:
        return bool(self.model.shape[1] > 0)

    @cached_property
    def order(self) -> np.ndarray | None:
        """Rows sorted by cell (None: a single cell); only item matrices summed by row block need it."""
        n_cells = len(self.cell_unit)
        return None if n_cells == 1 else np.argsort(self.cell.astype(np.uint16 if n_cells < 1 << 16 else np.intp), kind="stable")

    @property
    def n_units(self) -> int:
        return len(self.unit_stratum)


@dataclass(frozen=True, eq=False)
class WeightClasses:
    """Rows grouped by (cell, weight, least-squares weight): every sum over rows of a function of
    the weights and of a coded state is a count per (class, state) times the class's weights.
    Raking from equal (or few) design weights gives one class per calibration cell.
    """

    row_class: np.ndarray  # (n,)
    cell: np.ndarray  # (C,) cell of each class
    kinds: np.ndarray  # (C, KINDS): 1{w != 0}, w, w^2, fit weight, w x fitted weight


_LAYOUTS: WeakKeyDictionary[Design, VarianceLayout] = WeakKeyDictionary()


def variance_layout(design: Design) -> VarianceLayout:
    """The layout of a design (cached per design object: designs are immutable)."""
    layout = _LAYOUTS.get(design)
    if layout is None:
        layout = _LAYOUTS[design] = build_layout(design)
    return layout


def codes_of(values: np.ndarray | None, n: int) -> np.ndarray:
    """0..K-1 codes of any labels (all 0 when there are none)."""
    if values is None:
        return np.zeros(n, dtype=np.intp)
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def build_layout(design: Design) -> VarianceLayout:
    n, w = design.n, design.weights
    stratum = codes_of(design.strata, n)
    clustered = design.clusters is not None
    if clustered:  # PSUs are (stratum, cluster) pairs, numbered stratum first
        cluster = codes_of(design.clusters, n)
        unit = codes_of(stratum * (cluster.max() + 1) + cluster, n)
    else:
        unit = stratum
    unit_stratum = np.zeros(unit.max() + 1, dtype=np.intp)
    unit_stratum[unit] = stratum
    calibrated = design.calibration != "none" and len(design.calibration_codes) > 0
    cell, cell_codes = calibration_cells([unit, *design.calibration_codes] if calibrated else [unit])
    model = margin_model_matrix(cell_codes[:, 1:])[0] if calibrated else np.zeros((len(cell_codes), 0))
    fit_weights, fitted_weights, least_squares = residual_weights(design)
    n_cells, n_units = len(model), len(unit_stratum)
    cell_fitted = np.bincount(cell, weights=fitted_weights, minlength=n_cells)
    cell_fitted2 = np.bincount(cell, weights=fitted_weights * fitted_weights, minlength=n_cells)
    # einsum, not BLAS: a product this thin waits for OpenBLAS's threads (~0.2 s at 5000 cells)
    normal = np.einsum("gp,gq->pq", model, np.bincount(cell, weights=least_squares, minlength=n_cells)[:, None] * model)
    cell_unit = cell_codes[:, 0]
    m_h = np.bincount(unit_stratum if clustered else stratum)
    classes = weight_classes(cell, w, fit_weights, fitted_weights)
    unit_model = np.zeros((n_cells, 0)) if clustered else (np.eye(n_units)[cell_unit][:, :, None] * model[:, None, :]).reshape(n_cells, -1)
    return VarianceLayout(
        weights=w,
        fit_weights=fit_weights,
        fitted_weights=fitted_weights,
        cell=cell,
        unit=unit,
        cell_unit=cell_unit,
        model=model,
        fit_inverse=np.linalg.pinv(normal, rcond=1e-12, hermitian=True),
        unit_model=unit_model,
        unit_weight_model=sum_by(cell_unit, n_units, cell_fitted[:, None] * model),
        unit_weight2_model=unit_outer_sums(cell_unit, n_units, model, cell_fitted2),
        unit_stratum=unit_stratum,
        stratum_size=m_h,
        stratum_factor=stratum_factors(design.fpc, stratum, m_h),
        clustered=clustered,
        classes=classes,
        projection=sums_projection(cell_unit, model, unit_model if calibrated and not clustered else None, classes),
    )


def residual_weights(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the weight of z in the fit (F), of the fitted part (V), and the least-squares
    weight of the normal equations (L): beta = (X'LX)^+ X'F z and u = w z - V x'beta.

    Raking: F = L = 1, V = w (R's sweeps: z minus its plain means per margin category).
    ``calibrate()``: F = L = base weight, V = w (R's ``qr.resid`` in the base weights' metric).
    Trimmed after raking, with the raked weights w_r kept: F = w / w_r, L = 1, V = w_r, which
    is u = w_r resid(w / w_r z): R's ``svyrecvar`` sweeps with the weights ``rake()`` stored
    with its margins, not the trimmed ones (without w_r, the raking's formula on the trimmed w).
    """
    n, w = design.n, design.weights
    if design.calibration == "trimmed" and design.calibrated_weights is not None:
        raked = design.calibrated_weights
        return np.divide(w, raked, out=np.zeros(n), where=raked != 0), raked, np.ones(n)
    uses_base = design.calibration in ("linear", "raking_bounded") and design.base_weights is not None
    fit = design.base_weights if uses_base and design.base_weights is not None else np.ones(n)
    return fit, w, fit


def unit_outer_sums(cell_unit: np.ndarray, n_units: int, model: np.ndarray, cell_weight: np.ndarray) -> np.ndarray:
    """(U, p, p) sum over each unit's cells of weight x x': one sparse product (cells x U p, each
    cell's model row in its unit's block of columns) with the weighted model, no (G, p, p) array.
    """
    n_cells, p = model.shape
    columns = (cell_unit[:, None] * p + np.arange(p)).ravel()
    in_unit = sparse.csc_array((model.ravel(), (np.repeat(np.arange(n_cells), p), columns)), shape=(n_cells, n_units * p))
    sums: Array = (in_unit.T @ (cell_weight[:, None] * model)).reshape(n_units, p, p)
    return sums


def weight_classes(cell: np.ndarray, w: np.ndarray, fit_weights: np.ndarray, fitted_weights: np.ndarray) -> WeightClasses | None:
    """The rows' classes of equal (cell, w, fit weight), numbered by cell, then w, then fit weight,
    or None when there are more than :data:`MAX_CLASS_SHARE` of the rows (then coded sums weigh
    each row). When the weights are constant within cells (raking from equal design weights),
    the classes are the cells: checked in one pass, no sort.
    """
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    first = first_rows(cell, n_cells)
    if all(np.array_equal(values, values[first][cell]) for values in (w, fit_weights)):
        key, n_classes = cell, n_cells
    else:
        key = cell.astype(np.int64)
        for values in (w, fit_weights):  # combined one variable at a time: the key stays below n^2
            codes = codes_of(values, len(values))
            key = codes_of(key * (int(codes.max()) + 1) + codes, len(key))
        n_classes = int(key.max()) + 1 if len(key) else 0
        first = first_rows(key, n_classes)  # any row of each class will do: its values are the class's
    if n_classes > MAX_CLASS_SHARE * len(key):
        return None
    # the fitted weight is w / fit weight or w itself (residual_weights): constant in a class too
    kinds = np.stack([(w[first] != 0).astype(float), w[first], w[first] ** 2, fit_weights[first], w[first] * fitted_weights[first]], axis=1)
    return WeightClasses(key, cell[first], kinds)


def first_rows(group: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups,) the first row of each group (groups 0..n_groups - 1, each with a row)."""
    first = np.zeros(n_groups, dtype=np.intp)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first


def sums_projection(cell_unit: np.ndarray, model: np.ndarray, unit_model: np.ndarray | None, classes: WeightClasses | None) -> sparse.csr_array:
    """The linear map from per-group sums of coded items to what :class:`DomainSums` keeps, rows
    by block: U unit sums of 1{w != 0}, of w and of w^2; p sums of the fit weight times the
    calibration model row; with ``unit_model`` (a calibrated design with ids = ~1), U p sums of
    w times the fitted weight (w^2 but after trimming) times the model row in its unit.

    Groups are weight classes (columns: one per class, its weights folded in: the map takes
    plain counts), or else calibration cells (columns: KINDS blocks of G, the map takes the
    cells' sums of each weight kind).
    """
    n_cells = len(cell_unit)
    unit_of = sparse.csr_array((np.ones(n_cells), (cell_unit, np.arange(n_cells))), shape=(int(cell_unit.max()) + 1, n_cells))
    per_cell = [(0, unit_of), (1, unit_of), (2, unit_of), (3, sparse.csr_array(model.T))]  # (kind, map over cells)
    if unit_model is not None:
        per_cell.append((4, sparse.csr_array(unit_model.T)))
    if classes is not None:
        return sparse.vstack([m[:, classes.cell] @ sparse.diags_array(classes.kinds[:, kind]) for kind, m in per_cell], format="csr")
    blocks = [[m if kind == j else None for j in range(KINDS)] for kind, m in per_cell]
    if unit_model is None:  # no cross sums: the last kind's block of columns is read by nothing
        blocks[0][4] = sparse.csr_array((unit_of.shape[0], n_cells))
    return sparse.bmat(blocks, format="csr")


def stratum_factors(fpc: np.ndarray | None, stratum: np.ndarray, m_h: np.ndarray) -> np.ndarray:
    """(1 - f_h) m_h / (m_h - 1) of each stratum; f_h from the fpc (a fraction when all <= 1, else N_h)."""
    if np.any(m_h < 2):
        raise EstimationError(
            f"stratum {int(np.argmax(m_h < 2))} has a single PSU: its variance cannot be estimated",
            where="design strata",
            fix="merge the stratum with a neighbour (R: options(survey.lonely.psu = 'fail'))",
        )
    if fpc is None:
        factors: Array = m_h / (m_h - 1)
        return factors
    per_stratum = fpc[np.unique(stratum, return_index=True)[1]]
    if not np.array_equal(fpc, per_stratum[stratum]):
        raise EstimationError("the fpc varies within a stratum", where="Design.fpc", fix="give one fpc per stratum")
    fraction = per_stratum if np.all(fpc <= 1) else m_h / per_stratum
    if np.any(fraction > 1) or np.any(fraction < 0):
        raise EstimationError(
            "the fpc gives a sampling fraction outside [0, 1]",
            where="Design.fpc",
            fix="give the population count of PSUs of the stratum, or the sampling fraction",
        )
    factors = (1 - fraction) * m_h / (m_h - 1)
    return factors


def sum_by(index: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sums of the rows of values (any trailing shape) per group."""
    flat = values.reshape(len(index), -1)
    onehot = sparse.csr_array((np.ones(len(index)), (index, np.arange(len(index)))), shape=(n_groups, len(index)))
    sums: Array = (onehot @ flat).reshape(n_groups, *values.shape[1:])
    return sums


# --------------------------------------------------------------------------------------------
# One pass over the data: sums per unit / cell, domain and item
# --------------------------------------------------------------------------------------------


def indicator(group: Array, n_groups: int, kinds: Array, members: tuple[Array, ...] | None, n_domains: int) -> sparse.csc_array:
    """Sparse (kinds x groups x domains, rows) matrix: times an (n_rows, m) matrix of values it
    gives the sums of kinds[i, q] * values[i] over the rows i of each group and domain. Stored by
    row (CSC), so the product reads each row of values once. ``members`` lists the (row, domain)
    memberships sorted by row, or is None for a single domain holding every row.
    """
    n_rows, q = kinds.shape
    if members is None:
        indptr = np.arange(0, q * n_rows + 1, q)
        target, data = np.arange(q) * n_groups + group[:, None], kinds
    else:
        member_row, member_domain = members
        indptr = np.zeros(n_rows + 1, dtype=np.intp)
        np.cumsum(np.bincount(member_row, minlength=n_rows) * q, out=indptr[1:])
        target = (np.arange(q) * n_groups + group[member_row][:, None]) * n_domains + member_domain[:, None]
        data = kinds[member_row]
    return sparse.csc_array((data.ravel(), target.ravel(), indptr), shape=(q * n_groups * n_domains, n_rows))


@dataclass(frozen=True)
class DomainSums:
    """Weighted sums of items over units (and cells) and domains, y shifted by ``shift``.

    Unit-level arrays have shape (U, d, k); ``fit_*`` (p, d, k) are sums of the least-squares
    weight times the calibration model row; ``cross_*`` (U, p, d, k) sums of w^2 times it.
    ``*_y`` sum y - shift over the base, ``*_m`` the base indicator.
    """

    shift: np.ndarray  # (k,)
    count: np.ndarray  # sum b
    weight: np.ndarray  # sum w b
    weight2: np.ndarray  # sum w^2 b
    total: np.ndarray  # sum w b y
    total_w2: np.ndarray  # sum w^2 b y
    square: np.ndarray  # sum w b y^2
    square_w2: np.ndarray  # sum w^2 b y^2
    fit_y: np.ndarray
    fit_m: np.ndarray
    cross_y: np.ndarray | None
    cross_m: np.ndarray | None


def block_shift(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of each column in a block (0 when empty): subtracted before squaring."""
    answered = ~np.isnan(y)
    weight = w @ answered
    shift: Array = np.divide(w @ np.where(answered, y, 0.0), weight, out=np.zeros(y.shape[1]), where=weight > 0)
    return shift


def block_values(yb: np.ndarray, shift: np.ndarray, buffers: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block's items with NaN as 0, their squared deviations from ``shift`` (0 for NaN) and the
    base indicator (a column of ones when nothing is missing, broadcast over the items). Written
    into ``buffers`` (3, block, k) and ``missing`` (block, k), reused from block to block: fresh
    arrays would cost more.
    """
    values, squares, answered, missing = buffers[0, : len(yb)], buffers[1, : len(yb)], buffers[2, : len(yb)], missing[: len(yb)]
    np.subtract(yb, shift, out=squares)
    if np.isfinite(yb.sum()):  # a NaN anywhere makes the sum NaN: only then build the mask
        return np.ascontiguousarray(yb), np.square(squares, out=squares), np.ones((len(yb), 1))
    np.isnan(yb, out=missing)
    np.copyto(values, yb)
    np.copyto(values, 0.0, where=missing)
    np.copyto(squares, 0.0, where=missing)
    np.subtract(1.0, missing, out=answered)
    return values, np.square(squares, out=squares), answered


def block_sums(
    layout: VarianceLayout, y: Array, domains: Array | None, shift: Array, order: Array | None, starts: Array, block: int
) -> list[Array]:
    """Sums over the row blocks beginning at ``starts``: per unit (kinds w, w^2 on y and on
    (y - shift)^2; kinds 1, w, w^2 on the base indicator) and per cell (kinds fit weight,
    w x fitted weight).
    """
    k, d = y.shape[1], 1 if domains is None else domains.shape[1]
    n_units, n_cells = layout.n_units, len(layout.model) if layout.calibrated else 0
    unit_y, unit_m = np.zeros((4, n_units, d, k)), np.zeros((3, n_units, d, k))
    cell_y, cell_m = np.zeros((2, n_cells, d, k)), np.zeros((2, n_cells, d, k))
    buffers, missing = np.empty((3, block, k)), np.empty((block, k), dtype=bool)
    for start in starts:
        rows = slice(start, start + block) if order is None else order[start : start + block]
        w, unit = layout.weights[rows], layout.unit[rows]
        members = None if domains is None else np.nonzero(domains[rows])
        values, squares, b = block_values(y[rows], shift, buffers, missing)
        u0, u1 = unit.min(), unit.max() + 1
        by_unit = indicator(unit - u0, u1 - u0, np.stack([w, w * w], 1), members, d)
        unit_y[:2, u0:u1] += (by_unit @ values).reshape(2, u1 - u0, d, k)
        unit_y[2:, u0:u1] += (by_unit @ squares).reshape(2, u1 - u0, d, k)
        # R counts respondents of non-zero weight (nobs, degf)
        count_unit = indicator(unit - u0, u1 - u0, np.stack([(w != 0).astype(float), w, w * w], 1), members, d)
        unit_m[:, u0:u1] += (count_unit @ b).reshape(3, u1 - u0, d, -1)
        if layout.calibrated:
            cell = layout.cell[rows]
            c0, c1 = cell.min(), cell.max() + 1
            by_cell = indicator(cell - c0, c1 - c0, np.stack([layout.fit_weights[rows], w * layout.fitted_weights[rows]], 1), members, d)
            cell_y[:, c0:c1] += (by_cell @ values).reshape(2, c1 - c0, d, k)
            cell_m[:, c0:c1] += (by_cell @ b).reshape(2, c1 - c0, d, -1)
    return [unit_y, unit_m, cell_y, cell_m]


def domain_sums(layout: VarianceLayout, y: np.ndarray, domains: np.ndarray | None) -> DomainSums:
    """Every sum the means and their variance need, for all items and domains, in one pass.

    Row blocks are shared among threads (numpy and scipy's sparse products release the GIL),
    each summing its own contiguous range; the ranges' sums are added in a fixed order.
    """
    n, k = y.shape
    d = 1 if domains is None else domains.shape[1]
    block = min(n, max(256, BLOCK_BYTES // (8 * max(k, 1))))
    # Sorted by cell, a block's cells and units are a short range; sorting costs a copy of y,
    # worth it only when summing into every cell from every block would outweigh the block.
    order = layout.order if 2 * len(layout.model) * d > block else None
    first = slice(0, block) if order is None else order[:block]
    shift = block_shift(y[first], layout.weights[first])
    starts = np.arange(0, n, block)
    shares = np.array_split(starts, min(THREADS, len(starts)))
    with ThreadPoolExecutor(len(shares)) as pool:
        parts = list(pool.map(lambda s: block_sums(layout, y, domains, shift, order, s, block), shares))
    totals = parts[0]
    for part in parts[1:]:  # added in the order of the blocks, as they came
        totals = [t + p for t, p in zip(totals, part)]
    unit_y, unit_m, cell_y, cell_m = totals
    fit_y, fit_m, cross_y, cross_m = calibration_sums(layout, cell_y[0], cell_m[0], cell_y[1], cell_m[1])
    # linear sums were taken on y itself: move them to y - shift, where the squares are
    return DomainSums(
        shift=shift,
        count=unit_m[0],
        weight=unit_m[1],
        weight2=unit_m[2],
        total=unit_y[0] - shift * unit_m[1],
        total_w2=unit_y[1] - shift * unit_m[2],
        square=unit_y[2],
        square_w2=unit_y[3],
        fit_y=fit_y - shift * fit_m,
        fit_m=fit_m,
        cross_y=None if cross_y is None or cross_m is None else cross_y - shift * cross_m,
        cross_m=cross_m,
    )


# --------------------------------------------------------------------------------------------
# Coded items: the same sums as counts per (class, domain, state)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CodedItems:
    """k items that are functions of one small categorical state per respondent: item j of
    respondent i is ``table[state[i], j]`` (NaN: not in the item's base).

    What the shares of a survey are: the codes and nets of a question or a grid row share the
    state "code given" (plus one for "not in the base"), a tick box has three. Sums over
    respondents then need one count per (weight class, domain, state), whatever k is (and several
    sources can be counted at once on their joint state: :class:`Bundle`).
    """

    state: np.ndarray  # (n,) ints in [0, S)
    table: np.ndarray  # (S, k)

    def dense(self) -> np.ndarray:
        """The (n, k) item matrix."""
        items: Array = self.table[self.state]
        return items


# Items as an (n, k) matrix (NaN: not in the base) or as coded items.
Items = Array | Sequence[CodedItems]

KINDS = 5  # 1{w != 0}, w, w^2, fit weight, w x fitted weight
BINARY_TABLE = np.array([[np.nan], [0.0], [1.0]])  # the states of a 0/1 item: out of the base, 0, 1
# Bins of a count of coded items' joint states (groups × levels × states): ~1 MB, in cache.
BUNDLE_BINS = 1 << 17


def coded_column(values: Array) -> CodedItems:
    """One item (n,) as :class:`CodedItems`: a state per distinct value, and one for NaN (not in
    the base); a 0/1 item, without sorting, the states of :data:`BINARY_TABLE`.
    """
    values = np.asarray(values, dtype=float)
    answered = ~np.isnan(values)
    ones = values == 1
    if np.array_equal(answered, ones | (values == 0)):
        return binary_column(answered, ones)
    distinct, state = np.unique(values[answered], return_inverse=True)
    states = np.full(len(values), len(distinct), dtype=np.intp)
    states[answered] = state
    return CodedItems(states, np.append(distinct, np.nan)[:, None])


def binary_column(base: np.ndarray, ones: np.ndarray) -> CodedItems:
    """A 0/1 item as :class:`CodedItems` with the states of :data:`BINARY_TABLE`: out of the
    ``base`` (n,) bool, else 1 where ``ones`` (n,) bool, else 0. A byte per respondent, no sort.
    """
    inside = base.view(np.uint8)
    return CodedItems(inside + (inside & ones.view(np.uint8)), BINARY_TABLE)


def domain_layers(domains: np.ndarray | None, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Domains in layers of disjoint ones (a breakdown's levels make one layer): per layer, the
    level of each row (L when in none of its L domains) and the domain of each level.
    """
    if domains is None:
        return [(np.zeros(n, dtype=np.intp), np.array([0]))]
    columns = np.ascontiguousarray(domains.T)  # domain by domain: contiguous reads
    layers: list[tuple[np.ndarray, list[int]]] = []
    for j, column in enumerate(columns):
        free = next((layer for layer in layers if not np.any(layer[0] & column)), None)
        if free is None:
            layers.append((column.copy(), [j]))
        else:
            np.logical_or(free[0], column, out=free[0])
            free[1].append(j)
    result = []
    for _, members in layers:
        level = np.full(n, len(members), dtype=np.intp)
        for i, j in enumerate(members):
            np.copyto(level, i, where=columns[j])
        result.append((level, np.array(members)))
    return result


@dataclass(frozen=True, eq=False)
class Bundle:
    """Consecutive coded items counted together, on their joint state ((s1 S2 + s2) S3 + s3)...:
    each item's columns (start, stop) among all items and its table.
    """

    columns: list[tuple[int, int]]
    tables: list[np.ndarray]
    state: np.ndarray  # (n,) joint state

    @property
    def sizes(self) -> list[int]:
        return [len(table) for table in self.tables]

    @property
    def n_states(self) -> int:
        return int(np.prod(self.sizes))

    def marginals(self, counts: np.ndarray) -> list[np.ndarray]:
        """Counts (..., joint states) as each item's counts (..., its states): sums over the other
        items' states, exact for counts (integers), so every item gets the counts of its own bincount.
        """
        joint = counts.reshape(*counts.shape[:-1], *self.sizes)
        lead, m = counts.ndim - 1, len(self.tables)
        return [joint.sum(axis=tuple(lead + j for j in range(m) if j != i)) for i in range(m)]


def keyed_items(rows: np.ndarray, items: Sequence[CodedItems], domains: np.ndarray | None) -> Iterator[tuple[Bundle, list[tuple[Array, int, Array]]]]:
    """Per :class:`Bundle` of coded items, in order, and per layer of domains, the key of each
    respondent, ``rows`` (its class or cell) × (L + 1) × S + level × S + joint state, with the
    layer's L and domains. Keys count with one bincount. A bundle's keys are overwritten by the
    next bundle's (fresh arrays of n would cost more than the sums): use them before the next.
    """
    n = len(rows)
    # keys of bincount's own type: smaller ones would be converted on every call
    layers = [((rows * (len(columns) + 1) + level).astype(np.intp), len(columns), columns) for level, columns in domain_layers(domains, n)]
    width = max(1, BUNDLE_BINS // max(int(group.max()) + 1 if n else 1 for group, _, _ in layers))
    scaled: dict[tuple[int, int], np.ndarray] = {}  # group × S of a layer, shared by the bundles of S states
    buffers = np.empty((len(layers), n), dtype=np.intp)
    start = 0
    for members in bundles(items, width):
        tables = [np.asarray(item.table, dtype=float) for item in members]
        stops = start + np.cumsum([table.shape[1] for table in tables])
        bundle = Bundle(list(zip([start, *stops[:-1]], stops)), tables, joint_state(members))
        keys = []
        for i, (group, n_levels, columns) in enumerate(layers):
            if (i, bundle.n_states) not in scaled:
                scaled[i, bundle.n_states] = group * bundle.n_states
            keys.append((np.add(scaled[i, bundle.n_states], bundle.state, out=buffers[i]), n_levels, columns))
        yield bundle, keys
        start = int(stops[-1])


def bundles(items: Sequence[CodedItems], width: int) -> Iterator[list[CodedItems]]:
    """Consecutive coded items whose states combined number at most ``width`` (an item with more
    states makes a bundle of its own): one count of their joint states serves them all.
    """
    bundle: list[CodedItems] = []
    combined = 1
    for item in items:
        if bundle and combined * len(item.table) > width:
            yield bundle
            bundle, combined = [], 1
        bundle.append(item)
        combined *= len(item.table)
    if bundle:
        yield bundle


def joint_state(items: Sequence[CodedItems]) -> np.ndarray:
    """The states of coded items as one, ((s1 S2 + s2) S3 + s3)... (the item's own for one item)."""
    if len(items) == 1:
        return items[0].state
    sizes = [len(item.table) for item in items]
    state: Array = items[0].state.astype(np.uint16 if np.prod(sizes) <= 1 << 16 else np.intp)
    for item, size in zip(items[1:], sizes[1:]):
        state *= size
        state += item.state
    return state


def key_counts(key: np.ndarray, n_groups: int, n_levels: int, n_states: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(groups, L, S) counts (or sums of ``weights``) of keys made by :func:`keyed_items`, level L dropped."""
    counts = np.bincount(key, weights=weights, minlength=n_groups * (n_levels + 1) * n_states)
    return counts.reshape(n_groups, n_levels + 1, n_states)[:, :n_levels]


def group_sums(layout: VarianceLayout, key: np.ndarray, n_levels: int, n_states: int) -> np.ndarray:
    """(groups, L, S) what the layout's projection takes: counts per (class, level, state), or the
    sums of each weight kind per (cell, level, state), kind by kind.
    """
    if layout.classes is not None:
        return key_counts(key, len(layout.classes.cell), n_levels, n_states)
    w = layout.weights
    row_kinds = ((w != 0).astype(float), w, w**2, layout.fit_weights, w * layout.fitted_weights)
    return np.concatenate([key_counts(key, len(layout.cell_unit), n_levels, n_states, k) for k in row_kinds])


def coded_domain_sums(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> DomainSums:
    """:func:`domain_sums` of coded items: per bundle of items (:func:`keyed_items`) and layer of
    domains, one count per (class, level, joint state); per item, its marginal counts projected
    at once on the units and the calibration model; the items' values enter only through their
    tables (base, y - shift and its square per state).
    """
    k, d = sum(item.table.shape[1] for item in items), 1 if domains is None else domains.shape[1]
    n_units, p = layout.n_units, layout.model.shape[1]
    rows = layout.cell if layout.classes is None else layout.classes.row_class
    out = np.zeros((layout.projection.shape[0], d, 3, k))  # projection rows x domains x moments x items
    shift = np.zeros(k)
    for bundle, keys in keyed_items(rows, items, domains):
        layers = [(bundle.marginals(group_sums(layout, key, n_levels, bundle.n_states)), columns) for key, n_levels, columns in keys]
        for j, ((start, stop), table) in enumerate(zip(bundle.columns, bundle.tables)):
            base = ~np.isnan(table)
            projected = [(layout.projection @ sums[j].reshape(len(sums[j]), -1)).reshape(-1, sums[j].shape[1], len(table)) for sums, _ in layers]
            per_state = projected[0][n_units : 2 * n_units].sum(axis=(0, 1))  # weight per state in the first layer
            weight = per_state @ base
            centre = np.divide(per_state @ np.where(base, table, 0.0), weight, out=np.zeros(len(weight)), where=weight > 0)
            # any centre will do: it only serves the precision of means; 0/1 items keep 0, so that a
            # share of exactly 0 or 1 comes out exactly
            centre = np.where(np.all((table == 0) | (table == 1) | ~base, axis=0), 0.0, centre)
            centred = np.where(base, table - centre, 0.0)
            shift[start:stop] = centre
            moments = np.stack([base, centred, centred**2], axis=1)  # (S, 3, k)
            for (_, columns), sums in zip(layers, projected):
                out[:, columns, :, start:stop] = np.tensordot(sums, moments, axes=1)

    def unit(kind: int, moment: int) -> Array:
        return out[kind * n_units : (kind + 1) * n_units, :, moment]

    fit = out[3 * n_units : 3 * n_units + p]
    cross = out[3 * n_units + p :].reshape(n_units, p, d, 3, k) if len(out) > 3 * n_units + p else None
    return DomainSums(
        shift=shift,
        count=unit(0, 0),
        weight=unit(1, 0),
        weight2=unit(2, 0),
        total=unit(1, 1),
        total_w2=unit(2, 1),
        square=unit(1, 2),
        square_w2=unit(2, 2),
        fit_y=fit[:, :, 1],
        fit_m=fit[:, :, 0],
        cross_y=None if cross is None else cross[..., 1, :],
        cross_m=None if cross is None else cross[..., 0, :],
    )


def class_answer_counts(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Respondents of each weight class answering 1 and 0 in each 0/1 item's base, per domain
    (C, d, k) each, and each item's base size over the whole sample (k,): what a sum over the
    respondents of any function of their weight and answer needs (the glm of ``svyciprop``).
    """
    classes = layout.classes
    if classes is None:
        raise EstimationError("coded items need the design's weight classes", where="class_answer_counts", fix="pass a design whose layout has weight classes")
    k, n_classes = sum(item.table.shape[1] for item in items), classes.kinds.shape[0]
    d = 1 if domains is None else domains.shape[1]
    ones, zeros, answered = np.zeros((n_classes, d, k)), np.zeros((n_classes, d, k)), np.zeros(k)
    for bundle, keys in keyed_items(classes.row_class, items, domains):
        states = bundle.marginals(np.bincount(bundle.state, minlength=bundle.n_states))
        layers = [(bundle.marginals(key_counts(key, n_classes, n_levels, bundle.n_states)), columns) for key, n_levels, columns in keys]
        for j, ((start, stop), table) in enumerate(zip(bundle.columns, bundle.tables)):
            answered[start:stop] = states[j] @ ~np.isnan(table)
            for counts, columns in layers:
                ones[:, columns, start:stop], zeros[:, columns, start:stop] = counts[j] @ (table == 1), counts[j] @ (table == 0)
    return ones, zeros, answered


def calibration_sums(layout: VarianceLayout, fit_y: Array, fit_m: Array, w2_y: Array, w2_m: Array) -> tuple[Array, Array, Array | None, Array | None]:
    """The per-cell sums of the regression on the calibration model, projected on the model:
    p columns (per unit for ``cross``), not cells. Inputs (G, d, k): sums of the least-squares
    weight and of w^2, on y and on the base indicator; outputs ``fit_y``, ``fit_m`` (p, d, k) and
    ``cross_y``, ``cross_m`` (U, p, d, k) of :class:`DomainSums` (None where they do not apply).
    """
    p, n_units = layout.model.shape[1], layout.n_units
    d, k = fit_y.shape[1:]
    if not layout.calibrated:
        return np.zeros((p, d, k)), np.zeros((p, d, k)), None, None
    # contiguous transposes: OpenBLAS is slow on transposed thin operands
    model_t = np.ascontiguousarray(layout.model.T)
    fit = np.tensordot(model_t, fit_y, axes=1), np.tensordot(model_t, fit_m, axes=1)
    if layout.clustered:
        return (*fit, None, None)
    cross = np.tensordot(np.ascontiguousarray(layout.unit_model.T), np.stack([w2_y, w2_m], 1), axes=1).reshape(n_units, p, 2, d, k)
    return (*fit, cross[:, :, 0], cross[:, :, 1])


# --------------------------------------------------------------------------------------------
# Influence values of domain means, as sums, and their linearised variance
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Public kernels
# --------------------------------------------------------------------------------------------


def is_coded(y: Items) -> TypeGuard[Sequence[CodedItems]]:
    """Whether items are given as :class:`CodedItems` (a list or tuple of them) rather than a matrix."""
    return isinstance(y, (list, tuple)) and all(isinstance(item, CodedItems) for item in y) and len(y) > 0


def item_sums(layout: VarianceLayout, y: Items, domains: np.ndarray | None) -> DomainSums:
    """:func:`domain_sums` of an item matrix or :func:`coded_domain_sums` of coded items."""
    return coded_domain_sums(layout, y, domains) if is_coded(y) else domain_sums(layout, np.asarray(y), domains)


def checked_coded(design: Design, items: Sequence[CodedItems], where: str) -> Sequence[CodedItems]:
    for item in items:
        state, table = np.asarray(item.state), np.asarray(item.table)
        if state.shape != (design.n,) or table.ndim != 2 or not np.issubdtype(state.dtype, np.integer) or (
            len(state) and (state.min() < 0 or state.max() >= len(table))
        ):
            raise EstimationError(
                f"coded items with states of shape {state.shape} ({state.dtype}) and a table of shape {table.shape}, the design {design.n} respondents",
                where=where,
                fix="give one integer state per respondent, each a row of the table (one column per item)",
            )
    return items


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
    sums = item_sums(layout, y, domains)
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
    return squeezed(result) if domains is None else result


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
