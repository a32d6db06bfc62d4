"""The edition as data: load ``editions/<id>/*.yaml`` into frozen values, checked on load.

Everything that changes from one edition to the next lives in YAML (read with ``yaml.safe_load``);
nothing in the code knows a question or a column. The format is documented in
``docs/edition-format.md``. Every mistake is an :class:`EditionError` naming the file, the key
path, what was expected and the fix.
"""

from __future__ import annotations

import difflib
import math
import re
import dataclasses
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from collections.abc import Mapping

import yaml

from .errors import EditionError
from .report_texts import LANGUAGES
from .significance import Significance

QUESTION_TYPES = ("single", "multi", "grid", "numeric", "text")
INTERVAL_METHODS = ("logit", "likelihood", "xlogit", "beta", "asin", "mean", "wilson")
LETTER_ADJUSTMENTS = ("none", "bonferroni", "holm")  # stats.ADJUSTMENTS, without importing the kernels
SIGNIFICANCE_KEYS = ("level", "interval")  # of the estimation: block, read into the Significance
QUALITY_ACTIONS = ("quarantine", "flag", "keep")
PROBLEM_KINDS = ("self_contradiction", "unlabelled_population", "other")
MULTI_ENCODINGS = ("binary", "codes")
WEIGHTING_METHODS = ("raking", "linear", "raking_bounded")
SHARE_TOLERANCE = 1e-6
EDITION_FILE = "edition.yaml"
TODO = "TODO"  # a value starting with it is a place a person must still fill in
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------------------------
# Frozen values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """Who is asked / who is in a base: ``question`` (or profile variable) answered one of ``codes``.

    ``all`` / ``any`` combine conditions. For a multiple-choice question, "answered" means ticked;
    for a grid, ``row`` names the row.
    """

    question: str | None = None
    codes: tuple[int, ...] = ()
    row: str | None = None
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()

    def questions(self) -> tuple[str, ...]:
        """Every question id this condition reads."""
        own = (self.question,) if self.question else ()
        return own + tuple(q for part in self.all + self.any for q in part.questions())

    def describe(self) -> str:
        """A short, stable text for the ``base`` column of the outputs."""
        if self.all:
            return " and ".join(part.describe() for part in self.all)
        if self.any:
            return "(" + " or ".join(part.describe() for part in self.any) + ")"
        target = f"{self.question}.{self.row}" if self.row else str(self.question)
        return f"{target} in [{', '.join(str(c) for c in self.codes)}]"


@dataclass(frozen=True)
class NotAnswer:
    """A code that is not an answer ("ne sait pas"); ``in_base`` says whether it stays in the base."""

    label: str
    in_base: bool


@dataclass(frozen=True)
class Net:
    """A group of answer codes reported as one item (e.g. "confiance" = tout à fait + plutôt)."""

    id: str
    label: str
    codes: tuple[int, ...]


@dataclass(frozen=True)
class Row:
    """One row of a grid, with its export column."""

    id: str
    label: str
    column: str


@dataclass(frozen=True)
class Question:
    """One question of a codebook (profile/quota variables are ``single`` questions too)."""

    id: str
    wording: str
    type: str
    label: str = ""
    column: str | None = None  # single, numeric, text: the export column
    codes: Mapping[int, str] = field(default_factory=dict)  # answer codes and labels
    not_answers: Mapping[int, NotAnswer] = field(default_factory=dict)
    nets: tuple[Net, ...] = ()
    rows: tuple[Row, ...] = ()  # grid
    columns: Mapping[int, str] = field(default_factory=dict)  # multi: code -> export column
    encoding: str = "binary"  # multi: "binary" (0/1 or 1/blank per code) or "codes" (code per column)
    max_answers: int | None = None  # multi: "3 réponses maximum"
    top: int | None = None  # multi: the edition ranks its answers and keeps this many ("Top 5 des utilisations")
    rank_by: str | None = None  # grid: the net or answer code its rows are ranked by (default: ranked_answer)
    exclusive: tuple[int, ...] = ()  # multi: codes that must stand alone ("Non, jamais")
    other_text: str | None = None  # open-text column ("autre, précisez"): read, never output
    asked_if: Condition | None = None
    required: bool = True  # answered whenever asked
    minimum: float | None = None  # numeric
    maximum: float | None = None
    was: str | None = None  # id of this question in the previous edition
    profile: bool = False

    @property
    def single_column(self) -> str:
        """The export column of a single, numeric or text question (profile variables too): the codebook's, by default its id."""
        return self.column or self.id

    def all_codes(self) -> tuple[int, ...]:
        """Answer codes then not-answer codes, in codebook order."""
        return tuple(self.codes) + tuple(self.not_answers)

    def base_codes(self) -> tuple[int, ...]:
        """Codes that count in the base of a share (answers and not-answers kept in base)."""
        return tuple(self.codes) + tuple(c for c, na in self.not_answers.items() if na.in_base)

    def ranked_answer(self) -> str:
        """The item key (a net id or an answer code) a grid's rows are ranked by: ``rank_by``, else
        its first net (its "top box"), else its first answer code."""
        return self.rank_by or (self.nets[0].id if self.nets else str(next(iter(self.codes))))

    def code_label(self, code: int) -> str:
        if code in self.codes:
            return self.codes[code]
        return self.not_answers[code].label

    def export_columns(self) -> tuple[str, ...]:
        """Every export column this question reads, in order (open text included)."""
        if self.type == "grid":
            cols: tuple[str, ...] = tuple(r.column for r in self.rows)
        elif self.type == "multi":
            cols = tuple(self.columns.values())
        else:
            cols = (self.column,) if self.column else ()
        return cols + ((self.other_text,) if self.other_text else ())


@dataclass(frozen=True)
class Derived:
    """A derived indicator: any-of / all-of over conditions, on a base (None = whole population)."""

    id: str
    label: str
    rule: str  # "any_of" | "all_of"
    terms: tuple[Condition, ...]
    base: Condition | None = None


@dataclass(frozen=True)
class Columns:
    """The export's technical columns."""

    id: str = "respondent_id"
    status: str = "status"
    start: str = "start_time"
    end: str = "end_time"
    loi: str = "loi_seconds"


# Status values of the export, by the pipeline's name for them (a codebook's ``statuses:`` maps them).
DEFAULT_STATUSES = {"complete": "complete", "incomplete": "incomplete", "screened_out": "screened_out"}


@dataclass(frozen=True)
class Codebook:
    population: str
    columns: Columns
    profile: tuple[Question, ...]
    questions: tuple[Question, ...]
    derived: tuple[Derived, ...]
    statuses: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(DEFAULT_STATUSES)))
    marks: tuple[Mark, ...] = ()  # TODO values of the codebook file

    def question(self, qid: str) -> Question:
        """A question or profile variable by id."""
        for q in self.profile + self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.profile + self.questions) + tuple(d.id for d in self.derived)


