"""JK1 with raking redone in every replicate, against R and against replicates raked one by one."""

from __future__ import annotations

import numpy as np
import pytest
from conformance import reference

from baro_pipeline.errors import WeightingError
from baro_pipeline.stats import jk1_rake, rake, svymean
from baro_pipeline.stats.design import Design


def test_jk1_reproduces_r(ref=None):
    ref = reference()
    expected = ref.table("jk1.csv")
    result = jk1_rake(ref.codes, ref.totals, ref.base_weights, ref.items(expected["item"]), tol=1e-13)
    np.testing.assert_allclose(result.estimate, expected["mean"], rtol=1e-8)
    np.testing.assert_allclose(result.se, expected["se"], rtol=1e-8)


def sample(n=80, seed=11):
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, 2, n), rng.integers(0, 3, n)]
    totals = [np.array([0.5, 0.5]) * n, np.array([0.2, 0.3, 0.5]) * n]
    w0 = rng.choice([0.8, 1.0, 1.3], n)
    y = np.column_stack([rng.random(n) < 0.3, rng.normal(size=n), np.where(rng.random(n) < 0.4, np.nan, rng.random(n) < 0.6)]).astype(float)
    return codes, totals, w0, y


def test_grouped_replicates_equal_replicates_raked_one_by_one():
    codes, totals, w0, y = sample()
    n = len(w0)
    replicate_means = []
    for r in range(n):  # the oracle: R's JK1 replicate r drops respondent r and rakes again
        keep = np.arange(n) != r
        weights = rake([c[keep] for c in codes], totals, w0[keep] * n / (n - 1), tol=1e-13).weights
        replicate_means.append(svymean(Design(weights), y[keep]).estimate)
    replicate_means = np.array(replicate_means)
    expected_se = np.sqrt((n - 1) / n * ((replicate_means - replicate_means.mean(axis=0)) ** 2).sum(axis=0))
    result = jk1_rake(codes, totals, w0, y, tol=1e-13)
    np.testing.assert_allclose(result.se, expected_se, rtol=1e-9)
    np.testing.assert_allclose(result.estimate, svymean(Design(rake(codes, totals, w0, tol=1e-13).weights), y).estimate, rtol=1e-12)


def test_a_category_with_a_single_respondent_cannot_be_jackknifed():
    codes, totals, w0, y = sample()
    codes[1] = np.where(codes[1] == 0, 1, codes[1])
    codes[1][0] = 0
    with pytest.raises(WeightingError, match=r"leaves category 0 of calibration variable 1 without respondents"):
        jk1_rake(codes, totals, w0, y)
