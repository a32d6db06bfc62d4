"""Pydantic models of the edition's files (keys, nesting, types), and their errors as located EditionErrors.

Each file is validated by one model before anything is read from it: mappings, lists, required
and unknown keys, and the type of every value, in the reader's words ("expected a whole number,
found str '30'"). The flat blocks (thresholds, quality, estimation, trimming, a figure's problems,
a codebook's columns) take the fields, types and defaults of their frozen dataclass in
``models.py``. What a value means (codes that exist, references across entries and files) is
checked afterwards by the loaders. A pydantic error's ``loc`` is a key path of the document, whose
nodes give its line: ``<file>, line <n>: key '<dotted.key>': <what>`` + ``fix:``.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import typing
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PlainValidator, Tag, ValidationError, create_model, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from ..errors import EditionError
from .models import _ID, DEFAULT_STATUSES, EDITION_FILE, Columns, EstimationSettings, Problem, QualityPolicy, Thresholds, Trimming
from .reading import Document

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------------------------
# Values, in the reader's words
# --------------------------------------------------------------------------------------------


def _expected(kinds: tuple[type, ...], expected: str, convert: typing.Callable[[Any], Any] = lambda v: v) -> PlainValidator:
    """A value of one of ``kinds`` (a boolean only where ``bool`` is named), else "expected <expected>"."""

    def check(value: Any) -> Any:
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise _wrong_type(expected)
        return convert(value)

    return PlainValidator(check)


def _wrong_type(expected: str) -> PydanticCustomError:
    return PydanticCustomError("wrong_type", "expected {expected}", {"expected": expected})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(what: str, fix: str, *at: str | int) -> PydanticCustomError:
    """A check of a model as a pydantic error: its text, its fix, and the key under the model it is about."""
    return PydanticCustomError("edition", what, {"fix": fix, "at": at})


def _ident(value: Any) -> str:
    if not (isinstance(value, str) or _whole(value)):
        raise _wrong_type("text or a whole number")
    if not _ID.match(str(value)):
        raise _invalid(f"'{value}' is not a valid id", "use letters, digits and '_' (starting with a letter)")
    return str(value)


def _code_list(value: Any) -> tuple[int, ...]:
    """Codes listed (one code alone is a list of one)."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not _whole(v):
            raise _invalid(f"code {v!r} is not a whole number", "list integer codes")
    return tuple(values)


def _codes(value: Any) -> dict[int, str]:
    """Answer codes: ``code: label``."""
    if not isinstance(value, dict):
        raise _invalid("expected a mapping of code: label", "write e.g. '1: Oui'")
    for code, label in value.items():
        if not _whole(code):
            raise _invalid(f"code {code!r} is not a whole number", "answer codes are integers", code)
        if not isinstance(label, str) or not label.strip():
            raise _invalid(f"code {code} has no label", "give every code a label", code)
    return value


def _not_answer_code(value: Any) -> int:
    if not _whole(value):
        raise _invalid(f"code {value!r} is not a whole number", "not-answer codes are integers, e.g. 9: {label: Ne sait pas, in_base: true}")
    return value


def _named(names: tuple[str, ...], what: str, fix: str) -> PlainValidator:
    """Text that is one of ``names`` (``what`` names the value in the error: "unknown base 'x'")."""

    def check(value: Any) -> str:
        if value not in names:
            raise _invalid(f"unknown {what} {value!r}" if not isinstance(value, str) else f"unknown {what} '{value}'", fix)
        return typing.cast(str, value)

    return PlainValidator(check)


Text = Annotated[str, _expected((str,), "text")]
Whole = Annotated[int, _expected((int,), "a whole number")]
Number = Annotated[float, _expected((int, float), "a number", float)]  # a whole number is accepted where a number is
AnyNumber = Annotated[float, _expected((int, float), "a whole number or a number")]  # kept as written
Flag = Annotated[bool, _expected((bool,), "true or false")]
Key = Annotated[str, _expected((str, int), "text or a whole number", str)]  # an edition or population id, a name
Date = Annotated[str, _expected((str, datetime.date), "a date", str)]
Ident = Annotated[str, PlainValidator(_ident)]
CodeList = Annotated[tuple[int, ...], PlainValidator(_code_list)]
Codes = Annotated[dict[int, str], PlainValidator(_codes)]
NotAnswerCode = Annotated[int, PlainValidator(_not_answer_code)]
HINTS: dict[Any, Any] = {int: Whole, float: Number, str: Text, bool: Flag, float | None: Number | None}


