"""One population's codebook: questions, profile variables, derived indicators and their conditions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from .checks import _check_codebook, _unique
from .marks import todo_marks
from .models import (
    DEFAULT_STATUSES,
    MULTI_ENCODINGS,
    QUESTION_TYPES,
    Codebook,
    Columns,
    Condition,
    Derived,
    Net,
    NotAnswer,
    Question,
    Row,
)
from .reading import Place, read_document
from .schema import CodebookFile, ConditionBlock, DerivedBlock, QuestionBlock, flat_value, validated


def _condition(block: ConditionBlock, at: Place) -> Condition:
    """A condition: ``{question, in[, row]}``, or one ``all`` / ``any`` list of conditions."""
    parts = [k for k in ("all", "any") if getattr(block, k) is not None]
    if parts:
        if len(parts) > 1 or block.question is not None or block.in_ is not None or block.row is not None:
            raise at.error(
                "a condition is either {question, in[, row]} or one 'all' / 'any' list",
                "nest the parts, e.g. {all: [{question: Q1, in: [1]}, {any: [...]}]}",
            )
        conds = tuple(_condition(c, at.at(parts[0], i)) for i, c in enumerate(getattr(block, parts[0])))
        if not conds:
            raise at.error(f"'{parts[0]}' is empty", "list at least one condition", key=parts[0])
        return Condition(all=conds) if parts[0] == "all" else Condition(any=conds)
    if block.question is None or block.in_ is None:
        raise at.error("a condition needs 'question' and 'in'", "write e.g. {question: Q1, in: [1, 2]}")
    if not block.in_:
        raise at.error("'in' lists no code", "list the codes that meet the condition, e.g. in: [1, 2]", key="in")
    return Condition(question=block.question, codes=block.in_, row=block.row)


def _known_codes(codes: tuple[int, ...], allowed: tuple[int, ...], what: str, at: Place) -> tuple[int, ...]:
    for code in codes:
        if code not in allowed:
            raise at.error(f"{what} names code {code}, which is not a code of this question", f"use one of {list(allowed)}")
    return codes


def _rank_by(block: QuestionBlock, at: Place, codes: Mapping[int, str], nets: list[Net]) -> str | None:
    """A grid's ``rank_by``: one of its nets or answer codes (not-answers are not ranked)."""
    value = block.rank_by
    if value is None:
        return None
    answers = [n.id for n in nets] + [str(c) for c in codes]
    if block.type != "grid":
        raise at.error("'rank_by' applies to a grid question (its rows are ranked by one answer)", "remove it or fix the type", key="rank_by")
    if isinstance(value, bool) or str(value) not in answers:
        raise at.error(f"'rank_by' is {value!r}, which is not a net or an answer code of this grid", f"use one of {', '.join(answers)}", key="rank_by")
    return str(value)


def _not_answers(block: QuestionBlock, at: Place) -> dict[int, NotAnswer]:
    """A question's ``not_answers``: code -> {label, in_base}, none of them an answer code."""
    for code in block.not_answers:
        if code in block.codes:
            raise at.error(f"code {code} is both an answer and a not-answer", "keep it in one of 'codes' or 'not_answers'", key=("not_answers", code))
    return {code: NotAnswer(na.label, na.in_base) for code, na in block.not_answers.items()}


def _nets(block: QuestionBlock, at: Place, all_codes: tuple[int, ...]) -> list[Net]:
    """A question's ``nets``, each grouping codes of the question, their ids distinct from its codes."""
    nets = [Net(n.id, n.label, _known_codes(n.codes, all_codes, f"net '{n.id}'", at.at("nets", i, "codes"))) for i, n in enumerate(block.nets)]
    _unique([x.id for x in nets] + [str(c) for c in all_codes], at.at("nets"), "net id")
    return nets


def _export_columns(block: QuestionBlock, at: Place, all_codes: tuple[int, ...]) -> tuple[str | None, list[Row], dict[int, str]]:
    """Where a question is in the export: its column, a grid's rows (one column each) or a multi's column per code."""
    column, qid = block.column, block.id
    rows: list[Row] = []
    columns: dict[int, str] = {}
    if block.type == "grid":
        rows = [Row(r.id, r.label, r.column or f"{column or qid}_{r.id}") for r in block.rows]
        if not rows:
            raise at.error("a grid needs 'rows'", "list its rows with id and label", key="rows")
        _unique([r.id for r in rows], at.at("rows"), "row id")
    elif block.type == "multi":
        for code in block.columns:
            if code not in all_codes:
                raise at.error(f"'columns' names code {code}, which is not a code of this question", f"use one of {list(all_codes)}", key="columns")
        columns = {c: block.columns.get(c, f"{column or qid}_{c}") for c in all_codes}
    elif column is None:
        column = qid
    return column, rows, columns


