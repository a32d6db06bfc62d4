"""The answer model against the published figures: the value each figure takes from the model's
shares must lie inside its printed interval, and every share's sources must be figures it feeds.
"""

from __future__ import annotations

import difflib


from ..audit import printed_interval
from ..edition import Codebook, Condition, Edition, PublishedFigure, Question, _Node
from .model import SYNTHETIC, PopulationModel, QuestionModel, Share, SynthModel, alone_codes

# An implied value must sit this many points inside its printed interval, so that the generation's
# error (far below 0.01 point) cannot move it across a rounding boundary.
FIGURE_MARGIN = 0.05


def check_figures(model: SynthModel, edition: Edition, node: _Node) -> None:
    """Each published figure (but a self-contradiction) at its printed value; each source a figure it feeds."""
    cited: set[str] = set()
    for pid, pm in model.populations.items():
        book = edition.populations[pid].codebook
        for qm in pm.questions.values():
            for key, s in model_shares(qm):
                for source in s.sources:
                    check_source(source, qm.id, pid, f"{pid}.questions.{qm.id}.{key}", edition, book, node)
                cited.update(s.sources)
    for figure in edition.figures:
        if any(p.kind == "self_contradiction" for p in figure.problems):
            continue
        where = f"{figure.population} (figure {figure.id})"
        if figure.id not in cited:
            raise node.error(f"no share cites published figure '{figure.id}'", f"add {figure.id} to the sources of the shares it comes from: [share, {figure.id}]", key=where)
        value = 100 * implied_value(figure, edition, model.populations[figure.population], node)
        low, high = printed_interval(figure.value, figure.operator, edition.estimation.rounding)
        if not low + FIGURE_MARGIN <= value <= high - FIGURE_MARGIN:
            printed = ("≥" if figure.operator == ">=" else "") + f"{figure.value:g}"
            raise node.error(
                f"the shares give {value:.2f} % for figure '{figure.id}', printed {printed} %",
                f"correct the shares so that the figure lies within [{low + FIGURE_MARGIN:g}, {high - FIGURE_MARGIN:g}] %",
                key=where,
            )


def check_source(source: str, qid: str, pid: str, where: str, edition: Edition, book: Codebook, node: _Node) -> None:
    """A source is "synthetic" or a figure of the population whose value depends on the question."""
    if source == SYNTHETIC:
        return
    figure = next((f for f in edition.figures if f.id == source and f.population == pid), None)
    if figure is None:
        close = difflib.get_close_matches(source, [f.id for f in edition.figures if f.population == pid], n=1)
        raise node.error(f"source '{source}' is not a published figure of population {pid}", f"did you mean '{close[0]}'?" if close else f"name a figure id or '{SYNTHETIC}'", key=where)
    if qid not in figure_questions(figure, book):
        raise node.error(f"the share of {qid} cites figure '{source}', which does not depend on {qid}", f"cite a figure on {qid}, or '{SYNTHETIC}'", key=where)


def model_shares(qm: QuestionModel) -> list[tuple[str, Share]]:
    """Every share of a question model, with its key path."""
    return (
        [(f"codes.{c}", s) for c, s in qm.codes.items()]
        + [(f"rows.{r}.{c}", s) for r, codes in qm.rows.items() for c, s in codes.items()]
        + [(f"unions.{u.id}", u.share) for u in qm.unions.values()]
    )


def figure_questions(figure: PublishedFigure, book: Codebook) -> set[str]:
    """Questions whose shares a figure's value depends on: its item's, and those of its routing and base."""
    derived = {d.id: d for d in book.derived}
    d = derived.get(figure.indicator.question)
    own = {qid for t in d.terms for qid in t.questions()} if d else {figure.indicator.question}
    conditions = [c for c in (figure.base, d.base if d else None) if isinstance(c, Condition)]
    questions = set(own)
    for qid in list(own) + [x for c in conditions for x in c.questions()]:
        questions |= routing_questions(qid, book)
    return questions


def routing_questions(qid: str, book: Codebook) -> set[str]:
    q = book.question(qid)
    if q.asked_if is None:
        return {qid}
    return {qid}.union(*(routing_questions(x, book) for x in q.asked_if.questions()))


