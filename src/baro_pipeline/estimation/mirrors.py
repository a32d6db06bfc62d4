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
    keyed = {pop: KeyedRows(table) for pop, table in estimates.items()}
    for mirror in edition.mirrors:
        (a_pop, a_question), (b_pop, b_question) = mirror.questions.items()
        a, b = keyed[a_pop], keyed[b_pop]
        rows = dict(zip("ab", a.pairs(a_question, b, b_question)))
        diff = independent_difference(a.estimate[rows["a"]], a.se[rows["a"]], b.estimate[rows["b"]], b.se[rows["b"]])
        sides = (("a", a_pop, "b", b_pop, b_question, 1.0), ("b", b_pop, "a", a_pop, a_question, -1.0))
        for this, pop, other, other_pop, other_question, sign in sides:
            found = {
                "mirror_population": other_pop,
                "mirror_question": other_question,
                "mirror_item": keyed[other_pop].item[rows[other]],
                "mirror_difference": sign * diff.diff,
                "mirror_se": diff.se,
                "mirror_p_value": diff.p,
                "mirror_significant": edition.significance.significant(diff.p),
            }
            for column, values in found.items():
                columns[pop][column][rows[this]] = values
    return {pop: table.assign(**columns[pop]) for pop, table in estimates.items()}


class KeyedRows:
    """A population's rows as a comparison reads them: each row's question and :data:`MIRROR_KEYS`
    (as Python objects: a join of a few hundred rows in a dict costs less than pandas' merge),
    its item, estimate and SE."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.question = table["question"].to_numpy(dtype=object)
        self.keys = list(zip(*(table[c].tolist() for c in MIRROR_KEYS)))
        self.item = table["item"].to_numpy(dtype=object)
        self.estimate, self.se = table["estimate"].to_numpy(dtype=float), table["se"].to_numpy(dtype=float)

    def pairs(self, question: str, other: KeyedRows, other_question: str) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the rows of ``question`` here and of ``other_question`` in ``other``
        with the same keys: each row here (in order) with each of its matches there (in order), as
        ``pd.merge(how="inner")`` pairs them."""
        theirs: dict[tuple[object, ...], list[int]] = {}
        for row in np.flatnonzero(other.question == other_question).tolist():
            theirs.setdefault(other.keys[row], []).append(row)
        found = [(row, match) for row in np.flatnonzero(self.question == question).tolist() for match in theirs.get(self.keys[row], ())]
        mine, matched = (np.array(side, dtype=np.intp) for side in zip(*found)) if found else (np.empty(0, dtype=np.intp),) * 2
        return mine, matched


def empty_mirror_columns(n: int) -> dict[str, np.ndarray]:
    """Mirror columns of rows compared with nothing: null, and not significant."""
    empty = {"mirror_significant": np.zeros(n, dtype=bool)}
    for column in ("mirror_difference", "mirror_se", "mirror_p_value"):
        empty[column] = np.full(n, np.nan)
    for column in ("mirror_population", "mirror_question", "mirror_item"):
        empty[column] = np.full(n, None, dtype=object)
    return {c: empty[c] for c in MIRROR_COLUMNS}
