"""Estimation stage: every item of every question as a share (or a mean) with its design-based SE.

The codebook's questions become the columns of one respondents × items matrix
(:func:`item_matrix`): 1/0 for an answer code, a net or a derived indicator (the value itself for
a numeric question), NaN outside the item's base. The item keys and bases are those of
``docs/edition-format.md`` ("Items and bases"):

==========================================  ==========  ============  ===========
indicator                                   question    item          kind
==========================================  ==========  ============  ===========
answer code c of a single or multi question question id ``"c"``       ``code``
net n                                       question id ``"n"``       ``net``
grid row r, code c / net n                  question id ``"r:c"``     ``code``/``net``
derived indicator d                         ``d``       ``d``         ``derived``
numeric question (mean)                     question id question id   ``mean``
==========================================  ==========  ============  ===========

The base of a question's item is the respondents asked (``asked_if``) who gave a code that counts
in the base (answers, and not-answers with ``in_base: true``); for a multi question, who ticked at
least one such code. Not-answer codes out of the base have no item. Profile (quota) variables
are items too (kind ``code``), so that the sample's structure is visible; open-text questions
never are.

:func:`estimate_items` turns such a matrix into estimates with the kernels of
:mod:`baro_pipeline.stats` (R ``survey``: ``svymean``, ``svyby``, ``svyciprop``), and
:func:`estimate_population` makes the rows of ``estimates.parquet`` for one population: every
item on the whole population and on every level of its breakdowns, in one matrix call.
"""

# The stage's names, from the module of each part (``from baro_pipeline.estimation import estimate_population``).
from .answers import Answers, question_answers, ranked_answers
from .figures import FIGURE_COLUMNS, Spec, figure_estimates
from .estimates import ESTIMATE_COLUMNS, SUPPRESSED_COLUMNS, estimate_items, published_round
from .items import ItemMatrix, code_states, coded_indicator, indicator_items, indicator_values, item_matrix, question_items
from .levels import TOTAL, Levels, higher_levels
from .mirrors import MIRROR_COLUMNS, mirror_comparisons
from .population import POPULATION_COLUMNS, Estimates, Estimating, estimate_population, start_estimates
from .ranks import RANK_DECIMALS, rank_uncertainties, ranked_covariance

__all__ = [
    "Answers",
    "ESTIMATE_COLUMNS",
    "FIGURE_COLUMNS",
    "MIRROR_COLUMNS",
    "POPULATION_COLUMNS",
    "RANK_DECIMALS",
    "SUPPRESSED_COLUMNS",
    "Spec",
    "TOTAL",
    "Estimates",
    "Estimating",
    "ItemMatrix",
    "Levels",
    "code_states",
    "coded_indicator",
    "estimate_items",
    "estimate_population",
    "figure_estimates",
    "higher_levels",
    "indicator_items",
    "indicator_values",
    "item_matrix",
    "mirror_comparisons",
    "published_round",
    "question_answers",
    "question_items",
    "rank_uncertainties",
    "ranked_answers",
    "ranked_covariance",
    "start_estimates",
]
