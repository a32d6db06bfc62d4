"""The edition's significance policy: one confidence level, interval method and test level.

Read once from the ``estimation:`` block of ``edition.yaml`` (``Edition.significance``) and passed
to every stage that draws an interval or tests a difference: estimation (intervals, MOE,
``significant``, ``mirror_significant``), trends, the audit (its CI and "within MOE"), the report
and the crosstabs (their letters and texts). A difference is significant when its two-sided
p-value is under ``alpha`` = 1 − ``level``, so a test and an interval of the same policy agree:
a difference is significant exactly when its ± z SE interval excludes 0. See docs/statistics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


# 1 - 0.95 is 0.050000000000000044: alpha is rounded so that p < alpha means p < 0.05.
ALPHA_DECIMALS = 12
DECIMAL_MARKS = {"fr": ",", "en": "."}  # the audit's reasons are English, the report's in the edition's language


@dataclass(frozen=True)
class Significance:
    """Confidence level of every interval, its method for shares, and the test level (1 − level)."""

    level: float = 0.95
    interval: str = "logit"  # R svyciprop's method for shares (means: ± t SE)
    language: str = "fr"  # the edition's language, for level_text

    @property
    def alpha(self) -> float:
        """The test level: two-sided p-values under it are significant (0.05 at 95 %)."""
        return round(1 - self.level, ALPHA_DECIMALS)

    @property
    def z(self) -> float:
        """The two-sided normal quantile of the level (1.959964 at 95 %): a difference ± z SE."""
        from .stats.distributions import norm_isf  # here: the stats package (scipy) is no import of loading an edition

        return float(norm_isf(self.alpha / 2))

    def significant(self, p: ArrayLike) -> np.ndarray:
        """Whether each two-sided p-value is under alpha (a missing p-value is not significant)."""
        flags: np.ndarray = np.nan_to_num(np.asarray(p, dtype=float), nan=1.0) < self.alpha
        return flags

    def percent_in(self, language: str) -> str:
        """The level in percent as a language writes it: "95", "97,5" (French), "97.5" (English)."""
        return f"{round(self.level * 100, ALPHA_DECIMALS):g}".replace(".", DECIMAL_MARKS[language])

    @property
    def percent(self) -> str:
        """The level in percent in the edition's language ("95")."""
        return self.percent_in(self.language)

    @property
    def level_text(self) -> str:
        """The level as the edition's texts print it: "95 %"."""
        return f"{self.percent} %"
