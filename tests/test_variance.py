"""svymean against R's svymean / svyby / subset, the two variance paths against each other, errors."""

from __future__ import annotations

from weakref import WeakKeyDictionary

import numpy as np
import pytest
from conformance import reference
from conformance.check_reference import api_design, item_values

from baro_pipeline.errors import EstimationError
from baro_pipeline.stats import coded_counts
from baro_pipeline.stats import coded as coded_kernels
from baro_pipeline.stats.coded import Bundle
from baro_pipeline.stats import (
    CodedItems,
    Design,
    coded_column,
    design_from_calibration,
    influence_values,
    layout,
    rake,
    share_pair_sums,
    sums,
    svymean,
    variance,
    variance_matrix,
)

TOLERANCE = 1e-8


@pytest.fixture(scope="module")
def ref():
    return reference()


def assert_close(computed, expected, rtol=TOLERANCE):
    np.testing.assert_allclose(computed, np.asarray(expected, dtype=float), rtol=rtol, atol=0)


@pytest.mark.parametrize("design", ["w0", "rake", "linear", "raking_bounded"])
def test_svymean_reproduces_r_for_every_item_at_once(ref, design):
    expected = ref.table("svymean.csv").query("design == @design")
    result = svymean(ref.designs[design], ref.items(expected["item"]))
    assert_close(result.estimate, expected["mean"])
    assert_close(result.se, expected["se"])
    assert_close(result.deff, expected["deff"])
    assert result.estimate.shape == (len(expected),)


@pytest.mark.parametrize("by", ["age", "prof", "sex"])
def test_domains_reproduce_svyby_all_levels_and_items_at_once(ref, by):
    expected = ref.table("svyby.csv").query("by == @by")
    items, levels = list(dict.fromkeys(expected["item"])), list(dict.fromkeys(expected["level"]))
    result = svymean(ref.designs["rake"], ref.items(items), np.column_stack([ref.domain(by, level) for level in levels]))
    assert result.estimate.shape == (len(levels), len(items))
    table = expected.set_index(["level", "item"])
    for field, column in (("estimate", "mean"), ("se", "se"), ("deff", "deff")):
        wanted = table[column].unstack("item").loc[levels, items]
        assert_close(getattr(result, field), wanted)


def test_a_routed_item_in_a_domain_reproduces_subset(ref):
    expected = ref.table("domain.csv").iloc[0]
    y, domain = ref.items(["routed"]), ref.domain("y_mid", "1")[:, None]
    result = svymean(ref.designs["rake"], y, domain)
    assert_close(result.estimate[0], [expected["mean"]])
    assert_close(result.se[0], [expected["se"]])
    assert_close(result.deff[0], [expected["deff"]])
    assert result.n[0, 0] == expected["n"] and result.df[0, 0] == expected["n"] - 1


def test_missing_answers_and_domains_are_the_same_zero_influence(ref):
    """NaN outside a domain (routing) and the domain itself give the same base: R's subset()."""
    y = ref.items(["y_low", "mr_2"])
    domain = ref.domain("prof", "p2")
    routed = svymean(ref.designs["linear"], np.where(domain[:, None], y, np.nan))
    by_domain = svymean(ref.designs["linear"], y, domain[:, None])
    for field in ("estimate", "se", "deff", "n", "n_weighted", "n_eff", "df"):
        assert_close(getattr(routed, field), getattr(by_domain, field)[0], rtol=1e-12)


def test_base_sizes_and_the_kish_alternative(ref):
    design = ref.designs["rake"]
    y = ref.items(["y_mid", "routed"])
    result = svymean(design, y)
    answered = ~np.isnan(y)
    w = design.weights[:, None] * answered
    assert_close(result.n, answered.sum(axis=0), rtol=0)
    assert_close(result.n_weighted, w.sum(axis=0), rtol=1e-13)
    assert_close(result.n_eff, w.sum(axis=0) ** 2 / (w**2).sum(axis=0), rtol=1e-12)
    p = result.estimate
    assert_close(result.se_kish, np.sqrt(p * (1 - p) / result.n_eff), rtol=1e-10)


