"""Proportion intervals against R's svyciprop (every method, level, domain and routed base)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

import numpy as np
import pytest
from conformance import reference
from scipy import special
from statsmodels.stats.proportion import proportion_confint

from baro_pipeline.errors import EstimationError
from baro_pipeline.stats import INTERVAL_METHODS, CodedItems, coded_column, coded_counts, counted_answers, layout, proportion_ci, svyciprop_terms, svymean, variance_layout

PROFILE_METHODS = ("logit", "likelihood", "xlogit")  # R goes through a glm's IRLS: 1e-7
R_LEVEL = 0.95  # the level the R references below were computed at (svyciprop's default)

# svyciprop(~item, subset(design, domain & !is.na(item)), method, level = 0.95, na.rm = TRUE) with R
# 4.2.2 / survey 4.1.1 on tests/fixtures/reference (seed 2025): design, domain, item, method,
# estimate, lower, upper. Bases are domains of calibrated and uncalibrated designs and routed items.
R_DOMAINS = [
    ("rake", "age == 'a18_24'", "y_low", "likelihood", 0.16115974941853425, 0.1057747995607884, 0.22921558597670949),
    ("rake", "age == 'a18_24'", "y_low", "beta", 0.16115974941767472, 0.10380285749850886, 0.23382911172734289),
    ("rake", "age == 'a18_24'", "y_low", "logit", 0.16115974941853425, 0.10846951930140274, 0.23276247249992454),
    ("rake", "age == 'a18_24'", "y_low", "asin", 0.16115974941767472, 0.1044588747442743, 0.22739845435891101),
    ("rake", "age == 'a18_24'", "y_low", "mean", 0.16115974941767472, 0.099399946308737691, 0.22291955252661175),
    ("rake", "age == 'a18_24'", "y_low", "xlogit", 0.16115974941767472, 0.10846951930059751, 0.23276247249914067),
    ("w0", "age == 'a18_24'", "y_low", "likelihood", 0.18987341772152139, 0.12848193110650977, 0.26353328343688565),
    ("w0", "age == 'a18_24'", "y_low", "beta", 0.189873417721519, 0.12680404556344207, 0.26740383545875235),
    ("w0", "age == 'a18_24'", "y_low", "logit", 0.18987341772152139, 0.13118851909908052, 0.26674997087674251),
    ("w0", "age == 'a18_24'", "y_low", "asin", 0.189873417721519, 0.12717838962599862, 0.26176678620770794),
    ("w0", "age == 'a18_24'", "y_low", "mean", 0.189873417721519, 0.12224457634062183, 0.2575022591024162),
    ("w0", "age == 'a18_24'", "y_low", "xlogit", 0.189873417721519, 0.13118851909907828, 0.26674997087674024),
    ("rake", "all", "routed", "likelihood", 0.65712231753209305, 0.62589937515937255, 0.68746466510165882),
    ("rake", "all", "routed", "beta", 0.65712231754555162, 0.62532602698822415, 0.68790137017239872),
    ("rake", "all", "routed", "logit", 0.65712231753209305, 0.62569720023452058, 0.68722794214737237),
    ("rake", "all", "routed", "asin", 0.65712231754555162, 0.62601419966124772, 0.68756916989978267),
    ("rake", "all", "routed", "mean", 0.65712231754555162, 0.62632322586674827, 0.68792140922435496),
    ("rake", "all", "routed", "xlogit", 0.65712231754555162, 0.62569720024789699, 0.68722794216077443),
    ("w0", "all", "routed", "likelihood", 0.6662700228832461, 0.63696894377487967, 0.6947393052215014),
    ("w0", "all", "routed", "beta", 0.66627002288329529, 0.63647142969335702, 0.69511028703826416),
    ("w0", "all", "routed", "logit", 0.6662700228832461, 0.63677686863979399, 0.69451724213560673),
    ("w0", "all", "routed", "asin", 0.66627002288329529, 0.63707864092106059, 0.69483716925591565),
    ("w0", "all", "routed", "mean", 0.66627002288329529, 0.63737267466664282, 0.69516737109994775),
    ("w0", "all", "routed", "xlogit", 0.66627002288329529, 0.63677686863984295, 0.69451724213565569),
    ("rake", "prof == 'p4'", "routed", "likelihood", 0.68635622316486333, 0.61131259731939558, 0.7554004830959733),
    ("rake", "prof == 'p4'", "routed", "beta", 0.68635622316831779, 0.60797899512799203, 0.75761171573871255),
    ("rake", "prof == 'p4'", "routed", "logit", 0.68635622316486333, 0.61003177874771708, 0.75377199844029685),
    ("rake", "prof == 'p4'", "routed", "asin", 0.68635622316831779, 0.61212710669540649, 0.75607367478333853),
    ("rake", "prof == 'p4'", "routed", "mean", 0.68635622316831779, 0.61409111466762334, 0.75862133166901224),
    ("rake", "prof == 'p4'", "routed", "xlogit", 0.68635622316831779, 0.61003177875104309, 0.75377199844365861),
    ("w0", "prof == 'p4'", "routed", "likelihood", 0.68723628691950489, 0.6163584111267677, 0.75270079108686205),
    ("w0", "prof == 'p4'", "routed", "beta", 0.6872362869198313, 0.61384123852280792, 0.75430868131906237),
    ("w0", "prof == 'p4'", "routed", "logit", 0.68723628691950489, 0.6152181182522104, 0.75122570762485874),
    ("w0", "prof == 'p4'", "routed", "asin", 0.6872362869198313, 0.61711649495869048, 0.75329549129344597),
    ("w0", "prof == 'p4'", "routed", "mean", 0.6872362869198313, 0.61889960715378933, 0.75557296668587326),
    ("w0", "prof == 'p4'", "routed", "xlogit", 0.6872362869198313, 0.61521811825252581, 0.75122570762517749),
    ("rake", "prof == 'p4'", "y_rare", "likelihood", 0.039067005610835585, 0.020936216672821084, 0.065005523608026972),
    ("rake", "prof == 'p4'", "y_rare", "beta", 0.039067005605408017, 0.020194538790238626, 0.067592196146810224),
    ("rake", "prof == 'p4'", "y_rare", "logit", 0.039067005610835585, 0.022187056688962693, 0.067897502417903891),
    ("rake", "prof == 'p4'", "y_rare", "asin", 0.039067005605408017, 0.020159824484027904, 0.063852983361416552),
    ("rake", "prof == 'p4'", "y_rare", "mean", 0.039067005605408017, 0.017173868386566756, 0.060960142824249275),
    ("rake", "prof == 'p4'", "y_rare", "xlogit", 0.039067005605408017, 0.022187056684144005, 0.067897502413660896),
    ("linear", "sex == 'M'", "y_common", "likelihood", 0.96740204877172897, 0.95223872094783613, 0.97905016661340627),
    ("linear", "sex == 'M'", "y_common", "beta", 0.96740204879633374, 0.95112845336059004, 0.97942341290527535),
    ("linear", "sex == 'M'", "y_common", "logit", 0.96740204877172897, 0.95104875562564217, 0.9784161330042962),
    ("linear", "sex == 'M'", "y_common", "asin", 0.96740204879633374, 0.95273357021647298, 0.97942662986367734),
    ("linear", "sex == 'M'", "y_common", "mean", 0.96740204879633374, 0.95404292209953478, 0.98076117549313269),
    ("linear", "sex == 'M'", "y_common", "xlogit", 0.96740204879633374, 0.95104875564758129, 0.97841613302729791),
]


@pytest.fixture(scope="module")
def ref():
    return reference()


@pytest.fixture(scope="module")
def full(ref):
    """svyciprop.csv's items on the raked design, their estimates and svyciprop terms."""
    expected = ref.table("svyciprop.csv")
    items = list(dict.fromkeys(expected["item"]))
    y = ref.items(items)
    estimates = svymean(ref.designs["rake"], y)
    return expected, items, estimates, svyciprop_terms(ref.designs["rake"], estimates, y)