def _either(name: Any, model: type[BaseModel]) -> Any:
    """A name (text) or a mapping validated by ``model``; the tags ``[name]`` / ``[mapping]`` are left out of key paths."""
    return Annotated[
        Annotated[str, name, Tag("[name]")] | Annotated[model, Tag("[mapping]")],
        Discriminator(lambda v: "[mapping]" if isinstance(v, (dict, BaseModel)) else "[name]"),
    ]


# --------------------------------------------------------------------------------------------
# Mappings
# --------------------------------------------------------------------------------------------


class Block(BaseModel):
    """A mapping of the edition: known keys only (the closest one suggested), a null value as an absent key."""

    model_config = ConfigDict(extra="forbid")  # the before-validator names the key first, with the closest known one

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        allowed = _keys(cls)
        for key in data:
            if str(key) not in allowed:
                raise PydanticCustomError("unknown_key", "unknown key '{key}'", {"key": str(key), "allowed": allowed})
        return {str(k): v for k, v in data.items() if v is not None}


@functools.cache
def _keys(cls: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias or name for name, f in cls.model_fields.items())


def block_model(cls: type, extra: tuple[tuple[str, Any], ...] = ()) -> type[Block]:
    """The model of a flat dataclass: its fields, types and defaults (none: a required key), and ``extra`` optional keys."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {f.name: (HINTS[hints[f.name]], ... if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(cls)}
    fields.update({name: (kind | None, None) for name, kind in extra})
    return create_model(f"{cls.__name__}Block", __base__=Block, **fields)


def flat_value(block: BaseModel | None, cls: type[Any]) -> Any:
    """The frozen ``cls`` of a flat block (its defaults when the block is absent)."""
    return cls() if block is None else cls(**{f.name: getattr(block, f.name) for f in dataclasses.fields(cls)})


ThresholdsBlock = block_model(Thresholds)
QualityBlock = block_model(QualityPolicy)
EstimationBlock = block_model(EstimationSettings, (("level", AnyNumber), ("interval", Text)))
TrimmingBlock = block_model(Trimming)
ProblemBlock = block_model(Problem)
ColumnsBlock = block_model(Columns)
_STATUS_FIELDS: dict[str, Any] = {k: (Text, v) for k, v in DEFAULT_STATUSES.items()}
StatusesBlock = create_model("StatusesBlock", __base__=Block, **_STATUS_FIELDS)


class ConditionBlock(Block):
    question: Ident | None = None
    in_: CodeList | None = Field(None, alias="in")
    row: Text | None = None
    all: list[ConditionBlock] | None = None
    any: list[ConditionBlock] | None = None


class NotAnswerBlock(Block):
    label: Text
    in_base: Flag = False


class NetBlock(Block):
    id: Ident
    label: Text
    codes: CodeList


class RowBlock(Block):
    id: Ident
    label: Text
    column: Text | None = None


class QuestionBlock(Block):
    id: Ident
    type: Text
    wording: Text = ""
    label: Text = ""
    column: Text | None = None
    codes: Codes = {}
    not_answers: dict[NotAnswerCode, NotAnswerBlock] = {}
    nets: list[NetBlock] = []
    rows: list[RowBlock] = []
    columns: dict[Any, Key] = {}
    encoding: Text = "binary"
    max_answers: Whole | None = None
    top: Whole | None = None
    rank_by: Any = None
    exclusive: CodeList = ()
    other_text: Text | None = None
    asked_if: ConditionBlock | None = None
    required: Flag = True
    min: AnyNumber | None = None
    max: AnyNumber | None = None
    was: Text | None = None


class DerivedBlock(Block):
    id: Ident
    label: Text
    any_of: list[ConditionBlock] | None = None
    all_of: list[ConditionBlock] | None = None
    base: ConditionBlock | None = None


class CodebookFile(Block):
    population: Key
    columns: ColumnsBlock | None = None  # type: ignore[valid-type]
    statuses: StatusesBlock | None = None  # type: ignore[valid-type]
    profile: list[QuestionBlock] = []
    questions: list[QuestionBlock]
    derived: list[DerivedBlock] = []


class TargetBlock(Block):
    variable: Ident
    source: Text
    year: Whole
    shares: dict[Any, Any]


class TargetsFile(Block):
    population: Key
    assumptions: Text = ""
    variables: list[TargetBlock]


class ArticleBlock(Block):
    outlet: Text
    title: Text = ""
    url: Text = ""
    verified: Flag


class IndicatorBlock(Block):
    question: Ident | None = None
    code: Whole | None = None
    net: Text | None = None
    row: Text | None = None
    derived: Ident | None = None


class FigureBlock(Block):
    id: Ident
    population: Text
    indicator: IndicatorBlock
    base: _either(_named(("asked", "all"), "base", "use 'asked', 'all' or a condition {question: .., in: [..]}"), ConditionBlock) = "asked"  # type: ignore[valid-type]
    value: AnyNumber
    operator: Annotated[str, _named(("=", ">="), "operator", "use '=' or '>='")] = "="
    page: Whole | None = None
    wording: Text
    source: _either(_named(("synthesis",), "source", "write 'synthesis', or the press article as {outlet: .., title: .., verified: false}"), ArticleBlock)  # type: ignore[valid-type]
    problems: list[ProblemBlock] = []  # type: ignore[valid-type]
    product_of: list[Key] = []


class FiguresFile(Block):
    figures: list[FigureBlock] = []


class PopulationBlock(Block):
    label: Text
    codebook: Text
    targets: Text
    breakdowns: list[Key] = []
    sample_size: Whole = 1000


class FieldworkBlock(Block):
    start: Date
    end: Date


class WeightingBlock(Block):
    method: Text = "raking"
    bounds: list[Any] | None = None
    trimming: TrimmingBlock | None = None  # type: ignore[valid-type]


class ReviewBlock(Block):
    file: Text = EDITION_FILE
    key: Text
    note: Text


class EditionFile(Block):
    id: Key
    title: Text
    fieldwork: FieldworkBlock | None = None
    exports: Text | None = None
    previous: Key | None = None
    dropped: list[Key] = []
    language: Text = "fr"
    populations: dict[Key, PopulationBlock]
    thresholds: ThresholdsBlock | None = None  # type: ignore[valid-type]
    quality: QualityBlock | None = None  # type: ignore[valid-type]
    weighting: WeightingBlock | None = None
    estimation: EstimationBlock | None = None  # type: ignore[valid-type]
    mirrors: list[Any] = []
    figures: Text | None = None
    review: list[ReviewBlock] = []


# --------------------------------------------------------------------------------------------
# Pydantic's errors, located
# --------------------------------------------------------------------------------------------


def validated(document: Document, model: type[M], data: Any = None) -> M:
    """The document's values (or ``data``, the same values with a TODO block left out) as ``model``; the first error (by line) as an EditionError."""
    try:
        return model.model_validate(document.data if data is None else data)
    except ValidationError as exc:
        raise _first_error(document, exc.errors()) from None