def _question(block: QuestionBlock, at: Place, profile: bool) -> Question:
    qtype = block.type
    if qtype not in QUESTION_TYPES:
        raise at.error(f"unknown question type '{qtype}'", f"use one of {', '.join(QUESTION_TYPES)}", key="type")
    if profile and qtype != "single":
        raise at.error("a profile variable must be of type 'single'", "set type: single", key="type")
    codes = block.codes
    if qtype in ("single", "multi", "grid") and not codes:
        raise at.error(f"a '{qtype}' question needs answer codes", "add 'codes:' with code: label lines", key="codes")
    not_answers = _not_answers(block, at)
    all_codes = tuple(codes) + tuple(not_answers)
    nets = _nets(block, at, all_codes)
    column, rows, columns = _export_columns(block, at, all_codes)
    if block.encoding not in MULTI_ENCODINGS:
        raise at.error(f"unknown encoding '{block.encoding}'", f"use one of {', '.join(MULTI_ENCODINGS)}", key="encoding")
    if block.max_answers is not None and (qtype != "multi" or block.max_answers < 1):
        raise at.error("'max_answers' applies to a multi question, as a number >= 1", "remove it or fix the type", key="max_answers")
    top = block.top
    if top is not None and (qtype != "multi" or top < 1):
        raise at.error("'top' applies to a multi question, as a number >= 1", "remove it or fix the type", key="top")
    if top is not None and top > len(codes):
        raise at.error(f"'top' is {top}, but the question has {len(codes)} answer codes to rank", f"use at most {len(codes)}", key="top")
    return Question(
        id=block.id,
        wording=block.wording,
        label=block.label or block.wording or block.id,
        type=qtype,
        column=column,
        codes=MappingProxyType(dict(codes)),
        not_answers=MappingProxyType(not_answers),
        nets=tuple(nets),
        rows=tuple(rows),
        columns=MappingProxyType(columns),
        encoding=block.encoding,
        max_answers=block.max_answers,
        top=top,
        rank_by=_rank_by(block, at, codes, nets),
        exclusive=_known_codes(block.exclusive, all_codes, "'exclusive'", at.at("exclusive")),
        other_text=block.other_text,
        asked_if=_condition(block.asked_if, at.at("asked_if")) if block.asked_if is not None else None,
        required=block.required,
        minimum=block.min,
        maximum=block.max,
        was=block.was,
        profile=profile,
    )


def _derived(block: DerivedBlock, at: Place) -> Derived:
    rules = [r for r in ("any_of", "all_of") if getattr(block, r) is not None]
    if len(rules) != 1:
        raise at.error("a derived indicator needs exactly one of 'any_of' or 'all_of'", "list its conditions under one of them")
    terms = tuple(_condition(c, at.at(rules[0], i)) for i, c in enumerate(getattr(block, rules[0])))
    if not terms:
        raise at.error(f"'{rules[0]}' is empty", "list at least one condition", key=rules[0])
    base = _condition(block.base, at.at("base")) if block.base is not None else None
    return Derived(block.id, block.label, rules[0], terms, base)


def load_codebook(file: Path, population: str) -> Codebook:
    """Read and check one population's codebook (questions, profile, derived indicators, routing)."""
    document = read_document(file)
    root = validated(document, CodebookFile)
    at = document.place()
    if root.population != population:
        raise at.error(f"codebook is for population '{root.population}', expected '{population}'", f"set population: {population}", key="population")
    statuses = dict(DEFAULT_STATUSES) if root.statuses is None else root.statuses.model_dump()
    profile = tuple(_question(q, at.at("profile", i), profile=True) for i, q in enumerate(root.profile))
    questions = tuple(_question(q, at.at("questions", i), profile=False) for i, q in enumerate(root.questions))
    derived = tuple(_derived(d, at.at("derived", i)) for i, d in enumerate(root.derived))
    book = Codebook(population, flat_value(root.columns, Columns), profile, questions, derived, MappingProxyType(statuses), todo_marks(document.data, file))
    _check_codebook(book, at)
    return book
