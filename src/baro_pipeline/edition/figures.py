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
from .reading import Place, read_document
from .schema import ArticleBlock, FigureBlock, FiguresFile, IndicatorBlock, flat_value, validated


def _figure(block: FigureBlock, at: Place, populations: Mapping[str, Population]) -> PublishedFigure:
    if block.population not in populations:
        raise at.error(f"unknown population '{block.population}'", f"use one of {list(populations)}", key="population")
    book = populations[block.population].codebook
    indicator = _indicator(block.indicator, at.at("indicator"), book)
    base: str | Condition
    if isinstance(block.base, str):
        base = block.base
    else:
        base = _condition(block.base, at.at("base"))
        _check_condition(base, {q.id: q for q in book.profile + book.questions}, at, ("base",))
    if not 0 <= block.value <= 100:
        raise at.error(f"value {block.value} is not a percentage", "write the printed percentage, e.g. 77", key="value")
    problems: tuple[Problem, ...] = tuple(flat_value(p, Problem) for p in block.problems)
    for i, problem in enumerate(problems):
        if problem.kind not in PROBLEM_KINDS:
            raise at.error(f"unknown problem kind '{problem.kind}'", f"use one of {', '.join(PROBLEM_KINDS)}", key=("problems", i, "kind"))
    article = _article(block.source, at.at("source")) if isinstance(block.source, ArticleBlock) else None
    return PublishedFigure(
        id=block.id,
        population=block.population,
        indicator=indicator,
        base=base,
        value=float(block.value),
        operator=block.operator,
        page=block.page,
        wording=block.wording,
        source=article.describe() if article else "synthesis",
        problems=problems,
        product_of=tuple(block.product_of),
        article=article,
    )


def _article(source: ArticleBlock, at: Place) -> Article:
    """A press figure's source: the article {outlet, title, url, verified}, its address only once verified."""
    if source.url and not source.verified:
        raise at.error(
            "an address that is not verified",
            "open the article, and set verified: true if the address is the article's; else remove url (outlet and title say where it was read)",
            key="url",
        )
    if source.verified and not source.url.startswith(("https://", "http://")):
        raise at.error(f"verified: true without the article's address (url {source.url!r})", "give url: https://… the article's address", key="url")
    return Article(source.outlet, source.title, source.url, source.verified)


def _indicator(block: IndicatorBlock, at: Place, book: Codebook) -> Indicator:
    if block.derived is not None:
        extra = [k for k in ("question", "code", "net", "row") if getattr(block, k) is not None]
        if extra:
            raise at.error(f"a derived indicator takes no '{extra[0]}'", "write {derived: <id>} alone", key=extra[0])
        if block.derived not in {d.id for d in book.derived}:
            raise at.error(f"unknown derived indicator '{block.derived}'", "name one listed under 'derived:' in the codebook", key="derived")
        return Indicator(question=block.derived)
    qid, row, code, net = block.question, block.row, block.code, block.net
    if qid is None:
        raise at.error("an indicator needs 'question' (with 'code' or 'net') or 'derived'", "write e.g. {question: Q1, net: oui}")
    try:
        q = book.question(qid)
    except KeyError:
        close = difflib.get_close_matches(qid, list(book.ids()), n=1)
        raise at.error(f"unknown question '{qid}'", f"did you mean '{close[0]}'?" if close else "name a question of the codebook", key="question") from None
    if q.type == "grid" and row not in {r.id for r in q.rows}:
        raise at.error(f"grid {qid} needs a valid 'row'", f"use one of {[r.id for r in q.rows]}", key="row")
    if q.type != "grid" and row is not None:
        raise at.error(f"{qid} is a {q.type} question: it has no rows", "remove 'row', or name a grid question", key="row")
    if q.type in ("numeric", "text"):
        raise at.error(f"{qid} is a {q.type} question: a figure publishes a share of a code or net", "name a single, multi or grid question", key="question")
    if (code is None) == (net is None):
        raise at.error("an indicator names exactly one of 'code' or 'net'", "keep one of them")
    if code is not None and code not in q.all_codes():
        raise at.error(f"code {code} is not a code of {qid}", f"use one of {list(q.all_codes())}", key="code")
    if net is not None and net not in {n.id for n in q.nets}:
        raise at.error(f"net '{net}' is not a net of {qid}", f"use one of {[n.id for n in q.nets]}", key="net")
    return Indicator(question=qid, code=code, net=net, row=row)


def load_figures(file: Path, populations: Mapping[str, Population]) -> tuple[tuple[PublishedFigure, ...], tuple[Mark, ...]]:
    """The published figures, and the file's TODO marks (``figures: "TODO: …"`` means none yet)."""
    document = read_document(file)
    if document.data is None:
        return (), ()
    todo = isinstance(document.data, dict) and is_todo(document.data.get("figures"))
    root = validated(document, FiguresFile, {**document.data, "figures": []} if todo else None)
    marks = todo_marks(document.data, file)
    at = document.place("figures")
    figures = tuple(_figure(f, at.at(i), populations) for i, f in enumerate(root.figures))
    _unique([f.id for f in figures], at, "figure id")
    _check_products(figures, at)
    return figures, marks


def _check_products(figures: tuple[PublishedFigure, ...], at: Place) -> None:
    """``product_of``: two figures or more of this file and population, other than the figure itself."""
    by_id = {f.id: f for f in figures}
    for f in figures:
        key = (f.id, "product_of")
        for ref in f.product_of:
            if ref not in by_id:
                close = difflib.get_close_matches(ref, list(by_id), n=1)
                raise at.error(f"figure '{f.id}' is the product of unknown figure '{ref}'", f"did you mean '{close[0]}'?" if close else "name figure ids of this file", key=key)
            if ref == f.id or by_id[ref].population != f.population:
                raise at.error(f"figure '{f.id}' is the product of '{ref}', which is itself or of another population", "name figures of the same population, other than this one", key=key)
        if len(f.product_of) == 1:
            raise at.error(f"figure '{f.id}' is the product of a single figure", "name at least two figures (a share and a share of it)", key=key)