@pytest.mark.parametrize("name", ["apistrat", "apiclus1"])
def test_stratified_and_cluster_designs_with_fpc_reproduce_r(ref, name):
    expected = ref.table("api.csv").query("design == @name")
    design, data = api_design(ref, name)
    y = np.column_stack([item_values(data, item) for item in expected["item"]])
    result = svymean(design, y, deff="without_replacement")
    assert_close(result.estimate, expected["mean"])
    assert_close(result.se, expected["se"])
    assert_close(result.deff, expected["deff"])
    # the explicit influence values give the same variance (the covariance path of svychisq)
    assert_close(np.diag(variance_matrix(design, influence_values(design, y))), result.se**2, rtol=1e-10)


@pytest.mark.parametrize("design", ["w0", "rake", "linear", "raking_bounded"])
def test_expanded_sums_equal_explicit_influence_values(ref, design):
    y = ref.items(["y_rare", "y_high", "mr_4"])
    result = svymean(ref.designs[design], y)
    covariance = variance_matrix(ref.designs[design], influence_values(ref.designs[design], y))
    assert_close(np.diag(covariance), result.se**2, rtol=1e-10)


def test_blocks_sorting_and_threads_do_not_change_the_numbers(ref, monkeypatch):
    design, y = ref.designs["rake"], ref.items(["y_low", "y_mid", "routed", "trust2"])
    domains = np.column_stack([ref.domain("age", a) for a in ("a18_24", "a25_34", "a65p")])
    whole = svymean(design, y, domains)
    monkeypatch.setattr(sums, "BLOCK_BYTES", 2048)  # blocks of 256 rows, sorted by cell, in threads
    blocked = svymean(design, y, domains)
    for field in ("estimate", "se", "deff", "n_eff"):
        assert_close(getattr(blocked, field), getattr(whole, field), rtol=1e-12)


def test_block_items_are_nan_as_zero_to_the_last_bit():
    """NaN as 0.0 and every other value's bits kept (-0.0, infinities, tiny numbers); the base 1 where answered."""
    rng = np.random.default_rng(5)
    y = rng.normal(size=(300, 4)) * 10.0 ** rng.integers(-300, 300, (300, 4))
    y[rng.random((300, 4)) < 0.3] = np.nan
    y[:4, 0] = [-0.0, np.inf, -np.inf, 5e-324]
    values, answered, missing = sums.block_items(y, np.full((2, 400, 4), 7.0), np.empty((400, 4), dtype=bool))
    assert values.tobytes() == np.where(np.isnan(y), 0.0, y).tobytes()
    assert (answered == ~np.isnan(y)).all() and (missing == np.isnan(y)).all()


def test_an_empty_domain_gives_nan_without_touching_the_others(ref):
    y = ref.items(["y_mid"])
    domains = np.column_stack([ref.domain("sex", "F"), np.zeros(len(y), dtype=bool)])
    result = svymean(ref.designs["rake"], y, domains)
    assert result.n[1, 0] == 0 and np.isnan(result.estimate[1, 0]) and np.isnan(result.se[1, 0])
    assert np.isfinite(result.se[0, 0])


def test_calibration_removes_the_variance_of_a_calibration_variable():
    """An indicator of a raking margin's category is known exactly after raking: SE 0."""
    rng = np.random.default_rng(5)
    codes = [rng.integers(0, 3, 500), rng.integers(0, 2, 500)]
    design = design_from_calibration(rake(codes, [np.array([150.0, 200, 150]), np.array([240.0, 260])]), codes)
    result = svymean(design, (codes[0] == 1).astype(float)[:, None])
    assert result.estimate[0] == pytest.approx(0.4)
    assert result.se[0] == pytest.approx(0.0, abs=1e-14)


def test_items_of_the_wrong_shape_are_refused(ref):
    with pytest.raises(EstimationError, match=r"items have shape \(10, 2\), the design 2000 respondents"):
        svymean(ref.designs["w0"], np.zeros((10, 2)))
    with pytest.raises(EstimationError, match=r"domains must be an \(n, d\) boolean matrix, got dtype int64"):
        svymean(ref.designs["w0"], np.zeros((2000, 1)), np.zeros((2000, 2), dtype=np.int64))
    with pytest.raises(EstimationError, match=r"unknown deff 'srs'"):
        svymean(ref.designs["w0"], np.zeros((2000, 1)), deff="srs")


