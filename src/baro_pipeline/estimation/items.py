"""Item matrices: one column per item of the codebook's questions, derived and published indicators, NaN outside its base."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..edition import Codebook, Condition, Derived, Indicator, Question, Row
from ..errors import EstimationError
from ..stats import BINARY_TABLE, CodedItems, binary_column, coded_column
from ..routing import Conditions, code_cells, code_lookup


ITEM_COLUMNS = ("question", "item", "item_label", "kind", "base", "question_type", "answer")


@dataclass(frozen=True, eq=False)
class ItemMatrix:
    """Respondents × items, as coded items (:class:`~baro_pipeline.stats.CodedItems`: a state
    per respondent and a table of the items' values per state), and one ``items`` row per item
    (:data:`ITEM_COLUMNS`), kept as tuples until asked for (one DataFrame, not one per question).

    An item is 1/0 for code, net and derived items (the answer itself for kind ``mean``) and NaN
    outside the item's base; ``items.answer`` marks real answer codes (what a ranking ranks).
    Kept coded, the sums of every item over respondents are counts per state: :func:`values`
    spells the matrix out, for a few columns.
    """

    coded: tuple[CodedItems, ...]
    rows: tuple[tuple, ...]  # per item, its values of ITEM_COLUMNS
    n: int

    @cached_property
    def items(self) -> pd.DataFrame:
        """One row per item, columns :data:`ITEM_COLUMNS`."""
        return pd.DataFrame(list(self.rows), columns=list(ITEM_COLUMNS))

    @property
    def values(self) -> np.ndarray:
        """The (n, k) matrix."""
        return np.column_stack([c.dense() for c in self.coded]) if self.coded else np.empty((self.n, 0))

    def column(self, j: int) -> np.ndarray:
        """Item j, (n,)."""
        return self.coded_columns([j])[0].dense()[:, 0]

    @cached_property
    def ends(self) -> np.ndarray:
        """(sources,) each coded source's end among the items: its items are ``ends[s] - width`` to ``ends[s]``."""
        found: np.ndarray = np.cumsum([c.table.shape[1] for c in self.coded], dtype=int)
        return found

    def of_question(self, question: str, row: str | None = None) -> ItemMatrix:
        """The items of one question or derived indicator (of one row of a grid: its keys
        ``"row:..."``) with their coded sources, as :func:`indicator_items` makes them; none when
        the matrix has none."""
        of_question, item = ITEM_COLUMNS.index("question"), ITEM_COLUMNS.index("item")
        spans = [(end - c.table.shape[1], end, c) for end, c in zip(self.ends, self.coded)]
        # a coded source is one question's (one grid row's): its first item says whose
        kept = [
            (start, end, coded)
            for start, end, coded in spans
            if end > start and self.rows[start][of_question] == question and (row is None or self.rows[start][item].startswith(f"{row}:"))
        ]
        return ItemMatrix(tuple(coded for _, _, coded in kept), tuple(r for start, end, _ in kept for r in self.rows[start:end]), self.n)

    def coded_columns(self, columns: Sequence[int] | np.ndarray) -> list[CodedItems]:
        """Items ``columns``, each as coded items of its own: its source's states, its column of the table."""
        ends = self.ends
        sources = np.searchsorted(ends, columns, side="right")
        return [
            CodedItems(self.coded[s].state, self.coded[s].table[:, [int(j) - (ends[s] - self.coded[s].table.shape[1])]])
            for j, s in zip(columns, sources)
        ]


def stacked(blocks: Sequence[ItemMatrix], n: int) -> ItemMatrix:
    """Item matrices side by side (an empty matrix of n rows when there is none)."""
    return ItemMatrix(tuple(c for b in blocks for c in b.coded), tuple(r for b in blocks for r in b.rows), n)


def item_rows(q: Question, keys: Sequence[str], labels: Sequence[str], kinds: Sequence[str], answers: Sequence[bool]) -> tuple[tuple, ...]:
    """The ``items`` rows of a question's columns (base ``asked``)."""
    return tuple((q.id, key, label, kind, "asked", q.type, bool(answer)) for key, label, kind, answer in zip(keys, labels, kinds, answers))


def ticks(frame: pd.DataFrame, q: Question) -> np.ndarray:
    """(codes, n) bool: which of ``q.all_codes()`` each respondent ticked (a multi question), code by code."""
    chosen = np.empty((len(q.all_codes()), len(frame)), dtype=bool)
    for row, code in zip(chosen, q.all_codes()):
        np.equal(code_cells(frame, q.columns[code]), 1, out=row)  # in place: no array per code to stack
    return chosen


def code_states(frame: pd.DataFrame, q: Question, column: str) -> np.ndarray:
    """(n,) position of each respondent's code in ``q.all_codes()``; that length when blank (not
    asked) or not one of its codes (:func:`~baro_pipeline.routing.code_lookup`, no search)."""
    codes = q.all_codes()
    positions: np.ndarray = np.arange(len(codes), dtype=state_dtype(len(codes) + 1))
    return code_lookup(code_cells(frame, column), codes, positions, len(codes))


def state_dtype(n_states: int) -> type:
    """The smallest unsigned integer type for states 0..n_states - 1 (coded items of 1e6 respondents
    and hundreds of questions then hold a byte per answer)."""
    return np.uint8 if n_states <= 1 << 8 else np.uint16 if n_states <= 1 << 16 else np.intp


def codes_in_base(q: Question, not_answers_in_base: bool | None = None) -> np.ndarray:
    """(codes,) bool over ``q.all_codes()``: answers, and not-answers kept in the base.

    ``not_answers_in_base`` overrides the codebook's ``in_base`` for every not-answer code.
    """
    return np.array(
        [c in q.codes or (q.not_answers[c].in_base if not_answers_in_base is None else not_answers_in_base) for c in q.all_codes()]
    )


def net_membership(q: Question) -> np.ndarray:
    """(codes, nets) bool: which codes each net groups."""
    return np.array([[c in net.codes for net in q.nets] for c in q.all_codes()], dtype=bool).reshape(len(q.all_codes()), len(q.nets))


def scale_rows(q: Question, in_base: np.ndarray, row: str | None = None, row_label: str = "") -> pd.DataFrame:
    """The ``items`` rows of one scale: its codes in the base, then its nets."""
    codes = np.array(q.all_codes())[in_base]
    own_keys = [str(c) for c in codes] + [net.id for net in q.nets]
    own_labels = [q.code_label(int(c)) for c in codes] + [net.label for net in q.nets]
    keys = [f"{row}:{k}" for k in own_keys] if row else own_keys
    labels = [f"{row_label} – {label}" for label in own_labels] if row else own_labels
    kinds = ["code"] * len(codes) + ["net"] * len(q.nets)
    return item_rows(q, keys, labels, kinds, [int(c) in q.codes for c in codes] + [False] * len(q.nets))


def single_scale(states: np.ndarray, shown: np.ndarray, q: Question, in_base: np.ndarray, row: str | None = None, row_label: str = "") -> ItemMatrix:
    """Code and net items of a single question or one grid row, coded by the code given.

    The base: shown the question and gave a code that counts in the base. The state is the
    code's position, or one more (out of the base); each state's row of the table is its
    codes' one-hot and nets.
    """
    out = len(in_base)
    states = np.where(shown, states, states.dtype.type(out))
    table = np.column_stack([np.eye(out, dtype=bool)[:, in_base], net_membership(q)]).astype(float)
    table[~in_base] = np.nan
    return ItemMatrix((CodedItems(states, np.vstack([table, np.full(table.shape[1], np.nan)])),), scale_rows(q, in_base, row, row_label), len(states))


def multi_scale(chosen: np.ndarray, shown: np.ndarray, q: Question, in_base: np.ndarray) -> ItemMatrix:
    """Code and net items of a multi question (``chosen``: its :func:`ticks`), 0/1 each: the base
    is shown it and ticked a code that counts in the base.
    """
    answers = chosen[in_base]
    base = shown & np.logical_or.reduce(answers)
    nets = [np.logical_or.reduce(chosen[members]) for members in net_membership(q).T]
    return ItemMatrix(tuple(binary_column(base, ones) for ones in [*answers, *nets]), scale_rows(q, in_base), len(base))


def mean_item(frame: pd.DataFrame, q: Question, shown: np.ndarray) -> ItemMatrix:
    """A numeric question's answers (not-answer codes out), NaN outside those asked who answered."""
    cells = frame[q.column].to_numpy(dtype=float)
    answered = shown & ~np.isnan(cells) & ~np.isin(cells, np.asarray(list(q.not_answers), dtype=float))
    values = np.where(answered, cells, np.nan)
    return ItemMatrix((coded_column(values),), item_rows(q, [q.id], [q.label or q.id], ["mean"], [False]), len(values))


def question_items(
    frame: pd.DataFrame, codebook: Codebook, q: Question, not_answers_in_base: bool | None = None, conditions: Conditions | None = None
) -> ItemMatrix:
    """Every item of one question, in codebook order (codes, then nets; grid: row by row).
    ``conditions``: the masks of the frame's conditions already met (its routing), if any."""
    if q.type == "text":
        return stacked([], len(frame))
    shown = (conditions or Conditions(frame, codebook)).asked(q)
    if q.type == "numeric":
        return mean_item(frame, q, shown)
    in_base = codes_in_base(q, not_answers_in_base)
    if q.type == "grid":
        return stacked([grid_row_items(frame, q, row, shown, in_base) for row in q.rows], len(frame))
    if q.type == "multi":
        return multi_scale(ticks(frame, q), shown, q, in_base)
    return single_scale(code_states(frame, q, q.single_column), shown, q, in_base)


def grid_row_items(frame: pd.DataFrame, q: Question, row: Row, shown: np.ndarray, in_base: np.ndarray) -> ItemMatrix:
    """Code and net items of one row of a grid question."""
    return single_scale(code_states(frame, q, row.column), shown, q, in_base, row.id, row.label)


def derived_items(frame: pd.DataFrame, codebook: Codebook, d: Derived, conditions: Conditions | None = None) -> ItemMatrix:
    """A derived indicator: any-of / all-of its conditions, NaN outside its base (everyone if none)."""
    conditions = conditions or Conditions(frame, codebook)
    combine = np.logical_or if d.rule == "any_of" else np.logical_and
    met = combine.reduce([conditions.met(term) for term in d.terms])
    base = np.ones(len(frame), bool) if d.base is None else conditions.met(d.base)
    row = (d.id, d.id, d.label, "derived", "all" if d.base is None else d.base.describe(), "derived", False)
    return ItemMatrix((binary_column(base, met),), (row,), len(frame))


def item_matrix(frame: pd.DataFrame, codebook: Codebook) -> ItemMatrix:
    """Every item of every profile variable and question (open text aside), then every derived indicator."""
    conditions = Conditions(frame, codebook)  # a routing shared by several questions is applied once
    blocks = [question_items(frame, codebook, q, conditions=conditions) for q in codebook.profile + codebook.questions]
    blocks += [derived_items(frame, codebook, d, conditions) for d in codebook.derived]
    return stacked(blocks, len(frame))


def indicator_items(
    frame: pd.DataFrame, codebook: Codebook, indicator: Indicator, not_answers_in_base: bool | None, conditions: Conditions | None = None
) -> ItemMatrix:
    """The items of the indicator's question (or its derived indicator); of a grid, those of the
    indicator's row (the other rows' states are not read)."""
    derived = {d.id: d for d in codebook.derived}
    if indicator.question in derived:
        return derived_items(frame, codebook, derived[indicator.question], conditions)
    try:
        q = codebook.question(indicator.question)
    except KeyError:
        raise EstimationError(
            f"unknown question or derived indicator '{indicator.question}'",
            where=f"codebook of population {codebook.population}",
            fix="name a question, profile variable or derived indicator of this codebook",
        ) from None
    row = next((r for r in q.rows if r.id == indicator.row), None) if q.type == "grid" else None
    if row is None:  # the whole question: its items, or the list of them an unknown item is told
        return question_items(frame, codebook, q, not_answers_in_base, conditions)
    return grid_row_items(frame, q, row, (conditions or Conditions(frame, codebook)).asked(q), codes_in_base(q, not_answers_in_base))


def indicator_column(block: ItemMatrix, codebook: Codebook, indicator: Indicator) -> tuple[CodedItems, str]:
    """One indicator on its own base as coded items (its question's states, its column of their
    table), and its kind, from the items of its question."""
    # the block's rows as tuples: a frame of its items per figure would cost more than its column
    item, kind = ITEM_COLUMNS.index("item"), ITEM_COLUMNS.index("kind")
    found = next((j for j, row in enumerate(block.rows) if row[item] == indicator.item), None)
    if found is None:
        known = ", ".join(row[item] for row in block.rows) or "none (open-text question)"
        raise EstimationError(
            f"{indicator.question} has no item '{indicator.item}' (a not-answer code out of the base has no share)",
            where=f"codebook of population {codebook.population}",
            fix=f"use one of its items: {known}",
        )
    return block.coded_columns([found])[0], str(block.rows[found][kind])


def indicator_on_states(
    frame: pd.DataFrame,
    codebook: Codebook,
    indicator: Indicator,
    base: str | Condition = "asked",
    *,
    not_answers_in_base: bool | None = None,
    block: ItemMatrix | None = None,
    conditions: Conditions | None = None,
) -> CodedItems:
    """One indicator on a base, NaN outside it, on its question's states: the states of its
    column in the question's items (the same array, nothing made per respondent) and its values
    per state; for a subgroup base, on those states and whether the subgroup holds (a byte per
    respondent). What the question's other indicators share, so that one count serves them all.

    ``base``: ``"asked"``, the item's own base; ``"all"``, the whole population (those outside the
    item's base count as 0, "no"); a :class:`Condition`, the subgroup that meets it within the
    item's own base. ``not_answers_in_base`` overrides the codebook's ``in_base`` of the
    question's not-answer codes (e.g. ``False``: "don't know" excluded from the base). ``block``:
    the question's items (:func:`indicator_items`) when already built for another indicator;
    ``conditions``: the frame's conditions already met (a base shared by several indicators).
    """
    block = indicator_items(frame, codebook, indicator, not_answers_in_base, conditions) if block is None else block
    source, kind = indicator_column(block, codebook, indicator)
    by_state = source.table[:, 0]
    if base == "all" and kind != "mean":
        by_state = np.nan_to_num(by_state, nan=0.0)
    elif not isinstance(base, Condition) and base != "asked":
        raise EstimationError(
            f"base {base!r} does not apply to {kind} item '{indicator.item}' of {indicator.question}",
            where=f"population {codebook.population}",
            fix="use 'asked', 'all' (shares only) or a condition {question: .., in: [..]}",
        )
    if not isinstance(base, Condition):
        return CodedItems(source.state, by_state[:, None])
    inside = (conditions or Conditions(frame, codebook)).met(base)
    states = len(by_state)  # the subgroup's states follow the others', which are out of the base
    joint: np.ndarray = source.state.astype(state_dtype(2 * states)) + np.where(inside, states, 0).astype(state_dtype(2 * states))
    return CodedItems(joint, np.concatenate([np.full(states, np.nan), by_state])[:, None])


def binary_states(by_state: np.ndarray) -> np.ndarray | None:
    """The state of :data:`BINARY_TABLE` (out of the base, 0, 1) of each value of a 0/1 item per
    state (NaN: out of the base), or None when a value is neither 0 nor 1."""
    answered = ~np.isnan(by_state)
    if not ((by_state == 0) | (by_state == 1))[answered].all():  # isin's sort costs more on a few states
        return None
    found: np.ndarray = np.where(answered, 1 + (by_state == 1), 0).astype(np.uint8)
    return found


def coded_as_column(column: CodedItems) -> CodedItems:
    """An indicator on its question's states (:func:`indicator_on_states`) as ``coded_column``
    codes its values: a share on the states of ``BINARY_TABLE`` (looked up per state, a byte per
    respondent, its values never spelled out), anything else (a mean) on its distinct values."""
    binary = binary_states(column.table[:, 0])
    if binary is None:
        return coded_column(column.dense()[:, 0])
    return CodedItems(binary[column.state], BINARY_TABLE)


def coded_indicator(frame: pd.DataFrame, codebook: Codebook, indicator: Indicator, base: str | Condition = "asked", **options: Any) -> CodedItems:
    """One indicator on a base (:func:`indicator_on_states`, the same arguments), NaN outside it, as
    ``coded_column`` codes its values (:func:`coded_as_column`)."""
    return coded_as_column(indicator_on_states(frame, codebook, indicator, base, **options))


def indicator_values(frame: pd.DataFrame, codebook: Codebook, indicator: Indicator, base: str | Condition = "asked", **options: Any) -> np.ndarray:
    """(n,) values of one indicator on a base, NaN outside it: :func:`coded_indicator` (the same
    arguments) spelled out."""
    values: np.ndarray = coded_indicator(frame, codebook, indicator, base, **options).dense()[:, 0]
    return values
