"""Trends: every item two editions share, both estimates, the change and whether it is significant.

An edition names its predecessor (``previous:`` in ``edition.yaml``); each of its questions names
its id there (``was:``), and ``dropped:`` lists the predecessor's questions that were not carried
over. With those links, :func:`trends_table` pairs the rows of the two ``estimates.parquet``
on (population, question through ``was:``, item, breakdown, breakdown level):

- a renamed question (``id: Q7b``, ``was: Q7``) pairs with its old id; a split question (two
  questions with ``was: Q4``) pairs each part's items with the old question's items of the same
  key; a new question (no ``was:``) and a dropped one pair with nothing;
- derived indicators pair by their id; profile (quota) variables are not trended: raking sets them
  to the targets, so their change is the targets' change, not a finding;
- breakdown levels pair by the profile variable's id and code.

The change is in points for shares (× 100) and in the item's unit for means; its SE treats the
two editions as independent samples, each with its design-based SE: sqrt(se1² + se2²)
(:func:`baro_pipeline.stats.significance.independent_difference`, a normal test). A change is
significant when its two-sided p-value is under the edition's test level (``Edition.significance``:
1 − its confidence level).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .edition import Edition, load_edition
from .errors import EditionError
from .outputs import edition_folder
from .stats.significance import independent_difference

KEYS = ("population", "question", "item", "breakdown", "breakdown_level")
MEASURES = ("n", "estimate", "se", "pct")
TREND_COLUMNS = (
    "edition", "previous_edition", "population", "question", "previous_question", "item", "item_label", "kind",
    "breakdown", "breakdown_level", "breakdown_label",
    "n_previous", "estimate_previous", "se_previous", "pct_previous", "n", "estimate", "se", "pct",
    "change_pts", "se_change_pts", "z", "p_value", "significant",
)


@dataclass(frozen=True, eq=False)
class PreviousRun:
    """The predecessor of an edition and the estimates of its last run."""

    edition: Edition
    estimates: pd.DataFrame


def previous_run(root: Path, edition: Edition) -> PreviousRun | None:
    """The edition's predecessor with its estimates, or None when it has none or it has not been run."""
    if edition.previous is None:
        return None
    file = edition_folder(root, edition.previous) / "estimates.parquet"
    if not file.exists():
        return None
    return PreviousRun(load_edition(edition.previous, root), pd.read_parquet(file))


def dropped_question(entry: str, previous: Edition) -> tuple[str, ...]:
    """The populations whose question an entry of ``dropped:`` names (``Q7`` or ``ps.Q7``)."""
    population, _, qid = entry.rpartition(".")
    populations = [population] if population else list(previous.populations)
    return tuple(p for p in populations if p in previous.populations and qid in {q.id for q in previous.populations[p].codebook.questions})


def question_links(edition: Edition, previous: Edition) -> pd.DataFrame:
    """(population, question, previous_question) of every linked question and derived indicator.

    Raises :class:`EditionError` for a ``was:`` or ``dropped:`` naming a question the predecessor
    does not have, and for a predecessor's question neither carried over nor dropped.
    """
    for entry in edition.dropped:
        if not dropped_question(entry, previous):
            raise EditionError(
                f"dropped question '{entry}' is not a question of edition {previous.id}",
                where=f"{edition.folder / 'edition.yaml'}: key 'dropped'",
                fix=f"name a question of edition {previous.id} (Q7, or ps.Q7 for one population), or remove the entry",
            )
    rows = []
    for pid, population in edition.populations.items():
        before = previous.populations.get(pid)
        old_ids = {q.id for q in before.codebook.questions} if before else set()
        for q in population.codebook.questions:
            if q.was is None:
                continue
            if q.was not in old_ids:
                raise EditionError(
                    f"question {q.id} of population {pid} was '{q.was}', which edition {previous.id} does not have",
                    where=f"codebook of population {pid} of edition {edition.id}: key 'questions.{q.id}.was'",
                    fix=f"name its id in edition {previous.id}, or delete `was:` if the question is new",
                )
            rows.append((pid, q.id, q.was))
        carried = {old for p, _, old in rows if p == pid}
        dropped = {e.rpartition(".")[2] for e in edition.dropped if pid in dropped_question(e, previous)}
        unaccounted = sorted(old_ids - carried - dropped)
        if unaccounted:
            raise EditionError(
                f"question(s) {', '.join(unaccounted)} of population {pid} in edition {previous.id} are neither carried over nor dropped",
                where=f"edition {edition.id}",
                fix=f"add `was: {unaccounted[0]}` to the question that continues it, or list '{pid}.{unaccounted[0]}' under `dropped:` in edition.yaml",
            )
        old_derived = {d.id for d in before.codebook.derived} if before else set()
        rows += [(pid, d.id, d.id) for d in population.codebook.derived if d.id in old_derived]
    return pd.DataFrame(rows, columns=["population", "question", "previous_question"])


def trends_table(edition: Edition, previous: PreviousRun, estimates: pd.DataFrame) -> pd.DataFrame:
    """``trends.parquet``: one row per item × breakdown level the two editions share (columns
    :data:`TREND_COLUMNS`), in the order of the edition's estimates."""
    links = question_links(edition, previous.edition)
    current = estimates.merge(links, on=["population", "question"], how="inner", sort=False)
    before = previous.estimates[list(KEYS + MEASURES)].rename(columns={"question": "previous_question", **{m: f"{m}_previous" for m in MEASURES}})
    paired = current.merge(before, on=["population", "previous_question", "item", "breakdown", "breakdown_level"], how="inner", sort=False)
    # Points for shares, the item's own unit for means (as moe_pts in estimates.parquet).
    scale = np.where(paired["kind"].to_numpy() == "mean", 1.0, 100.0)
    diff = independent_difference(paired["estimate"], paired["se"], paired["estimate_previous"], paired["se_previous"])
    return paired.assign(
        edition=edition.id,
        previous_edition=previous.edition.id,
        change_pts=diff.diff * scale,
        se_change_pts=diff.se * scale,
        z=diff.z,
        p_value=diff.p,
        significant=edition.significance.significant(diff.p),
    )[list(TREND_COLUMNS)].reset_index(drop=True)
