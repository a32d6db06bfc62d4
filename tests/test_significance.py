"""Rao-Scott tests and differences against R's svychisq and svyglm, and their errors."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
from conformance import SEED11_DIR, reference
from conformance.check_reference import load_reference
from scipy import stats
from statsmodels.stats.multitest import multipletests

from baro_pipeline.edition import LETTER_ADJUSTMENTS
from baro_pipeline.errors import EstimationError
from baro_pipeline.stats import (
    ADJUSTMENTS,
    adjusted_p_values,
    coded_column,
    domain_difference,
    independent_difference,
    pairwise_differences,
    svychisq,
    svymean,
    versus_rest,
)

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


@pytest.fixture(scope="module")
def seed11():
    return load_reference(SEED11_DIR)


@pytest.mark.parametrize("by", ["age", "prof"])
def test_pairwise_differences_reproduce_svycontrast(seed11, by):
    """Every pair of levels of a raking variable (age) and of a profile variable (prof), the three
    items (one routed) in one call, against R's svycontrast of the levels' means and svyglm's test."""
    expected = seed11.table("pairwise.csv")
    expected = expected[(expected["by"] == by) & ~expected["contrast"].str.endswith(" - rest")]
    items = list(dict.fromkeys(expected["item"]))
    contrasts = list(dict.fromkeys(expected["contrast"]))
    levels = sorted({level for c in contrasts for level in c.split(" - ")})
    domains = np.column_stack([seed11.domain(by, level) for level in levels])
    pairs = [[levels.index(level) for level in c.split(" - ")] for c in contrasts]
    assert len(levels) >= 3 and len(pairs) == len(levels) * (len(levels) - 1) // 2
    result = pairwise_differences(seed11.designs["rake"], seed11.items(items), domains, pairs)
    for field, column in (("diff", "diff"), ("se", "se"), ("t", "t"), ("df", "df"), ("p", "p_value")):
        table = expected.pivot(index="contrast", columns="item", values=column).loc[contrasts, items]
        np.testing.assert_allclose(getattr(result, field), table.to_numpy(), rtol=TOLERANCE, err_msg=field)


def test_levels_raked_together_are_not_independent_samples(seed11):
    """Without calibration the SE of a pair is sqrt(se1² + se2²); raking on age ties its levels."""
    y = seed11.items(["y_mid"])
    levels = np.column_stack([seed11.domain("age", a) for a in ("a18_24", "a35_49", "a65p")])
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    for design, independent in (("w0", True), ("rake", False)):
        se = svymean(seed11.designs[design], y, levels).se[:, 0]
        result = pairwise_differences(seed11.designs[design], y, levels, pairs)
        assert np.allclose(result.se[:, 0], np.hypot(se[pairs[:, 0]], se[pairs[:, 1]]), rtol=1e-12) is independent


def test_pairwise_differences_refuse_overlapping_domains_and_bad_pairs(seed11):
    y, design = seed11.items(["y_low"]), seed11.designs["rake"]
    domains = np.column_stack([seed11.domain("sex", "F"), seed11.domain("sex", "M"), seed11.domain("age", "a65p")])
    with pytest.raises(EstimationError, match=r"the two domains share \d+ respondent\(s\)"):
        pairwise_differences(design, y, domains, [[0, 1], [0, 2]])
    with pytest.raises(EstimationError, match=r"pairs must index the columns of the domains"):
        pairwise_differences(design, y, domains, [[0, 3]])


def test_holm_and_bonferroni_within_each_family():
    """Two families (breakdowns) of one item, and an untested pair (NaN) left out of its family."""
    p = np.array([[0.01], [0.04], [0.03], [0.02], [np.nan], [0.04]])
    families = np.array(["age", "age", "age", "prof", "prof", "prof"])
    np.testing.assert_allclose(adjusted_p_values(p, families, "holm")[:, 0], [0.03, 0.06, 0.06, 0.04, np.nan, 0.04])
    np.testing.assert_allclose(adjusted_p_values(p, families, "bonferroni")[:, 0], [0.03, 0.12, 0.09, 0.04, np.nan, 0.08])
    np.testing.assert_array_equal(adjusted_p_values(p, families, "none"), p)


def test_adjustment_is_statsmodels_multipletests_per_family_and_item(monkeypatch):
    """Families of 3 and 6 pairs, untested pairs (NaN) here and there, p-values that reach 1."""
    # multipletests' Holm branch calls gc.collect(): 160 full collections of the session's objects (~10 s).
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.5, (9, 40))
    p[rng.random(p.shape) < 0.15] = np.nan
    families = np.repeat(["a", "b"], [3, 6])
    for method in ("holm", "bonferroni"):
        found = adjusted_p_values(p, families, method)
        np.testing.assert_array_equal(np.isnan(found), np.isnan(p))
        for family in ("a", "b"):
            for j in range(p.shape[1]):
                rows = np.flatnonzero((families == family) & ~np.isnan(p[:, j]))
                if rows.size:
                    np.testing.assert_allclose(found[rows, j], multipletests(p[rows, j], method=method)[1], rtol=1e-12)


def test_the_edition_accepts_the_adjustments_the_kernel_knows():
    assert LETTER_ADJUSTMENTS == ADJUSTMENTS


def test_an_unknown_adjustment_is_refused():
    with pytest.raises(EstimationError, match=r"unknown adjustment 'sidak'") as raised:
        adjusted_p_values(np.array([[0.01]]), np.array(["a"]), "sidak")
    assert "use one of none, bonferroni, holm" in str(raised.value)
