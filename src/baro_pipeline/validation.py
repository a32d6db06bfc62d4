"""Validation stage: keep the interviews that fit the codebook, quarantine the others.

Order of work on one export (all vectorised over respondents):

1. status: ``incomplete`` and ``screened_out`` interviews are excluded and counted by reason,
   not validated further;
2. reading issues found by ingest (rows with the wrong number of fields, cells that are not
   numbers);
3. the pandera schema derived from the codebook by :func:`build_schema` (codes, 0/1 ticks,
   numeric ranges, unique ids, status values): its checks told first on whole columns
   (:func:`suspect_rows`), then the schema run lazily on the rows that may fail, so every failure
   is reported with pandera's failure cases;
4. survey rules (:data:`SURVEY_RULES`): routing, required answers, grid completeness,
   exclusive codes, answer caps;
5. quality (speeders, straight-liners) with the edition's action: ``quarantine`` (a problem),
   ``flag`` (kept, counted) or ``keep``.

An interview with any problem leaves the frame and gets one quarantine row per problem. The
quarantine never holds open text: its ``value`` is blank for text columns. For a problem of the
question as a whole (a multi question with no tick, too many ticks, a straight-liner) ``column``
is the question id.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from .edition import Codebook, Population, QualityPolicy, Question, Thresholds
from .errors import ExportError, ValidationThresholdError
from .ingest import NO_ISSUES, ROW, Export, cell_text, issue_frame, release_arrow_memory, text_columns
from .routing import answer_columns, asked, ticked

# pandera is imported where a schema is built or a dtype is not ingest's own: only when a row may
# fail (none in most exports), so that `baro validate` does without its import (~0.15 s)
if TYPE_CHECKING:
    import pandera.pandas as pa

QUARANTINE_COLUMNS = ("population", "file", "row", "respondent_id", "column", "value", "rule", "reason")
EXCLUDED_STATUSES = ("incomplete", "screened_out")
CONTROL = r"[\x00-\x1f\x7f-\x9f]"  # control characters (C0, DEL, C1)
CONTROL_REASON = "respondent id holds a control character (shown as \\xNN): a damaged export or an id typed by hand; correct the id"
TOP_REASONS = 5  # how many rules the threshold error lists
# Number columns are float32 or float64, as ingest reads them (the narrowest exact width): pandera
# checks one width, so the schema leaves their dtype to ingest and checks their values.
NUMBER = None
# Reasons of pandera's built-in checks (custom checks carry theirs in ``error``).
BUILTIN_REASONS = {
    "field_uniqueness": "respondent id found on several interviews: each id must be unique",
    "not_nullable": "blank where a value is required",
}


@dataclass(frozen=True)
class RowCounts:
    """Row accounting of one export: ``read == kept + sum(excluded) + quarantined``.

    ``excluded`` and ``flagged`` are plain dicts (keyed by reason) so that ``dataclasses.asdict``
    (the manifest) can copy them.
    """

    read: int
    kept: int
    quarantined: int
    excluded: Mapping[str, int]  # "incomplete", "screened_out"
    flagged: Mapping[str, int]  # kept but flagged: "straightliner", "speeder" when their action is "flag"


@dataclass(frozen=True, eq=False)
class Screened:
    """What validation decides of one export's interviews, before their answers are taken (:func:`screened_export`)."""

    population: str
    kept: np.ndarray  # a mask of the export's rows
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS, one row per problem
    counts: RowCounts


@dataclass(frozen=True, eq=False)
class Validated:
    population: str
    frame: pd.DataFrame  # kept interviews: id, profile and answer columns (floats, multi 0/1, NaN where not asked)
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS, one row per problem
    counts: RowCounts


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellCheck:
    """A check of one column's cells: ``passes`` is True where a cell is valid, and on every blank
    (a blank where a value is required is the column's ``nullable``). ``name`` is the quarantine
    ``rule``, ``error`` its ``reason``.

    Run by pandera on the rows that may fail, and first on whole columns by :func:`suspect_rows`."""

    passes: Callable[[pd.Series], np.ndarray]
    name: str
    error: str
    statistics: Mapping[str, object] | None = None

    def check(self) -> pa.Check:
        import pandera.pandas as pa

        return pa.Check(
            lambda s: pd.Series(self.passes(s), index=s.index),
            name=self.name,
            error=self.error,
            ignore_na=False,  # blanks pass already: pandera would otherwise copy every column without them first
            statistics=dict(self.statistics or {}),
        )