def test_a_stratum_with_one_psu_is_refused():
    design = Design(np.ones(5), strata=np.array([0, 0, 1, 1, 2]))
    with pytest.raises(EstimationError, match=r"stratum 2 has a single PSU"):
        svymean(design, np.ones((5, 1)))


def test_a_calibrated_design_needs_its_margins():
    with pytest.raises(EstimationError, match=r"a 'raking' design needs its calibration codes"):
        Design(np.ones(3), calibration="raking")


def coded(y):
    return [coded_column(y[:, j]) for j in range(y.shape[1])]


def assert_same_estimates(a, b, rtol=1e-12):
    for field in a.__dataclass_fields__:
        x, z = getattr(a, field), getattr(b, field)
        assert x.shape == z.shape, field
        np.testing.assert_allclose(z, x, rtol=rtol, atol=1e-15, err_msg=field)


CODED_ITEMS = ["y_low", "y_mid", "routed", "trust2", "y_rare", "mr_4"]


@pytest.mark.parametrize("classes", [True, False], ids=["weight classes", "weights row by row"])
@pytest.mark.parametrize("design", ["w0", "rake", "linear", "raking_bounded"])
def test_coded_items_give_the_numbers_of_the_item_matrix(ref, design, classes, monkeypatch):
    """Counts per (weight class, domain, state) are the matrix's sums: overlapping domains, an
    empty one, routed items; both ways of summing (classes of equal weights, or row by row)."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0 if classes else -1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())  # layouts are cached per design
    y = ref.items(CODED_ITEMS)
    domains = np.column_stack(
        [ref.domain("age", a) for a in ("a18_24", "a25_34", "a65p")]
        + [ref.domain("sex", "F"), ref.domain("sex", "M"), np.ones(len(y), dtype=bool), np.zeros(len(y), dtype=bool)]
    )
    assert (variance.variance_layout(ref.designs[design]).classes is not None) is classes
    for by in (None, domains):
        assert_same_estimates(svymean(ref.designs[design], y, by), svymean(ref.designs[design], coded(y), by))


def test_coded_items_counted_together_or_one_by_one_agree(ref, monkeypatch):
    """Bundles of items counted on their joint states give the numbers of one count per item."""
    y = ref.items(CODED_ITEMS)
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("sex", "M"), np.ones(len(y), dtype=bool)])
    for by in (None, domains):
        together = svymean(ref.designs["rake"], coded(y), by)
        monkeypatch.setattr("baro_pipeline.stats.coded.BUNDLE_BINS", 1)
        assert_same_estimates(together, svymean(ref.designs["rake"], coded(y), by))
        monkeypatch.undo()


@pytest.mark.parametrize("classes", [True, False], ids=["weight classes", "weights row by row"])
def test_counts_projected_together_or_one_by_one_agree_to_the_last_bit(ref, classes, monkeypatch):
    """Items' counts projected in one sparse product give the numbers of one product per item."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0 if classes else -1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    y = coded(ref.items(CODED_ITEMS))
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("age", "a65p"), np.ones(len(y[0].state), dtype=bool)])
    together = svymean(ref.designs["rake"], y, domains)
    monkeypatch.setattr("baro_pipeline.stats.coded.PROJECTION_BLOCK", 0)
    one_by_one = svymean(ref.designs["rake"], y, domains)
    for field in together.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(one_by_one, field), getattr(together, field), err_msg=field)