@dataclass(frozen=True)
class TargetVariable:
    """Population shares of one calibration variable (a profile variable of the codebook)."""

    variable: str
    shares: Mapping[int, float]
    source: str
    year: int


@dataclass(frozen=True)
class Targets:
    population: str
    variables: tuple[TargetVariable, ...]  # empty while the file's variables are a TODO
    assumptions: str = ""
    marks: tuple[Mark, ...] = ()  # TODO values of the targets file


@dataclass(frozen=True)
class Population:
    id: str
    label: str
    codebook: Codebook
    targets: Targets
    breakdowns: tuple[str, ...]
    sample_size: int


@dataclass(frozen=True)
class Thresholds:
    flag_base: int = 30  # bases under this are flagged
    suppress_base: int = 10  # bases under this have their value withheld (n kept)
    max_invalid_share: float = 0.10  # share of quarantined rows above which the run stops


@dataclass(frozen=True)
class QualityPolicy:
    speeder_share_of_median: float = 0.4  # interview shorter than this share of the median length
    speeder_action: str = "quarantine"
    straightliner_min_rows: int = 5  # a grid of at least this many rows answered all alike
    straightliner_action: str = "flag"


@dataclass(frozen=True)
class EstimationSettings:
    """The ``estimation:`` block besides its level and interval method (those are the Significance)."""

    variance: str = "linearised"  # or "jk1"
    rounding: str = "half_up"  # how the publication rounds: half_up (nearest) or down
    letters_adjust: str = "none"  # tables' letters: none, bonferroni or holm within a breakdown's pairs of levels


@dataclass(frozen=True)
class Trimming:
    """Caps on the calibrated weights (R: ``trimWeights(design, upper, lower, strict)``)."""

    lower: float | None = None
    upper: float | None = None
    strict: bool = False


@dataclass(frozen=True)
class WeightingSettings:
    """How the weights are made: calibration to the targets, then trimming if asked."""

    method: str = "raking"  # raking | linear (GREG) | raking_bounded
    bounds: tuple[float, float] = (0.5, 2.0)  # raking_bounded: w / w0 kept inside [L, U]
    trimming: Trimming | None = None


@dataclass(frozen=True)
class Mirror:
    """Two questions of two populations with the same meaning, compared item by item."""

    questions: Mapping[str, str]  # population -> question id (two entries)


@dataclass(frozen=True)
class Indicator:
    """What a published figure measures: a question item, or a derived indicator."""

    question: str
    code: int | None = None
    net: str | None = None
    row: str | None = None

    @property
    def item(self) -> str:
        """The item key used in ``estimates.parquet`` (see docs/edition-format.md)."""
        own = self.net if self.net is not None else (str(self.code) if self.code is not None else self.question)
        return f"{self.row}:{own}" if self.row else own


@dataclass(frozen=True)
class Problem:
    kind: str
    note: str


@dataclass(frozen=True)
class Article:
    """The press article a figure was quoted from: its outlet and title as known, and its address
    only once someone has checked it (an unverified address is not kept)."""

    outlet: str
    title: str = ""
    url: str = ""
    verified: bool = False

    def describe(self) -> str:
        """E.g. "press: cegedim-sante.com, 'Baromètre IA Santé 2025' (address not verified)"."""
        title = f", '{self.title}'" if self.title else ""
        return f"press: {self.outlet}{title} ({self.url if self.verified else 'address not verified'})"


@dataclass(frozen=True)
class PublishedFigure:
    id: str
    population: str
    indicator: Indicator
    base: str | Condition  # "asked" (the question's routing), "all", or a subgroup condition
    value: float
    operator: str  # "=" or ">="
    page: int | None
    wording: str
    source: str  # "synthesis", or the press article described (Article.describe)
    problems: tuple[Problem, ...] = ()
    product_of: tuple[str, ...] = ()  # a share of a share: published as the product of these figures
    article: Article | None = None  # a press figure's article


@dataclass(frozen=True)
class Mark:
    """A place of the edition a person must still fill in (``todo``) or review (``review``).

    ``blocking``: the pipeline cannot run without it (e.g. weighting targets still a TODO).
    """

    file: Path
    key: str
    kind: Literal["todo", "review"]
    what: str
    blocking: bool = False

    @property
    def message(self) -> str:
        """The edition's error form: ``<file>: key '<key>': <what>`` then ``fix: <fix>``."""
        fix = (
            "write the value in place of the TODO (docs/edition-format.md, \"Marks\")"
            if self.kind == "todo"
            else f"check it, then delete this entry from 'review:' in {self.file.parent / EDITION_FILE}"
        )
        return f"{self.file}: key '{self.key}': {self.what}\n  fix: {fix}"


@dataclass(frozen=True)
class Edition:
    id: str
    title: str
    folder: Path
    fieldwork: tuple[str, str]
    exports: str  # folder of the exports, relative to the project root
    populations: Mapping[str, Population]
    thresholds: Thresholds
    quality: QualityPolicy
    estimation: EstimationSettings
    figures: tuple[PublishedFigure, ...]
    significance: Significance  # the one confidence level, interval method and test level
    previous: str | None = None
    dropped: tuple[str, ...] = ()  # questions of the previous edition not carried over
    weighting: WeightingSettings = WeightingSettings()
    mirrors: tuple[Mirror, ...] = ()
    marks: tuple[Mark, ...] = ()  # what a person must still fill in or review (warned; see check_runnable)
    language: str = "fr"  # the report's language (report_texts.LANGUAGES)


# --------------------------------------------------------------------------------------------
# Reading YAML strictly
# --------------------------------------------------------------------------------------------


class _Node:
    """A YAML mapping with its file and key path, so that every error can say where it is."""

    def __init__(self, data: Any, file: Path, path: str) -> None:
        self.data = data
        self.file = file
        self.path = path

    def error(self, what: str, fix: str, key: str | None = None) -> EditionError:
        where = f"{self.file}: key '{self._join(key)}'" if (key or self.path) else str(self.file)
        return EditionError(what, where=where, fix=fix)

    def _join(self, key: str | None) -> str:
        if key is None:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def mapping(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> _Node:
        if not isinstance(self.data, dict):
            raise self.error(f"expected a mapping, found {type(self.data).__name__}", "write 'key: value' lines here")
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
                raise self.error(f"unknown key '{key}'", hint, key=str(key))
        for key in required:
            if key not in self.data:
                raise self.error(f"missing required key '{key}'", f"add '{key}:' here", key=key)
        return self

    def child(self, key: str) -> _Node:
        return _Node(self.data.get(key), self.file, self._join(key))

    def items(self, key: str) -> list[_Node]:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise self.error("expected a list", "write one '- ' entry per item", key=key)
        return [_Node(v, self.file, f"{self._join(key)}{_entry_suffix(v, i)}") for i, v in enumerate(value)]

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) and kind is not bool:
            raise self.error(f"expected {_kind_name(kind)}, found a boolean", "write the value itself", key=key)
        if not isinstance(value, kind):
            raise self.error(
                f"expected {_kind_name(kind)}, found {type(value).__name__} {value!r}",
                f"write {_kind_name(kind)} here",
                key=key,
            )
        return value

    def ident(self, key: str) -> str:
        value = self.get(key, (str, int))
        value = str(value)
        if not _ID.match(value):
            raise self.error(f"'{value}' is not a valid id", "use letters, digits and '_' (starting with a letter)", key=key)
        return value


