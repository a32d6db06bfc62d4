"""A survey design: weights plus what the variance must know about how they were made.

Like R's ``svydesign(ids = ~1, weights = ~w)`` followed by ``rake()`` or ``calibrate()``: the
calibration margins are stored so that :func:`baro_pipeline.stats.svymean` can take the residuals
of the influence values on them, as R does. ``strata``, ``clusters`` and ``fpc`` describe the
textbook designs (``svydesign(ids = ~psu, strata = ~s, fpc = ~N)``); the barometer's designs leave
them empty.

The two helpers at the end describe the calibration cells (the distinct combinations of the
calibration variables) shared by the calibration and the variance kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import EstimationError

# The arrays every kernel takes and returns (float weights, integer codes, 0/1 items).
Array = npt.NDArray[Any]

CALIBRATIONS = ("none", "raking", "linear", "raking_bounded", "trimmed")

# Dense cell numbering (no sort) while the product of the margins' sizes stays this small.
DENSE_CELLS_LIMIT = 1 << 24


@dataclass(frozen=True, eq=False)
class Design:
    """Weights of a one-stage design and the calibration they came from.

    R: ``svydesign(ids = ~1, weights = ~w)`` then ``rake()`` / ``calibrate()`` / ``trimWeights()``.
    ``calibration`` says how ``calibration_codes`` enter the variance: ``"raking"`` and
    ``"trimmed"`` take unweighted least-squares residuals on the margin dummies (R's raking
    sweeps; a trimmed design with ``calibrated_weights``, the raked weights it was trimmed from,
    sweeps as R does with those: see ``variance.residual_weights``), ``"linear"`` and
    ``"raking_bounded"`` take residuals in least squares weighted by ``base_weights`` (R's
    ``calibrate()``). ``clusters`` are the PSUs of ``ids = ~psu`` and
    ``fpc`` the population count of PSUs of the stratum (or, when all values are <= 1, the
    sampling fraction), as in ``svydesign(fpc = ~fpc)``.
    """

    weights: np.ndarray
    calibration_codes: tuple[Array, ...] = ()
    calibration: str = "none"
    base_weights: np.ndarray | None = None
    strata: np.ndarray | None = None
    clusters: np.ndarray | None = None
    fpc: np.ndarray | None = None
    calibrated_weights: np.ndarray | None = None  # "trimmed": the raked weights before trimming

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=float)
        if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise EstimationError(
                "design weights must be a 1-D array of finite, non-negative numbers",
                where="Design.weights",
                fix="pass the weights of the calibration result",
            )
        if self.calibration not in CALIBRATIONS:
            raise EstimationError(
                f"unknown calibration '{self.calibration}'",
                where="Design.calibration",
                fix=f"use one of {', '.join(CALIBRATIONS)}",
            )
        codes = tuple(np.asarray(c) for c in self.calibration_codes)
        if self.calibration in ("raking", "linear", "raking_bounded") and not codes:
            raise EstimationError(
                f"a '{self.calibration}' design needs its calibration codes",
                where="Design.calibration_codes",
                fix="build the design with design_from_calibration(result, codes)",
            )
        for j, c in enumerate(codes):
            check_codes(c, len(weights), f"Design.calibration_codes[{j}]", EstimationError)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "calibration_codes", codes)
        for name in ("base_weights", "strata", "clusters", "fpc", "calibrated_weights"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=float if name in ("base_weights", "fpc", "calibrated_weights") else None)
                if value.shape != weights.shape:
                    raise EstimationError(
                        f"{name} has shape {value.shape}, the weights {weights.shape}",
                        where=f"Design.{name}",
                        fix="give one value per respondent",
                    )
                object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return len(self.weights)


def check_codes(codes: np.ndarray, n: int, where: str, error: type) -> None:
    """Category codes: one non-negative integer per respondent."""
    if codes.shape != (n,) or not np.issubdtype(codes.dtype, np.integer) or (n and codes.min() < 0):
        raise error(
            f"codes must be {n} non-negative integers (category 0..K-1 of each respondent), "
            f"got dtype {codes.dtype} and shape {codes.shape}",
            where=where,
            fix="code each calibration variable as integers 0..K-1, one per respondent",
        )


def calibration_cells(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Cell of each respondent (0..G-1) and the categories of each cell, shape (G, J).

    Cells are the distinct combinations of the codes, in lexicographic order (the first variable
    varies slowest). Numbered densely with one bincount when the full table is small, else by
    ``np.unique`` on the rows.
    """
    sizes = tuple(int(c.max()) + 1 for c in codes)
    n = len(codes[0])
    if np.prod(sizes, dtype=float) <= max(DENSE_CELLS_LIMIT, 4 * n):
        combined = np.ravel_multi_index(tuple(codes), sizes)
        present = np.bincount(combined, minlength=int(np.prod(sizes))) > 0
        number = np.cumsum(present) - 1
        cells = np.flatnonzero(present)
        return number[combined], np.stack(np.unravel_index(cells, sizes), axis=1)
    cell_codes, index = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    return index.reshape(-1), cell_codes


def margin_model_matrix(cell_codes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Model matrix of the cells: intercept and, per margin, dummies of its present categories but
    the first (R's ``model.matrix(~a + b + ...)``), and the categories each margin's dummies
    stand for. The column space is the one of all margin dummies, so residuals on it are the
    residuals on the margins whatever the parametrisation.
    """
    columns = [np.ones((len(cell_codes), 1))]
    kept = []
    for j in range(cell_codes.shape[1]):
        present = np.unique(cell_codes[:, j])
        columns.append((cell_codes[:, j][:, None] == present[None, 1:]).astype(float))
        kept.append(present[1:])
    return np.hstack(columns), kept