@dataclass(frozen=True)
class ColumnRule:
    """What the schema asks of one column: its type (None: left to ingest), cell checks, blanks, repeats."""

    dtype: type | None
    checks: tuple[CellCheck, ...] = ()
    nullable: bool = False
    unique: bool = False

    def column(self) -> pa.Column:
        import pandera.pandas as pa

        return pa.Column(self.dtype, [c.check() for c in self.checks], nullable=self.nullable, unique=self.unique)


def column_rules(codebook: Codebook) -> dict[str, ColumnRule]:
    """The rules of an export's normalised frame, derived from the codebook alone.

    Text columns have none: their values must never appear in a failure case.
    """
    tech = codebook.columns
    statuses = list(codebook.statuses.values())
    rules = {
        tech.id: ColumnRule(str, (CellCheck(without_control, "respondent_id", CONTROL_REASON),), unique=True),
        tech.status: ColumnRule(str, (CellCheck(lambda s: blank_or(s, s.isin(statuses)), "status", f"unknown interview status (expected one of {', '.join(statuses)})", {"allowed_values": statuses}),)),
        tech.loi: ColumnRule(NUMBER, (CellCheck(lambda s: blank_or(s, s.to_numpy() >= 0), "loi", "length of interview must be a number of seconds >= 0"),)),
        tech.start: ColumnRule(str, nullable=True),
        tech.end: ColumnRule(str, nullable=True),
    }
    for q in codebook.profile + codebook.questions:
        rules.update(question_rules(q))
    return rules


def build_schema(codebook: Codebook) -> pa.DataFrameSchema:
    """The pandera schema of an export's normalised frame (:func:`column_rules`): each check's ``name``
    is the quarantine ``rule`` and its ``error`` the ``reason``."""
    import pandera.pandas as pa

    columns = {name: rule.column() for name, rule in column_rules(codebook).items()}
    return pa.DataFrameSchema(columns, strict=False, name=f"export {codebook.population}")


def question_rules(q: Question) -> dict[str, ColumnRule]:
    """Rules of one question's columns (none for open text)."""
    if q.type == "multi":
        ticks = ColumnRule(NUMBER, (one_of([0.0, 1.0], name="binary", error=f"a {q.id} tick must be 0 or 1"),), nullable=True)
        return dict.fromkeys(q.columns.values(), ticks)
    if q.type == "numeric":
        return {q.single_column: ColumnRule(NUMBER, (in_range(q),), nullable=True)}
    if q.type in ("single", "grid"):
        codes = ", ".join(f"{c} '{q.code_label(c)}'" for c in q.all_codes())
        allowed = ColumnRule(NUMBER, (one_of([float(c) for c in q.all_codes()], name="allowed_codes", error=f"not a code of {q.id} (expected one of {codes})"),), nullable=True)
        return dict.fromkeys((c for c in q.export_columns() if c != q.other_text), allowed)
    return {}


def without_control(ids: pd.Series) -> np.ndarray:
    """Where an id holds no control character (CONTROL), or is blank.

    Ids of printable ASCII alone (nearly all) are told by Arrow's test of their bytes (1e6 ids:
    ~0.005 s); the regular expression reads the others (~0.06 s, were it to read them all)."""
    try:
        printable = pc.ascii_is_printable(pyarrow.array(ids)).fill_null(False).to_numpy(zero_copy_only=False)
    except pyarrow.ArrowException:  # not texts alone (not as ingest gives them): the expression reads every id
        printable = np.zeros(len(ids), dtype=bool)
    passes = np.ones(len(ids), dtype=bool)
    passes[~printable] = ~np.asarray(ids[~printable].str.contains(CONTROL, na=False), dtype=bool)
    return passes


