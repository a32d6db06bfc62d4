"""Weighting stage: raking a population to its targets, and the errors that stop it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.edition import load_edition
from baro_pipeline.errors import WeightingError
from baro_pipeline.weighting import weight_population, weighting_table, weights_table

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture(scope="module")
def population():
    return load_edition("mini", MINI).populations["ps"]


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    # A skewed quota sample: generalists and men over-represented against the targets (0.4 / 0.45).
    return pd.DataFrame(
        {
            "respondent_id": [f"R{i:04d}" for i in range(n)],
            "profession": rng.choice([1.0, 2.0], size=n, p=[0.6, 0.4]),
            "SEXE": rng.choice([1.0, 2.0], size=n, p=[0.6, 0.4]),
        }
    )


def with_targets(population, **shares):
    variables = tuple(
        dataclasses.replace(v, shares=MappingProxyType(shares[v.variable])) if v.variable in shares else v
        for v in population.targets.variables
    )
    return dataclasses.replace(population, targets=dataclasses.replace(population.targets, variables=variables))


def weighted_share(frame, weights, column, code):
    return weights[frame[column].to_numpy() == code].sum() / weights.sum()


def test_raked_weights_hit_every_margin_with_mean_one(frame, population):
    result = weight_population(frame, population)
    assert result.converged and result.max_margin_error <= 1e-10
    assert result.weights.mean() == pytest.approx(1.0, rel=1e-12)
    assert weighted_share(frame, result.weights, "profession", 1.0) == pytest.approx(0.4, rel=1e-10)
    assert weighted_share(frame, result.weights, "SEXE", 2.0) == pytest.approx(0.55, rel=1e-10)
    w = result.weights
    assert result.kish_deff == pytest.approx(len(w) * (w**2).sum() / w.sum() ** 2)
    assert result.efficiency == pytest.approx(1 / result.kish_deff)
    assert (result.min_weight, result.max_weight) == (w.min(), w.max())
    assert result.design.calibration == "raking"
    np.testing.assert_array_equal(result.design.weights, w)


def test_target_category_absent_from_the_sample_is_an_error(frame, population):
    frame = frame.assign(profession=1.0)
    with pytest.raises(WeightingError, match=r"(?s)target category 2 'Infirmier' of 'profession'.*has no respondent.*fix: merge this category"):
        weight_population(frame, population)


def test_respondents_in_a_category_with_zero_target_is_an_error(frame, population):
    population = with_targets(population, profession={1: 1.0, 2: 0.0})
    with pytest.raises(WeightingError, match=r"respondent\(s\) in category 2 'Infirmier' of 'profession', whose target share is 0"):
        weight_population(frame, population)


def test_value_without_a_target_is_an_error(frame, population):
    frame.loc[3, "SEXE"] = 3.0
    with pytest.raises(WeightingError, match=r"weighting variable 'sex' \(column SEXE\) has value\(s\) \[3.0\] with no target"):
        weight_population(frame, population)


def test_raking_that_cannot_converge_is_an_error(population):
    # Every man is a generalist and every woman a nurse: the margins 0.4 and 0.45 cannot both hold.
    frame = pd.DataFrame({"profession": [1.0] * 50 + [2.0] * 50, "SEXE": [1.0] * 50 + [2.0] * 50})
    with pytest.raises(WeightingError, match=r"(?s)raking did not converge in 50 iterations.*fix: check the targets"):
        weight_population(frame, population, max_iter=50)


def test_tables_have_one_row_per_population_and_per_respondent(frame, population):
    result = weight_population(frame, population)
    summary = weighting_table("mini", {"ps": result})
    assert summary.loc[0, ["edition", "population", "method", "n", "converged"]].tolist() == ["mini", "ps", "raking", 400, True]
    weights = weights_table({"ps": frame["respondent_id"]}, {"ps": result})
    assert list(weights.columns) == ["population", "respondent_id", "weight"]
    assert weights["respondent_id"].tolist() == frame["respondent_id"].tolist()