@pytest.mark.parametrize("classes", [True, False], ids=["weight classes", "weights row by row"])
@pytest.mark.parametrize("block", [coded_kernels.PROJECTION_BLOCK, 1000], ids=["one product", "products of a few items"])
def test_sums_projected_as_they_are_counted_are_those_of_all_counts_first_to_the_last_bit(ref, classes, block, monkeypatch):
    """coded_domain_sums (per cell: summed on the slots that have rows, a chunk of items at once)
    gives the sums, to the last bit, of counting every item first (coded_counts) and projecting
    them all (counted_sums)."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0 if classes else -1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    monkeypatch.setattr(coded_kernels, "PROJECTION_BLOCK", block)
    y = coded(ref.items(CODED_ITEMS)) * 3  # several bundles and, in small blocks, several products
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("sex", "M"), ref.domain("age", "a65p"), np.ones(len(y[0].state), dtype=bool)])
    lay = variance.variance_layout(ref.designs["rake"])
    streamed = coded_kernels.coded_domain_sums(lay, y, domains)
    counted_first = coded_kernels.counted_sums(lay, coded_counts(lay, y, domains), domains.shape[1])
    assert streamed.count.shape[-1] == sum(item.table.shape[1] for item in y)
    for field in counted_first.__dataclass_fields__:
        a, b = getattr(streamed, field), getattr(counted_first, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), field


@pytest.mark.parametrize(
    ("calibration", "bundle_bins", "slot_bytes"),
    [("raking", None, None), ("linear", None, None), ("raking", 1, None), ("raking", 1 << 13, 1), ("none", None, 1 << 15)],
    ids=["raking", "calibrate", "bundles of one item", "chunks of one bundle", "one cell"],
)
def test_sums_per_cell_from_the_slots_are_those_of_the_bundles_to_the_last_bit(calibration, bundle_bins, slot_bytes, monkeypatch):
    """Without weight classes, coded_domain_sums sums the (cell, level) slots that have rows, a
    chunk of items at once, and projects them slot by slot: the bits of counting each bundle's
    joint states on every cell and projecting every cell (coded_counts, then counted_sums).
    Weights far apart in magnitude (sums depend on their order), cells of one, two and many rows,
    breakdowns the cells lie within (layers sharing their slots) and across them, rows in no
    level, an empty level; bundles of one item and of three, chunks of one bundle."""
    if bundle_bins is not None:
        monkeypatch.setattr(coded_kernels, "BUNDLE_BINS", bundle_bins)
    if slot_bytes is not None:
        monkeypatch.setattr(coded_kernels, "SLOT_SUMS_BYTES", slot_bytes)
    rng = np.random.default_rng(len(calibration) + (bundle_bins or 0))
    n = 500
    margins = (rng.integers(0, 60, n), rng.integers(0, 3, n))
    weights = rng.lognormal(0, 3, n)
    design = Design(weights) if calibration == "none" else Design(weights, margins, calibration, base_weights=rng.lognormal(0, 1, n))
    split = rng.random(n) < 0.5
    domains = np.column_stack([np.ones(n, dtype=bool), *(margins[1] == level for level in range(3)), split, ~split, margins[0] < 20, np.zeros(n, dtype=bool)])
    shares = [rng.choice(3, n, p=[0.2, 0.4, 0.4]).astype(np.uint8) for _ in range(4)]  # 0: out of the base, 1: a 0, 2: a 1
    others = [CodedItems(rng.integers(0, len(t), n).astype(np.uint8), t) for t in (np.vstack([rng.normal(size=(s, m)), np.full((1, m), np.nan)]) for s, m in ((2, 1), (5, 2), (3, 1)))]
    items = [*others[:2], *share_pair_sums(shares), others[2]]
    lay = variance.variance_layout(design)
    assert lay.classes is None
    partitions = coded_kernels.slot_partitions(lay, coded_kernels.layer_groups(lay, lay.cell, domains))
    assert all(len(p.crowded) for p in partitions) and (calibration == "none" or all(len(p.loose) for p in partitions))
    # the margins' levels and a domain of a margin's categories lie within the cells: the whole sample's slots
    assert [p.layers for p in partitions] == ([[0], [1], [2], [3]] if calibration == "none" else [[0, 1, 3], [2]])
    by_slots = coded_kernels.coded_domain_sums(lay, items, domains)
    by_bundles = coded_kernels.counted_sums(lay, coded_counts(lay, items, domains), domains.shape[1])
    for field in by_bundles.__dataclass_fields__:
        a, b = getattr(by_slots, field), getattr(by_bundles, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), field


def test_the_whole_sample_from_a_breakdowns_counts_is_the_whole_sample_counted(ref, monkeypatch):
    """Counted per weight class, the whole sample's counts are the sums of another layer's (its
    levels and the rows in none): the same numbers, to the last bit, as counting it alone."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    design = ref.designs["rake"]
    assert variance.variance_layout(design).classes is not None
    y = coded(ref.items(CODED_ITEMS))
    whole = np.ones(design.n, dtype=bool)
    alone = svymean(design, y, whole[:, None])
    beside = svymean(design, y, np.column_stack([whole, ref.domain("age", "a18_24"), ref.domain("age", "a65p")]))
    for field in alone.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(beside, field)[:1], getattr(alone, field), err_msg=field)