def implied_value(figure: PublishedFigure, edition: Edition, pm: PopulationModel, node: _Node) -> float:
    """The figure's value that the shares imply, as estimation computes it.

    An item is 1/0 on its own base (a question's: those asked with an answer in the base; a
    derived indicator's: its ``base``), NaN elsewhere; base ``all`` counts everyone outside as 0,
    a condition keeps those who meet it. The shares tell the value when each of these bases is
    everyone or the item's question's routing.
    """
    book = edition.populations[figure.population].codebook
    derived = {d.id: d for d in book.derived}
    ind = figure.indicator
    where = f"{figure.population}.questions"
    if ind.question in derived:
        d = derived[ind.question]
        q = book.question(d.terms[0].questions()[0])
        union = pm.questions[q.id].unions.get(d.id)
        if union is None:
            raise node.error(f"figure '{figure.id}' publishes derived '{d.id}', which no union of {q.id} models", f"add unions: {{{d.id}: [share, {figure.id}]}} under {q.id}", key=f"{where}.{q.id}")
        item, in_base, bases = union.share.value, 1.0, [d.base]
    else:
        q = book.question(ind.question)
        codes = (ind.code,) if ind.code is not None else next(n.codes for n in q.nets if n.id == ind.net)
        item, in_base, bases = answer_share(q, pm.questions[q.id], codes, ind.row, node, where), in_base_share(q, pm.questions[q.id], ind.row), [q.asked_if]
    if figure.base == "all":
        return reach(q.asked_if, book, pm, node, where) * item
    bases += [figure.base] if isinstance(figure.base, Condition) else []
    if any(b is not None and b != q.asked_if for b in bases):
        raise node.error(
            f"figure '{figure.id}' has a base other than everyone or the routing of {q.id}: the shares cannot tell its value",
            f"route {q.id} with the figure's base as asked_if, or publish it on base 'asked' or 'all'",
            key=f"{where}.{q.id}",
        )
    routed = any(b is not None for b in bases)  # the base is the question's routing, else everyone
    return (item if routed else reach(q.asked_if, book, pm, node, where) * item) / in_base


def answer_share(q: Question, qm: QuestionModel, codes: tuple[int, ...], row: str | None, node: _Node, where: str) -> float:
    """Share of the respondents asked who gave one of ``codes`` (one row of a grid)."""
    if q.profile:
        raise node.error(f"a figure depends on profile variable {q.id} (routing or base): the shares cannot tell its weighted share", "route on a question, not on a profile variable", key=where)
    if row is not None:  # a grid (the edition gives a row to grid items and conditions only)
        return sum(qm.rows[row][c].value for c in codes)
    if q.type == "single" or len(codes) == 1:
        return sum(qm.codes[c].value for c in codes)
    union = next((u for u in qm.unions.values() if set(u.items) == set(codes)), None)
    if union is not None:
        return union.share.value
    alone = alone_codes(q)
    if set(q.all_codes()) - set(alone) <= set(codes):  # every other respondent ticks one of them
        return 1 - sum(qm.codes[c].value for c in alone if c not in codes)
    raise node.error(
        f"{q.id}: the share ticking at least one of {list(codes)} is not fixed by the code shares",
        f"declare it under {q.id}: unions: {{<net id>: [share, source]}}",
        key=f"{where}.{q.id}",
    )


def in_base_share(q: Question, qm: QuestionModel, row: str | None) -> float:
    """Share of the respondents asked who are in the item's base (not-answers out of the base excluded)."""
    out = [c for c, na in q.not_answers.items() if not na.in_base]
    shares = qm.rows[row] if row is not None else qm.codes  # a grid's row, or the question's codes
    return 1 - sum(shares[c].value for c in out)


def reach(condition: Condition | None, book: Codebook, pm: PopulationModel, node: _Node, where: str) -> float:
    """Share of the whole population meeting a routing condition (a chain of simple conditions)."""
    if condition is None:
        return 1.0
    if condition.question is None:  # all / any
        raise node.error(
            f"routing {condition.describe()} combines conditions: the synthesis cannot tell its share",
            "publish figures of such questions on base 'asked'",
            key=where,
        )
    q = book.question(condition.question)
    share = answer_share(q, pm.questions[q.id], condition.codes, condition.row, node, where)
    return reach(q.asked_if, book, pm, node, where) * share
