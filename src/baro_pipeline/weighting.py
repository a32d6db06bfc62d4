"""Weighting stage: calibrate each population's kept respondents to its targets.

A DataFrame wrapper around the numpy kernels of :mod:`baro_pipeline.stats.calibration`: raking
(R: ``survey::rake()``, the default), linear calibration (GREG: ``calibrate(calfun = "linear")``)
or bounded raking (``calibrate(calfun = "raking", bounds = c(L, U))``), as the edition's
``weighting`` block says, then trimming if asked (``trimWeights()``). It turns the edition's
targets into category codes and population totals, checks that every target category is present
in the sample, and returns a frozen :class:`RakeResult` whose ``design`` stores the calibration so
that variances account for it (as R's calibrated designs do). :func:`weighted_sample` is the
stage: a population's :class:`~baro_pipeline.validation.Validated` rows in, the
:class:`SurveySample` that estimation and the audits take out (R: one ``svydesign`` object).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .edition import Population, TargetVariable, Trimming, WeightingSettings
from .errors import WeightingError
from .validation import RowCounts, Validated, all_distinct
from .stats import CalibrationResult, Design, calibrate_linear, calibrate_raking_bounded, design_from_calibration, kish_deff, rake, trim_weights

RAKING = WeightingSettings()  # an edition's weighting when it names none: raking, no trimming


@dataclass(frozen=True, eq=False)
class RakeResult:
    """Weights of one population (mean 1) with the diagnostics of ``weighting.parquet``."""

    population: str
    weights: np.ndarray
    method: str
    iterations: int
    converged: bool
    max_margin_error: float
    kish_deff: float
    efficiency: float
    min_weight: float
    max_weight: float
    trimming: str
    design: Design


@dataclass(frozen=True, eq=False)
class SurveySample:
    """One population's kept respondents with their weights: what the stages after weighting take.

    ``frame`` holds the kept rows indexed by respondent id (the codebook's id column, moved to
    the index) and ``weights`` is a Series on the same index, so that ids and weights never pair by
    position. ``design`` (``weighting.design``) holds arrays in the frame's row order, as the numpy
    kernels need: ``__post_init__`` checks that invariant. ``weighting`` carries the diagnostics of
    ``weighting.parquet``; ``counts`` and ``quarantine`` are the validation's.
    """

    population: str
    frame: pd.DataFrame
    weights: pd.Series
    weighting: RakeResult
    counts: RowCounts
    quarantine: pd.DataFrame

    def __post_init__(self) -> None:
        where = f"population {self.population}, weighted sample"
        fix = "build the sample with weighting.weighted_sample (a bug of the pipeline otherwise)"
        if not all_distinct(self.frame.index):
            raise WeightingError("respondent ids of the kept rows are not unique", where=where, fix=fix)
        if not self.weights.index.equals(self.frame.index):
            raise WeightingError("the weights are not on the index of the kept rows", where=where, fix=fix)
        if not np.array_equal(self.weights.to_numpy(), self.design.weights):
            raise WeightingError(f"the design's {self.design.n} weights are not the sample's, row by row", where=where, fix=fix)

    @property
    def design(self) -> Design:
        return self.weighting.design


def target_codes(frame: pd.DataFrame, population: Population, target: TargetVariable) -> np.ndarray:
    """Category index (0..K-1, in the order of the target's shares) of each respondent, in the
    smallest unsigned type that holds K: the design keeps them for the whole run (at 1e6
    respondents, a byte each rather than 8 per variable)."""
    question = population.codebook.question(target.variable)
    values = frame[question.column].to_numpy(dtype=float)
    codes: np.ndarray = pd.Index([float(c) for c in target.shares]).get_indexer(values)
    if (codes < 0).any():
        bad = pd.unique(values[codes < 0])
        raise WeightingError(
            f"weighting variable '{target.variable}' (column {question.column}) has value(s) "
            f"{[None if np.isnan(v) else v for v in bad.tolist()]} with no target",
            where=f"population {population.id}",
            fix="add the category to the targets, or correct the export (validation should have quarantined it)",
        )
    return codes.astype(np.min_scalar_type(len(target.shares)))


def target_totals(n: int, target: TargetVariable) -> np.ndarray:
    """Population totals of each category, scaled so that the weights have mean 1."""
    return np.array(list(target.shares.values()), dtype=float) * n


def check_sample_cells(codes: np.ndarray, population: Population, target: TargetVariable) -> None:
    """A category with a positive target must hold respondents, and one with a zero target none."""
    counts = np.bincount(codes, minlength=len(target.shares))
    question = population.codebook.question(target.variable)
    for (code, share), count in zip(target.shares.items(), counts):
        if share > 0 and count == 0:
            raise WeightingError(
                f"target category {code} '{question.code_label(code)}' of '{target.variable}' "
                f"(share {share:.4g}) has no respondent in the sample",
                where=f"population {population.id}, targets of '{target.variable}'",
                fix="merge this category with a neighbour in the targets and the codebook, or check the export's quotas",
            )
        if share == 0 and count > 0:
            raise WeightingError(
                f"{count} respondent(s) in category {code} '{question.code_label(code)}' of '{target.variable}', "
                "whose target share is 0",
                where=f"population {population.id}, targets of '{target.variable}'",
                fix="give the category its population share, or remove those respondents from the export",
            )


def calibrated(codes: list[np.ndarray], totals: list[np.ndarray], settings: WeightingSettings, tol: float, max_iter: int) -> CalibrationResult:
    """Weights meeting the margins by the edition's method (base weights 1)."""
    if settings.method == "linear":
        return calibrate_linear(codes, totals)
    if settings.method == "raking_bounded":
        return calibrate_raking_bounded(codes, totals, bounds=settings.bounds, tol=tol, max_iter=max_iter)
    return rake(codes, totals, None, tol=tol, max_iter=max_iter)


def trimming_text(trimming: Trimming | None, result: CalibrationResult | None) -> str:
    """``weighting.parquet``'s ``trimming``: the caps, the passes made and what is left outside."""
    if trimming is None or result is None:
        return "none"
    caps = f"lower {trimming.lower if trimming.lower is not None else '-'}, upper {trimming.upper if trimming.upper is not None else '-'}"
    passes = f"{result.iterations} pass{'es' if result.iterations != 1 else ''}"
    kind = "strict" if trimming.strict else "one pass, as R"
    return f"{caps} ({kind}; {passes}{'' if result.converged else ', weights still outside'})"


def weight_population(
    frame: pd.DataFrame,
    population: Population,
    settings: WeightingSettings = RAKING,
    *,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> RakeResult:
    """Calibrate the kept respondents of one population to its targets, then trim if asked.

    R: ``rake()``, ``calibrate(calfun = "linear")`` or ``calibrate(calfun = "raking", bounds)``
    on ``svydesign(ids = ~1, weights = ~1)``, then ``trimWeights(design, upper, lower, strict)``.
    Weights have mean 1. Trimming after raking keeps the raking's margins in the design: the
    variance still takes its residuals, as R's trimmed design does.
    """
    n = len(frame)
    if n == 0:
        raise WeightingError("no respondent left to weight", where=f"population {population.id}", fix="check the export and the quarantine")
    codes = [target_codes(frame, population, t) for t in population.targets.variables]
    for c, t in zip(codes, population.targets.variables):
        check_sample_cells(c, population, t)
    totals = [target_totals(n, t) for t in population.targets.variables]
    calibration = calibrated(codes, totals, settings, tol, max_iter)
    if not calibration.converged:
        raise WeightingError(
            f"{calibration.method} did not converge in {calibration.iterations} iterations (max margin error {calibration.max_margin_error:.3g})",
            where=f"population {population.id}",
            fix="check the targets against the sample (empty or tiny cells), or merge sparse categories",
        )
    trimmed = None
    if (trimming := settings.trimming) is not None:
        trimmed = trim_weights(calibration.weights, lower=trimming.lower, upper=trimming.upper, strict=trimming.strict, codes=codes, totals=totals)
    final = trimmed or calibration
    weights = final.weights
    deff = kish_deff(weights)
    return RakeResult(
        population=population.id,
        weights=weights,
        method=calibration.method,
        iterations=calibration.iterations,
        converged=calibration.converged,
        max_margin_error=final.max_margin_error,
        kish_deff=deff,
        efficiency=1.0 / deff,
        min_weight=float(weights.min()),
        max_weight=float(weights.max()),
        trimming=trimming_text(settings.trimming, trimmed),
        design=design_from_calibration(final, codes, calibrated_weights=None if trimmed is None else calibration.weights),
    )


def weighted_sample(validated: Validated, population: Population, settings: WeightingSettings = RAKING) -> SurveySample:
    """The kept rows of one population, indexed by respondent id, with their calibrated weights."""
    result = weight_population(validated.frame, population, settings)
    frame = validated.frame.set_index(population.codebook.columns.id)
    return SurveySample(
        population=population.id,
        frame=frame,
        weights=pd.Series(result.weights, index=frame.index, name="weight", copy=False),  # the design's own array, not a copy
        weighting=result,
        counts=validated.counts,
        quarantine=validated.quarantine,
    )


def weighting_table(edition_id: str, samples: Mapping[str, SurveySample]) -> pd.DataFrame:
    """Rows of ``weighting.parquet``: one per population."""
    return pd.DataFrame(
        [
            {
                "edition": edition_id,
                "population": r.population,
                "method": r.method,
                "n": len(r.weights),
                "iterations": r.iterations,
                "converged": r.converged,
                "max_margin_error": r.max_margin_error,
                "kish_deff": r.kish_deff,
                "efficiency": r.efficiency,
                "min_weight": r.min_weight,
                "max_weight": r.max_weight,
                "trimming": r.trimming,
            }
            for r in (sample.weighting for sample in samples.values())
        ]
    )


def weights_table(samples: Mapping[str, SurveySample]) -> pd.DataFrame:
    """Rows of ``weights.parquet``: one per kept respondent (population, respondent id, weight)."""
    return pd.concat(
        [
            # .array: the ids stay Arrow texts (to_numpy would make a Python string of each, ~0.3 s at 1e6)
            pd.DataFrame({"population": pop, "respondent_id": sample.weights.index.astype(str).array, "weight": sample.weights.to_numpy()})
            for pop, sample in samples.items()
        ],
        ignore_index=True,
    )
