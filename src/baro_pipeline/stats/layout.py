"""What the linearised variance needs to know about a design, computed once per design.

Cells (distinct unit and calibration categories), units (PSUs, or strata for ids = ~1), strata
and their factors, the constants of the calibration model, the rows' weight classes, and the
projection of per-group sums on what :class:`~.sums.DomainSums` keeps (see ``variance.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from weakref import WeakKeyDictionary

import numpy as np
from scipy import sparse

from ..errors import EstimationError
from .design import Array, Design, calibration_cells, margin_model_matrix

# Beyond this share of distinct (cell, weights) among the rows, counting per class gains nothing.
MAX_CLASS_SHARE = 0.25
KINDS = 5  # 1{w != 0}, w, w^2, fit weight, w x fitted weight


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
