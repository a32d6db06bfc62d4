"""Checks across entries of a file or across files: ids unique, routing and condition references, mirrors."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType

from .models import Codebook, Condition, Derived, Mirror, Population, Question
from .reading import Place

KeyPath = tuple[str | int, ...]


def _unique(values: list[str], at: Place, what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise at.error(f"duplicate {what} '{v}'", f"give each {what} a distinct value")
        seen.add(v)

def _check_codebook(book: Codebook, root: Place) -> None:
    seen: dict[str, str] = {}
    sections: tuple[tuple[str, tuple[Question | Derived, ...]], ...] = (("profile", book.profile), ("questions", book.questions), ("derived", book.derived))
    for section, entries in sections:
        for i, entry in enumerate(entries):
            place = f"{section}[{i}]"
            if entry.id in seen:
                raise root.error(
                    f"duplicate id '{entry.id}' (at {seen[entry.id]} and {place})",
                    "rename one of them: give every question, profile variable and derived indicator its own id",
                    key=(section, i),  # the second one written
                )
            seen[entry.id] = place
    by_id = {q.id: q for q in book.profile + book.questions}
    columns: dict[str, str] = {}
    for q in book.profile + book.questions:
        for col in q.export_columns():
            if col in columns:
                raise root.error(f"export column '{col}' is mapped twice ({columns[col]} and {q.id})", "map each export column to one question", key=("questions", q.id))
            columns[col] = q.id
    earlier = {q.id for q in book.profile}
    for q in book.questions:
        if q.asked_if is not None:
            key: KeyPath = ("questions", q.id, "asked_if")
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
            _check_condition(term, by_id, root, ("derived", d.id, d.rule, i))
        if d.base is not None:
            _check_condition(d.base, by_id, root, ("derived", d.id, "base"))


def _check_condition(cond: Condition, by_id: Mapping[str, Question], root: Place, key: KeyPath) -> None:
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


def _mirrors(entries: list, at: Place, populations: Mapping[str, Population]) -> tuple[Mirror, ...]:
    """Mirror questions: ``- {ps: Q11, gp: Q7}``, two known populations, each a question of its codebook, of one type."""
    mirrors = []
    for i, data in enumerate(entries):
        m = at.at(i)
        if not isinstance(data, dict) or len(data) != 2:
            raise m.error("a mirror names two populations and their questions", "write e.g. - {ps: Q11, gp: Q7}")
        types = set()
        for pop, qid in data.items():
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
        mirrors.append(Mirror(MappingProxyType({str(p): str(q) for p, q in data.items()})))
    return tuple(mirrors)