def _entry_suffix(entry: Any, index: int) -> str:
    """``.Q5`` for an entry with a valid id (or target variable), else ``[3]``."""
    if isinstance(entry, dict):
        name = entry.get("id", entry.get("variable"))
        if isinstance(name, (str, int)) and not isinstance(name, bool) and _ID.match(str(name)):
            return f".{name}"
    return f"[{index}]"


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list", dict: "a mapping"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# An edition file holds a few thousand values once its aliases are expanded; nested aliases that
# expand to more are an expansion bomb ("billion laughs"), refused before anything is built.
MAX_YAML_VALUES = 200_000


class _ExpansionError(yaml.composer.ComposerError):
    """Aliases that expand past MAX_YAML_VALUES, or an alias inside its own anchor."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (safe_load keeps the last one silently)
    and aliases that expand to more than :data:`MAX_YAML_VALUES` values."""

    def compose_document(self) -> yaml.Node | None:
        self.expanded: dict[int, int] = {}  # id(node) -> values it holds once its aliases are expanded
        self.values = 0
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, yaml.AliasEvent):
            if id(node) not in self.expanded:
                raise _ExpansionError(None, None, f"alias *{event.anchor} inside its own anchor (a recursive structure)", event.start_mark)
            size = self.expanded[id(node)]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            size = 1 + sum(self.expanded[id(c)] for c in children)
            self.expanded[id(node)] = size
        self.values += size if isinstance(event, yaml.AliasEvent) else 1
        if self.values > MAX_YAML_VALUES:
            raise _ExpansionError(None, None, f"the aliases expand to more than {MAX_YAML_VALUES:,} values (nested anchors and aliases)", event.start_mark)
        return node


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: let the base constructor report it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml(file: Path) -> Any:
    """Safe-load one YAML file; a syntax error or a repeated key names the file, line and column."""
    if not file.is_file():
        raise EditionError(f"file not found: {file}", fix="create it, or fix the name that points to it")
    try:
        return yaml.load(file.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, _ExpansionError):
            fix = "write the values out instead of nesting aliases (an edition file needs no more than a few aliases of small blocks)"
        elif problem.startswith("duplicate key"):
            fix = "keep one entry per key: remove or rename the repeated one"
        else:
            fix = "correct the YAML syntax at that place"
        raise EditionError(f"invalid YAML: {problem}", where=where, fix=fix) from None
    except UnicodeDecodeError:
        raise EditionError("not UTF-8 text", where=str(file), fix="save the file as UTF-8") from None


def _codes(node: _Node, key: str) -> dict[int, str]:
    raw = node.data.get(key) or {}
    if not isinstance(raw, dict):
        raise node.error("expected a mapping of code: label", "write e.g. '1: Oui'", key=key)
    out: dict[int, str] = {}
    for code, label in raw.items():
        if isinstance(code, bool) or not isinstance(code, int):
            raise node.error(f"code {code!r} is not a whole number", "answer codes are integers", key=f"{key}.{code}")
        if not isinstance(label, str) or not label.strip():
            raise node.error(f"code {code} has no label", "give every code a label", key=f"{key}.{code}")
        out[code] = label
    return out


def _code_list(node: _Node, key: str, allowed: tuple[int, ...], what: str) -> tuple[int, ...]:
    raw = node.data.get(key)
    if raw is None:
        return ()
    values = raw if isinstance(raw, list) else [raw]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise node.error(f"code {v!r} is not a whole number", "list integer codes", key=key)
        if allowed and v not in allowed:
            raise node.error(
                f"{what} names code {v}, which is not a code of this question",
                f"use one of {list(allowed)}",
                key=key,
            )
    return tuple(values)


def _condition(node: _Node) -> Condition:
    node.mapping(("question", "in", "row", "all", "any"))
    if "all" in node.data or "any" in node.data:
        if sum(k in node.data for k in ("all", "any")) > 1 or any(k in node.data for k in ("question", "in", "row")):
            raise node.error(
                "a condition is either {question, in[, row]} or one 'all' / 'any' list",
                "nest the parts, e.g. {all: [{question: Q1, in: [1]}, {any: [...]}]}",
            )
        parts = "all" if "all" in node.data else "any"
        conds = tuple(_condition(n) for n in node.items(parts))
        if not conds:
            raise node.error(f"'{parts}' is empty", "list at least one condition", key=parts)
        return Condition(all=conds) if parts == "all" else Condition(any=conds)
    if "question" not in node.data or "in" not in node.data:
        raise node.error("a condition needs 'question' and 'in'", "write e.g. {question: Q1, in: [1, 2]}")
    codes = _code_list(node, "in", (), "condition")
    if not codes:
        raise node.error("'in' lists no code", "list the codes that meet the condition, e.g. in: [1, 2]", key="in")
    return Condition(question=node.ident("question"), codes=codes, row=node.get("row", str))


# --------------------------------------------------------------------------------------------
# Codebook
# --------------------------------------------------------------------------------------------

_QUESTION_KEYS = (
    "id", "wording", "label", "type", "column", "codes", "not_answers", "nets", "rows", "columns",
    "encoding", "max_answers", "top", "rank_by", "exclusive", "other_text", "asked_if", "required", "min", "max", "was",
)


def _rank_by(node: _Node, qtype: str, codes: Mapping[int, str], nets: list[Net]) -> str | None:
    """A grid's ``rank_by``: one of its nets or answer codes (not-answers are not ranked)."""
    value = node.data.get("rank_by")
    if value is None:
        return None
    answers = [n.id for n in nets] + [str(c) for c in codes]
    if qtype != "grid":
        raise node.error("'rank_by' applies to a grid question (its rows are ranked by one answer)", "remove it or fix the type", key="rank_by")
    if isinstance(value, bool) or str(value) not in answers:
        raise node.error(f"'rank_by' is {value!r}, which is not a net or an answer code of this grid", f"use one of {', '.join(answers)}", key="rank_by")
    return str(value)