@pytest.mark.parametrize("method", ["logit", "likelihood", "asin", "beta", "mean", "xlogit"])
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_intervals_reproduce_svyciprop(full, method, level):
    expected, items, estimates, terms = full
    rows = expected[(expected["method"] == method) & np.isclose(expected["level"], level)].set_index("item").loc[items]
    low, high = proportion_ci(estimates.estimate, estimates.se, n=estimates.n, df=estimates.df, method=method, level=level, terms=terms)
    tolerance = 1e-7 if method in PROFILE_METHODS else 1e-8
    np.testing.assert_allclose(low, rows["ci_low"], rtol=tolerance)
    np.testing.assert_allclose(high, rows["ci_high"], rtol=tolerance)
    assert (rows["df"] == estimates.df).all()
    if method in ("logit", "likelihood"):  # R reports the glm's expit(coefficient)
        np.testing.assert_allclose(special.expit(terms.coefficient), rows["estimate"], rtol=1e-12)


def test_without_terms_the_whole_design_is_the_base(full):
    """Defaults (n rows, glm run to convergence) are R's numbers for a full design to 1e-7."""
    expected, items, estimates, _ = full
    rows = expected[(expected["method"] == "likelihood") & np.isclose(expected["level"], 0.95)].set_index("item").loc[items]
    low, high = proportion_ci(estimates.estimate, estimates.se, n=estimates.n, method="likelihood", level=R_LEVEL)
    np.testing.assert_allclose(low, rows["ci_low"], rtol=1e-6)
    np.testing.assert_allclose(high, rows["ci_high"], rtol=1e-6)


