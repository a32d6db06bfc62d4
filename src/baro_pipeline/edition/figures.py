"""The published figures (``published.yaml``): indicator, base, source article, products of figures."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from .checks import _check_condition, _unique
from .codebook import _condition
from .marks import is_todo, todo_marks
from .models import (
    PROBLEM_KINDS,
    Article,
    Codebook,
    Condition,
    Indicator,
    Mark,
    Population,
    Problem,
    PublishedFigure,
)
from .reading import _Node, read_yaml
from .schema import flat_block


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
        problem = flat_block(p, Problem)
        if problem.kind not in PROBLEM_KINDS:
            raise p.error(f"unknown problem kind '{problem.kind}'", f"use one of {', '.join(PROBLEM_KINDS)}", key="kind")
        problems.append(problem)
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
