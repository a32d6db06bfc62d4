"""Numpy/scipy kernels of the survey statistics, each reproducing R's ``survey`` package.

Functions take arrays and return frozen dataclasses; no pandas, no Prefect. docs/statistics.md
says how each statistic is computed and what it matches in R.
"""

from .calibration import (
    CalibrationResult,
    calibrate_linear,
    calibrate_raking_bounded,
    design_from_calibration,
    kish_deff,
    rake,
    trim_weights,
)
from .design import Design
from .intervals import INTERVAL_METHODS, SvycipropTerms, proportion_ci, svyciprop_terms
from .ranks import RankUncertainty, covariance_from_pair_sums, difference_se, own_base_covariance, pair_sums, rank_uncertainty, rescaled, separations
from .replicates import jk1_rake
from .significance import (
    ADJUSTMENTS,
    ChisqResult,
    DifferenceResult,
    adjusted_p_values,
    difference_from_sums,
    domain_difference,
    independent_difference,
    pairwise_differences,
    rest_differences,
    svychisq,
    versus_rest,
)
from .variance import (
    BINARY_TABLE,
    CodedItems,
    DomainSums,
    MeanEstimates,
    binary_column,
    coded_column,
    domain_means,
    influence_values,
    item_sums,
    svymean,
    variance_layout,
    variance_matrix,
)

__all__ = [
    "ADJUSTMENTS",
    "BINARY_TABLE",
    "INTERVAL_METHODS",
    "CalibrationResult",
    "CodedItems",
    "ChisqResult",
    "Design",
    "DifferenceResult",
    "DomainSums",
    "MeanEstimates",
    "RankUncertainty",
    "SvycipropTerms",
    "adjusted_p_values",
    "binary_column",
    "calibrate_linear",
    "calibrate_raking_bounded",
    "coded_column",
    "covariance_from_pair_sums",
    "design_from_calibration",
    "difference_from_sums",
    "difference_se",
    "domain_difference",
    "domain_means",
    "independent_difference",
    "influence_values",
    "item_sums",
    "jk1_rake",
    "kish_deff",
    "own_base_covariance",
    "pair_sums",
    "pairwise_differences",
    "proportion_ci",
    "rake",
    "rank_uncertainty",
    "rescaled",
    "rest_differences",
    "separations",
    "svychisq",
    "svyciprop_terms",
    "svymean",
    "trim_weights",
    "variance_layout",
    "variance_matrix",
    "versus_rest",
]
