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
from .reading import _Node, read_yaml


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


def _not_answers(node: _Node, codes: Mapping[int, str]) -> dict[int, NotAnswer]:
    """A question's ``not_answers``: code -> {label, in_base}, none of them an answer code."""
    not_answers: dict[int, NotAnswer] = {}
    for code, spec in (node.get("not_answers", dict, {}) or {}).items():
        if isinstance(code, bool) or not isinstance(code, int):
            raise node.error(f"code {code!r} is not a whole number", "not-answer codes are integers, e.g. 9: {label: Ne sait pas, in_base: true}", key=f"not_answers.{code}")
        sub = _Node(spec, node.file, f"{node.path}.not_answers.{code}").mapping(("label", "in_base"), ("label",))
        if code in codes:
            raise sub.error(f"code {code} is both an answer and a not-answer", "keep it in one of 'codes' or 'not_answers'")
        not_answers[int(code)] = NotAnswer(sub.get("label", str), bool(sub.get("in_base", bool, False)))
    return not_answers


def _nets(node: _Node, all_codes: tuple[int, ...]) -> list[Net]:
    """A question's ``nets``, each grouping codes of the question, their ids distinct from its codes."""
    nets = []
    for n in node.items("nets"):
        n.mapping(("id", "label", "codes"), ("id", "label", "codes"))
        nets.append(Net(n.ident("id"), n.get("label", str), _code_list(n, "codes", all_codes, f"net '{n.data.get('id')}'")))
    _unique([x.id for x in nets] + [str(c) for c in all_codes], node, "nets", "net id")
    return nets


def _export_columns(node: _Node, qid: str, qtype: str, all_codes: tuple[int, ...]) -> tuple[str | None, list[Row], dict[int, str]]:
    """Where a question is in the export: its column, a grid's rows (one column each) or a multi's column per code."""
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
    return column, rows, columns


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
    not_answers = _not_answers(node, codes)
    all_codes = tuple(codes) + tuple(not_answers)
    nets = _nets(node, all_codes)
    column, rows, columns = _export_columns(node, qid, qtype, all_codes)
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
