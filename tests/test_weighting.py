"""Weighting stage: raking a population to its targets, and the errors that stop it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.edition import Trimming, WeightingSettings, load_edition
from baro_pipeline.errors import WeightingError
from baro_pipeline.stats import trim_weights
from baro_pipeline.weighting import weight_population, weighting_table, weights_table

from exports import weighted

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


def test_the_sample_keys_rows_and_weights_by_respondent_id(frame, population):
    sample = weighted(frame, population)
    assert sample.frame.index.name == "respondent_id" and "respondent_id" not in sample.frame.columns
    assert sample.frame.index.tolist() == frame["respondent_id"].tolist()
    assert sample.weights.name == "weight" and sample.weights.index.equals(sample.frame.index)
    np.testing.assert_array_equal(sample.weights.to_numpy(), weight_population(frame, population).weights)
    np.testing.assert_array_equal(sample.design.weights, sample.weights.to_numpy())
    assert (sample.counts.kept, sample.quarantine.empty) == (400, True)


def test_the_sample_holds_the_kept_rows_without_copying_them(frame, population):
    """The frame indexed by respondent id shares the kept rows' columns: no second copy of an
    export of a million rows."""
    sample = weighted(frame, population)
    for column in ("profession", "SEXE"):
        assert np.shares_memory(sample.frame[column].to_numpy(), frame[column].to_numpy()), column


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("duplicate ids", "respondent ids of the kept rows are not unique"),
        ("weights on other ids", "the weights are not on the index of the kept rows"),
        ("weights in another order", "the weights are not on the index of the kept rows"),
        ("design of other weights", "the design's 400 weights are not the sample's, row by row"),
    ],
)
def test_a_sample_whose_parts_do_not_line_up_is_refused(frame, population, change, words):
    sample = weighted(frame, population)
    ids = sample.frame.index
    if change == "duplicate ids":
        broken = {"frame": sample.frame.set_axis(ids[:1].repeat(len(ids))), "weights": sample.weights.set_axis(ids[:1].repeat(len(ids)))}
    elif change == "weights on other ids":
        broken = {"weights": sample.weights.set_axis("X" + ids)}
    elif change == "weights in another order":
        broken = {"weights": sample.weights.iloc[::-1]}
    else:
        broken = {"weights": sample.weights * 2}
    with pytest.raises(WeightingError, match=rf"(?s)population ps, weighted sample: {words}.*fix: build the sample with weighting.weighted_sample"):
        dataclasses.replace(sample, **broken)


def test_tables_have_one_row_per_population_and_per_respondent(frame, population):
    sample = weighted(frame, population)
    summary = weighting_table("mini", {"ps": sample})
    assert summary.loc[0, ["edition", "population", "method", "n", "converged"]].tolist() == ["mini", "ps", "raking", 400, True]
    weights = weights_table({"ps": sample})
    assert list(weights.columns) == ["population", "respondent_id", "weight"]
    assert weights["respondent_id"].tolist() == frame["respondent_id"].tolist()
    assert weights.set_index("respondent_id")["weight"].to_dict() == sample.weights.to_dict()


def margins_of(frame, weights, population):
    """Weighted shares of every target category, as {variable: [shares in target order]}."""
    return {
        t.variable: [weighted_share(frame, weights, population.codebook.question(t.variable).column, float(c)) for c in t.shares]
        for t in population.targets.variables
    }


def target_margins(population):
    return {t.variable: list(t.shares.values()) for t in population.targets.variables}


@pytest.mark.parametrize(
    "settings, method",
    [
        (WeightingSettings("linear"), "linear"),
        (WeightingSettings("raking_bounded", (0.3, 1.9)), "raking_bounded"),
    ],
)
def test_the_edition_chooses_the_calibration(frame, population, settings, method):
    raked = weight_population(frame, population)
    result = weight_population(frame, population, settings)
    assert result.method == method and result.design.calibration == method and result.trimming == "none"
    for variable, shares in margins_of(frame, result.weights, population).items():
        np.testing.assert_allclose(shares, target_margins(population)[variable], rtol=1e-10)
    assert not np.allclose(result.weights, raked.weights, rtol=1e-6)  # another distance: other weights
    if method == "raking_bounded":  # raking gives 2.05 to some: the upper bound binds
        assert result.weights.min() >= 0.3 and result.weights.max() == pytest.approx(1.9, rel=1e-12)


@pytest.mark.parametrize(
    "bounds, message",
    [
        # Generalists are 0.585 of the sample and 0.4 of the population: w / w0 must average 0.68 among them.
        ((0.8, 1.5), r"needs w/w0 = 0\.68\d* on average .* outside the bounds \(0\.8, 1\.5\)\n  fix: widen the bounds"),
        # Each margin alone fits, but not both within the bounds.
        ((0.5, 1.6), r"bounded raking did not meet the margins within bounds \(0\.5, 1\.6\) in 1000 iterations.*\n  fix: widen the bounds"),
    ],
)
def test_bounds_that_cannot_meet_the_margins_are_refused(frame, population, bounds, message):
    with pytest.raises(WeightingError, match=message):
        weight_population(frame, population, WeightingSettings("raking_bounded", bounds))


@pytest.mark.parametrize("strict", [False, True])
def test_trimming_after_raking_caps_the_weights_and_keeps_the_raking_in_the_design(frame, population, strict):
    raked = weight_population(frame, population)
    upper = 1.5  # the raked weights are 0.50, 0.98, 1.06 and 2.05
    result = weight_population(frame, population, WeightingSettings(trimming=Trimming(upper=upper, strict=strict)))
    expected = trim_weights(raked.weights, upper=upper, strict=strict)
    np.testing.assert_allclose(result.weights, expected.weights, rtol=1e-13)
    assert result.weights.sum() == pytest.approx(len(frame))
    assert result.method == "raking" and result.design.calibration == "trimmed" and len(result.design.calibration_codes) == 2
    np.testing.assert_array_equal(result.design.calibrated_weights, raked.weights)  # R's variance sweeps with them
    assert result.trimming.startswith(f"lower -, upper {upper}") and ("strict" if strict else "one pass, as R") in result.trimming
    assert result.max_margin_error > 1e-6  # trimming moves the margins, and says so
    if strict:
        assert result.weights.max() <= upper


def test_trimming_caps_that_cannot_hold_the_total_are_refused(frame, population):
    with pytest.raises(WeightingError, match=r"trimming bounds \[1\.1, 3\] cannot hold 400 weights summing to 400 .*\n  fix: choose lower <= mean weight <= upper"):
        weight_population(frame, population, WeightingSettings(trimming=Trimming(lower=1.1, upper=3)))
