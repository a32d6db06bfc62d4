"""The public face of the linearised (Taylor) variance of domain means, as R's survey.

The work is split by job: :mod:`.layout` (what a design's variance needs, once per design),
:mod:`.sums` (sums of item matrices by row blocks), :mod:`.coded` (the same sums as counts of
coded items) and :mod:`.linearised` (influence totals, variance, degrees of freedom, svymean;
its docstring says how the variance is computed). This module re-exports what the rest of the
package, the tests and the benchmarks import.
"""

from .coded import (
    BINARY_TABLE,
    AnswerCounts,
    CodedItems,
    CountedItems,
    Items,
    binary_column,
    class_answer_counts,
    coded_column,
    coded_counts,
    counted_answers,
    counted_sums,
    is_coded,
    item_sums,
)
from .layout import VarianceLayout, WeightClasses, residual_weights, sum_by, variance_layout, weight_classes
from .linearised import (
    MeanEstimates,
    as_items,
    degrees_of_freedom,
    domain_means,
    influence_values,
    linearised_variance,
    mean_influence,
    svymean,
    variance_matrix,
)
from .sums import DomainSums

__all__ = [
    "AnswerCounts",
    "BINARY_TABLE",
    "CodedItems",
    "CountedItems",
    "DomainSums",
    "Items",
    "MeanEstimates",
    "VarianceLayout",
    "WeightClasses",
    "as_items",
    "binary_column",
    "class_answer_counts",
    "coded_column",
    "coded_counts",
    "counted_answers",
    "counted_sums",
    "degrees_of_freedom",
    "domain_means",
    "influence_values",
    "is_coded",
    "item_sums",
    "linearised_variance",
    "mean_influence",
    "residual_weights",
    "sum_by",
    "svymean",
    "variance_layout",
    "variance_matrix",
    "weight_classes",
]
