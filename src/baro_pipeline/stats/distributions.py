"""The distribution functions a run needs, from scipy.special, equal to scipy.stats' bit for bit.

Importing scipy.stats costs a run ~0.5 s of a core (it writes every distribution's docstring at
import); its ``t`` and ``norm`` methods are these special functions behind argument checks. The
tests check them against scipy.stats; the rarer statistics (Rao-Scott, the beta and likelihood
intervals) still import scipy.stats where they need it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special


def t_isf(q: ArrayLike, df: ArrayLike) -> np.ndarray:
    """``scipy.stats.t.isf(q, df)`` for 0 < q < 1: the t quantile exceeded with probability q; NaN where df <= 0."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        quantile: np.ndarray = np.where(df > 0, -special.stdtrit(df, q), np.nan)[()]
    return quantile


def t_sf(x: ArrayLike, df: ArrayLike) -> np.ndarray:
    """``scipy.stats.t.sf(x, df)``: P(T > x) on df degrees of freedom (NaN where df <= 0)."""
    probability: np.ndarray = special.stdtr(df, np.negative(x))
    return probability


def norm_isf(q: ArrayLike) -> np.ndarray:
    """``scipy.stats.norm.isf(q)`` for 0 < q < 1, q != 0.5 (there scipy's zero has the other sign)."""
    quantile: np.ndarray = np.negative(special.ndtri(q))
    return quantile


def norm_sf(x: ArrayLike) -> np.ndarray:
    """``scipy.stats.norm.sf(x)``: P(Z > x)."""
    probability: np.ndarray = special.ndtr(np.negative(x))
    return probability