def blank_or(s: pd.Series, valid: np.ndarray | pd.Series) -> np.ndarray:
    """The cells ``valid`` or blank."""
    return s.isna().to_numpy() | np.asarray(valid, dtype=bool)


def one_of(values: list[float], name: str, error: str) -> CellCheck:
    """The numbers among ``values`` (``pa.Check.isin``, the same statistics), as a comparison per value:
    a few codes, compared in the column's own width, cost less than a hash of every cell."""

    def among(cells: np.ndarray) -> np.ndarray:
        found = np.zeros(len(cells), dtype=bool)
        for value in values:
            found |= cells == value
        return found

    return CellCheck(lambda s: blank_or(s, among(s.to_numpy())), name=name, error=error, statistics={"allowed_values": values})


def in_range(q: Question) -> CellCheck:
    """Numeric answers within [min, max], or one of the question's not-answer codes."""
    low = -np.inf if q.minimum is None else q.minimum
    high = np.inf if q.maximum is None else q.maximum
    not_answers = [float(c) for c in q.not_answers]
    return CellCheck(
        lambda s: blank_or(s, s.between(low, high) | s.isin(not_answers)),
        name="range",
        error=f"{q.id} must be between {low:g} and {high:g}" + (f" or a not-answer code {not_answers}" if not_answers else ""),
    )


def schema_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook) -> pd.DataFrame:
    """One problem per failure case of the lazily-run schema on the ``rows`` validated.

    The schema runs on the rows that may fail alone (:func:`suspect_rows`: none in most exports),
    or on the whole frame when it is not typed as ingest types it; an id is repeated only if it is
    on several of the rows validated."""
    rules = column_rules(codebook)
    suspect = suspect_rows(frame, rows, rules)
    if not suspect.any():
        return NO_ISSUES
    from pandera.errors import SchemaErrors

    schema = build_schema(codebook)
    try:
        with without_hypothesis():
            schema.validate(frame if suspect.all() else frame[suspect], lazy=True, inplace=True)  # inplace: nothing is coerced
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return NO_ISSUES
    whole_column = cases[cases["index"].isna()]
    if len(whole_column):
        first = whole_column.iloc[0]
        raise ExportError(
            f"column '{first['column']}' fails '{first['check']}' as a whole",
            where=f"population {codebook.population}",
            fix="the export was not normalised by ingest.read_export: read it with that function",
        )
    cases = validated_cases(cases, frame, rows, codebook)
    if cases.empty:
        return NO_ISSUES
    named = pd.DataFrame(
        [(name, check.error, check.name) for name, column in schema.columns.items() for check in column.checks],
        columns=["column", "check", "rule"],
    )
    cases = cases.merge(named, on=["column", "check"], how="left")
    rule = cases["rule"].fillna(cases["check"])  # built-in checks: their own name
    reason = cases["check"].replace(BUILTIN_REASONS)
    rows = frame.loc[cases["index"].to_numpy(), [ROW, codebook.columns.id]]  # a row per failure
    values = shown_values(cases["failure_case"], cases["column"].map(frame.dtypes.apply(pd.api.types.is_numeric_dtype)))
    return issue_frame(who_is(rows, codebook), cases["column"].to_numpy(), values, rule.to_numpy(), reason.to_numpy())


@contextmanager
def without_hypothesis() -> Iterator[None]:
    """pandera's first validation registers its backends, which import its data-synthesis strategies, which
    import hypothesis where it is installed (a test dependency; ~0.1 s): validation synthesises nothing,
    so pandera runs as where hypothesis is not installed (an import of it fails), unless it is imported already."""
    if "hypothesis" in sys.modules:
        yield
        return
    sys.modules["hypothesis"] = None  # type: ignore[assignment]  # Python's way to make an import fail
    try:
        yield
    finally:
        del sys.modules["hypothesis"]