def _question(node: _Node, profile: bool) -> Question:
    node.mapping(_QUESTION_KEYS, ("id", "type"))
    qid = node.ident("id")
    qtype = node.get("type", str)
    if qtype not in QUESTION_TYPES:
        raise node.error(f"unknown question type '{qtype}'", f"use one of {', '.join(QUESTION_TYPES)}", key="type")
    if profile and qtype != "single":
        raise node.error("a profile variable must be of type 'single'", "set type: single", key="type")
    codes = _codes(node, "codes")
    if qtype in ("single", "multi", "grid") and not codes:
        raise node.error(f"a '{qtype}' question needs answer codes", "add 'codes:' with code: label lines", key="codes")
    not_answers: dict[int, NotAnswer] = {}
    for code, spec in (node.get("not_answers", dict, {}) or {}).items():
        if isinstance(code, bool) or not isinstance(code, int):
            raise node.error(f"code {code!r} is not a whole number", "not-answer codes are integers, e.g. 9: {label: Ne sait pas, in_base: true}", key=f"not_answers.{code}")
        sub = _Node(spec, node.file, f"{node.path}.not_answers.{code}").mapping(("label", "in_base"), ("label",))
        if code in codes:
            raise sub.error(f"code {code} is both an answer and a not-answer", "keep it in one of 'codes' or 'not_answers'")
        not_answers[int(code)] = NotAnswer(sub.get("label", str), bool(sub.get("in_base", bool, False)))
    all_codes = tuple(codes) + tuple(not_answers)
    nets = []
    for n in node.items("nets"):
        n.mapping(("id", "label", "codes"), ("id", "label", "codes"))
        nets.append(Net(n.ident("id"), n.get("label", str), _code_list(n, "codes", all_codes, f"net '{n.data.get('id')}'")))
    _unique([x.id for x in nets] + [str(c) for c in all_codes], node, "nets", "net id")
    column = node.get("column", str)
    rows: list[Row] = []
    columns: dict[int, str] = {}
    if qtype == "grid":
        for r in node.items("rows"):
            r.mapping(("id", "label", "column"), ("id", "label"))
            rid = r.ident("id")
            rows.append(Row(rid, r.get("label", str), r.get("column", str) or f"{column or qid}_{rid}"))
        if not rows:
            raise node.error("a grid needs 'rows'", "list its rows with id and label", key="rows")
        _unique([r.id for r in rows], node, "rows", "row id")
    elif qtype == "multi":
        overrides = node.get("columns", dict, {}) or {}
        for code in overrides:
            if code not in all_codes:
                raise node.error(f"'columns' names code {code}, which is not a code of this question", f"use one of {list(all_codes)}", key="columns")
        prefix = column or qid
        columns = {c: str(overrides.get(c, f"{prefix}_{c}")) for c in all_codes}
    elif column is None and qtype != "grid":
        column = qid
    encoding = node.get("encoding", str, "binary")
    if encoding not in MULTI_ENCODINGS:
        raise node.error(f"unknown encoding '{encoding}'", f"use one of {', '.join(MULTI_ENCODINGS)}", key="encoding")
    max_answers = node.get("max_answers", int)
    if max_answers is not None and (qtype != "multi" or max_answers < 1):
        raise node.error("'max_answers' applies to a multi question, as a number >= 1", "remove it or fix the type", key="max_answers")
    top = node.get("top", int)
    if top is not None and (qtype != "multi" or top < 1):
        raise node.error("'top' applies to a multi question, as a number >= 1", "remove it or fix the type", key="top")
    if top is not None and top > len(codes):
        raise node.error(f"'top' is {top}, but the question has {len(codes)} answer codes to rank", f"use at most {len(codes)}", key="top")
    rank_by = _rank_by(node, qtype, codes, nets)
    return Question(
        id=qid,
        wording=node.get("wording", str, ""),
        label=node.get("label", str, "") or node.get("wording", str, "") or qid,
        type=qtype,
        column=column if qtype not in ("multi", "grid") else column,
        codes=MappingProxyType(codes),
        not_answers=MappingProxyType(not_answers),
        nets=tuple(nets),
        rows=tuple(rows),
        columns=MappingProxyType(columns),
        encoding=encoding,
        max_answers=max_answers,
        top=top,
        rank_by=rank_by,
        exclusive=_code_list(node, "exclusive", all_codes, "'exclusive'"),
        other_text=node.get("other_text", str),
        asked_if=_condition(node.child("asked_if")) if node.data.get("asked_if") is not None else None,
        required=bool(node.get("required", bool, True)),
        minimum=node.get("min", (int, float)),
        maximum=node.get("max", (int, float)),
        was=node.get("was", str),
        profile=profile,
    )


