"""Routing: who was asked a question, who meets a condition of the edition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.edition import Condition
from baro_pipeline.routing import asked, condition_mask


@pytest.mark.parametrize(
    "condition, expected",
    [
        (Condition(question="Q1", codes=(1, 2)), [True, True, False, False]),
        (Condition(question="Q2", codes=(1,)), [True, False, False, False]),
        (Condition(question="Q2", codes=(1, 3)), [True, True, False, False]),
        (Condition(question="Q3", row="r2", codes=(9,)), [False, True, False, False]),
        (Condition(all=(Condition(question="Q1", codes=(1, 2)), Condition(question="Q4", codes=(99,)))), [False, True, False, False]),
        (Condition(any=(Condition(question="Q2", codes=(1,)), Condition(question="Q4", codes=(99,)))), [True, True, False, True]),
    ],
    ids=["single", "multi-ticked", "multi-any-code", "grid-row", "all", "any"],
)
def test_condition_mask(condition, expected, mini_codebook):
    frame = pd.DataFrame(
        {
            "Q1": [1.0, 2.0, 3.0, np.nan],
            "Q2_1": [1.0, 0.0, np.nan, np.nan], "Q2_2": [0.0, 0.0, np.nan, np.nan], "Q2_3": [0.0, 1.0, np.nan, np.nan], "Q2_98": [0.0, 0.0, np.nan, np.nan],
            "Q3_r1": [1.0, 1.0, 2.0, np.nan], "Q3_r2": [1.0, 9.0, 2.0, np.nan], "Q3_r3": [1.0, 1.0, 2.0, np.nan],
            "Q4_1": [1.0, 0.0, 1.0, 0.0], "Q4_2": [0.0, 0.0, 0.0, 0.0], "Q4_99": [0.0, 1.0, 0.0, 1.0],
        }
    )
    assert condition_mask(frame, mini_codebook, condition).tolist() == expected


def test_those_asked_are_those_who_meet_the_routing(mini_codebook):
    routed = mini_codebook.question("Q2")  # asked if Q1 in [1, 2]
    frame = pd.DataFrame({"Q1": [1.0, 2.0, 3.0, np.nan]})
    assert asked(frame, mini_codebook, routed).tolist() == [True, True, False, False]
    assert asked(frame, mini_codebook, mini_codebook.question("Q1")).tolist() == [True] * 4  # no routing: everyone
