"""Who answers what: the respondents picked by propensity so that their weight is the target
share (one swap across the cut refines it); no Python loop over respondents.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from ..errors import EditionError
from .model import SHARE_TOLERANCE

SWAP_WINDOW = 64  # members on each side of a cut among which the fine-tuning swap is sought


def ranked(pool: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``pool`` from the highest score to the lowest.

    Scores hold continuous noise, so they have no ties and any sort gives the same order: the
    default (fastest) one is used.
    """
    return pool[np.argsort(-score[pool])]


def picked(ranked_pool: np.ndarray, weights: np.ndarray, target: float) -> npt.NDArray[np.bool_]:
    """Which of ``ranked_pool`` (a mask) get an answer whose total weight should be ``target``.

    The first ones, up to the cut whose cumulative weight is closest to the target; then the one
    swap of a respondent just inside the cut with one just outside that best cancels the rest of
    the error (the granularity of one respondent's weight), keeping the ranking almost intact.
    """
    w = weights[ranked_pool]
    cum = np.concatenate(([0.0], np.cumsum(w)))
    cut = min(int(np.searchsorted(cum, target)), len(w))
    if cut > 0 and abs(cum[cut - 1] - target) <= abs(cum[cut] - target):
        cut -= 1
    mask = np.zeros(len(w), bool)
    mask[:cut] = True
    error = cum[cut] - target
    inside, outside = np.arange(max(cut - SWAP_WINDOW, 0), cut), np.arange(cut, min(cut + SWAP_WINDOW, len(w)))
    if len(inside) and len(outside):
        residual = np.abs(error - (w[inside][:, None] - w[outside][None, :]))
        i, j = np.unravel_index(np.argmin(residual), residual.shape)
        if residual[i, j] < abs(error):
            mask[inside[i]], mask[outside[j]] = False, True
    return mask


def top(pool: np.ndarray, weights: np.ndarray, score: np.ndarray, target: float) -> np.ndarray:
    """The highest-scored members of ``pool`` whose total weight is closest to ``target``."""
    order = ranked(pool, score)
    return order[picked(order, weights, target)]


def partitioned(pool: np.ndarray, weights: np.ndarray, scores: Mapping[int, np.ndarray], targets: Mapping[int, float]) -> np.ndarray:
    """One label per member of ``pool``: label by label (in ``targets`` order), the highest-scored
    members left whose weight is closest to its target; the last label takes the rest."""
    labels = list(targets)
    out = np.full(len(pool), labels[-1], dtype=np.int64)
    free = np.ones(len(pool), bool)
    rankings: dict[int, np.ndarray] = {}  # labels sharing a score array share one sort
    for label in labels[:-1]:
        score = scores[label]
        if id(score) not in rankings:
            rankings[id(score)] = np.argsort(-score[pool])
        order = rankings[id(score)]
        positions = order[free[order]]
        chosen = positions[picked(pool[positions], weights, targets[label])]
        out[chosen] = label
        free[chosen] = False
    return out


def covering_ticks(
    covers: list[tuple[np.ndarray, list[int]]],
    domains: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
    targets: np.ndarray,
    capacity: int,
    names: list[str],
    where: str,
) -> np.ndarray:
    """Ticks (respondents × items, ``names`` for messages) with each item's total weight at its target.

    Each member of a cover ``(members, items)`` ticks at least one of its items: first one each (a
    partition, items sharing the cover in proportion to their targets), then extra ticks, item by
    item, among the respondents of its domain (``domains[:, j]``) who have not ticked it and are
    under ``capacity``.
    """
    ticks = np.zeros_like(domains, dtype=bool)
    for members, items in covers:
        weight = weights[members].sum()
        wanted = targets[items]
        if len(members) and wanted.sum() < weight * (1 - SHARE_TOLERANCE):
            raise EditionError(
                f"{', '.join(names[j] for j in items)} must cover {weight:.1f} of weight but their shares only add up to {wanted.sum():.1f}",
                where=where,
                fix="raise the shares of the codes (or rows) of that union, or lower the union's share",
            )
        if len(members) == 0:
            continue
        first = dict(sorted(zip(items, wanted * weight / wanted.sum()), key=lambda kv: -kv[1]))
        labels = partitioned(members, weights, {j: scores[:, j] for j in first}, first)
        ticks[members, labels] = True
    if (ticks.sum(axis=1) > capacity).any():
        raise EditionError(f"respondents in several unions tick more than {capacity} answer(s)", where=where, fix="raise max_answers, or declare fewer unions")
    needs = targets - np.array([weights[ticks[:, j]].sum() for j in range(ticks.shape[1])])  # no BLAS: same sums on every machine
    for j in np.argsort(-needs, kind="stable"):
        if needs[j] <= 0:
            continue
        eligible = np.flatnonzero(domains[:, j] & ~ticks[:, j] & (ticks.sum(axis=1) < capacity))
        if needs[j] > weights[eligible].sum() + 1e-9:
            raise EditionError(
                f"{names[j]}: {needs[j]:.1f} of weight still to tick but only {weights[eligible].sum():.1f} can (answer cap or union reached)",
                where=where,
                fix="lower the shares (their sum must fit within the answer cap), or raise max_answers",
            )
        ticks[top(eligible, weights, scores[:, j], needs[j]), j] = True
    return ticks
