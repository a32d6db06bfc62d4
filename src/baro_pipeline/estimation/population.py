"""The rows of ``estimates.parquet`` of one population: every item on the whole population and on every breakdown level, with ranks and significance."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..blas import SMALL_SAMPLE_ROWS
from ..concurrency import Hand, Pending, can_fork
from ..edition import Edition, Population
from ..weighting import SurveySample
from .figures import Spec, by_population, figure_frame, population_estimates
from .items import ItemMatrix, item_matrix
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
    matrix: ItemMatrix | None = None,
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
    ``matrix``: the population's :func:`item_matrix`, when made already.
    """
    frame, design = sample.frame, sample.design
    matrix = item_matrix(frame, population.codebook) if matrix is None else matrix
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


@dataclass(frozen=True)
class Estimates:
    """Every population's rows of ``estimates.parquet`` (:func:`estimate_population`), by
    population and ranked question the covariance of its items on the whole population, and the
    published figures' estimates (:func:`~.figures.figure_frame`: one row per spec)."""

    rows: dict[str, pd.DataFrame]
    on_total: dict[str, dict[str, np.ndarray]]
    figures: pd.DataFrame


@dataclass(frozen=True)
class PopulationEstimates:
    """One population's part of :class:`Estimates`: its rows, its ranked questions' covariances on
    the whole population, and the rows of its figures' specs."""

    rows: pd.DataFrame
    on_total: dict[str, np.ndarray]
    figures: dict[Spec, dict[str, object]]


class Estimating:
    """Every population being estimated (:func:`start_estimates`); :meth:`gathered` waits for them."""

    def __init__(self, pending: Mapping[str, Pending[PopulationEstimates]], specs: Mapping[str, list[Spec]]) -> None:
        self.pending = pending
        self.specs = specs

    def gathered(self) -> Estimates:
        """Each population's estimates, in the order of the samples; a population's error raised as
        it was raised (the first population's first), once every process has ended."""
        for pending in self.pending.values():
            pending.wait()
        found = {pop: pending.result() for pop, pending in self.pending.items()}
        return Estimates(
            {pop: part.rows for pop, part in found.items()},
            {pop: part.on_total for pop, part in found.items()},
            figure_frame(self.specs, {pop: part.figures for pop, part in found.items()}),
        )

    def stop(self) -> None:
        """The processes still estimating killed (the run stopped before it needed them)."""
        for pending in self.pending.values():
            pending.stop()


def start_estimates(
    samples: Mapping[str, SurveySample],
    edition: Edition,
    specs: Iterable[Spec] = (),
    ranked: Callable[[str, pd.DataFrame], None] = lambda pop, table: None,
) -> Estimating:
    """:func:`estimate_population` of every sample and the estimates of its published figures'
    ``specs`` (:func:`~.figures.population_estimates`, from the same item matrix), by population
    (in the order of ``samples``): past SMALL_SAMPLE_ROWS rows (on Linux), each population but the
    first in a process of its own, forked from this one, while this one estimates the first; else
    one after the other, here and now. ``ranked(pop, rows)`` is called with each population's
    rows once ranked, before their rank uncertainties, in this process and this thread (the run
    starts its ranking charts there): one after the other, as soon as they are ranked (the charts
    are drawn on the core the estimation leaves); in processes, when the estimates are gathered
    (:meth:`Estimating.gathered`: drawn while this process waits for the others, the cores left
    to the estimation until then).

    At 1e6 rows × 2, `baro run`'s estimate phase took a median 1.79 s this way, against 2.22 s with a
    thread per population (5 runs each, alternated): threads share one address space, where
    each fresh page of one thread's temporaries stalls the other's page faults and each freed one
    flushes the other core's TLB (a third of their CPU time was the kernel's), besides the
    interpreter's lock (docs/operations.md). The samples' pages are shared, not copied: the run's
    peak memory, processes together, stays the same. A population's figures are estimated in its
    own process: their questions' items are those of its estimates, made once.

    The numbers are those of one process to the bit: each population's are computed by the same
    calls on the same arrays in the same order, and OpenBLAS splits a product by its own thread
    count (threadpoolctl's, inherited by the fork: blas.threads_for). The processes, their messages
    and their exceptions: :class:`~baro_pipeline.concurrency.Pending`.
    """
    groups = by_population(specs)

    def call(pop: str) -> Callable[[Hand], PopulationEstimates]:
        def estimated(hand: Hand) -> PopulationEstimates:
            sample, population = samples[pop], edition.populations[pop]
            items = item_matrix(sample.frame, population.codebook)
            on_total: dict[str, np.ndarray] = {}
            rows = estimate_population(sample, population, edition, hand, on_total, items)
            return PopulationEstimates(rows, on_total, population_estimates(groups[pop], edition, sample, items) if pop in groups else {})
        return estimated

    def pending(pop: str, forked: bool, held: bool = False) -> Pending[PopulationEstimates]:
        return Pending(call(pop), functools.partial(ranked, pop), forked, f"baro-estimate-{pop}", held)

    if not (can_fork() and max((len(sample.frame) for sample in samples.values()), default=0) > SMALL_SAMPLE_ROWS):
        return Estimating({pop: pending(pop, False) for pop in samples}, groups)
    first, *others = samples
    forked = {pop: pending(pop, True) for pop in others}
    try:
        here = pending(first, False, held=True)
    except BaseException:
        Estimating(forked, groups).stop()  # no process left estimating for a run that fails
        raise
    return Estimating({first: here, **forked}, groups)  # the order of the samples
