"""The conditions of routing.py: Conditions (each condition once per sample, membership by a table of codes) gives condition_mask's answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.edition import Condition
from baro_pipeline.routing import LOOKUP_BLOCK, Conditions, code_lookup, code_membership
from baro_pipeline.routing import condition_mask

CONDITIONS = [
    Condition(question="Q1", codes=(1, 2)),
    Condition(question="Q1", codes=(3,)),
    Condition(question="Q2", codes=(1, 3)),
    Condition(question="Q3", row="r2", codes=(9,)),
    Condition(all=(Condition(question="Q1", codes=(1, 2)), Condition(question="Q4", codes=(99,)))),
    Condition(any=(Condition(question="Q2", codes=(1,)), Condition(question="Q4", codes=(99,)))),
]


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def answers(request) -> pd.DataFrame:
    """Answers with what a code column may hold besides codes: blanks, 2.5, numbers beyond the integers' range."""
    odd = [np.nan, 2.5, 1e30, -np.inf, 65537.0, -65535.0]
    frame = pd.DataFrame(
        {
            "Q1": [1.0, 2.0, 3.0, *odd],
            "Q2_1": [1.0, 0.0, 1.0, *odd], "Q2_2": [0.0, 0.0, 0.0, *odd], "Q2_3": [0.0, 1.0, 0.0, *odd], "Q2_98": [0.0, 0.0, 1.0, *odd],
            "Q3_r1": [1.0, 1.0, 2.0, *odd], "Q3_r2": [1.0, 9.0, 2.0, *odd], "Q3_r3": [1.0, 1.0, 2.0, *odd],
            "Q4_1": [1.0, 0.0, 1.0, *odd], "Q4_2": [0.0, 0.0, 0.0, *odd], "Q4_99": [0.0, 1.0, 1.0, *odd],
        }
    )
    return frame.astype(request.param)


def isin_reference(frame: pd.DataFrame, book, condition: Condition) -> np.ndarray:
    """The routing's meaning spelled out with pandas: a code among the condition's (``isin`` of
    floats), a multi question's code ticked (== 1), ``all`` / ``any`` of the parts."""
    if condition.all or condition.any:
        parts = [isin_reference(frame, book, part) for part in condition.all or condition.any]
        return np.logical_and.reduce(parts) if condition.all else np.logical_or.reduce(parts)
    q = book.question(condition.question)
    if q.type == "multi":
        return (frame[[q.columns[c] for c in condition.codes]] == 1).any(axis=1).to_numpy()
    column = next(r.column for r in q.rows if r.id == condition.row) if q.type == "grid" else q.single_column
    return frame[column].isin([float(c) for c in condition.codes]).to_numpy()


@pytest.mark.parametrize("condition", CONDITIONS, ids=["single", "single-other", "multi", "grid-row", "all", "any"])
def test_conditions_meet_the_routing(condition, answers, mini_codebook):
    met = Conditions(answers, mini_codebook).met(condition)
    np.testing.assert_array_equal(met, isin_reference(answers, mini_codebook, condition))
    np.testing.assert_array_equal(condition_mask(answers, mini_codebook, condition), met)
    assert met.any() and not met.all()


def test_a_condition_is_computed_once_and_cannot_be_changed(answers, mini_codebook):
    conditions = Conditions(answers, mini_codebook)
    first = conditions.met(CONDITIONS[4])
    assert conditions.met(Condition(all=CONDITIONS[4].all)) is first and conditions.met(CONDITIONS[0]) is conditions.masks[CONDITIONS[0]]
    with pytest.raises(ValueError):
        first[0] = not first[0]
    routed = mini_codebook.question("Q2")  # asked if Q1 in [1, 2]
    assert conditions.asked(routed).tolist() == [True, True] + [False] * 7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("codes", [(1, 2, 98, 99), (-3, 0, 5), (1, 40000), (-32768, 32766), (-32768, 32767)])
def test_code_membership_is_isin_of_the_codes(codes, dtype):
    """Codes that fit 16 bits (up to both ends) or not; cells as the frame holds them (float32) or float64."""
    cells = np.array([*codes, np.nan, 2.5, codes[0] - 1, codes[-1] + 1, codes[0] + 65536, codes[0] - 65536, 1e30, -np.inf], dtype=dtype)
    for wanted in (codes, codes[1:], codes[:1]):
        np.testing.assert_array_equal(code_membership(cells, wanted), np.isin(cells, np.asarray(wanted, dtype=float)))


@pytest.mark.parametrize("codes", [(1, 2, 98, 99), (1, 40000)])
def test_code_lookup_over_several_blocks_is_each_cells_value(codes):
    """More cells than a block of the lookup (the last block short): each cell's value, in place."""
    rng = np.random.default_rng(1)
    cells = rng.choice(np.array([*codes, np.nan, 2.5, 7.0], dtype=np.float32), size=2 * LOOKUP_BLOCK + 7)
    values = np.arange(10, 10 + len(codes), dtype=np.uint16)
    expected = np.full(len(cells), 9, dtype=np.uint16)
    for code, value in zip(codes, values):
        expected[cells == code] = value
    found = code_lookup(cells, codes, values, 9)
    assert found.dtype == np.uint16
    np.testing.assert_array_equal(found, expected)