@pytest.mark.parametrize(("design", "domain", "item", "method", "estimate", "low", "high"), R_DOMAINS)
def test_domains_and_routed_bases_reproduce_svyciprop(ref, design, domain, item, method, estimate, low, high):
    if domain == "all":
        in_domain = np.ones((len(ref.data), 1), dtype=bool)
    else:
        variable, level = (part.strip(" '") for part in domain.split("=="))
        in_domain = ref.domain(variable, level)[:, None]
    y = ref.items([item])
    estimates = svymean(ref.designs[design], y, in_domain)
    terms = svyciprop_terms(ref.designs[design], estimates, y, in_domain)
    result = proportion_ci(estimates.estimate, estimates.se, n=estimates.n, df=estimates.df, method=method, terms=terms, level=R_LEVEL)
    np.testing.assert_allclose(np.ravel(result), [low, high], rtol=1e-7 if method in PROFILE_METHODS else 1e-8)


def test_wilson_is_statsmodels_on_kish_n_eff():
    p, n_eff = np.array([0.0, 0.03, 0.5, 0.97, 1.0]), np.array([50.0, 812.4, 99.5, 1234.0, 7.0])
    for level in (0.95, 0.9):
        low, high = proportion_ci(p, np.zeros(5), n=n_eff, n_eff=n_eff, method="wilson", level=level)
        expected = proportion_confint(p * n_eff, n_eff, alpha=1 - level, method="wilson")
        np.testing.assert_allclose(low, expected[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(high, expected[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", INTERVAL_METHODS)
def test_every_method_behaves_from_0_to_1(method):
    """No NaN inside (0, 1), limits ordered and in [0, 1]; documented behaviour at 0 and 1."""
    p = np.array([0.0, 0.03, 0.97, 1.0])
    n = np.full(4, 400.0)
    se = np.sqrt(p * (1 - p) / n) * 1.2
    low, high = proportion_ci(p, se, n=n, n_eff=n / 1.44, method=method, level=R_LEVEL)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    assert np.all((low >= 0) & (low <= p) & (p <= high) & (high <= 1))
    inside = slice(1, 3)
    assert np.all(low[inside] < p[inside]) and np.all(high[inside] > p[inside])
    if method in ("beta", "wilson"):  # a real interval from 0 and to 1
        assert high[0] > 0 and low[3] < 1
    else:  # the SE is 0 at 0 and 1: the point
        assert (low[0], high[0], low[3], high[3]) == (0, 0, 1, 1)


def test_asin_is_clipped_where_r_wraps_around():
    low, high = proportion_ci(0.01, 0.02, n=100, method="asin", level=R_LEVEL)
    assert low == 0.0 and 0.01 < high < 1


def test_xlogit_is_logit_without_the_glm():
    args = {"n": 500, "df": 499}
    np.testing.assert_allclose(proportion_ci(0.2, 0.02, method="logit", **args, level=R_LEVEL), proportion_ci(0.2, 0.02, method="xlogit", **args, level=R_LEVEL), rtol=1e-15)


def test_unusable_arguments_are_refused(ref):
    with pytest.raises(EstimationError, match=r"unknown interval method 'exact'"):
        proportion_ci(0.5, 0.1, n=10, method="exact", level=R_LEVEL)
    with pytest.raises(EstimationError, match=r"confidence level 95 is not between 0 and 1"):
        proportion_ci(0.5, 0.1, n=10, level=95)
    with pytest.raises(EstimationError, match=r"the Wilson interval needs n_eff"):
        proportion_ci(0.5, 0.1, n=10, method="wilson", level=R_LEVEL)
    y = ref.items(["trust"])
    with pytest.raises(EstimationError, match=r"svyciprop terms need 0/1 items"):
        svyciprop_terms(ref.designs["rake"], svymean(ref.designs["rake"], y), y)


@pytest.mark.parametrize("design", ["w0", "rake", "linear"])
def test_coded_items_give_the_glm_terms_of_the_item_matrix(ref, design, monkeypatch):
    """The glm's first step summed over weight classes (coded items) is the sum over respondents,
    on levels of one breakdown, an overlapping domain and the whole sample (three layers)."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0)  # every design in weight classes
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    y = ref.items(["y_low", "routed", "mr_5"])
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("age", "a65p"), np.ones(len(y), dtype=bool), ref.domain("sex", "M")])
    coded = [coded_column(y[:, j]) for j in range(y.shape[1])]
    estimates = svymean(ref.designs[design], y, domains)
    dense, by_class = (svyciprop_terms(ref.designs[design], estimates, items, domains) for items in (y, coded))
    for field in dense.__dataclass_fields__:
        np.testing.assert_allclose(getattr(by_class, field), getattr(dense, field), rtol=1e-12, err_msg=field)


@pytest.mark.parametrize("with_whole", [True, False])
def test_glm_terms_from_the_counts_of_the_sums_are_those_counted_anew(ref, with_whole, monkeypatch):
    """Answer counts taken from the items' counts per class (those of their sums) give the very
    numbers of a count of their own, on random coded items (states with 0, 1 and out of the base);
    without a layer of the whole sample (no base sizes), they are counted anew."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    design = ref.designs["rake"]
    rng = np.random.default_rng(1)
    tables = [rng.choice([0.0, 1.0, np.nan], size=(s, 3)) for s in (2, 5, 9)]
    coded = [CodedItems(rng.integers(0, len(t), design.n).astype(np.uint8), t) for t in tables]
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("age", "a65p"), ref.domain("sex", "M")] + [np.ones(design.n, dtype=bool)] * with_whole)
    lay = variance_layout(design)
    answers = counted_answers(coded_counts(lay, coded, domains), coded, design.n)
    assert (answers is not None) == with_whole
    estimates = svymean(design, coded, domains)
    anew, shared = (svyciprop_terms(design, estimates, coded, domains, a) for a in (None, answers))
    for field in anew.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(shared, field), getattr(anew, field), err_msg=field)
