"""Coded items: the sums of :mod:`.sums` as counts per (weight class or cell, domain, state).

Items that are functions of one small categorical state per respondent (the codes and nets of
a question, a tick box) need one count per state, whatever their number; consecutive items are
counted together on their joint state (:class:`Bundle`). Counting (:func:`coded_counts`) and the
projection of the counts (:func:`counted_sums`) are apart, so that counts made another way enter
as well: the pairwise sums of shares on one base, from their co-occurrences
(:func:`co_occurrences`; R: ``crossprod(y[in_group, ])`` per group).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeGuard, TypeVar
from weakref import WeakKeyDictionary

import numpy as np
from scipy import sparse

from ..errors import EstimationError
from .design import Array, Design
from .layout import KINDS, VarianceLayout
from .sums import DomainSums, domain_sums

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class CodedItems:
    """k items that are functions of one small categorical state per respondent: item j of
    respondent i is ``table[state[i], j]`` (NaN: not in the item's base).

    What the shares of a survey are: the codes and nets of a question or a grid row share the
    state "code given" (plus one for "not in the base"), a tick box has three. Sums over
    respondents then need one count per (weight class, domain, state), whatever k is (and several
    sources can be counted at once on their joint state: :class:`Bundle`).
    """

    state: np.ndarray  # (n,) ints in [0, S)
    table: np.ndarray  # (S, k)

    def dense(self) -> np.ndarray:
        """The (n, k) item matrix."""
        items: Array = self.table[self.state]
        return items


# Items as an (n, k) matrix (NaN: not in the base) or as coded items.
Items = Array | Sequence[CodedItems]

BINARY_TABLE = np.array([[np.nan], [0.0], [1.0]])  # the states of a 0/1 item: out of the base, 0, 1
# Bins of a count of coded items' joint states (groups × levels × states): ~1 MB, in cache.
BUNDLE_BINS = 1 << 17


def count_bins(layout: VarianceLayout, n: int) -> int:
    """Bins of a bundle's count: :data:`BUNDLE_BINS`, or no more than the rows when they are
    counted per weight class. A joint table larger than the rows costs more to sum back to each
    item than counting the items one by one, and counts are integers: exact however bundled.
    Weighted sums per cell keep their bundles (their float sums depend on how they are grouped).
    """
    return BUNDLE_BINS if layout.classes is None else min(BUNDLE_BINS, max(n, 1))


def coded_column(values: Array) -> CodedItems:
    """One item (n,) as :class:`CodedItems`: a state per distinct value, and one for NaN (not in
    the base); a 0/1 item, without sorting, the states of :data:`BINARY_TABLE`.
    """
    values = np.asarray(values, dtype=float)
    answered = ~np.isnan(values)
    ones = values == 1
    if np.array_equal(answered, ones | (values == 0)):
        return binary_column(answered, ones)
    distinct, state = np.unique(values[answered], return_inverse=True)
    states = np.full(len(values), len(distinct), dtype=np.intp)
    states[answered] = state
    return CodedItems(states, np.append(distinct, np.nan)[:, None])


def binary_column(base: np.ndarray, ones: np.ndarray) -> CodedItems:
    """A 0/1 item as :class:`CodedItems` with the states of :data:`BINARY_TABLE`: out of the
    ``base`` (n,) bool, else 1 where ``ones`` (n,) bool, else 0. A byte per respondent, no sort.
    """
    inside = base.view(np.uint8)
    return CodedItems(inside + (inside & ones.view(np.uint8)), BINARY_TABLE)


def domain_layers(domains: np.ndarray | None, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Domains in layers of disjoint ones (a breakdown's levels make one layer): per layer, the
    level of each row (L when in none of its L domains) and the domain of each level.
    """
    if domains is None:
        return [(np.zeros(n, dtype=np.uint8), np.array([0]))]
    columns = np.ascontiguousarray(domains.T)  # domain by domain: contiguous reads
    layers: list[tuple[np.ndarray, list[int]]] = []
    for j, column in enumerate(columns):
        free = next((layer for layer in layers if not np.any(layer[0] & column)), None)
        if free is None:
            layers.append((column.copy(), [j]))
        else:
            np.logical_or(free[0], column, out=free[0])
            free[1].append(j)
    result = []
    for _, members in layers:
        # the smallest type: at 1e6 rows a byte a row comes from the heap's pages, 8 would be a fresh mapping
        level = np.full(n, len(members), dtype=np.min_scalar_type(len(members)))
        for i, j in enumerate(members):
            np.copyto(level, i, where=columns[j])
        result.append((level, np.array(members)))
    return result


@dataclass(frozen=True, eq=False)
class Bundle:
    """Consecutive coded items counted together, on their joint state ((s1 S2 + s2) S3 + s3)...:
    each item's columns (start, stop) among all items and its table.
    """

    columns: list[tuple[int, int]]
    tables: list[np.ndarray]
    state: np.ndarray  # (n,) joint state

    @property
    def sizes(self) -> list[int]:
        return [len(table) for table in self.tables]

    @property
    def n_states(self) -> int:
        return int(np.prod(self.sizes))

    def marginals(self, counts: np.ndarray, ordered: np.ndarray | None = None) -> list[np.ndarray]:
        """Counts (..., slots, joint states) as each item's counts (..., slots, its states): sums
        over the other items' states, exact for counts (integers), so every item gets the counts
        of its own bincount. Summed state by state over long rows (numpy reduces short rows
        slowly); weighted sums (floats) depend on their order only where three of them or more
        are not 0 (x + 0 = x, a + b = b + a): the slots ``ordered`` (those with three rows or
        more) are summed as ever, in numpy's order of the joint layout.
        """
        m = len(self.tables)
        if m == 1:  # its own states already: nothing to sum
            return [counts]
        lead = counts.shape[:-1]
        width = int(np.prod(lead))  # explicit: no rows leave -1 undetermined
        statewise = np.ascontiguousarray(counts.reshape(width, self.n_states).T).reshape(*self.sizes, width)
        found = [np.ascontiguousarray(statewise.sum(axis=others).T).reshape(*lead, size) for others, size in zip(self.other_axes(0), self.sizes)]
        if ordered is not None and len(ordered):
            for sums, joint in zip(found, self.joint_sums(counts[..., ordered, :])):
                sums[..., ordered, :] = joint
        return found

    def joint_sums(self, counts: np.ndarray) -> list[np.ndarray]:
        """Counts (..., slots, joint states) as each item's counts (..., slots, its states), summed
        in numpy's order over the joint layout: the bits of a weighted sum of three rows or more."""
        lead = counts.shape[:-1]
        joint = counts.reshape(*lead, *self.sizes)
        return [joint.sum(axis=others) for others in self.other_axes(len(lead))]

    def other_axes(self, lead: int) -> list[tuple[int, ...]]:
        """Per item, the axes of the other items' states in the joint states' axes (after ``lead`` axes)."""
        m = len(self.tables)
        return [tuple(lead + j for j in range(m) if j != i) for i in range(m)]


Layers = list[tuple[np.ndarray, int, Array]]
# Per layout, the last layers of domains made (rows, the domains as kept, layers): a question's
# covariance, the items' sums and their answer counts take the same breakdown levels, which
# are checked equal rather than laid out again (a pass per domain and level): the same read-only
# array at once, others by a pass over them.
_LAST_LAYERS: WeakKeyDictionary[VarianceLayout, tuple[np.ndarray, np.ndarray | None, Layers]] = WeakKeyDictionary()


def layer_groups(layout: VarianceLayout, rows: np.ndarray, domains: np.ndarray | None) -> Layers:
    """Per layer of domains (:func:`domain_layers`): the group of each row, ``rows`` (its class
    or cell in the ``layout``) × (L + 1) + level, the layer's L and its domains (read only: the
    last ones of a layout are kept, for the same rows and domains)."""
    last = _LAST_LAYERS.get(layout)
    if last is not None and last[0] is rows and same_domains(last[1], domains):
        return last[2]
    # keys of bincount's own type: smaller ones would be converted on every call
    layers = [(rows.astype(np.intp, copy=False) * (len(columns) + 1) + level, len(columns), columns) for level, columns in domain_layers(domains, len(rows))]
    _LAST_LAYERS[layout] = (rows, None if domains is None else kept_domains(domains), layers)
    return layers


def kept_domains(domains: np.ndarray) -> np.ndarray:
    """Domains kept to compare the next ones with: the array itself when read only over data of
    its own (no view can change it: the breakdown levels' masks, 25 MB at 1e6), else a copy."""
    return domains if not domains.flags.writeable and domains.flags.owndata else domains.copy()


def same_domains(kept: np.ndarray | None, domains: np.ndarray | None) -> bool:
    """Whether domains kept by :func:`kept_domains` (or None: the whole sample) equal ``domains``."""
    if kept is domains:  # None twice, or the same read-only array: a copy is never handed out
        return True
    return kept is not None and domains is not None and kept.shape == domains.shape and np.array_equal(kept, domains)


def whole_layers(layers: Layers) -> list[bool]:
    """Which layers of :func:`layer_groups` are the whole sample alone (one domain, every row in it)."""
    return [len(columns) == 1 and not np.any(group % 2) for group, _, columns in layers]


@dataclass(frozen=True, eq=False)
class LayerKey:
    """One layer of domains in :func:`keyed_items`: the key of each respondent, its group among
    those with rows × S + joint state (None: the whole sample, derived from another layer), the
    full group, ``rows`` (class or cell) × (L + 1) + level, of each of those ``slots``, the
    layer's L and its domains; per cell (weighted sums), the slots with three rows or more
    (:meth:`Bundle.marginals`), None for counts per weight class. Counted per weight class, the
    layers share one key, on the combinations of their slots that have rows: ``fold`` is the
    layer's slot of each (:func:`class_counts`)."""

    key: Array | None
    slots: Array
    n_levels: int
    columns: Array
    crowded: Array | None = None
    fold: Array | None = None


def keyed_items(
    layout: VarianceLayout, rows: np.ndarray, items: Sequence[CodedItems], domains: np.ndarray | None, derive_whole: bool = False
) -> Iterator[tuple[Bundle, list[LayerKey]]]:
    """Per :class:`Bundle` of coded items, in order, and per layer of domains, the key of each
    respondent (:class:`LayerKey`); a bundle has at most :func:`count_bins` // groups joint
    states, the groups being ``rows`` (its class or cell in the ``layout``) × (L + 1) + level
    (per weight class, the combinations of the layers' groups that have rows). Keys count with
    one bincount, on the groups that have rows only.
    A bundle's keys are overwritten by the next bundle's (fresh arrays of n would cost more than
    the sums): use them before the next. With ``derive_whole``, a layer of the whole sample alone
    has no key (None) when another layer has: its counts are the sums of that layer's counts
    over its levels, level L included (:func:`item_layer_counts`). Counted per weight class,
    the layers with a key share one, on the rows' :func:`joint_cells`: one bincount per bundle, whatever
    the number of breakdowns (a calibration cell often lies in one level of each: then the
    combinations are no more than the classes).
    """
    n = len(rows)
    layers = layer_groups(layout, rows, domains)
    whole = whole_layers(layers)
    derived = derive_whole and not all(whole) and any(whole)
    keyed = [i for i in range(len(layers)) if not (derived and whole[i])]
    # one layer keyed alone needs no combinations (a pass over the rows to number them)
    shared = layout.classes is not None and n > 0 and len(keyed) > 1
    folds: list[np.ndarray | None] = [None] * len(layers)
    if shared:
        cells = joint_cells(layout, rows, layers)
        # every row is in a cell: a layer's groups with rows are its cells' groups (no pass over the rows)
        present = [(np.unique(groups), cells.row) for groups in cells.groups]
        for i in keyed:  # each cell's slot among the layer's groups with rows
            folds[i] = np.searchsorted(present[i][0], cells.groups[i])
        n_groups = len(cells.groups[0])
    else:
        present = [present_groups(group) for group, _, _ in layers]
        n_groups = max(int(group.max()) + 1 if n else 1 for group, _, _ in layers)
    crowded = [crowded_slots(group, len(slots)) if layout.classes is None else None for slots, group in present]
    width = max(1, count_bins(layout, n) // n_groups)
    # group × S of each layer, kept while consecutive bundles have S states (one array of n per
    # layer: one per S would hold n per distinct S); one for the layers that share a key
    scaled: list[tuple[int, np.ndarray | None]] = [(0, None)] * len(layers)
    buffers = np.empty((1 if shared else len(layers), n), dtype=np.intp)
    start = 0
    for members in bundles(items, width):
        tables = [np.asarray(item.table, dtype=float) for item in members]
        stops = start + np.cumsum([table.shape[1] for table in tables])
        bundle = Bundle(list(zip([start, *stops[:-1]], stops)), tables, joint_state(members))
        keys: list[LayerKey] = []
        key = None
        for i, ((_, n_levels, columns), (slots, group), crowd) in enumerate(zip(layers, present, crowded)):
            if derived and whole[i]:
                keys.append(LayerKey(None, slots, n_levels, columns))
                continue
            if key is None or not shared:
                size, times = scaled[i]
                if times is None or size != bundle.n_states:
                    scaled[i] = size, times = bundle.n_states, np.multiply(group, bundle.n_states, out=times)
                key = np.add(times, bundle.state, out=buffers[0 if shared else i])
            keys.append(LayerKey(key, slots, n_levels, columns, crowd, folds[i]))
        yield bundle, keys
        start = int(stops[-1])


def crowded_slots(slot: np.ndarray, n_slots: int) -> np.ndarray:
    """The slots of three rows or more (``slot``: each row's, among ``n_slots``): where weighted
    sums depend on their order (:meth:`Bundle.marginals`)."""
    found: Array = np.flatnonzero(np.bincount(slot, minlength=n_slots) >= 3)
    return found


def weight_kinds(layout: VarianceLayout) -> np.ndarray:
    """(KINDS, n) what each row adds to the sums per cell of each weight kind (the layout's
    projection: :func:`~.layout.sums_projection`): 1{w != 0}, w, w^2, fit weight, w x fitted weight."""
    w = layout.weights
    return np.stack([(w != 0).astype(float), w, w**2, layout.fit_weights, w * layout.fitted_weights])


def class_counts(bundle: Bundle, keys: list[LayerKey]) -> list[np.ndarray | None]:
    """Per layer of :func:`keyed_items` counted per weight class, its rows per (slot, joint
    state), (slots, S) (None: a layer without a key): one bincount of the key the layers share,
    summed to each layer's slots (integers: the numbers of a count of each)."""
    shared = next((key for key in keys if key.key is not None), None)
    if shared is None or shared.key is None or shared.fold is None:
        return [None] * len(keys)
    joint = np.bincount(shared.key, minlength=len(shared.fold) * bundle.n_states).reshape(len(shared.fold), -1)
    return [None if key.key is None or key.fold is None else folded(joint, key.fold, len(key.slots)) for key in keys]


def folded(counts: np.ndarray, fold: np.ndarray, n_slots: int) -> np.ndarray:
    """Counts (combinations, S) summed to the ``n_slots`` slots ``fold`` names (one combination per slot: a reordering)."""
    out = np.zeros((n_slots, counts.shape[1]), dtype=counts.dtype)
    if len(fold) == n_slots:
        out[fold] = counts
    else:
        np.add.at(out, fold, counts)
    return out


def present_groups(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The groups that have rows, in order, and each row's group numbered among them."""
    slots = np.flatnonzero(np.bincount(group))
    number = np.zeros(int(slots[-1]) + 1 if len(slots) else 0, dtype=np.intp)
    number[slots] = np.arange(len(slots))
    return slots, number[group]


def bundles(items: Sequence[CodedItems], width: int) -> Iterator[list[CodedItems]]:
    """Consecutive coded items whose states combined number at most ``width`` (an item with more
    states makes a bundle of its own): one count of their joint states serves them all.
    """
    bundle: list[CodedItems] = []
    combined = 1
    for item in items:
        if bundle and combined * len(item.table) > width:
            yield bundle
            bundle, combined = [], 1
        bundle.append(item)
        combined *= len(item.table)
    if bundle:
        yield bundle


def joint_state(items: Sequence[CodedItems]) -> np.ndarray:
    """The states of coded items as one, ((s1 S2 + s2) S3 + s3)... (the item's own for one item)."""
    if len(items) == 1:
        return items[0].state
    sizes = [len(item.table) for item in items]
    state: Array = items[0].state.astype(np.uint16 if np.prod(sizes) <= 1 << 16 else np.intp)
    for item, size in zip(items[1:], sizes[1:]):
        state *= size
        state += item.state
    return state


def item_layer_counts(layout: VarianceLayout, bundle: Bundle, keys: list[LayerKey]) -> list[list[np.ndarray]]:
    """Per item of the bundle and per layer of domains (:func:`keyed_items`), the item's sums
    (groups, L, S) that the layout's projection takes: counts per (class, level, state), or the
    sums of each weight kind per (cell, level, state), kind by kind. The joint states are counted
    on the groups that have rows and summed back to each item's states (a group's sums are
    reduced on their own, so the same numbers as on every group); the others are zeros. A layer
    without a key (the whole sample, counted per weight class) takes the counts of the first layer
    that has one, summed over all its levels: integers, the same as counting it.
    """
    weighted = layout.classes is None
    n_groups = len(layout.cell_unit) if layout.classes is None else len(layout.classes.cell)
    # the weight kinds one after the other, counted in one bincount on keys kind by kind apart
    # (each bin takes one kind's rows in their order: the sums of a bincount per kind)
    kinds = weight_kinds(layout).reshape(-1) if weighted else None
    n_kinds = KINDS if weighted else 1
    counts = [None] * len(keys) if weighted else class_counts(bundle, keys)
    per_layer: list[list[np.ndarray] | None] = []  # per layer with a key, each item's (kinds, slots, S)
    for layer, joint in zip(keys, counts):
        if layer.key is None:
            per_layer.append(None)
            continue
        if joint is None:
            size = len(layer.slots) * bundle.n_states
            key = (np.arange(n_kinds)[:, None] * size + layer.key).reshape(-1) if weighted else layer.key
            joint = np.bincount(key, weights=kinds, minlength=n_kinds * size).reshape(n_kinds, len(layer.slots), -1)
        else:
            joint = joint[None]
        per_layer.append(bundle.marginals(joint, layer.crowded))
    counted, first = next((key, sums) for key, sums in zip(keys, per_layer) if sums is not None)
    # where each layer's slots land, once for all the bundle's items
    sources = [None if sums is None else spread_source(layer.slots, n_groups, layer.n_levels) for layer, sums in zip(keys, per_layer)]
    group, starts = group_starts(counted.slots, counted.n_levels)
    return [
        [
            (
                spread_groups(sums[j], source, n_groups, layer.n_levels)
                if sums is not None and source is not None
                else group_totals(first[j], group, starts, n_groups)
            ).reshape(-1, layer.n_levels, len(table))
            for sums, layer, source in zip(per_layer, keys, sources)
        ]
        for j, table in enumerate(bundle.tables)
    ]


def spread_source(slots: np.ndarray, n_groups: int, n_levels: int) -> np.ndarray:
    """(groups × L,) the slot of each (group, level) of a layer's L levels among ``slots`` (a slot
    is group × (L + 1) + level), or len(slots) (a row of zeros) where no slot lands: the rows in
    none of its domains (level L) are left out."""
    group, level = np.divmod(slots, n_levels + 1)
    inside = level < n_levels
    source = np.full(n_groups * n_levels, len(slots))
    source[(group * n_levels + level)[inside]] = np.flatnonzero(inside)
    return source


def spread_groups(sums: np.ndarray, source: np.ndarray, n_groups: int, n_levels: int) -> np.ndarray:
    """(kinds, groups, L, S) sums of a layer's slots (kinds, slots, S) in its L levels, zeros
    elsewhere, placed by :func:`spread_source`, not copied out of a larger array afterwards.
    Gathered (a take of each (group, level)'s slot, or of a row of zeros): twice as fast as
    scattering the slots."""
    padded = np.concatenate([sums, np.zeros((len(sums), 1, sums.shape[-1]), dtype=sums.dtype)], axis=1)
    found: Array = padded.take(source, axis=1).reshape(len(sums), n_groups, n_levels, -1)
    return found


def group_starts(slots: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The group of each slot (group × (L + 1) + level, in order) and where each group's slots start."""
    group = slots // (n_levels + 1)
    return group, np.flatnonzero(np.diff(group, prepend=-1))


def group_totals(sums: np.ndarray, group: np.ndarray, starts: np.ndarray, n_groups: int) -> np.ndarray:
    """(kinds, groups, 1, S) sums of a layer's slots (kinds, slots, S; their ``group`` and
    ``starts``: :func:`group_starts`) over all their levels, level L too: counts, integers, exact
    in any order."""
    full = np.zeros((len(sums), n_groups, sums.shape[-1]), dtype=sums.dtype)
    full[:, group[starts]] = np.add.reduceat(sums, starts, axis=1) if len(starts) else 0
    return full[:, :, None]


@dataclass(frozen=True, eq=False)
class CountedItem:
    """Coded items' table (S, k) and, per layer of domains, their counts (groups, L, S): what
    their sums need of the rows (per weight class; or per cell, the sums of each weight kind)."""

    table: np.ndarray
    counts: list[np.ndarray]


@dataclass(frozen=True, eq=False)
class CountedItems:
    """The counts of coded items (:class:`CountedItem`, in order) and the domains of each layer."""

    items: list[CountedItem]
    layers: list[Array]


def coded_counts(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> CountedItems:
    """Each coded item's marginal counts per layer of domains (:func:`item_counts`)."""
    counted = list(item_counts(layout, items, domains))
    return CountedItems([item for item, _ in counted], counted[-1][1] if counted else [])


def item_counts(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> Iterator[tuple[CountedItem, list[Array]]]:
    """Each coded item's marginal counts per layer of domains, and the domains of each layer, in
    order, bundle by bundle: per bundle (:func:`keyed_items`) and layer, one count of the joint
    states, summed back to each item's own states."""
    rows = layout.cell if layout.classes is None else layout.classes.row_class
    for bundle, keys in keyed_items(layout, rows, items, domains, derive_whole=layout.classes is not None):
        layers = [layer.columns for layer in keys]
        for table, sums in zip(bundle.tables, item_layer_counts(layout, bundle, keys)):
            yield CountedItem(table, sums), layers


# Bins of a bincount of (joint cell, pattern of ones) in :func:`co_occurrences` (32 MB at most, as
# before: no more memory at 1e6); beyond, the keys are sorted.
PATTERN_BINS = 1 << 22


def co_occurrences(layout: VarianceLayout, ones: Sequence[np.ndarray], base: np.ndarray, domains: np.ndarray | None) -> list[tuple[np.ndarray, ...]]:
    """Per layer of domains (:func:`layer_groups`), its domains and the counts per (weight class,
    level) of the rows, of the rows in the ``base`` (n,) bool, and of the rows where items a and
    b are both 1 (``ones``: k < 64 arrays (n,) bool, 1 only in the base): (C, L), (C, L) and
    (k, k, C, L), its upper triangle a <= b filled (the diagonal: each item's ones); floats, exact
    integers below 2^53, as the projection takes them. Every count of k shares on one base and of
    their pairwise sums follows from them.

    Each row's ones and whether it is in the base make a pattern (:func:`one_masks`); one count
    of the rows per (joint cell, pattern) (:func:`cell_patterns`: a bincount over n, whatever
    the number of layers), and every count follows from each pattern's (:func:`one_patterns`):
    the rows and the base of its cell, its pairs of ones, summed over the cells of each (class,
    level) group (:func:`joint_cells`; integers: the same as counting each layer).

    R: ``crossprod(y[in_group, ])`` per group, y the (n, k) 0/1 matrix.
    """
    classes = layout.classes
    if classes is None:
        raise EstimationError(
            "co-occurrence counts need the design's weight classes", where="co_occurrences", fix="pass a design whose layout has weight classes"
        )
    layers = layer_groups(layout, classes.row_class, domains)
    cells = joint_cells(layout, classes.row_class, layers)
    k, n_classes = len(ones), len(classes.cell)
    n_cells = len(cells.groups[0])
    entry_cell, entry_pattern, count, present = cell_patterns(cells.row, n_cells, one_masks(ones, base), k)
    patterns = one_patterns(present, k)
    n_patterns = len(present)
    # each pattern's rows, base and pairs of ones (2 + k k, patterns) times the (cells, patterns)
    # counts: float sums of integer counts below 2^53, exact
    starts = np.cumulative_sum(np.bincount(entry_cell, minlength=n_cells), include_initial=True)
    per_pattern = sparse.csr_matrix((count.astype(float), entry_pattern, starts), (n_cells, n_patterns))
    per_cell = (pattern_terms(patterns, k).T @ per_pattern.T).toarray()  # (2 + k k, cells): each count's cells together
    found_layers: list[tuple[np.ndarray, ...]] = []
    for (_, n_levels, columns), group in zip(layers, cells.groups):
        size = n_classes * (n_levels + 1)
        sums = group_sums(per_cell, group, size).reshape(-1, n_classes, n_levels + 1)[..., :n_levels]
        found_layers.append((columns, sums[0], sums[1], sums[2:].reshape(k, k, n_classes, n_levels)))
    return found_layers


def pattern_terms(patterns: OnePatterns, k: int) -> sparse.csr_matrix:
    """(patterns, 2 + k k) per pattern of ones: 1 (a row), whether in the base, and 1 at each of
    its pairs of ones a k + b (a <= b), in column 2 + a k + b; laid out row by row at once."""
    inside = patterns.inside.astype(np.intp)
    starts = np.cumulative_sum(1 + inside + patterns.sizes, include_initial=True)
    columns = np.zeros(starts[-1], dtype=np.intp)  # column 0 leads each row
    columns[starts[:-1][patterns.inside] + 1] = 1
    columns[np.repeat(starts[:-1] + 1 + inside, patterns.sizes) + running(patterns.sizes)] = 2 + patterns.pairs
    return sparse.csr_matrix((np.ones(len(columns)), columns, starts), (len(inside), 2 + k * k))


def group_sums(per_cell: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """(m, groups) sums of the cells' values ``per_cell`` (m, cells) within each cell's ``group``:
    each of the m sums over the groups contiguous (a pair's counts are gathered whole)."""
    m = per_cell.shape[0]
    key = (np.arange(m)[:, None] * n_groups + group).reshape(-1)
    found: Array = np.bincount(key, weights=per_cell.reshape(-1), minlength=n_groups * m).reshape(m, n_groups)
    return found


@dataclass(frozen=True, eq=False)
class JointCells:
    """The rows by weight class and level of every layer of domains at once: each row's cell
    (numbered among those with rows) and, per layer, each cell's group, class × (L + 1) + level
    (:func:`layer_groups`)."""

    row: np.ndarray
    groups: list[np.ndarray]


# Per layout, the last joint cells made and the layers they are of (read only): the questions of
# a population share their breakdown levels.
_LAST_CELLS: WeakKeyDictionary[VarianceLayout, tuple[Layers, JointCells]] = WeakKeyDictionary()


def joint_cells(layout: VarianceLayout, rows: np.ndarray, layers: Layers) -> JointCells:
    """:class:`JointCells` of the ``layers`` of :func:`layer_groups` on ``rows`` (each row's
    class): the classes' levels in every layer, mixed radix, numbered among those present
    (:func:`numbered`) whenever the next layer would take the keys past :data:`PATTERN_BINS`,
    and at the end. Breakdowns of the calibration margins lie within a class: as many cells as
    classes."""
    last = _LAST_CELLS.get(layout)
    if last is not None and last[0] is layers:
        return last[1]
    number, n_keys = rows.astype(np.intp), int(rows.max()) + 1 if len(rows) else 0
    for group, n_levels, _ in layers:
        if n_keys * (n_levels + 1) > PATTERN_BINS:  # keys stay far below 2^63
            number, n_keys = numbered(number, n_keys)
        number, n_keys = number * (n_levels + 1) + group % (n_levels + 1), n_keys * (n_levels + 1)
    number, n_keys = numbered(number, n_keys)
    first = np.empty(n_keys, dtype=np.intp)
    first[number] = np.arange(len(number))  # a row of each cell: its groups are the cell's
    cells = JointCells(number, [group[first] for group, _, _ in layers])
    _LAST_CELLS[layout] = (layers, cells)
    return cells


def numbered(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, int]:
    """Keys (0 <= key < n_keys) numbered among those present, in order, and how many are: by a
    bincount when they fit (:data:`PATTERN_BINS`), else by a sort."""
    if n_keys <= PATTERN_BINS:
        present, number = present_groups(key)
        return number, len(present)
    distinct, number = np.unique(key, return_inverse=True)
    return number.reshape(-1), len(distinct)


@dataclass(frozen=True, eq=False)
class OnePatterns:
    """Patterns of ones (:func:`one_masks`, in order): whether each is in the base, and per
    pattern its pairs of ones a <= b (as a k + b), all patterns' pairs one after the other
    (``pairs``), ``sizes`` of them each."""

    inside: np.ndarray
    pairs: np.ndarray
    sizes: np.ndarray


def one_masks(ones: Sequence[np.ndarray], base: np.ndarray) -> Array:
    """Each row's pattern of ones among k < 64 items (``ones``: k arrays (n,) bool), bit a for item
    a, and bit k for whether it is in the ``base`` (n,) bool."""
    k = len(ones)
    mask: Array = np.zeros(len(base), dtype=np.uint16 if k < 16 else np.uint32 if k < 32 else np.uint64)
    bit = np.empty_like(mask)
    for a, item in enumerate((*ones, base)):
        np.left_shift(item, a, out=bit, dtype=mask.dtype)
        np.bitwise_or(mask, bit, out=mask)
    return mask


def cell_patterns(cell: np.ndarray, n_cells: int, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (cell, pattern) pairs of the rows (``cell`` (n,) < ``n_cells``, ``mask`` (n,) of
    :func:`one_masks`): each pair's cell and pattern (its number among the patterns present), how
    many rows, and the patterns present. Keyed cell × 2^(k + 1) + mask when those keys fit a
    bincount (:data:`PATTERN_BINS`); else the masks are numbered first (a sort beyond 20 bits)."""
    bits = k + 1
    if n_cells << bits <= PATTERN_BINS:
        found, count = distinct_counts((cell << bits) | mask, n_cells << bits)
        present, pattern = present_groups(found & ((1 << bits) - 1))
        return found >> bits, pattern, count, present
    present, number = present_groups(mask) if bits <= 20 else np.unique(mask, return_inverse=True)
    found, count = distinct_counts(cell * len(present) + number.reshape(-1), n_cells * len(present))
    entry_cell, pattern = np.divmod(found, len(present))
    return entry_cell, pattern, count, present


def one_patterns(present: np.ndarray, k: int) -> OnePatterns:
    """:class:`OnePatterns` of the masks ``present`` (:func:`one_masks` of k items)."""
    members = (present[:, None] >> np.arange(k + 1, dtype=present.dtype)) & 1 == 1
    pattern, item = np.nonzero(members[:, :k])  # in order: pattern, then item
    per_pattern = np.bincount(pattern, minlength=len(present))
    # each one pairs with itself and the pattern's later ones: as many as the ones from it on
    later = np.repeat(np.cumsum(per_pattern), per_pattern) - np.arange(len(item))
    first = np.repeat(np.arange(len(item)), later)
    second = first + running(later)
    return OnePatterns(members[:, k], item[first] * k + item[second], per_pattern * (per_pattern + 1) // 2)


def running(sizes: np.ndarray) -> np.ndarray:
    """0, 1, ..., size - 1 for each of ``sizes``, one after the other."""
    found: Array = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return found


def distinct_counts(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys (0 <= key < n_keys) present and how many times: a bincount when its bins are few
    (:data:`PATTERN_BINS`), else a sort."""
    if n_keys <= PATTERN_BINS:
        counts = np.bincount(key, minlength=n_keys)
        present = np.flatnonzero(counts)
        return present, counts[present]
    # sorted on 32 bits when they fit: twice as fast as on 64
    keys, counts = np.unique(key.astype(np.min_scalar_type(n_keys - 1)), return_counts=True)
    return keys.astype(np.intp), counts


def coded_domain_sums(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> DomainSums:
    """:func:`domain_sums` of coded items, from their counts (:func:`item_counts`). Counts per
    weight class are small: counted first, the rows' keys (n each) are freed before the products
    (streamed, the peak of a run at 1e6 × 2 was ~20 MiB higher). Sums per cell (a layout without
    weight classes) are mostly zeros at small sizes (~1 MB an item at 1,110 rows): summed on the
    slots that have rows, a chunk of items at a time (:func:`slot_projections`). The same numbers."""
    d = 1 if domains is None else domains.shape[1]
    if layout.classes is not None:
        return counted_sums(layout, coded_counts(layout, items, domains), d)
    return projected_sums(layout, slot_projections(layout, items, domains), sum(np.shape(item.table)[1] for item in items), d)


# Values of the counts projected in one product (:func:`projected_counts`): ~16 MB.
PROJECTION_BLOCK = 1 << 21
# An item with this many values or more (sums per cell of a layout without weight classes) is
# projected on its own: copying it into a block costs more than the call it saves.
OWN_PRODUCT = 1 << 14


# An item's table (S, k), the domains of each layer, and per layer its counts projected on the
# units and the calibration model (projection rows, L, S): what :func:`projected_sums` takes.
Projected = tuple[np.ndarray, list[Array], list[np.ndarray]]


def projected_counts(layout: VarianceLayout, items: Iterable[tuple[CountedItem, list[Array]]]) -> Iterator[Projected]:
    """Per item (with the domains of its layers), in order, its table and its counts of each layer
    projected on the units and the calibration model (:data:`Projected`): consecutive items' counts of a
    layer in one product of at most :data:`PROJECTION_BLOCK` values (or one item's). The sparse
    product sums each column apart, so the numbers are those of item by item, in fewer calls."""
    for chunk in projection_chunks(items):
        per_layer = []
        for layer in range(len(chunk[0][0].counts)):
            sums = [item.counts[layer] for item, _ in chunk]
            block = np.concatenate([s.reshape(len(s), -1) for s in sums], axis=1) if len(sums) > 1 else sums[0].reshape(len(sums[0]), -1)
            product = layout.projection @ block
            parts = np.split(product, np.cumsum([s.shape[1] * s.shape[2] for s in sums])[:-1], axis=1)
            per_layer.append([part.reshape(-1, *s.shape[1:]) for part, s in zip(parts, sums)])
        yield from ((item.table, layers, list(projected)) for (item, layers), projected in zip(chunk, zip(*per_layer)))


def projection_chunks(items: Iterable[tuple[CountedItem, list[Array]]]) -> Iterator[list[tuple[CountedItem, list[Array]]]]:
    """Consecutive items whose counts number at most :data:`PROJECTION_BLOCK` values together (an
    item with more, or with :data:`OWN_PRODUCT` or more, makes a chunk of its own)."""
    return runs(items, lambda item: sum(counts.size for counts in item[0].counts), PROJECTION_BLOCK, OWN_PRODUCT)


def runs(values: Iterable[T], size: Callable[[T], int], limit: int, alone: int | None = None) -> Iterator[list[T]]:
    """Consecutive ``values`` whose sizes add up to at most ``limit`` (one at least); a value of
    size ``alone`` or more makes a run of its own."""
    run: list[T] = []
    total = 0
    for value in values:
        more = size(value)
        own = alone is not None and more >= alone
        if run and (own or total + more > limit):
            yield run
            run, total = [], 0
        run.append(value)
        total += more
        if own:
            yield run
            run, total = [], 0
    if run:
        yield run


# Bytes of the sums per (weight kind, slot, item state) of the items of :func:`slot_projections`
# summed at once (a bundle's at least): ~2 MB stay in cache (at 1,000 rows, 16 MB were ~10 % slower).
SLOT_SUMS_BYTES = 1 << 21


@dataclass(frozen=True, eq=False)
class SlotPartition:
    """The rows by slot, a (cell, level) group that has rows, for the layers of domains that group
    them alike (a calibration cell within one level of each breakdown: every layer's slots are
    the cells): each row's slot, the rows of the slots of one or two rows (``loose``), the slots
    of three rows or more (:func:`crowded_slots`), their rows and each one's index among them,
    and the layers' slots projected level by level (:func:`slot_projection`), one layer after
    the other: ``layers`` (their index among all) and their first rows in the ``projection``."""

    slot: np.ndarray
    n_slots: int
    loose: np.ndarray
    crowded: np.ndarray
    crowded_rows: np.ndarray
    crowded_index: np.ndarray
    projection: sparse.csr_array
    layers: list[int]
    starts: list[int]


# Per layout, the last layers of domains laid out on their slots (read only, as the layers).
_LAST_PARTITIONS: WeakKeyDictionary[VarianceLayout, tuple[Layers, list[SlotPartition]]] = WeakKeyDictionary()


def slot_partitions(layout: VarianceLayout, layers: Layers) -> list[SlotPartition]:
    """The :class:`SlotPartition` of the ``layers`` of :func:`layer_groups` on the layout's cells:
    layers whose rows fall in the same slots share one (their sums are the same)."""
    last = _LAST_PARTITIONS.get(layout)
    if last is not None and last[0] is layers:
        return last[1]
    shared: list[tuple[np.ndarray, list[int]]] = []  # each partition's slots and layers
    numbered = [present_groups(group) for group, _, _ in layers]
    for i, (slots, slot) in enumerate(numbered):
        same = next((members for first, members in shared if np.array_equal(numbered[members[0]][1], slot) and len(first) == len(slots)), None)
        if same is None:
            shared.append((slots, [i]))
        else:
            same.append(i)
    found = []
    for slots, members in shared:
        slot = numbered[members[0]][1]
        crowded = crowded_slots(slot, len(slots))
        in_crowd = np.zeros(len(slots), dtype=bool)
        in_crowd[crowded] = True
        rows = np.flatnonzero(in_crowd[slot])
        projections = [slot_projection(layout, numbered[i][0], layers[i][1]) for i in members]
        found.append(
            SlotPartition(
                slot=slot,
                n_slots=len(slots),
                loose=np.flatnonzero(~in_crowd[slot]),
                crowded=crowded,
                crowded_rows=rows,
                crowded_index=np.searchsorted(crowded, slot[rows]),
                projection=sparse.vstack(projections, format="csr"),
                layers=members,
                starts=[0, *np.cumsum([p.shape[0] for p in projections[:-1]])],
            )
        )
    _LAST_PARTITIONS[layout] = (layers, found)
    return found


def slot_projection(layout: VarianceLayout, slots: np.ndarray, n_levels: int) -> sparse.csr_array:
    """(projection rows × L, KINDS × slots) the layout's projection of a layer's slots (cell ×
    (L + 1) + level, in order) level by level: row r L + level takes the projection's row r on
    the slots of that level, in the order of their cells (and kind by kind), as the projection
    takes every cell's sums of each level; the rows in none of the layer's domains (level L) in
    none. Each output adds its terms in the projection's order, without the zeros of the cells
    that have no rows in the level."""
    cell, level = np.divmod(slots, n_levels + 1)
    picked = layout.projection[:, (np.arange(KINDS)[:, None] * len(layout.cell_unit) + cell).reshape(-1)].tocoo()
    at = level[picked.col % len(slots)]
    inside = at < n_levels
    rows = picked.row[inside] * n_levels + at[inside]
    found = sparse.csr_array((picked.data[inside], (rows, picked.col[inside])), shape=(layout.projection.shape[0] * n_levels, KINDS * len(slots)))
    found.sort_indices()
    return found


def slot_projections(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> Iterator[Projected]:
    """Per coded item, in order, its sums per cell of each weight kind projected as
    :func:`projected_counts` projects the counts of :func:`item_counts` (a layout without weight
    classes), to the last bit: summed per slot that has rows, for a chunk of items at once
    (:data:`SLOT_SUMS_BYTES`; :func:`slot_sums`), and projected by one sparse product per
    partition of the rows (:func:`slot_partitions`)."""
    n = len(layout.cell)
    layers = layer_groups(layout, layout.cell, domains)
    partitions = slot_partitions(layout, layers)
    kinds = weight_kinds(layout)
    width = max(1, count_bins(layout, n) // max(int(group.max()) + 1 if n else 1 for group, _, _ in layers))
    n_rows, columns = layout.projection.shape[0], [columns for _, _, columns in layers]
    per_state = KINDS * max(partition.n_slots for partition in partitions) * 8
    # consecutive bundles whose states number at most what SLOT_SUMS_BYTES hold (a bundle at least)
    for chunk in runs(bundles(items, width), lambda members: sum(len(item.table) for item in members), SLOT_SUMS_BYTES // per_state):
        tables = [np.asarray(item.table, dtype=float) for members in chunk for item in members]
        starts = np.cumulative_sum([len(table) for table in tables], include_initial=True)
        projected: list[np.ndarray] = [np.empty(0)] * len(layers)
        for partition in partitions:
            product = partition.projection @ slot_sums(partition, kinds, chunk, starts)
            for layer, first in zip(partition.layers, partition.starts):
                projected[layer] = product[first : first + n_rows * layers[layer][1]]
        for table, start, stop in zip(tables, starts[:-1], starts[1:]):
            yield table, columns, [np.ascontiguousarray(p[:, start:stop]).reshape(n_rows, -1, len(table)) for p in projected]


def slot_sums(partition: SlotPartition, kinds: np.ndarray, chunk: list[list[CodedItems]], starts: np.ndarray) -> np.ndarray:
    """(KINDS × slots, states) the sums of each weight kind (``kinds``: :func:`weight_kinds`) per
    slot and state of each item of the bundles ``chunk`` (its states from ``starts``): what
    :func:`item_layer_counts` sums. A slot of one or two rows sums to the same in any order: all
    items' in one bincount; those of three rows or more, bundle by bundle as the bundles of
    :func:`keyed_items` sum them (the rows of each joint state in order, then
    :meth:`Bundle.joint_sums`)."""
    items = [item for members in chunk for item in members]
    n_slots, n_states, loose = partition.n_slots, int(starts[-1]), partition.loose
    key = (partition.slot[loose, None] * n_states + starts[:-1]) + np.stack([item.state[loose] for item in items], axis=1)
    keys = (np.arange(KINDS)[:, None, None] * (n_slots * n_states) + key).reshape(-1)
    weights = np.broadcast_to(kinds[:, loose, None], (KINDS, *key.shape)).reshape(-1)
    # floats even without a loose row (numpy counts no weights in integers)
    sums = np.bincount(keys, weights=weights, minlength=KINDS * n_slots * n_states).astype(float, copy=False).reshape(KINDS, n_slots, n_states)
    rows, crowded = partition.crowded_rows, partition.crowded
    if len(crowded):
        done = 0
        for members in chunk:
            bundle = Bundle([], [item.table for item in members], joint_state([CodedItems(item.state[rows], item.table) for item in members]))
            key = (np.arange(KINDS)[:, None] * len(crowded) + partition.crowded_index) * bundle.n_states + bundle.state
            counts = np.bincount(key.reshape(-1), weights=kinds[:, rows].reshape(-1), minlength=KINDS * len(crowded) * bundle.n_states)
            for found in bundle.joint_sums(counts.reshape(KINDS, len(crowded), -1)):
                sums[:, crowded, starts[done] : starts[done + 1]] = found
                done += 1
    return sums.reshape(KINDS * n_slots, n_states)


def counted_sums(layout: VarianceLayout, counted: CountedItems, d: int) -> DomainSums:
    """:func:`domain_sums` of coded items from their counts on ``d`` domains: per item, its
    counts projected at once on the units and the calibration model; the items' values enter
    only through their tables (base, y - shift and its square per state).
    """
    k = sum(item.table.shape[1] for item in counted.items)
    return projected_sums(layout, projected_counts(layout, ((item, counted.layers) for item in counted.items)), k, d)


@dataclass(frozen=True, eq=False)
class TableTerms:
    """What :func:`projected_sums` takes of an item table (S, k): its base (not NaN), its values
    there (0 elsewhere), which columns are 0/1 items, and, when all are, their moments (those
    items keep 0 as their centre: :func:`item_moments`)."""

    base: np.ndarray
    values: np.ndarray
    binary: np.ndarray
    moments: np.ndarray | None


def table_terms(table: np.ndarray) -> TableTerms:
    """:class:`TableTerms` of an item table."""
    base = ~np.isnan(table)
    # any centre will do: it only serves the precision of means; 0/1 items keep 0, so that a
    # share of exactly 0 or 1 comes out exactly
    binary = np.all((table == 0) | (table == 1) | ~base, axis=0)
    return TableTerms(base, np.where(base, table, 0.0), binary, item_moments(table, base, np.zeros(table.shape[1])) if binary.all() else None)


def item_moments(table: np.ndarray, base: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(S, 3 k) per state, each item's base indicator, its value minus ``centre`` and that squared (0 out of the base)."""
    centred = np.where(base, table - centre, 0.0)
    found: Array = np.stack([base, centred, centred**2], axis=1).reshape(len(table), -1)
    return found


def projected_sums(layout: VarianceLayout, projected: Iterable[Projected], k: int, d: int) -> DomainSums:
    """:func:`counted_sums` of items given one by one by their projected counts (k columns in all)."""
    n_units, p = layout.n_units, layout.model.shape[1]
    out = np.zeros((layout.projection.shape[0], d, 3, k))  # projection rows x domains x moments x items
    shift = np.zeros(k)
    start = 0
    # per table object (many items share one: a share's, a pair sum's), kept so that its id stays its own
    seen: dict[int, tuple[np.ndarray, TableTerms]] = {}
    for table, layers, counts in projected:
        stop = start + table.shape[1]
        if id(table) not in seen:
            seen[id(table)] = table, table_terms(table)
        terms = seen[id(table)][1]
        moments = terms.moments
        if moments is None:
            per_state = counts[0][n_units : 2 * n_units].sum(axis=(0, 1))  # weight per state in the first layer
            weight = per_state @ terms.base
            centre = np.divide(per_state @ terms.values, weight, out=np.zeros(len(weight)), where=weight > 0)
            shift[start:stop] = centre = np.where(terms.binary, 0.0, centre)
            moments = item_moments(table, terms.base, centre)
        for columns, sums in zip(layers, counts):
            # np.tensordot(sums, moments, axes=1)'s own product, without its checks (~2,600 calls a small run)
            out[:, columns, :, start:stop] = np.dot(sums.reshape(-1, len(table)), moments).reshape(*sums.shape[:2], 3, -1)
        start = stop

    def unit(kind: int, moment: int) -> Array:
        return out[kind * n_units : (kind + 1) * n_units, :, moment]

    fit = out[3 * n_units : 3 * n_units + p]
    cross = out[3 * n_units + p :].reshape(n_units, p, d, 3, k) if len(out) > 3 * n_units + p else None
    return DomainSums(
        shift=shift,
        count=unit(0, 0),
        weight=unit(1, 0),
        weight2=unit(2, 0),
        total=unit(1, 1),
        total_w2=unit(2, 1),
        square=unit(1, 2),
        square_w2=unit(2, 2),
        fit_y=fit[:, :, 1],
        fit_m=fit[:, :, 0],
        cross_y=None if cross is None else cross[..., 1, :],
        cross_m=None if cross is None else cross[..., 0, :],
    )


@dataclass(frozen=True, eq=False)
class LayerAnswers:
    """Respondents answering 1 and 0 in each 0/1 item's base (slots, k), per (weight class,
    level) present in one layer of domains (``slots``: class × (L + 1) + level), and its domains."""

    slots: Array
    n_levels: int
    columns: Array
    ones: np.ndarray
    zeros: np.ndarray


@dataclass(frozen=True, eq=False)
class AnswerCounts:
    """What a sum over the respondents of any function of their weight and 0/1 answer needs (the
    glm of ``svyciprop``), per layer of domains (:class:`LayerAnswers`), and each item's base size
    over the whole sample (k,)."""

    layers: list[LayerAnswers]
    answered: np.ndarray

    def domains(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per domain, in order, the weight classes that have rows in it and their respondents
        answering 1 and 0 (classes, k): the other classes add nothing to a sum over its rows."""
        found = {}
        for layer in self.layers:
            classes, level = np.divmod(layer.slots, layer.n_levels + 1)
            for i, column in enumerate(layer.columns):
                at = level == i
                found[int(column)] = (classes[at], layer.ones[at].astype(float), layer.zeros[at].astype(float))
        return (found[j] for j in range(len(found)))


def class_answer_counts(layout: VarianceLayout, items: Sequence[CodedItems], domains: np.ndarray | None) -> AnswerCounts:
    """:class:`AnswerCounts` of 0/1 coded items: per bundle (:func:`keyed_items`) and layer, one
    count of the joint states on the (class, level) groups that have rows, summed back to each
    item's 1 and 0. Counts are integers: exact in any order, a layer of the whole sample alone
    the sums of another's over its levels, the base sizes the sums of a layer over all its groups.
    """
    classes = layout.classes
    if classes is None:
        raise EstimationError("coded items need the design's weight classes", where="class_answer_counts", fix="pass a design whose layout has weight classes")
    k = sum(item.table.shape[1] for item in items)
    layers: list[LayerAnswers] = []
    for bundle, keys in keyed_items(layout, classes.row_class, items, domains, derive_whole=True):
        if not layers:
            layers = [LayerAnswers(key.slots, key.n_levels, key.columns, *np.zeros((2, len(key.slots), k), dtype=np.int64)) for key in keys]
        for key, layer, joint in zip(keys, layers, class_counts(bundle, keys)):
            if key.key is None:
                continue
            joint = np.bincount(key.key, minlength=len(key.slots) * bundle.n_states).reshape(len(key.slots), -1) if joint is None else joint
            for counts, (start, stop), table in zip(bundle.marginals(joint), bundle.columns, bundle.tables):
                layer.ones[:, start:stop], layer.zeros[:, start:stop] = counts @ (table == 1), counts @ (table == 0)
    counted = next(layer for layer, key in zip(layers, keys) if key.key is not None)
    derived = [i for i, key in enumerate(keys) if key.key is None]
    if derived:  # the whole sample: per class, the sums over the counted layer's levels (slots are class-major)
        starts = np.flatnonzero(np.diff(counted.slots // (counted.n_levels + 1), prepend=-1))
        for i in derived:
            layers[i] = LayerAnswers(layers[i].slots, 1, layers[i].columns, *(np.add.reduceat(x, starts) for x in (counted.ones, counted.zeros)))
    return AnswerCounts(layers, (counted.ones + counted.zeros).sum(axis=0))


def counted_answers(counted: CountedItems, items: Sequence[CodedItems], n: int) -> AnswerCounts | None:
    """:class:`AnswerCounts` of 0/1 coded items from their counts per weight class
    (:func:`coded_counts` of the same states and domains, on a layout with weight classes; the
    ``items`` may have other tables, e.g. means taken out), or None when no layer is the whole
    sample of ``n`` rows (the base sizes are its sums). The same numbers as
    :func:`class_answer_counts`, without a pass over the rows: integer counts, summed as floats
    below 2^53 (exact, and a product of BLAS rather than numpy's integer loops).
    """
    if len(counted.items) != len(items) or any(len(c.table) != len(item.table) for c, item in zip(counted.items, items)):
        return None
    per_layer = [[c.counts[i] for c in counted.items] for i in range(len(counted.layers))]
    whole = next((counts for counts, columns in zip(per_layer, counted.layers) if len(columns) == 1 and counts[0].sum() == n), None)
    if whole is None:
        return None
    marks = [[(item.table == value).astype(float) for item in items] for value in (1, 0)]
    layers = []
    for counts, columns in zip(per_layer, counted.layers):
        n_levels = counts[0].shape[1]
        # every item's counts of a (class, level) sum to its rows: a slot has rows when the first's do
        slots = np.flatnonzero(counts[0].sum(axis=2).reshape(-1))
        present = [c.reshape(-1, c.shape[2])[slots].astype(float) for c in counts]
        ones, zeros = (np.concatenate([c @ m for c, m in zip(present, tables)], axis=1) for tables in marks)
        classes, level = np.divmod(slots, n_levels)
        layers.append(LayerAnswers(classes * (n_levels + 1) + level, n_levels, columns, ones, zeros))
    answered = np.concatenate([c.sum(axis=(0, 1)) @ (t + z) for c, t, z in zip(whole, *marks)]).astype(np.int64)
    return AnswerCounts(layers, answered)


def is_coded(y: Items) -> TypeGuard[Sequence[CodedItems]]:
    """Whether items are given as :class:`CodedItems` (a list or tuple of them) rather than a matrix."""
    return isinstance(y, (list, tuple)) and all(isinstance(item, CodedItems) for item in y) and len(y) > 0


def item_sums(layout: VarianceLayout, y: Items, domains: np.ndarray | None) -> DomainSums:
    """:func:`domain_sums` of an item matrix or :func:`coded_domain_sums` of coded items."""
    return coded_domain_sums(layout, y, domains) if is_coded(y) else domain_sums(layout, np.asarray(y), domains)


def checked_coded(design: Design, items: Sequence[CodedItems], where: str) -> Sequence[CodedItems]:
    for item in items:
        state, table = np.asarray(item.state), np.asarray(item.table)
        if state.shape != (design.n,) or table.ndim != 2 or not np.issubdtype(state.dtype, np.integer) or (
            len(state) and (state.min() < 0 or state.max() >= len(table))
        ):
            raise EstimationError(
                f"coded items with states of shape {state.shape} ({state.dtype}) and a table of shape {table.shape}, the design {design.n} respondents",
                where=where,
                fix="give one integer state per respondent, each a row of the table (one column per item)",
            )
    return items