def _unique(values: list[str], node: _Node, key: str, what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise node.error(f"duplicate {what} '{v}'", f"give each {what} a distinct value", key=key)
        seen.add(v)


def _derived(node: _Node) -> Derived:
    node.mapping(("id", "label", "any_of", "all_of", "base"), ("id", "label"))
    rules = [r for r in ("any_of", "all_of") if r in node.data]
    if len(rules) != 1:
        raise node.error("a derived indicator needs exactly one of 'any_of' or 'all_of'", "list its conditions under one of them")
    terms = tuple(_condition(n) for n in node.items(rules[0]))
    if not terms:
        raise node.error(f"'{rules[0]}' is empty", "list at least one condition", key=rules[0])
    base = _condition(node.child("base")) if node.data.get("base") is not None else None
    return Derived(node.ident("id"), node.get("label", str), rules[0], terms, base)


def load_codebook(file: Path, population: str) -> Codebook:
    """Read and check one population's codebook (questions, profile, derived indicators, routing)."""
    root = _Node(read_yaml(file), file, "").mapping(("population", "columns", "statuses", "profile", "questions", "derived"), ("population", "questions"))
    if root.data["population"] != population:
        raise root.error(f"codebook is for population '{root.data['population']}', expected '{population}'", f"set population: {population}", key="population")
    cols = root.child("columns")
    columns = Columns()
    if cols.data is not None:
        cols.mapping(("id", "status", "start", "end", "loi"))
        columns = Columns(**{k: str(v) for k, v in cols.data.items()})
    statuses = root.child("statuses")
    status_map = dict(DEFAULT_STATUSES)
    if statuses.data is not None:
        statuses.mapping(tuple(status_map))
        status_map.update({k: str(v) for k, v in statuses.data.items()})
    profile = tuple(_question(n, profile=True) for n in root.items("profile"))
    questions = tuple(_question(n, profile=False) for n in root.items("questions"))
    derived = tuple(_derived(n) for n in root.items("derived"))
    book = Codebook(population, columns, profile, questions, derived, MappingProxyType(status_map), todo_marks(root.data, file))
    _check_codebook(book, root)
    return book


def _check_codebook(book: Codebook, root: _Node) -> None:
    seen: dict[str, str] = {}
    sections: tuple[tuple[str, tuple[Question | Derived, ...]], ...] = (("profile", book.profile), ("questions", book.questions), ("derived", book.derived))
    for section, entries in sections:
        for i, entry in enumerate(entries):
            place = f"{section}[{i}]"
            if entry.id in seen:
                raise root.error(
                    f"duplicate id '{entry.id}' (at {seen[entry.id]} and {place})",
                    "rename one of them: give every question, profile variable and derived indicator its own id",
                    key=f"{section}.{entry.id}",
                )
            seen[entry.id] = place
    by_id = {q.id: q for q in book.profile + book.questions}
    columns: dict[str, str] = {}
    for q in book.profile + book.questions:
        for col in q.export_columns():
            if col in columns:
                raise root.error(f"export column '{col}' is mapped twice ({columns[col]} and {q.id})", "map each export column to one question", key=f"questions.{q.id}")
            columns[col] = q.id
    earlier = {q.id for q in book.profile}
    for q in book.questions:
        if q.asked_if is not None:
            key = f"questions.{q.id}.asked_if"
            _check_condition(q.asked_if, by_id, root, key)
            later = [qid for qid in q.asked_if.questions() if qid not in earlier]
            if later:
                raise root.error(
                    f"{q.id} is routed on {later[0]}, which is {'itself' if later[0] == q.id else 'asked after it'}",
                    "route on a profile variable or a question listed before it in the codebook",
                    key=key,
                )
        earlier.add(q.id)
    for d in book.derived:
        for i, term in enumerate(d.terms):
            _check_condition(term, by_id, root, f"derived.{d.id}.{d.rule}[{i}]")
        if d.base is not None:
            _check_condition(d.base, by_id, root, f"derived.{d.id}.base")


def _check_condition(cond: Condition, by_id: Mapping[str, Question], root: _Node, key: str) -> None:
    for part in cond.all + cond.any:
        _check_condition(part, by_id, root, key)
    if cond.question is None:
        return
    q = by_id.get(cond.question)
    if q is None:
        close = difflib.get_close_matches(cond.question, list(by_id), n=1)
        known = "name a question or profile variable of this codebook"
        hint = f"did you mean '{close[0]}'? ({known})" if close else known
        raise root.error(f"condition refers to unknown question '{cond.question}'", hint, key=key)  # routing, base or derived term
    if cond.row is not None and cond.row not in {r.id for r in q.rows}:
        raise root.error(f"condition refers to unknown row '{cond.row}' of {q.id}", f"use one of {[r.id for r in q.rows]}", key=key)
    if q.type == "grid" and cond.row is None:
        raise root.error(f"a condition on grid {q.id} needs a 'row'", "add row: <row id>", key=key)
    unknown = [c for c in cond.codes if c not in q.all_codes()]
    if unknown:
        raise root.error(f"condition names code(s) {unknown} that {q.id} does not have", f"use codes of {q.id}: {list(q.all_codes())}", key=key)


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def load_targets(file: Path, population: str, codebook: Codebook) -> Targets:
    """Read weighting targets; each variable's shares must cover its codes and sum to 1."""
    root = _Node(read_yaml(file), file, "").mapping(("population", "assumptions", "variables"), ("population", "variables"))
    if root.data["population"] != population:
        raise root.error(f"targets are for population '{root.data['population']}', expected '{population}'", f"set population: {population}", key="population")
    marks = todo_marks(root.data, file, blocking=("variables",))
    if is_todo(root.data["variables"]):
        return Targets(population, (), root.get("assumptions", str, ""), marks)
    variables = []
    for node in root.items("variables"):
        node.mapping(("variable", "source", "year", "shares"), ("variable", "source", "year", "shares"))
        var = node.ident("variable")
        q = next((p for p in codebook.profile if p.id == var), None)
        if q is None:
            raise node.error(
                f"target variable '{var}' is not a profile variable of the {population} codebook",
                f"name a variable listed under 'profile:' ({', '.join(p.id for p in codebook.profile)})",
                key="variable",
            )
        shares = {}
        for k, v in node.get("shares", dict).items():
            if isinstance(k, bool) or not isinstance(k, int):
                raise node.error(f"share key {k!r} is not a code", f"key each share by a code of '{var}': {list(q.codes)}", key=f"shares.{k}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise node.error(f"share of code {k} is {v!r}, not a number", "write a proportion, e.g. 0.52", key=f"shares.{k}")
            shares[k] = float(v)
        missing = [c for c in q.codes if c not in shares]
        extra = [c for c in shares if c not in q.codes]
        if extra:
            raise node.error(f"shares name code(s) {extra} that '{var}' does not have", f"use its codes {list(q.codes)}", key="shares")
        if missing:
            raise node.error(f"shares miss code(s) {missing} of '{var}'", "give every category a share (0 if empty in the population)", key="shares")
        if any(s < 0 or not math.isfinite(s) for s in shares.values()):
            raise node.error("shares must be finite and >= 0", "fix the negative or missing share", key="shares")
        total = sum(shares.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise node.error(f"shares of '{var}' sum to {total:.6g}, not 1", "correct the shares so that they sum to 1 (they are proportions of the population)", key="shares")
        variables.append(TargetVariable(var, MappingProxyType(shares), node.get("source", str), node.get("year", int)))
    _unique([v.variable for v in variables], root, "variables", "target variable")
    if not variables:
        raise root.error("no target variable", "list at least one variable with its shares", key="variables")
    return Targets(population, tuple(variables), root.get("assumptions", str, ""), marks)


# --------------------------------------------------------------------------------------------
# Published figures
# --------------------------------------------------------------------------------------------


def _figure(node: _Node, populations: Mapping[str, Population]) -> PublishedFigure:
    node.mapping(
        ("id", "population", "indicator", "base", "value", "operator", "page", "wording", "source", "problems", "product_of"),
        ("id", "population", "indicator", "value", "wording", "source"),
    )
    pop = node.get("population", str)
    if pop not in populations:
        raise node.error(f"unknown population '{pop}'", f"use one of {list(populations)}", key="population")
    book = populations[pop].codebook
    ind_node = node.child("indicator").mapping(("question", "code", "net", "row", "derived"))
    indicator = _indicator(ind_node, book)
    base_raw = node.data.get("base", "asked")
    base: str | Condition
    if isinstance(base_raw, str):
        if base_raw not in ("asked", "all"):
            raise node.error(f"unknown base '{base_raw}'", "use 'asked', 'all' or a condition {question: .., in: [..]}", key="base")
        base = base_raw
    else:
        base = _condition(node.child("base"))
        by_id = {q.id: q for q in book.profile + book.questions}
        _check_condition(base, by_id, node, "base")
    operator = node.get("operator", str, "=")
    if operator not in ("=", ">="):
        raise node.error(f"unknown operator '{operator}'", "use '=' or '>='", key="operator")
    value = node.get("value", (int, float))
    if not 0 <= value <= 100:
        raise node.error(f"value {value} is not a percentage", "write the printed percentage, e.g. 77", key="value")
    problems = []
    for p in node.items("problems"):
        p.mapping(("kind", "note"), ("kind", "note"))
        kind = p.get("kind", str)
        if kind not in PROBLEM_KINDS:
            raise p.error(f"unknown problem kind '{kind}'", f"use one of {', '.join(PROBLEM_KINDS)}", key="kind")
        problems.append(Problem(kind, p.get("note", str)))
    product_of = tuple(str(x) for x in (node.get("product_of", list, []) or []))
    article = _article(node)
    return PublishedFigure(
        id=node.ident("id"),
        population=pop,
        indicator=indicator,
        base=base,
        value=float(value),
        operator=operator,
        page=node.get("page", int),
        wording=node.get("wording", str),
        source=article.describe() if article else "synthesis",
        problems=tuple(problems),
        product_of=product_of,
        article=article,
    )


def _article(node: _Node) -> Article | None:
    """A figure's source: None for the synthesis, else the press article {outlet, title, url, verified}."""
    if node.data.get("source") == "synthesis":
        return None
    if not isinstance(node.data.get("source"), dict):
        raise node.error(
            f"unknown source {node.data.get('source')!r}",
            "write 'synthesis', or the press article as {outlet: .., title: .., verified: false}",
            key="source",
        )
    src = node.child("source").mapping(("outlet", "title", "url", "verified"), ("outlet", "verified"))
    url, verified = src.get("url", str, ""), src.get("verified", bool)
    if url and not verified:
        raise src.error(
            "an address that is not verified",
            "open the article, and set verified: true if the address is the article's; else remove url (outlet and title say where it was read)",
            key="url",
        )
    if verified and not url.startswith(("https://", "http://")):
        raise src.error(f"verified: true without the article's address (url {url!r})", "give url: https://… the article's address", key="url")
    return Article(src.get("outlet", str), src.get("title", str, ""), url, verified)


def _indicator(node: _Node, book: Codebook) -> Indicator:
    if "derived" in node.data:
        extra = [k for k in ("question", "code", "net", "row") if k in node.data]
        if extra:
            raise node.error(f"a derived indicator takes no '{extra[0]}'", "write {derived: <id>} alone", key=extra[0])
        did = node.ident("derived")
        if did not in {d.id for d in book.derived}:
            raise node.error(f"unknown derived indicator '{did}'", "name one listed under 'derived:' in the codebook", key="derived")
        return Indicator(question=did)
    if "question" not in node.data:
        raise node.error("an indicator needs 'question' (with 'code' or 'net') or 'derived'", "write e.g. {question: Q1, net: oui}")
    qid = node.ident("question")
    try:
        q = book.question(qid)
    except KeyError:
        close = difflib.get_close_matches(qid, list(book.ids()), n=1)
        raise node.error(f"unknown question '{qid}'", f"did you mean '{close[0]}'?" if close else "name a question of the codebook", key="question") from None
    row = node.get("row", str)
    if q.type == "grid" and row not in {r.id for r in q.rows}:
        raise node.error(f"grid {qid} needs a valid 'row'", f"use one of {[r.id for r in q.rows]}", key="row")
    if q.type != "grid" and row is not None:
        raise node.error(f"{qid} is a {q.type} question: it has no rows", "remove 'row', or name a grid question", key="row")
    if q.type in ("numeric", "text"):
        raise node.error(f"{qid} is a {q.type} question: a figure publishes a share of a code or net", "name a single, multi or grid question", key="question")
    code = node.get("code", int)
    net = node.get("net", str)
    if (code is None) == (net is None):
        raise node.error("an indicator names exactly one of 'code' or 'net'", "keep one of them")
    if code is not None and code not in q.all_codes():
        raise node.error(f"code {code} is not a code of {qid}", f"use one of {list(q.all_codes())}", key="code")
    if net is not None and net not in {n.id for n in q.nets}:
        raise node.error(f"net '{net}' is not a net of {qid}", f"use one of {[n.id for n in q.nets]}", key="net")
    return Indicator(question=qid, code=code, net=net, row=row)


def load_figures(file: Path, populations: Mapping[str, Population]) -> tuple[tuple[PublishedFigure, ...], tuple[Mark, ...]]:
    """The published figures, and the file's TODO marks (``figures: "TODO: …"`` means none yet)."""
    root = _Node(read_yaml(file), file, "")
    if root.data is None:
        return (), ()
    root.mapping(("figures",))
    marks = todo_marks(root.data, file)
    if is_todo(root.data.get("figures")):
        return (), marks
    figures = tuple(_figure(n, populations) for n in root.items("figures"))
    _unique([f.id for f in figures], root, "figures", "figure id")
    ids = {f.id for f in figures}
    by_id = {f.id: f for f in figures}
    for f in figures:
        for ref in f.product_of:
            if ref not in ids:
                close = difflib.get_close_matches(ref, list(ids), n=1)
                raise root.error(f"figure '{f.id}' is the product of unknown figure '{ref}'", f"did you mean '{close[0]}'?" if close else "name figure ids of this file", key=f"figures.{f.id}.product_of")
            if ref == f.id or by_id[ref].population != f.population:
                raise root.error(f"figure '{f.id}' is the product of '{ref}', which is itself or of another population", "name figures of the same population, other than this one", key=f"figures.{f.id}.product_of")
        if len(f.product_of) == 1:
            raise root.error(f"figure '{f.id}' is the product of a single figure", "name at least two figures (a share and a share of it)", key=f"figures.{f.id}.product_of")
    return figures, marks


# --------------------------------------------------------------------------------------------
# Edition
# --------------------------------------------------------------------------------------------


def load_edition(edition_id: str, root: Path = Path(".")) -> Edition:
    """Load ``<root>/editions/<edition_id>/edition.yaml`` and everything it names, checked."""
    folder = Path(root) / "editions" / str(edition_id)
    file = folder / "edition.yaml"
    if not folder.is_dir():
        known = sorted(p.name for p in (Path(root) / "editions").glob("*") if p.is_dir()) if (Path(root) / "editions").is_dir() else []
        raise EditionError(
            f"edition '{edition_id}' not found in {folder.parent}",
            fix=f"use one of {known}" if known else "run from the project folder, or pass --root DIR",
        )
    node = _Node(read_yaml(file), file, "").mapping(
        ("id", "title", "fieldwork", "exports", "previous", "dropped", "populations", "thresholds", "quality", "weighting", "estimation",
         "mirrors", "figures", "review", "language"),
        ("id", "title", "populations"),
    )
    language = node.get("language", str, "fr")
    if language not in LANGUAGES:
        raise node.error(f"no report texts in language '{language}'", f"use one of {', '.join(LANGUAGES)}", key="language")
    if str(node.data["id"]) != str(edition_id):
        raise node.error(f"id '{node.data['id']}' does not match the folder name '{edition_id}'", f"set id: \"{edition_id}\"", key="id")
    fw = node.child("fieldwork")
    fieldwork = ("", "")
    if fw.data is not None and not is_todo(fw.data):
        fw.mapping(("start", "end"), ("start", "end"))
        fieldwork = (str(fw.data["start"]), str(fw.data["end"]))
    pops_node = node.child("populations")
    if not isinstance(pops_node.data, dict) or not pops_node.data:
        raise node.error("'populations' must map population ids to their settings", "write e.g. ps: {label: .., codebook: codebook_ps.yaml, targets: targets_ps.yaml}", key="populations")
    populations: dict[str, Population] = {}
    for pid in pops_node.data:
        p = pops_node.child(str(pid)).mapping(("label", "codebook", "targets", "breakdowns", "sample_size"), ("label", "codebook", "targets"))
        book = load_codebook(folder / p.get("codebook", str), str(pid))
        targets = load_targets(folder / p.get("targets", str), str(pid), book)
        breakdowns = tuple(str(b) for b in (p.get("breakdowns", list, []) or []))
        for b in breakdowns:
            if b not in {q.id for q in book.profile}:
                raise p.error(f"breakdown '{b}' is not a profile variable of the {pid} codebook", f"use one of {[q.id for q in book.profile]}", key="breakdowns")
        sample_size = p.get("sample_size", int, 1000)
        if sample_size < 1:
            raise p.error(f"sample_size {sample_size} is not a number of respondents", "write the planned number of interviews, e.g. 1000", key="sample_size")
        populations[str(pid)] = Population(str(pid), p.get("label", str), book, targets, breakdowns, sample_size)
    figures_file = node.get("figures", str, "published.yaml")
    named = node.data.get("figures") is not None
    figures, figure_marks = load_figures(folder / figures_file, populations) if named or (folder / figures_file).exists() else ((), ())
    marks = (
        todo_marks({k: v for k, v in node.data.items() if k != "review"}, file)
        + tuple(m for p in populations.values() for m in p.codebook.marks + p.targets.marks)
        + figure_marks
        + _review_marks(node, folder)
    )
    return Edition(
        id=str(edition_id),
        title=node.get("title", str),
        folder=folder,
        fieldwork=fieldwork,
        exports=node.get("exports", str, f"raw/{edition_id}"),
        populations=MappingProxyType(populations),
        thresholds=_thresholds(node.child("thresholds")),
        quality=_quality(node.child("quality")),
        weighting=_weighting(node.child("weighting")),
        estimation=_estimation(node.child("estimation")),
        significance=_significance(node.child("estimation"), language),
        mirrors=_mirrors(node, populations),
        figures=figures,
        previous=str(node.data["previous"]) if node.data.get("previous") is not None else None,
        dropped=tuple(str(x) for x in (node.get("dropped", list, []) or [])),
        marks=marks,
        language=language,
    )


def _settings(node: _Node, cls: type, shared_with: tuple[str, ...] = ()) -> Any:
    """A flat settings block: keys are the dataclass' fields, each of the default's type (and the
    keys ``shared_with`` another reader of the same block)."""
    if node.data is None:
        return cls()
    defaults = cls()
    fields = tuple(f.name for f in dataclasses.fields(cls))
    node.mapping(fields + shared_with)
    values = {}
    for key in fields:
        default = getattr(defaults, key)
        kind: type | tuple[type, ...] = (int, float) if isinstance(default, float) else type(default)
        values[key] = node.get(key, kind, default)
    return cls(**values)


def _thresholds(node: _Node) -> Thresholds:
    thresholds = _settings(node, Thresholds)
    if not 0 <= thresholds.suppress_base <= thresholds.flag_base:
        raise node.error(
            f"suppress_base {thresholds.suppress_base} is above flag_base {thresholds.flag_base} (or negative)",
            "suppress under a smaller base than the one that flags, e.g. flag_base: 30, suppress_base: 10",
            key="suppress_base",
        )
    if not 0 <= thresholds.max_invalid_share <= 1:
        raise node.error(f"max_invalid_share {thresholds.max_invalid_share} is not a share", "write a proportion, e.g. 0.10", key="max_invalid_share")
    return thresholds


def _quality(node: _Node) -> QualityPolicy:
    policy = _settings(node, QualityPolicy)
    for key in ("speeder_action", "straightliner_action"):
        if getattr(policy, key) not in QUALITY_ACTIONS:
            raise node.error(f"unknown action '{getattr(policy, key)}'", f"use one of {', '.join(QUALITY_ACTIONS)}", key=key)
    return policy


def _weighting(node: _Node) -> WeightingSettings:
    if node.data is None:
        return WeightingSettings()
    node.mapping(("method", "bounds", "trimming"))
    method = node.get("method", str, "raking")
    if method not in WEIGHTING_METHODS:
        raise node.error(f"unknown weighting method '{method}'", f"use one of {', '.join(WEIGHTING_METHODS)}", key="method")
    bounds = node.get("bounds", list, list(WeightingSettings.bounds))
    if len(bounds) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds) or not 0 <= bounds[0] < 1 < bounds[1]:
        raise node.error(f"bounds {bounds} are not [L, U] with 0 <= L < 1 < U", "write the range of w / w0, e.g. bounds: [0.5, 2]", key="bounds")
    if node.data.get("bounds") is not None and method != "raking_bounded":
        raise node.error(f"bounds are only used by method raking_bounded, not {method}", "remove bounds, or use method: raking_bounded", key="bounds")
    trimming = None
    t = node.child("trimming")
    if t.data is not None:
        t.mapping(("lower", "upper", "strict"))
        trimming = Trimming(t.get("lower", (int, float)), t.get("upper", (int, float)), t.get("strict", bool, False))
        if trimming.lower is None and trimming.upper is None:
            raise t.error("trimming needs a lower or an upper cap", "write e.g. trimming: {upper: 3}, in weights of mean 1")
        if not (trimming.lower or 0) <= 1 <= (math.inf if trimming.upper is None else trimming.upper):
            raise t.error(
                f"caps lower {trimming.lower}, upper {trimming.upper} leave out the mean weight 1",
                "weights have mean 1: choose lower <= 1 <= upper",
            )
        if method != "raking":
            # The variance of trimmed weights takes the raking's residuals (R: trimWeights() on a raked design).
            raise t.error(f"trimming is only supported after raking, not after {method}", "use method: raking, or remove trimming")
    return WeightingSettings(method, (float(bounds[0]), float(bounds[1])), trimming)


def _mirrors(node: _Node, populations: Mapping[str, Population]) -> tuple[Mirror, ...]:
    """Mirror questions: ``- {ps: Q11, gp: Q7}``, two known populations, each a question of its codebook, of one type."""
    mirrors = []
    for m in node.items("mirrors"):
        if not isinstance(m.data, dict) or len(m.data) != 2:
            raise m.error("a mirror names two populations and their questions", "write e.g. - {ps: Q11, gp: Q7}")
        types = set()
        for pop, qid in m.data.items():
            if str(pop) not in populations:
                raise m.error(f"unknown population '{pop}'", f"use two of {list(populations)}", key=str(pop))
            book = populations[str(pop)].codebook
            question = next((q for q in book.questions if q.id == str(qid)), None)
            if question is None or question.type in ("numeric", "text"):
                raise m.error(
                    f"'{qid}' is not a single, multi or grid question of the {pop} codebook",
                    f"use one of {[q.id for q in book.questions if q.type not in ('numeric', 'text')]}",
                    key=str(pop),
                )
            types.add(question.type)
        if len(types) > 1:
            raise m.error(f"the two questions are of different types ({', '.join(sorted(types))})", "pair questions of the same type")
        mirrors.append(Mirror(MappingProxyType({str(p): str(q) for p, q in m.data.items()})))
    return tuple(mirrors)


def _estimation(node: _Node) -> EstimationSettings:
    settings = _settings(node, EstimationSettings, shared_with=SIGNIFICANCE_KEYS)
    if settings.variance not in ("linearised", "jk1"):
        raise node.error(f"unknown variance method '{settings.variance}'", "use 'linearised' or 'jk1'", key="variance")
    if settings.rounding not in ("half_up", "down"):
        raise node.error(f"unknown rounding '{settings.rounding}'", "use 'half_up' or 'down'", key="rounding")
    if settings.letters_adjust not in LETTER_ADJUSTMENTS:
        raise node.error(f"unknown adjustment '{settings.letters_adjust}'", f"use one of {', '.join(LETTER_ADJUSTMENTS)}", key="letters_adjust")
    return settings


def _significance(node: _Node, language: str) -> Significance:
    """The ``estimation:`` block's level and interval method, the edition's one significance policy."""
    default = Significance()
    if node.data is None:
        return replace(default, language=language)
    significance = Significance(float(node.get("level", (int, float), default.level)), node.get("interval", str, default.interval), language)
    if significance.interval not in INTERVAL_METHODS:
        raise node.error(f"unknown interval method '{significance.interval}'", f"use one of {', '.join(INTERVAL_METHODS)}", key="interval")
    # On alpha (1 - level, rounded): a level of 1 - 1e-13 would test at 0 and draw infinite z.
    if not 0 < significance.alpha < 1:
        raise node.error(
            f"level {significance.level:g} is not a confidence level between 0 and 1",
            f"write the confidence level as a share, e.g. {default.level:g} for {default.level_text}",
            key="level",
        )
    return significance


# --------------------------------------------------------------------------------------------
# Marks: what a person must still fill in (TODO values) or review (the `review:` list)
# --------------------------------------------------------------------------------------------


def is_todo(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(TODO)


def todo_marks(data: Any, file: Path, blocking: tuple[str, ...] = ()) -> tuple[Mark, ...]:
    """One mark per entry (question, variable, figure…) or top-level key holding TODO values.

    Grouped by entry so that a question drafted without labels is one line, not one per code;
    ``blocking`` names the top-level keys the pipeline cannot run without.
    """
    found: dict[str, list[tuple[str, str]]] = {}

    def walk(node: Any, path: str, entry: str | None) -> None:
        if is_todo(node):
            owner = entry or path.split(".")[0]
            found.setdefault(owner, []).append((path[len(owner) + 1 :], node.strip()[len(TODO) :].lstrip(": ")))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key), entry)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                own = f"{path}{_entry_suffix(value, i)}"
                walk(value, own, entry or own)

    walk(data, "", None)
    return tuple(
        Mark(file, key, "todo", _todo_text(places), blocking=key.split(".")[0] in blocking)
        for key, places in found.items()
    )


def _todo_text(places: list[tuple[str, str]]) -> str:
    """``TODO: <text>`` for one place; ``TODO at wording, codes.1: <texts>`` for several."""
    texts = " / ".join(dict.fromkeys(text for _, text in places if text))
    where = ", ".join(sub for sub, _ in places if sub)
    return f"TODO at {where}: {texts}" if where else f"TODO: {texts}"


def _review_marks(node: _Node, folder: Path) -> tuple[Mark, ...]:
    """``review:`` entries of edition.yaml: ``{file: <file of the edition> (default edition.yaml), key, note}``."""
    marks = []
    for entry in node.items("review"):
        entry.mapping(("file", "key", "note"), ("key", "note"))
        name = entry.get("file", str, EDITION_FILE)
        if Path(name).name != name or not (folder / name).is_file():
            raise entry.error(f"names file '{name}', which is not in {folder}", "name a file of the edition, e.g. targets_ps.yaml", key="file")
        marks.append(Mark(folder / name, entry.get("key", str), "review", f"to review: {entry.get('note', str)}"))
    return tuple(marks)


def marks_warning(edition: Edition) -> str:
    """The readable list ``baro validate`` and ``baro run`` print while an edition has marks ("" when none)."""
    if not edition.marks:
        return ""
    lines = [f"warning: edition {edition.id} has {len(edition.marks)} place(s) to fill in or review (docs/edition-format.md, \"Marks\"):"]
    lines += ["  " + m.message.replace("\n", "\n  ") for m in edition.marks]
    return "\n".join(lines)


def check_runnable(edition: Edition) -> None:
    """Refuse to run an edition whose TODOs the pipeline needs (e.g. weighting targets), listing them."""
    blocking = [m for m in edition.marks if m.blocking]
    if blocking:
        raise EditionError(
            f"edition {edition.id} cannot run: the pipeline needs {len(blocking)} place(s) still marked TODO:\n"
            + "\n".join("  " + m.message.split("\n")[0] for m in blocking),
            fix="fill them in (weighting targets: docs/edition-format.md, \"Targets\"); `baro validate` lists every mark",
        )
