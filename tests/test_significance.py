"""Rao-Scott tests and differences against R's svychisq and svyglm, and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conformance import reference
from scipy import stats

from baro_pipeline.errors import EstimationError
from baro_pipeline.stats import coded_column, domain_difference, independent_difference, svychisq, svymean, versus_rest

TOLERANCE = 1e-8


@pytest.fixture(scope="module")
def ref():
    return reference()


def codes(ref, variable):
    return pd.factorize(ref.data[variable], sort=True)[0]


@pytest.mark.parametrize("row", range(6))
def test_svychisq_reproduces_r(ref, row):
    expected = ref.table("svychisq.csv").iloc[row]
    a, b = expected["formula"].split(" x ")
    result = svychisq(ref.designs["rake"], codes(ref, a), codes(ref, b), statistic=expected["statistic"])
    assert result.statistic == expected["statistic"]
    assert result.value == pytest.approx(expected["value"], rel=TOLERANCE)
    assert result.p_value == pytest.approx(expected["p_value"], rel=TOLERANCE)
    if result.statistic == "F":
        assert (result.ndf, result.ddf) == pytest.approx((expected["ndf"], expected["ddf"]), rel=TOLERANCE)
        assert np.isnan(result.df)
    else:
        assert result.df == expected["df"] and np.isnan(result.ndf)
        assert result.pearson == result.value


def test_svychisq_does_not_depend_on_the_order_of_levels(ref):
    design, a, b = ref.designs["rake"], codes(ref, "trust"), codes(ref, "sex")
    assert svychisq(design, a, b).value == pytest.approx(svychisq(design, 4 - a, 1 - b).value, rel=1e-12)


def test_domain_difference_reproduces_the_svyglm_contrast(ref):
    expected = ref.table("contrast.csv")
    result = domain_difference(ref.designs["rake"], ref.items(expected["item"]), ref.domain("sex", "F"), ref.domain("sex", "M"))
    for field, column in (("diff", "diff"), ("se", "se"), ("t", "t"), ("df", "df"), ("p", "p_value")):
        np.testing.assert_allclose(getattr(result, field), expected[column], rtol=TOLERANCE)


def test_domain_difference_is_the_difference_of_the_domain_means(ref):
    y = ref.items(["y_low", "routed", "mr_5"])
    a, b = ref.domain("prof", "p1"), ref.domain("prof", "p3")
    means = svymean(ref.designs["linear"], y, np.column_stack([a, b]))
    result = domain_difference(ref.designs["linear"], y, a, b)
    np.testing.assert_allclose(result.diff, means.estimate[0] - means.estimate[1], rtol=1e-12)
    # R: subset(design, a | b): degf is the answered base of both domains, minus 1 for the slope
    np.testing.assert_array_equal(result.df, means.n.sum(axis=0) - 2)



def test_domain_means_are_uncorrelated_only_without_calibration(ref):
    """Without calibration two disjoint domains' influence values never meet: the variances add.
    Raking on sex ties the means of women and men together."""
    y, a, b = ref.items(["y_mid"]), ref.domain("sex", "F"), ref.domain("sex", "M")
    for design, independent in (("w0", True), ("rake", False)):
        means = svymean(ref.designs[design], y, np.column_stack([a, b]))
        result = domain_difference(ref.designs[design], y, a, b)
        assert np.allclose(result.se, np.hypot(means.se[0], means.se[1]), rtol=1e-12) is independent


def test_independent_difference_is_a_z_test():
    result = independent_difference(np.array([0.40, 0.31]), np.array([0.02, 0.015]), np.array([0.35, 0.30]), np.array([0.015, 0.01]))
    np.testing.assert_allclose(result.se, [0.025, np.hypot(0.015, 0.01)])
    np.testing.assert_allclose(result.z, result.diff / result.se)
    np.testing.assert_allclose(result.p, 2 * stats.norm.sf(np.abs(result.diff / result.se)))
    assert np.all(np.isinf(result.df))


def test_overlapping_domains_are_refused(ref):
    with pytest.raises(EstimationError, match=r"the two domains share \d+ respondent\(s\)"):
        domain_difference(ref.designs["rake"], ref.items(["y_low"]), ref.domain("sex", "F"), ref.domain("age", "a65p"))
    with pytest.raises(EstimationError, match=r"domains must be boolean arrays"):
        domain_difference(ref.designs["rake"], ref.items(["y_low"]), np.ones(3), np.ones(3))


def test_svychisq_refuses_what_it_cannot_test(ref):
    design = ref.designs["rake"]
    with pytest.raises(EstimationError, match=r"unknown statistic 'Wald'"):
        svychisq(design, codes(ref, "sex"), codes(ref, "age"), statistic="Wald")
    with pytest.raises(EstimationError, match=r"svychisq needs two observed levels of each variable"):
        svychisq(design, np.zeros(len(ref.data), dtype=np.intp), codes(ref, "age"))
    with pytest.raises(EstimationError, match=r"codes must be 2000 non-negative integers"):
        svychisq(design, codes(ref, "sex") - 1, codes(ref, "age"))


@pytest.mark.parametrize("design", ["w0", "rake", "linear"])
def test_versus_rest_is_each_domain_against_its_complement(ref, design):
    """All levels against the rest in one pass (rest = whole sample minus the level) give the
    two-domain contrast of each level; matrix and coded items alike."""
    y = ref.items(["y_low", "routed", "mr_5", "trust2"])
    levels = np.column_stack([ref.domain("age", a) for a in ("a18_24", "a25_34", "a65p")] + [ref.domain("sex", "F")])
    coded = [coded_column(y[:, j]) for j in range(y.shape[1])]
    for items in (y, coded):
        result = versus_rest(ref.designs[design], items, levels)
        for j in range(levels.shape[1]):
            one = domain_difference(ref.designs[design], y, levels[:, j], ~levels[:, j])
            for field in ("diff", "se", "t", "df", "p"):
                np.testing.assert_allclose(getattr(result, field)[j], getattr(one, field), rtol=1e-10, err_msg=field)
