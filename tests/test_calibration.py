"""Calibration kernels against R's rake(), calibrate() and trimWeights(), and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import reference

from baro_pipeline.errors import WeightingError
from baro_pipeline.stats import calibrate_linear, calibrate_raking_bounded, kish_deff, rake, trim_weights


@pytest.fixture(scope="module")
def ref():
    return reference()


@pytest.fixture(scope="module")
def r_weights(ref):
    return ref.table("weights.csv").set_index("id").loc[ref.data["id"]]


def relative(computed, expected) -> float:
    return float(np.max(np.abs(np.asarray(computed) - expected) / np.abs(expected)))


def margins_of(weights, codes, totals):
    return [np.bincount(c, weights=weights, minlength=len(t)) for c, t in zip(codes, totals)]


def test_rake_reproduces_r_and_meets_every_margin(ref, r_weights):
    result = rake(ref.codes, ref.totals, ref.base_weights, tol=1e-13)
    assert (result.method, result.converged) == ("raking", True)
    assert relative(result.weights, r_weights["rake"]) < 1e-10
    assert result.max_margin_error <= 1e-13
    for achieved, target in zip(margins_of(result.weights, ref.codes, ref.totals), ref.totals):
        np.testing.assert_allclose(achieved, target, rtol=1e-12)


def test_linear_calibration_reproduces_r(ref, r_weights):
    result = calibrate_linear(ref.codes, ref.totals, ref.base_weights)
    assert result.method == "linear"
    assert relative(result.weights, r_weights["linear"]) < 1e-10
    assert result.max_margin_error < 1e-12


def test_bounded_raking_reproduces_r_within_its_bounds(ref, r_weights):
    low, high = ref.settings["bounds_low"], ref.settings["bounds_high"]
    result = calibrate_raking_bounded(ref.codes, ref.totals, ref.base_weights, bounds=(low, high), tol=1e-13)
    assert result.method == "raking_bounded"
    assert relative(result.weights, r_weights["raking_bounded"]) < 1e-10
    g = result.weights / ref.base_weights
    assert g.min() >= low * (1 - 1e-12) and g.max() <= high * (1 + 1e-12)


@pytest.mark.parametrize(("strict", "column"), [(False, "trim"), (True, "trim_strict")])
def test_trimming_reproduces_r(ref, r_weights, strict, column):
    lower, upper = ref.settings["trim_lower"], ref.settings["trim_upper"]
    result = trim_weights(r_weights["rake"].to_numpy(), lower=lower, upper=upper, strict=strict)
    assert relative(result.weights, r_weights[column]) < 1e-10
    assert result.weights.sum() == pytest.approx(r_weights["rake"].sum(), rel=1e-13)
    # one pass (R's strict = FALSE) leaves weights above the cap; strict trimming meets both bounds
    assert result.converged is strict
    if strict:
        assert result.weights.min() >= lower and result.weights.max() <= upper


def test_trimming_measures_margins_when_given(ref, r_weights):
    result = trim_weights(r_weights["rake"].to_numpy(), upper=ref.settings["trim_upper"], codes=ref.codes, totals=ref.totals)
    errors = [np.abs(m - t) / t for m, t in zip(margins_of(result.weights, ref.codes, ref.totals), ref.totals)]
    assert result.max_margin_error == pytest.approx(max(e.max() for e in errors), rel=1e-12)
    assert result.max_margin_error > 1e-3
    assert np.isnan(trim_weights(r_weights["rake"].to_numpy(), upper=10.0).max_margin_error)


def small_problem(n=600, seed=3):
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, 2, n), rng.integers(0, 4, n)]
    totals = [np.array([0.55, 0.45]) * n, np.array([0.1, 0.2, 0.3, 0.4]) * n]
    return codes, totals


def test_rake_from_unit_weights_counts_sweeps_and_checks_margins_not_weights():
    codes, totals = small_problem()
    result = rake(codes, totals)
    assert result.iterations >= 2
    assert result.max_margin_error <= 1e-10
    assert np.mean(result.weights) == pytest.approx(1.0)


def test_kish_deff_is_one_plus_cv_squared():
    w = np.array([0.5, 1.0, 1.5, 2.0])
    assert kish_deff(w) == pytest.approx(1 + np.var(w) / np.mean(w) ** 2)
    assert kish_deff(np.ones(10)) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# What cannot be honoured
# --------------------------------------------------------------------------------------------


def test_a_category_with_a_target_but_no_respondent_is_named():
    codes, totals = small_problem()
    codes[1] = np.where(codes[1] == 2, 3, codes[1])
    with pytest.raises(WeightingError, match=r"category 2 of calibration variable 1 has a target of 180 but no respondent") as exc:
        rake(codes, totals)
    assert "merge the category" in exc.value.fix


def test_respondents_in_a_category_with_a_zero_target_are_refused():
    codes, totals = small_problem()
    totals[1] = np.array([0.0, 0.3, 0.3, 0.4]) * 600
    with pytest.raises(WeightingError, match=r"category 0 of calibration variable 1 has \d+ respondent\(s\) but a target of 0"):
        calibrate_linear(codes, totals)


def test_margins_of_different_sums_are_refused():
    codes, totals = small_problem()
    totals[0] = totals[0] * 1.01
    with pytest.raises(WeightingError, match=r"the margins' totals differ: variable 0: 606, variable 1: 600"):
        rake(codes, totals)


def test_codes_beyond_the_targets_are_refused():
    codes, totals = small_problem()
    with pytest.raises(WeightingError, match=r"calibration variable 1 has code 3 but only 3 target categories"):
        rake(codes, [totals[0], np.array([0.2, 0.3, 0.5]) * 600])


def test_raking_that_does_not_converge_says_so():
    codes, totals = small_problem()
    with pytest.raises(WeightingError, match=r"raking did not converge in 1 iterations \(max relative margin error"):
        rake(codes, totals, max_iter=1)


def test_bounds_a_category_cannot_meet_are_refused():
    codes, totals = small_problem()
    base = np.where(codes[1] == 0, 0.1, 1.0)  # category 0 needs g of about 4 on average
    with pytest.raises(WeightingError, match=r"category 0 of calibration variable 1 needs w/w0 = \S+ on average .* outside the bounds \(0.5, 2.0\)"):
        calibrate_raking_bounded(codes, totals, base, bounds=(0.5, 2.0))


def test_impossible_trimming_caps_are_refused_never_silently_violated():
    w = np.array([1.0, 2.0, 3.0, 6.0])
    with pytest.raises(WeightingError, match=r"trimming bounds \[-inf, 2\] cannot hold 4 weights summing to 12"):
        trim_weights(w, upper=2.0, strict=True)
    with pytest.raises(WeightingError, match=r"cannot hold 4 weights"):
        trim_weights(w, lower=3.5)


def test_weights_on_a_trimming_bound_to_rounding_are_not_trimmed():
    """Bounds are often quantiles equal to tied weights: a weight one ulp above is on the bound (R: equal)."""
    exact = trim_weights(np.array([1.0, 1.0, 2.0, 2.0, 4.0]), upper=2.0)
    np.testing.assert_allclose(exact.weights, [1.5, 1.5, 2.5, 2.5, 2.0])
    noisy = trim_weights(np.array([1.0, 1.0, np.nextafter(2.0, 3.0), 2.0, 4.0]), upper=2.0)
    np.testing.assert_allclose(noisy.weights, exact.weights, rtol=1e-14)
