"""The edition's settings blocks: thresholds, quality, weighting, estimation and its significance policy."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from ..significance import Significance
from .models import (
    INTERVAL_METHODS,
    LETTER_ADJUSTMENTS,
    QUALITY_ACTIONS,
    WEIGHTING_METHODS,
    EstimationSettings,
    QualityPolicy,
    Thresholds,
    Trimming,
    WeightingSettings,
)
from .reading import Place
from .schema import WeightingBlock, flat_value


def _thresholds(block: BaseModel | None, at: Place) -> Thresholds:
    thresholds: Thresholds = flat_value(block, Thresholds)
    if not 0 <= thresholds.suppress_base <= thresholds.flag_base:
        raise at.error(
            f"suppress_base {thresholds.suppress_base} is above flag_base {thresholds.flag_base} (or negative)",
            "suppress under a smaller base than the one that flags, e.g. flag_base: 30, suppress_base: 10",
            key="suppress_base",
        )
    if not 0 <= thresholds.max_invalid_share <= 1:
        raise at.error(f"max_invalid_share {thresholds.max_invalid_share} is not a share", "write a proportion, e.g. 0.10", key="max_invalid_share")
    return thresholds


def _quality(block: BaseModel | None, at: Place) -> QualityPolicy:
    policy: QualityPolicy = flat_value(block, QualityPolicy)
    for key in ("speeder_action", "straightliner_action"):
        if getattr(policy, key) not in QUALITY_ACTIONS:
            raise at.error(f"unknown action '{getattr(policy, key)}'", f"use one of {', '.join(QUALITY_ACTIONS)}", key=key)
    return policy


def _weighting(block: WeightingBlock | None, at: Place) -> WeightingSettings:
    if block is None:
        return WeightingSettings()
    method = block.method
    if method not in WEIGHTING_METHODS:
        raise at.error(f"unknown weighting method '{method}'", f"use one of {', '.join(WEIGHTING_METHODS)}", key="method")
    bounds = list(WeightingSettings.bounds) if block.bounds is None else block.bounds
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) or not 0 <= bounds[0] < 1 < bounds[1]:
        raise at.error(f"bounds {bounds} are not [L, U] with 0 <= L < 1 < U", "write the range of w / w0, e.g. bounds: [0.5, 2]", key="bounds")
    if block.bounds is not None and method != "raking_bounded":
        raise at.error(f"bounds are only used by method raking_bounded, not {method}", "remove bounds, or use method: raking_bounded", key="bounds")
    trimming = None
    if block.trimming is not None:
        trimming = _trimming(flat_value(block.trimming, Trimming), method, at.at("trimming"))
    return WeightingSettings(method, (float(bounds[0]), float(bounds[1])), trimming)


def _trimming(trimming: Trimming, method: str, at: Place) -> Trimming:
    if trimming.lower is None and trimming.upper is None:
        raise at.error("trimming needs a lower or an upper cap", "write e.g. trimming: {upper: 3}, in weights of mean 1")
    if not (trimming.lower or 0) <= 1 <= (math.inf if trimming.upper is None else trimming.upper):
        raise at.error(
            f"caps lower {trimming.lower}, upper {trimming.upper} leave out the mean weight 1",
            "weights have mean 1: choose lower <= 1 <= upper",
        )
    if method != "raking":
        # The variance of trimmed weights takes the raking's residuals (R: trimWeights() on a raked design).
        raise at.error(f"trimming is only supported after raking, not after {method}", "use method: raking, or remove trimming")
    return trimming


def _estimation(block: BaseModel | None, at: Place) -> EstimationSettings:
    settings: EstimationSettings = flat_value(block, EstimationSettings)
    if settings.variance not in ("linearised", "jk1"):
        raise at.error(f"unknown variance method '{settings.variance}'", "use 'linearised' or 'jk1'", key="variance")
    if settings.rounding not in ("half_up", "down"):
        raise at.error(f"unknown rounding '{settings.rounding}'", "use 'half_up' or 'down'", key="rounding")
    if settings.letters_adjust not in LETTER_ADJUSTMENTS:
        raise at.error(f"unknown adjustment '{settings.letters_adjust}'", f"use one of {', '.join(LETTER_ADJUSTMENTS)}", key="letters_adjust")
    return settings


def _significance(block: Any, at: Place, language: str) -> Significance:
    """The ``estimation:`` block's level and interval method, the edition's one significance policy."""
    default = Significance()
    level = default.level if block is None or block.level is None else block.level
    interval = default.interval if block is None or block.interval is None else block.interval
    significance = Significance(float(level), interval, language)
    if significance.interval not in INTERVAL_METHODS:
        raise at.error(f"unknown interval method '{significance.interval}'", f"use one of {', '.join(INTERVAL_METHODS)}", key="interval")
    # On alpha (1 - level, rounded): a level of 1 - 1e-13 would test at 0 and draw infinite z.
    if not 0 < significance.alpha < 1:
        raise at.error(
            f"level {significance.level:g} is not a confidence level between 0 and 1",
            f"write the confidence level as a share, e.g. {default.level:g} for {default.level_text}",
            key="level",
        )
    return significance
