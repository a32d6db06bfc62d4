"""The edition's frozen values (questions, codebooks, targets, figures, settings, marks) that the stages read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from ..significance import Significance

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
