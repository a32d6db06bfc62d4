"""One pass over an item matrix: weighted sums per unit (and calibration cell), domain and item.

Rows are read in blocks (sorted by cell when that pays), shared among threads, and reduced by
sparse indicator products; the per-cell sums are then projected on the calibration model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .design import Array
from .layout import VarianceLayout


# A kernel summing the row blocks beginning at its ``starts`` (:func:`block_sums`).
BlockSums = Callable[[VarianceLayout, Array, Array | None, Array, Array | None, Array, int], list[Array]]

# Row blocks of about this many bytes of y keep every temporary small and in cache.
BLOCK_BYTES = 1 << 24
# Threads summing row blocks (the products release the GIL).
THREADS = min(8, os.cpu_count() or 1)


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


def block_items(yb: np.ndarray, buffers: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A block's items with NaN as 0, the base indicator (a column of ones when nothing is
    missing, broadcast over the items) and where items are missing (None: nowhere). Written into
    ``buffers`` (2 or more, block, k: [0] the items, [1] the base) and ``missing`` (block, k),
    reused from block to block: fresh arrays would cost more.
    """
    if np.isfinite(yb.sum()):  # a NaN anywhere makes the sum NaN: only then build the mask
        return np.ascontiguousarray(yb), np.ones((len(yb), 1)), None
    values, answered, missing = buffers[0, : len(yb)], buffers[1, : len(yb)], missing[: len(yb)]
    kept_bits = answered.view(np.int64)  # the base's room, until the base is written
    np.isnan(yb, out=missing)
    # NaN as 0.0: each value's bits and'ed with every bit where answered, none where missing (a
    # masked copy costs twice as much)
    np.subtract(missing, 1, out=kept_bits, dtype=np.int64)
    np.bitwise_and(yb.view(np.int64), kept_bits, out=values.view(np.int64))
    np.subtract(1.0, missing, out=answered)
    return values, answered, missing


def block_values(yb: np.ndarray, shift: np.ndarray, buffers: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`block_items`' items and base, and between them the items' squared deviations from
    ``shift`` (0 for NaN), written into ``buffers[2]``."""
    values, answered, where_missing = block_items(yb, buffers, missing)
    squares = np.subtract(yb, shift, out=buffers[2, : len(yb)])
    if where_missing is not None:
        np.copyto(squares, 0.0, where=where_missing)
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


def blocked_sums(layout: VarianceLayout, y: Array, domains: np.ndarray | None, sums: BlockSums) -> tuple[np.ndarray, list[Array]]:
    """The shift of y's columns and ``sums`` of its row blocks, added over the blocks.

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
    if len(shares) == 1:  # one share: no thread to start
        parts = [sums(layout, y, domains, shift, order, shares[0], block)]
    else:
        with ThreadPoolExecutor(len(shares)) as pool:
            parts = list(pool.map(lambda s: sums(layout, y, domains, shift, order, s, block), shares))
    totals = parts[0]
    for part in parts[1:]:  # added in the order of the blocks, as they came
        totals = [t + p for t, p in zip(totals, part)]
    return shift, totals


def domain_sums(layout: VarianceLayout, y: np.ndarray, domains: np.ndarray | None) -> DomainSums:
    """Every sum the means and their variance need, for all items and domains, in one pass."""
    shift, totals = blocked_sums(layout, y, domains, block_sums)
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