def suspect_rows(frame: pd.DataFrame, rows: np.ndarray, rules: Mapping[str, ColumnRule]) -> np.ndarray:
    """The ``rows`` where a rule may fail (a cell check, a blank where a value is required, a repeated
    id), told on whole columns; every row when the frame is not typed as ingest types it."""
    if not typed_as_ingest(frame, rules):
        return np.ones(len(frame), dtype=bool)
    suspect = np.zeros(len(frame), dtype=bool)
    for name, rule in rules.items():
        column = frame[name]
        if not rule.nullable:
            suspect |= column.isna().to_numpy()
        if rule.unique:
            suspect |= repeated(column)
        for check in rule.checks:
            suspect |= ~check.passes(column)
    return suspect & rows


def typed_as_ingest(frame: pd.DataFrame, rules: Mapping[str, ColumnRule]) -> bool:
    """Every column of the rules there, text as text (as pandera's ``str``) and numbers as numbers: else
    a column may fail as a whole, which pandera tells."""
    return all(
        name in frame.columns and (is_text(frame[name].dtype) if rule.dtype is str else pd.api.types.is_numeric_dtype(frame[name]))
        for name, rule in rules.items()
    )


def is_text(dtype: object) -> bool:
    """Whether pandera's ``str`` (the schema's text columns) takes ``dtype``: ingest's own (pandas'
    strings on Arrow) told without pandera."""
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return True
    from pandera.engines import pandas_engine

    return bool(pandas_engine.Engine.dtype(str).check(pandas_engine.Engine.dtype(dtype)))


def repeated(ids: pd.Series) -> np.ndarray:
    """Ids found on several rows (and blanks, when several). Told first whether there are any: none in
    ids that increase row after row (an export in the order of its ids: a comparison, no hash of a
    million texts), nor when Arrow finds as many distinct ids as rows."""
    if all_distinct(ids):
        return np.zeros(len(ids), dtype=bool)
    return ids.duplicated(keep=False).to_numpy()


def all_distinct(ids: pd.Series | pd.Index) -> bool:
    """Whether no id is on two rows, told by Arrow (increasing ids: a comparison; else its distinct
    count): pandas' ``is_unique`` would keep a hash table of the ids as Python texts (~60 MiB at 1e6)."""
    try:
        values = pyarrow.array(ids)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):  # ids of mixed types (not as ingest gives them): pandas compares them
        return not pd.Index(ids).has_duplicates
    return len(values) < 2 or increasing(values) or len(pc.unique(values)) == len(values)


def increasing(values: pyarrow.Array | pyarrow.ChunkedArray) -> bool:
    """Whether each value is greater than the one before (no blank)."""
    return values.null_count == 0 and bool(pc.all(pc.less(values[:-1], values[1:])).as_py())


def validated_cases(cases: pd.DataFrame, frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook) -> pd.DataFrame:
    """The failure cases of the ``rows`` validated; an id repeated only on them (pandera saw every row)."""
    cases = cases[rows[frame.index.get_indexer(cases["index"])]]
    repeated = cases["check"].eq("field_uniqueness")
    if repeated.any():
        ids = frame[codebook.columns.id][rows].dropna()  # a blank id is no repeat (as for pandera)
        cases = cases[~repeated | cases["index"].isin(ids.index[ids.duplicated(keep=False)])]
    return cases


def shown_values(values: pd.Series, numeric: pd.Series) -> np.ndarray:
    """Failure cases as text: numbers as in the export ("7", not "7.0"), other values as they are."""
    as_numbers = cell_text(pd.to_numeric(values.where(numeric.to_numpy(dtype=bool)), errors="coerce"))
    text = values.astype(str).str.replace(CONTROL, lambda m: f"\\x{ord(m.group()):02x}", regex=True)  # visible, and no NUL in a log
    return np.where(numeric.to_numpy(dtype=bool), as_numbers.to_numpy(), text.to_numpy())


# --------------------------------------------------------------------------------------------
# Survey rules: each returns problems for one question, on the interviews being validated (``rows``
# of the export's frame: the frame is not copied to leave the others out)
# --------------------------------------------------------------------------------------------