def test_domains_changed_in_place_are_laid_out_again(ref, monkeypatch):
    """The layers of the last domains a layout saw are kept for the next call with equal
    domains, never for other ones: domains changed in place give the numbers of a fresh design."""
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    y = coded(ref.items(CODED_ITEMS))
    domains = np.column_stack([ref.domain("sex", "F"), ref.domain("sex", "M"), ref.domain("age", "a65p")])
    design = ref.designs["rake"]
    first = svymean(design, y, domains)
    np.testing.assert_array_equal(svymean(design, y, domains.copy()).se, first.se)  # equal domains, another array
    domains[:, 2] = ref.domain("age", "a18_24")
    changed = svymean(design, y, domains)
    fresh = svymean(Design(design.weights.copy(), design.calibration_codes, design.calibration), y, domains)
    for field in ("estimate", "se", "n"):
        np.testing.assert_array_equal(getattr(changed, field), getattr(fresh, field), err_msg=field)
    assert not np.array_equal(changed.n[2], first.n[2])


def test_read_only_domains_of_their_own_are_kept_as_they_are_a_read_only_view_is_copied(ref, monkeypatch):
    """Domains no view can change (read only over their own data: the breakdown levels' masks)
    are kept as they are, and known equal by being the same array; a read-only view of a
    writable array is copied: changed through that array, its domains are laid out again."""
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    y = coded(ref.items(CODED_ITEMS))
    design = ref.designs["rake"]
    frozen = np.column_stack([ref.domain("sex", "F"), ref.domain("sex", "M"), ref.domain("age", "a65p")])
    frozen.flags.writeable = False
    assert coded_kernels.kept_domains(frozen) is frozen
    writable = frozen.copy()
    view = writable.view()
    view.flags.writeable = False
    assert coded_kernels.kept_domains(view) is not view
    first = svymean(design, y, frozen)
    np.testing.assert_array_equal(svymean(design, y, frozen).se, first.se)  # the same read-only array
    np.testing.assert_array_equal(svymean(design, y, view).se, first.se)  # equal domains: the layers kept
    writable[:, 2] = ref.domain("age", "a18_24")
    fresh = svymean(Design(design.weights.copy(), design.calibration_codes, design.calibration), y, view)
    np.testing.assert_array_equal(svymean(design, y, view).se, fresh.se)


def test_weight_classes_are_the_cells_when_the_weights_are_constant_within_cells():
    cell = np.random.default_rng(3).integers(0, 6, 300)
    factor = np.array([1.5, 0.5, 2.0, 1.0, 0.75, 3.0])
    classes = variance.weight_classes(cell, factor[cell], np.ones(300), factor[cell])
    np.testing.assert_array_equal(classes.row_class, cell)
    np.testing.assert_array_equal(classes.kinds[:, 1], factor)
    w = factor[cell]
    w[cell == 2] *= np.where(np.arange((cell == 2).sum()) % 2, 1.0, 4.0)  # two weights in cell 2
    classes = variance.weight_classes(cell, w, np.ones(300), w)
    assert len(classes.cell) == 7 and np.array_equal(np.unique(classes.cell, return_counts=True)[1], [1, 1, 2, 1, 1, 1])
    np.testing.assert_array_equal(classes.kinds[classes.row_class, 1], w)
    np.testing.assert_array_equal(classes.cell[classes.row_class], cell)


@pytest.mark.parametrize("name", ["apistrat", "apiclus1"])
def test_coded_items_on_strata_clusters_and_fpc(ref, name):
    design, data = api_design(ref, name)
    expected = ref.table("api.csv").query("design == @name")
    y = np.column_stack([item_values(data, item) for item in expected["item"]])
    result = svymean(design, coded(y), deff="without_replacement")
    assert_close(result.se, expected["se"])
    assert_same_estimates(svymean(design, y, deff="without_replacement"), result)


