"""The rows of ``estimates.parquet`` of one population: every item on the whole population and on every breakdown level, with ranks and significance."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping

import numpy as np
import pandas as pd

from .. import memory
from ..blas import SMALL_SAMPLE_ROWS
from ..concurrency import at_once
from ..edition import Edition, Population
from ..weighting import SurveySample
from .items import item_matrix
from .levels import breakdown_levels, higher_levels, level_estimates, level_p_values
from .ranks import rank_uncertainties, ranked_items, ranks


KEY_COLUMNS = (
    "edition", "population", "question", "item", "item_label", "kind", "base",
    "breakdown", "breakdown_level", "breakdown_label",
)
POPULATION_COLUMNS = KEY_COLUMNS + (
    "n", "n_weighted", "n_eff", "estimate", "se", "se_method", "se_kish", "ci_low", "ci_high",
    "ci_method", "level", "moe_pts", "deff", "pct", "rank", "top_n", "p_top", "rank_low", "rank_high", "small_base", "suppressed", "significant", "p_value",
    "higher_than",
)


def estimate_population(
    sample: SurveySample,
    population: Population,
    edition: Edition,
    ranked: Callable[[pd.DataFrame], object] = lambda table: None,
    on_total: MutableMapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Every row of ``estimates.parquet`` for one population: every item × (total + breakdown levels).

    One :func:`estimate_items` call on the domains matrix of all levels; ``significant`` says
    whether a level differs from the rest of its population at the edition's test level (``p_value``
    under ``edition.significance.alpha``; false for the
    total, for suppressed rows and for the breakdown variable's own items, which the level fixes);
    ``higher_than`` lists the levels of the same breakdown it is significantly above
    (:func:`higher_levels`: small bases, suppressed rows and those own items are not tested);
    ``rank`` ranks the answer codes of each multi question and the rows of each grid
    (:func:`ranked_items`), ``p_top``, ``rank_low`` and
    ``rank_high`` say how sure that rank is (:func:`rank_uncertainties`). ``ranked(rows)`` is
    called with the rows once ranked, before those uncertainties (the most of the time of a small
    sample): the run's ranking charts need the ranks only. ``on_total``, when given, receives the
    covariance of each ranked question's items on the whole population (:func:`rank_uncertainties`).
    """
    frame, design = sample.frame, sample.design
    matrix = item_matrix(frame, population.codebook)
    levels = breakdown_levels(frame, population)
    d, k = levels.masks.shape[1], len(matrix.items)
    stats_table, sums = level_estimates(design, matrix, levels, edition)
    items = matrix.items.iloc[np.tile(np.arange(k), d)].reset_index(drop=True)
    keys = levels.keys.iloc[np.repeat(np.arange(d), k)].reset_index(drop=True)
    # An item of the breakdown variable itself is fixed by the level (1 or 0): nothing to test.
    own_level = (keys["breakdown"] == items["question"]).to_numpy()
    p_value = np.where(stats_table["suppressed"] | own_level, np.nan, level_p_values(design, sums, levels).ravel())
    testable = ~(stats_table["small_base"] | stats_table["suppressed"] | stats_table["estimate"].isna()).to_numpy() & ~own_level
    higher_than = higher_levels(design, matrix, levels, testable.reshape(d, k), edition.significance, edition.estimation.letters_adjust, sums)
    table = pd.concat([items, keys, stats_table], axis=1).assign(
        edition=edition.id, population=population.id, p_value=p_value, significant=edition.significance.significant(p_value), higher_than=higher_than
    )
    table = table.assign(rank=ranks(table, ranked_items(items, population.codebook)))
    ranked(table)
    uncertainty = rank_uncertainties(table, matrix, levels, design, population.codebook, edition.estimation, edition.significance.level, on_total)
    return pd.concat([table, uncertainty], axis=1)[list(POPULATION_COLUMNS)]


def estimate_populations(
    samples: Mapping[str, SurveySample],
    edition: Edition,
    ranked: Callable[[str, pd.DataFrame], object] = lambda pop, table: None,
    on_total: Mapping[str, MutableMapping[str, np.ndarray]] | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`estimate_population` of every sample, by population (in the order of ``samples``),
    each in a thread of its own past SMALL_SAMPLE_ROWS rows. ``ranked(pop, rows)`` is called with
    each population's rows as soon as they are ranked, before their rank uncertainties, in the
    thread that estimates it and in this thread's context (the run starts its ranking charts there,
    drawn while the uncertainties and the next population are estimated). ``on_total[pop]``, when
    given, receives each ranked question's covariance on the whole population (:func:`estimate_population`).

    numpy, scipy.sparse and OpenBLAS release the GIL on large arrays: at 1e6 rows × 2 the stage
    takes 20–30 % less wall time (the heaviest sums already share the cores: stats.sums) for
    ~90–130 MiB more at its peak. On small samples Python holds the GIL most of the time.

    The numbers are those of one thread to the bit: each population's are computed by the same
    calls on the same arrays in the same order, whichever thread runs them, and OpenBLAS (its
    pthreads build, numpy's and scipy's) splits a product by its own thread count (threadpoolctl's,
    process-wide: blas.threads_for), not by how many threads call it at once. The threads, their
    context and their exceptions: :func:`~baro_pipeline.concurrency.at_once`.
    """
    def rows(pop: str) -> pd.DataFrame:
        return estimate_population(samples[pop], edition.populations[pop], edition, functools.partial(ranked, pop), None if on_total is None else on_total[pop])

    threaded = max((len(sample.frame) for sample in samples.values()), default=0) > SMALL_SAMPLE_ROWS
    found = dict(zip(samples, at_once([functools.partial(rows, pop) for pop in samples], threaded, "baro-estimate")))
    if threaded:
        memory.malloc_trim()  # what the threads freed: their heaps serve no array of the run's thread
    return found