def routing_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, q: Question) -> list[pd.DataFrame]:
    """Answered only when asked: a value (a tick for multi) from a respondent not asked."""
    if q.asked_if is None:
        return []
    not_asked = rows & ~asked(frame, codebook, q)
    reason = f"{q.id} answered but not asked (asked only if {q.asked_if.describe()})"
    given = (lambda c: frame[c].eq(1)) if q.type == "multi" else (lambda c: frame[c].notna())
    return [problem_frame(frame, not_asked & given(c), codebook, c, None, "routing", reason) for c in answer_columns(q)]


def required_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, q: Question) -> list[pd.DataFrame]:
    """Answered whenever asked (grids: see :func:`grid_problems`)."""
    if not q.required or q.type == "grid":
        return []
    missing = rows & asked(frame, codebook, q)
    if q.type == "multi":
        missing = missing & (tick_counts(frame, q) == 0)
        return [problem_frame(frame, missing, codebook, q.id, "", "required", f"{q.id} asked but no answer ticked")]
    return [problem_frame(frame, missing & frame[q.column].isna(), codebook, q.column, "", "required", f"{q.id} asked but not answered")]


def grid_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, q: Question) -> list[pd.DataFrame]:
    """A grid asked is answered on every row (when required, or when any row is answered)."""
    if q.type != "grid":
        return []
    blank = {r.column: frame[r.column].isna().to_numpy() for r in q.rows}
    started = ~np.logical_and.reduce(list(blank.values()))
    due = rows & asked(frame, codebook, q) & (started | q.required)
    return [
        problem_frame(frame, due & blank[r.column], codebook, r.column, "", "grid_complete", f"{q.id} row {r.id} '{r.label}' not answered: every row of the grid must be")
        for r in q.rows
    ]


def exclusive_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, q: Question) -> list[pd.DataFrame]:
    """An exclusive code ("Non, jamais") is ticked alone."""
    if not q.exclusive:
        return []
    crowded = rows & (tick_counts(frame, q) > 1)
    masks = {code: crowded & (frame[q.columns[code]].to_numpy() == 1) for code in q.exclusive}
    return [
        problem_frame(
            frame, mask, codebook, q.columns[code], ticked_codes(frame, mask, q), "exclusive",
            f"{q.id} code {code} '{q.code_label(code)}' must stand alone, but other codes are ticked too",
        )
        for code, mask in masks.items()
    ]


def cap_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, q: Question) -> list[pd.DataFrame]:
    """No more ticks than ``max_answers``."""
    if q.max_answers is None:
        return []
    over = rows & (tick_counts(frame, q) > q.max_answers)
    return [problem_frame(frame, over, codebook, q.id, ticked_codes(frame, over, q), "max_answers", f"{q.id} allows {q.max_answers} answer(s) at most")]


SURVEY_RULES: tuple[Callable[[pd.DataFrame, np.ndarray, Codebook, Question], list[pd.DataFrame]], ...] = (
    routing_problems,
    required_problems,
    grid_problems,
    exclusive_problems,
    cap_problems,
)


def tick_counts(frame: pd.DataFrame, q: Question) -> np.ndarray:
    """How many codes of a multi question each respondent ticked (a blank is no tick), added a column at
    a time: a row-wise sum of a respondents × codes array steps through it row by row, several times slower."""
    counts = np.zeros(len(frame), dtype=np.int32)
    for column in q.columns.values():
        counts += frame[column].to_numpy() == 1
    return counts


def ticked_codes(frame: pd.DataFrame, mask: np.ndarray, q: Question) -> np.ndarray:
    """The codes ticked by each respondent of ``mask``, as text ("1, 3")."""
    ticks = ticked(frame.loc[mask, list(q.columns.values())], q.columns.values())
    text = np.full(len(ticks), "", dtype=str)
    for code, column in zip(q.all_codes(), ticks.T):
        text = np.char.add(text, np.where(column, f"{code}, ", ""))
    return np.char.rstrip(text, ", ")


# --------------------------------------------------------------------------------------------
# Quality
# --------------------------------------------------------------------------------------------