def test_coded_items_share_a_state_table(ref):
    """One state for several items (a question's codes and a net): the same as their columns."""
    design = ref.designs["rake"]
    answer = np.random.default_rng(3).integers(0, 4, design.n)  # 3: not in the base
    table = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0], [np.nan] * 4])
    matrix = table[answer]
    assert_same_estimates(svymean(design, matrix), svymean(design, [CodedItems(answer.astype(np.uint8), table)]))


def test_coded_items_are_checked(ref):
    design = ref.designs["rake"]
    with pytest.raises(EstimationError, match=r"coded items with states of shape \(3,\).*the design \d+ respondents"):
        svymean(design, [CodedItems(np.zeros(3, dtype=np.intp), np.ones((1, 1)))])
    with pytest.raises(EstimationError, match="each a row of the table"):
        svymean(design, [CodedItems(np.full(design.n, 2, dtype=np.intp), np.ones((2, 1)))])


@pytest.mark.parametrize("sizes", [(4, 4), (3, 5), (3, 3, 3), (4, 3, 4)])
def test_marginals_of_weighted_sums_are_numpys_joint_sums_to_the_last_bit(sizes):
    """Bundle marginals summed state by state give the bits of numpy's sums over the joint
    layout: slots of one or two rows in any order, the slots of three rows or more in numpy's."""
    rng = np.random.default_rng(len(sizes) * 10 + sizes[0])
    rows = rng.integers(1, 13, 300)  # rows per slot
    slot = np.repeat(np.arange(len(rows)), rows)
    n_states = int(np.prod(sizes))
    weights = rng.lognormal(0, 4, (5, len(slot)))  # magnitudes far apart: sums depend on their order
    key = slot * n_states + rng.integers(0, n_states, len(slot))
    counts = np.stack([np.bincount(key, weights=w, minlength=len(rows) * n_states) for w in weights]).reshape(5, len(rows), n_states)
    bundle = Bundle([], [np.zeros((s, 1)) for s in sizes], np.zeros(0, dtype=np.intp))
    joint = counts.reshape(5, len(rows), *sizes)
    numpys = [joint.sum(axis=axes) for axes in bundle.other_axes(2)]
    found = bundle.marginals(counts, np.flatnonzero(rows >= 3))
    for mine, theirs in zip(found, numpys):
        assert mine.shape == theirs.shape and mine.tobytes() == theirs.tobytes()
    # the crowded slots are what keeps the bits of three items: summed state by state, some sums
    # differ (two items numpy sums in the same order, state by state)
    assert len(sizes) == 2 or any(mine.tobytes() != theirs.tobytes() for mine, theirs in zip(bundle.marginals(counts), numpys))


@pytest.mark.parametrize("nested", [True, False], ids=["classes within levels", "classes across levels"])
def test_counts_per_weight_class_are_the_rows_of_each_class_level_and_state(ref, nested, monkeypatch):
    """The layers of domains share one key per bundle (the combinations of their groups); each
    layer's counts, summed back from them, are the rows of each (class, level, state) counted one
    by one: random states, a breakdown the classes lie within (or not), another across them."""
    monkeypatch.setattr(layout, "MAX_CLASS_SHARE", 1.0)
    monkeypatch.setattr(layout, "_LAYOUTS", WeakKeyDictionary())
    lay = variance.variance_layout(ref.designs["rake"])
    row_class = lay.classes.row_class
    rng = np.random.default_rng(3)
    inner = row_class % 3 if nested else rng.integers(0, 3, len(row_class))
    outer = rng.integers(0, 2, len(row_class))
    domains = np.column_stack([inner == 0, inner == 1, inner == 2, outer == 0, outer == 1, np.ones(len(row_class), dtype=bool)])
    items = [CodedItems(rng.integers(0, s, len(row_class)).astype(np.uint8), np.eye(s)) for s in (3, 7, 2, 5)]
    counted = coded_counts(lay, items, domains)
    assert [list(columns) for columns in counted.layers] == [[0, 1, 2], [3, 4], [5]]
    n_classes = len(lay.classes.cell)
    for item, found in zip(items, counted.items):
        for columns, counts in zip(counted.layers, found.counts):
            expected = np.zeros((n_classes, len(columns), len(item.table)), dtype=np.int64)
            for level, column in enumerate(columns):
                np.add.at(expected, (row_class[domains[:, column]], level, item.state[domains[:, column]]), 1)
            np.testing.assert_array_equal(counts, expected)