def _first_error(document: Document, errors: list[ErrorDetails]) -> EditionError:
    """The error written first in the file; at one place, an unknown key before a missing one, as a reader would fix them."""
    located = [(_loc(e), e) for e in errors]
    rank = {"unknown_key": 0, "missing": 1}
    loc, error = min(located, key=lambda le: (document.line(le[0]), rank.get(le[1]["type"], 2)))
    what, fix = _what_and_fix(error, loc)
    return document.error(loc, what, fix)


def _loc(error: ErrorDetails) -> tuple[str | int, ...]:
    """The key path of an error: pydantic's tags (``[key]``, ``[mapping]``) left out, a check's own key added."""
    ctx = error.get("ctx") or {}
    own = tuple(step for step in error["loc"] if not (isinstance(step, str) and step.startswith("[")))
    return own + tuple(ctx.get("at", ())) + ((ctx["key"],) if error["type"] == "unknown_key" else ())


MAPPING_TYPES = ("model_type", "dict_type", "model_attributes_type")


def _what_and_fix(error: ErrorDetails, loc: tuple[str | int, ...]) -> tuple[str, str]:
    """Today's words for pydantic's error: unknown key (and the closest known one), missing key, expected type, or a check's own text."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "unknown_key":
        close = difflib.get_close_matches(ctx["key"], ctx["allowed"], n=1)
        return error["msg"], f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(ctx['allowed'])}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'", f"add '{loc[-1]}:' here"
    if kind == "edition":
        return error["msg"], ctx["fix"]
    if kind in MAPPING_TYPES:
        return f"expected a mapping, found {type(value).__name__}", "write 'key: value' lines here"
    if kind not in ("wrong_type", "list_type"):
        return error["msg"], "correct the value"
    expected, fix = (ctx["expected"], f"write {ctx['expected']} here") if kind == "wrong_type" else ("a list", "write one '- ' entry per item")
    if isinstance(value, bool):
        return f"expected {expected}, found a boolean", "write the value itself"
    return f"expected {expected}, found {type(value).__name__} {value!r}", fix