def speeders(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, quality: QualityPolicy) -> tuple[np.ndarray, pd.DataFrame]:
    """Interviews shorter than ``speeder_share_of_median`` × the median length of complete ones."""
    loi = frame[codebook.columns.loi]
    median = loi[rows & frame[codebook.columns.status].eq(codebook.statuses["complete"]).to_numpy()].median()
    limit = quality.speeder_share_of_median * median
    fast = rows & (loi < limit).to_numpy()
    reason = f"interview shorter than {quality.speeder_share_of_median:g} × the median length of complete interviews ({median:g} s), i.e. under {limit:g} s"
    return fast, problem_frame(frame, fast, codebook, codebook.columns.loi, None, "speeder", reason)


def straightliners(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, quality: QualityPolicy) -> tuple[np.ndarray, pd.DataFrame]:
    """Every row of a grid of at least ``straightliner_min_rows`` rows given the same code."""
    grids = [q for q in codebook.questions if q.type == "grid" and len(q.rows) >= quality.straightliner_min_rows]
    found, problems = np.zeros(len(frame), bool), []
    for q in grids:
        # compared a column at a time, each in its own width: no respondents × rows array of float64 made
        first = float_values(frame[q.rows[0].column])
        same = rows & (first == first)  # NaN never equals: a blank row is not a straight line
        for r in q.rows[1:]:
            same &= float_values(frame[r.column]) == first
        found |= same
        problems.append(problem_frame(frame, same, codebook, q.id, cell_text(pd.Series(first[same], dtype=float)).to_numpy(), "straightliner", f"all {len(q.rows)} rows of {q.id} given the same answer"))
    return found, pd.concat([NO_ISSUES, *problems], ignore_index=True)


def float_values(column: pd.Series) -> np.ndarray:
    """A column's numbers as floats: float32 or float64 as ingest gives them (no copy), others made float64."""
    values = column.to_numpy()
    return values if values.dtype.kind == "f" else column.to_numpy(dtype=float)


QUALITY_CHECKS = {"speeder": (speeders, "speeder_action"), "straightliner": (straightliners, "straightliner_action")}


# --------------------------------------------------------------------------------------------
# Problems and the whole stage
# --------------------------------------------------------------------------------------------


def problem_frame(frame: pd.DataFrame, mask: np.ndarray | pd.Series, codebook: Codebook, column: object, value: object, rule: object, reason: object) -> pd.DataFrame:
    """Problem rows (row, respondent_id, column, value, rule, reason) for the interviews of ``frame`` where ``mask``.

    ``value=None`` takes the cell of ``column``; text columns' values are never kept. Only the
    columns needed are selected: most rules find nothing, and a wide selection costs more.
    """
    if not np.any(mask):
        return NO_ISSUES
    if value is None:
        value = cell_text(frame.loc[mask, column]).to_numpy() if column not in text_columns(codebook) else ""
    return issue_frame(who_is(frame.loc[mask, [ROW, codebook.columns.id]], codebook), column, value, rule, reason)


