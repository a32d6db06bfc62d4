"""Mirror comparisons: the same item of the mirror question of another population, with the difference and its significance."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..edition import Edition
from ..stats import independent_difference


# Added by mirror_comparisons: the same item of the mirror question of another population.
MIRROR_COLUMNS = (
    "mirror_population", "mirror_question", "mirror_item", "mirror_difference", "mirror_se", "mirror_p_value", "mirror_significant",
)
# A mirror item is the same answer at the same breakdown level.
MIRROR_KEYS = ["item_label", "breakdown", "breakdown_label"]


def mirror_comparisons(edition: Edition, estimates: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every population's rows with :data:`MIRROR_COLUMNS`: for an item of a mirror question
    (``edition.mirrors``), the item of the other population's question with the same label at the
    same breakdown level (the total always; a breakdown level when both populations have it, by
    its label). ``mirror_difference`` is this estimate minus the other's; the samples are
    independent, so its SE is sqrt(se² + se'²) and the test is a z test (``mirror_p_value``,
    ``mirror_significant`` at the edition's test level). Null for the other rows and for withheld estimates.

    R: ``svycontrast`` of the two estimates with a block-diagonal covariance.
    """
    # columns filled as arrays, then added once: a frame's .loc per column and mirror costs more than the comparisons
    columns = {pop: empty_mirror_columns(len(table)) for pop, table in estimates.items()}
    for mirror in edition.mirrors:
        (a_pop, a_question), (b_pop, b_question) = mirror.questions.items()
        pairs = pd.merge(
            mirror_rows(estimates[a_pop], a_question), mirror_rows(estimates[b_pop], b_question), on=MIRROR_KEYS, suffixes=("_a", "_b")
        )
        diff = independent_difference(pairs["estimate_a"], pairs["se_a"], pairs["estimate_b"], pairs["se_b"])
        sides = (("a", a_pop, "b", b_pop, b_question, 1.0), ("b", b_pop, "a", a_pop, a_question, -1.0))
        for this, pop, other, other_pop, other_question, sign in sides:
            found = {
                "mirror_population": other_pop,
                "mirror_question": other_question,
                "mirror_item": pairs[f"item_{other}"].to_numpy(),
                "mirror_difference": sign * diff.diff,
                "mirror_se": diff.se,
                "mirror_p_value": diff.p,
                "mirror_significant": edition.significance.significant(diff.p),
            }
            rows = pairs[f"row_{this}"].to_numpy()
            for column, values in found.items():
                columns[pop][column][rows] = values
    return {pop: table.assign(**columns[pop]) for pop, table in estimates.items()}


def empty_mirror_columns(n: int) -> dict[str, np.ndarray]:
    """Mirror columns of rows compared with nothing: null, and not significant."""
    empty = {"mirror_significant": np.zeros(n, dtype=bool)}
    for column in ("mirror_difference", "mirror_se", "mirror_p_value"):
        empty[column] = np.full(n, np.nan)
    for column in ("mirror_population", "mirror_question", "mirror_item"):
        empty[column] = np.full(n, None, dtype=object)
    return {c: empty[c] for c in MIRROR_COLUMNS}


def mirror_rows(table: pd.DataFrame, question: str) -> pd.DataFrame:
    """The rows of one mirror question with what the comparison needs; ``row`` is their position."""
    rows = np.flatnonzero(table["question"].to_numpy() == question)
    return table[MIRROR_KEYS + ["item", "estimate", "se"]].iloc[rows].assign(row=rows)