def who_is(rows: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """``row`` and ``respondent_id`` of interviews, as :func:`ingest.issue_frame` takes them."""
    return pd.DataFrame({"row": rows[ROW], "respondent_id": rows[codebook.columns.id]})


def validate_export(export: Export, population: Population, quality: QualityPolicy, thresholds: Thresholds) -> Validated:
    """Kept interviews, quarantine and row counts of one export; too many invalid rows is an error.

    A large export's answer columns are moved into the kept interviews' frame (:func:`kept_frame`):
    once validated, its ``frame`` holds only its other columns (row, status, texts)."""
    screened = screened_export(export, population, quality, thresholds)
    return Validated(screened.population, kept_frame(export.frame, screened.kept, population.codebook), screened.quarantine, screened.counts)


def screened_export(export: Export, population: Population, quality: QualityPolicy, thresholds: Thresholds) -> Screened:
    """Which interviews of one export are kept, its quarantine and row counts; too many invalid rows is an error.

    `baro validate` needs no more: the kept interviews' answers are not taken (at 1e6 rows × 100
    columns, ~0.5 s)."""
    book = population.codebook
    frame = export.frame
    status = frame[book.columns.status]
    excluded = {reason: status.eq(book.statuses[reason]).to_numpy() for reason in EXCLUDED_STATUSES}
    out = np.logical_or.reduce(list(excluded.values()))
    problems, flagged_masks = candidate_problems(frame, ~out, book, quality)
    issues = export.issues[~export.issues["row"].isin(frame.loc[out, ROW])]  # excluded rows are not validated further
    quarantine = quarantine_frame(pd.concat([issues, *problems], ignore_index=True), book, export)
    kept_mask = ~out & ~frame[ROW].isin(quarantine["row"]).to_numpy()
    counts = RowCounts(
        read=export.source.rows_read,
        kept=int(kept_mask.sum()),
        quarantined=int(quarantine["row"].nunique()),
        excluded={reason: int(mask.sum()) for reason, mask in excluded.items()},
        flagged={name: int((mask & kept_mask).sum()) for name, mask in flagged_masks.items()},
    )
    assert counts.read == counts.kept + sum(counts.excluded.values()) + counts.quarantined, counts
    check_invalid_share(counts, quarantine, thresholds, export)
    return Screened(book.population, kept_mask, quarantine, counts)


def candidate_problems(frame: pd.DataFrame, rows: np.ndarray, codebook: Codebook, quality: QualityPolicy) -> tuple[list[pd.DataFrame], dict[str, np.ndarray]]:
    """Problems of the interviews being validated, the ``rows`` of the frame (schema, survey rules,
    quality checks that quarantine), and the masks of the quality checks that flag."""
    problems = [
        schema_problems(frame, rows, codebook),
        *(found for q in codebook.profile + codebook.questions for rule in SURVEY_RULES for found in rule(frame, rows, codebook, q)),
    ]
    flagged_masks = {}
    for name, (check, action_key) in QUALITY_CHECKS.items():
        action = getattr(quality, action_key)
        if action == "keep":
            continue
        mask, found = check(frame, rows, codebook, quality)
        if action == "quarantine":
            problems.append(found)
        else:
            flagged_masks[name] = mask
    return problems, flagged_masks


def quarantine_frame(problems: pd.DataFrame, codebook: Codebook, export: Export) -> pd.DataFrame:
    """Problems with population and file, in a stable order; text values blanked (a last guard)."""
    problems = problems.assign(
        population=codebook.population,
        file=Path(export.source.path).name,
        value=problems["value"].where(~problems["column"].isin(text_columns(codebook)), ""),
    )
    return problems[list(QUARANTINE_COLUMNS)].sort_values(["row", "column", "rule"], kind="stable", ignore_index=True)


# From this many interviews the export's columns are moved into the kept rows, not copied (below, a
# frame rebuilding its column index at each column taken out costs more than the columns weigh: ~35 ms
# a small edition's 100 columns); Arrow's pages of the columns moved are given back each time
# RELEASED_BYTES were moved (a release costs ~1.5 ms).
MOVED_ROWS = 100_000
RELEASED_BYTES = 64 << 20


def kept_frame(frame: pd.DataFrame, kept: np.ndarray, codebook: Codebook) -> pd.DataFrame:
    """Id, profile and answer columns of the ``kept`` interviews; multi ticks NaN where not asked.

    Each answer column of a large export (:data:`MOVED_ROWS`) is moved out of ``frame`` (the
    export's: validation is its last reader) as its kept rows are taken, the ticks not asked blanked
    in the column taken: the export's columns and the kept rows' are never all in memory at once
    (at 1e6 interviews of 100 columns, ~260 MiB less at validation's peak), and no frame of the
    kept rows is made to be copied again."""
    questions = [q for q in codebook.profile + codebook.questions if q.type != "text"]
    # who was not asked, before the columns the routing reads are moved
    hidden = {q.id: ~asked(frame, codebook, q)[kept] for q in questions if q.type == "multi"}
    columns = {codebook.columns.id: frame[codebook.columns.id][kept].reset_index(drop=True)}
    take = frame.pop if len(frame) >= MOVED_ROWS else frame.__getitem__
    places = np.flatnonzero(kept)  # taken by their places: a mask would be read again for every column (~1.5 times slower)
    moved = 0  # bytes of the columns moved since Arrow last gave its pages back
    for q in questions:
        for c in answer_columns(q):
            column = take(c).to_numpy()
            values = columns[c] = column.take(places)
            moved += column.nbytes
            if q.id in hidden:
                values[hidden[q.id]] = np.nan
        if moved >= RELEASED_BYTES:  # the moved columns' pages (Arrow's, as read) back to the system, for the next copies
            release_arrow_memory()
            moved = 0
    return pd.DataFrame(columns, copy=False)  # the columns taken above, not copied again into one block


def shared_id_warnings(validated: Mapping[str, Validated], populations: Mapping[str, Population]) -> list[str]:
    """:func:`kept_id_warnings` of validated exports."""
    return kept_id_warnings({pop: pyarrow.array(v.frame[populations[pop].codebook.columns.id]) for pop, v in validated.items()})


def kept_ids(export: Export, screened: Screened, codebook: Codebook) -> pyarrow.Array:
    """The respondent ids of the interviews ``screened`` keeps, as Arrow texts (for :func:`kept_id_warnings`)."""
    return pyarrow.array(export.frame[codebook.columns.id]).filter(pyarrow.array(screened.kept))


def kept_id_warnings(ids: Mapping[str, pyarrow.Array]) -> list[str]:
    """A warning per pair of populations whose kept interviews (their ``ids``) share respondent ids (the
    panels mixed up, or an id reused by the panel provider): counts only, as ids never appear in a message."""
    pops = list(ids)
    return [
        f"warning: {n} respondent id(s) on kept interviews of both {a} and {b}: check that the two exports are of distinct panels "
        "(the interviews are in weights.parquet under both populations)"
        for i, a in enumerate(pops)
        for b in pops[i + 1 :]
        if (n := shared_count(ids[a], ids[b].cast(ids[a].type)))
    ]


def shared_count(ids: pyarrow.Array, others: pyarrow.Array) -> int:
    """How many of ``ids`` are among ``others`` (each distinct: repeats are quarantined).

    None when the two sets of ids lie in ranges apart (each panel's ids under its own prefix: the
    usual case), told by their bounds (at 1e6 × 2: ~0.02 s); else by Arrow's hash kernels (0.2–0.4 s;
    a Python set of a million ids costs seconds)."""
    bounds, other_bounds = pc.min_max(ids).as_py(), pc.min_max(others).as_py()
    if None in (bounds["min"], other_bounds["min"]) or bounds["max"] < other_bounds["min"] or other_bounds["max"] < bounds["min"]:
        return 0
    return int(pc.sum(pc.is_in(ids, value_set=others)).as_py() or 0)


def check_invalid_share(counts: RowCounts, quarantine: pd.DataFrame, thresholds: Thresholds, export: Export) -> None:
    """Too many quarantined interviews stops the run: something is wrong with the export or the codebook."""
    base = counts.read - sum(counts.excluded.values())
    if base == 0:
        raise ExportError(
            "no interview left once incomplete and screened-out ones are excluded",
            where=export.source.path,
            fix="check the status column and the codebook's statuses (values of complete interviews)",
        )
    share = counts.quarantined / base
    if share <= thresholds.max_invalid_share:
        return
    top = quarantine.groupby("rule").size().sort_values(ascending=False, kind="stable").head(TOP_REASONS)
    reasons = ", ".join(f"{rule} {n}" for rule, n in top.items())
    raise ValidationThresholdError(
        f"{counts.quarantined} of {base} interviews quarantined ({share:.1%}), above the edition's maximum share of invalid rows "
        f"({thresholds.max_invalid_share:.1%}); most frequent problems: {reasons}",
        where=f"{export.source.path} (population {export.population})",
        fix="run `baro validate EDITION` and read the reasons: usually the codebook is out of step with the export "
        "(renamed columns, changed codes or routing) or the export is broken; correct it, or raise "
        "thresholds.max_invalid_share in edition.yaml if these interviews are truly expected to be invalid",
    )
