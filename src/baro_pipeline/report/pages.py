"""The synthesis' pages of the report: a card per published figure and the rankings, on the page that printed them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..edition import Article, Codebook, Edition, Population, PublishedFigure, Question
from ..estimation import TOTAL
from ..report_texts import ReportTexts, french_number, points_text
from .charts import COLOURS, Chart, interval_bars, start_charts, wrapped
from .labels import figure_base_text, n_text, percent_text, population_labels, question_base_text, short_label, texts_of

DEFAULT_TOP = 5  # a ranking without an answer cap shows its first 5 ("Top 5"); capped: the cap ("Top 3")


@dataclass(frozen=True)
class Card:
    """One published figure: computed value with its margin of error, next to the printed one."""

    value: str
    moe: str
    question: str  # the question's label when the wording is only an answer's ("Non, jamais"), else ""
    wording: str
    population: str
    colour: str
    details: str  # n, base
    printed: str
    verdict: str
    verdict_label: str
    flag: str  # small base, not computed


@dataclass(frozen=True)
class Page:
    anchor: str  # the section's id, for the table of contents
    title: str
    subtitle: str
    cards: tuple[Card, ...]
    charts: tuple[Chart, ...]


def colours_of(edition: Edition) -> dict[str, str]:
    return {pid: COLOURS[i % len(COLOURS)] for i, pid in enumerate(edition.populations)}


def figure_question(figure: PublishedFigure, book: Codebook) -> tuple[str, ...]:
    """The questions a figure is about: its item's, or the terms' of its derived indicator."""
    derived = {d.id: d for d in book.derived}
    d = derived.get(figure.indicator.question)
    return tuple(dict.fromkeys(q for t in d.terms for q in t.questions())) if d else (figure.indicator.question,)


def printed_pages(edition: Edition, pid: str) -> dict[str, int]:
    """Question id -> the first page that prints a figure on it."""
    book = edition.populations[pid].codebook
    pages: dict[str, int] = {}
    for f in edition.figures:
        if f.population == pid and f.page is not None:
            for qid in figure_question(f, book):
                pages[qid] = min(pages.get(qid, f.page), f.page)
    return pages


def question_pages(edition: Edition, pid: str) -> dict[str, int | None]:
    """Every question's page. A question without a printed figure goes where the questionnaire's
    order puts it (the synthesis follows it): the page after the last printed question before it,
    but not past the next printed one; None when the edition prints no page."""
    printed = printed_pages(edition, pid)
    ids = [q.id for q in edition.populations[pid].codebook.questions]
    placed: dict[str, int | None] = {}
    for i, qid in enumerate(ids):
        before = next((printed[x] for x in reversed(ids[:i]) if x in printed), None)
        after = next((printed[x] for x in ids[i + 1 :] if x in printed), None)
        if qid in printed:
            placed[qid] = printed[qid]
        elif before is None or after is None:
            placed[qid] = after if before is None else before
        else:
            placed[qid] = min(before + 1, after)
    return placed


def figure_page(figure: PublishedFigure, edition: Edition) -> int | None:
    """A printed figure's page; a press figure goes on its question's page."""
    if figure.page is not None:
        return figure.page
    pages = question_pages(edition, figure.population)
    return next((pages.get(q) for q in figure_question(figure, edition.populations[figure.population].codebook)), None)


def article_text(article: Article, texts: ReportTexts) -> str:
    """A press figure's source: "presse : cegedim-sante.com, « Baromètre IA Santé 2025 » (adresse non vérifiée)"."""
    title = f", « {article.title} »" if article.title else ""
    return f"{texts.press} : {article.outlet}{title} ({article.url if article.verified else texts.unverified})"


def named_question(figure: PublishedFigure, book: Codebook) -> str:
    """The question's label when the figure's wording is only one of its answers ("Non, jamais"):
    the card must then say what was asked; "" when the wording says it already."""
    if figure.indicator.question not in book.ids() or figure.indicator.question in {d.id for d in book.derived}:
        return ""
    q = book.question(figure.indicator.question)
    answers = {q.code_label(c) for c in q.all_codes()} | {n.label for n in q.nets} | {r.label for r in q.rows}
    return (q.label or q.wording) if figure.wording in answers else ""


def figure_card(figure: PublishedFigure, row: Mapping[str, Any], edition: Edition) -> Card:
    population = edition.populations[figure.population]
    computed = row.get("computed", np.nan)
    missing = pd.isna(computed)
    small = not missing and pd.notna(row.get("n")) and int(row["n"]) < edition.thresholds.flag_base
    texts = texts_of(edition)
    source = "" if figure.article is None else f" · {article_text(figure.article, texts)}"
    verdict = str(row.get("verdict", "not_computed"))
    return Card(
        value=percent_text(row.get("computed_pct", np.nan)),
        moe="" if missing else f"± {points_text(row['moe_pts'])}",
        question=named_question(figure, population.codebook),
        wording=figure.wording,
        population=short_label(population),
        colour=colours_of(edition)[figure.population],
        details=f"{n_text([row.get('n', np.nan)])} · base : {figure_base_text(figure, population)}{source}",
        printed=("≥" if figure.operator == ">=" else "") + percent_text(figure.value),
        verdict=verdict,
        verdict_label=texts.verdicts.get(verdict, verdict),
        flag=texts.reason(row.get("reason_parts", ""), population_labels(edition), edition.significance) if missing else (f"⚠ base faible (n < {edition.thresholds.flag_base})" if small else ""),
    )


def top_size(q: Question, population: str, figures: Sequence[PublishedFigure]) -> int:
    """How many ranks a ranking shows: as many as the publication printed, at least the answer
    cap ("3 réponses maximum": Top 3), else DEFAULT_TOP."""
    printed = {f.indicator.code for f in figures if (f.population, f.indicator.question) == (population, q.id) and f.indicator.code is not None}
    return max(len(printed), q.max_answers or DEFAULT_TOP)


def small_base_notes(labels: Iterable[str], edition: Edition) -> list[str]:
    """The note under a chart naming what rests on a small base (none when nothing does)."""
    names = list(dict.fromkeys(labels))
    return [f"⚠ Base faible (n < {edition.thresholds.flag_base}), en pâle, à lire avec prudence : {', '.join(names)}"] if names else []


def interval_rows(estimates: pd.DataFrame, group: str) -> pd.DataFrame:
    """Chart rows of estimates: value and interval in points, the printed % as text."""
    return pd.DataFrame(
        {
            "label": [wrapped(str(x)) for x in estimates["item_label"]],
            "group": group,
            "value": estimates["estimate"].to_numpy() * 100,
            "low": estimates["ci_low"].to_numpy() * 100,
            "high": estimates["ci_high"].to_numpy() * 100,
            "text": [percent_text(p) + ("*" if s else "") for p, s in zip(estimates["pct"], estimates["small_base"])],
            "small": estimates["small_base"].to_numpy(dtype=bool),
        }
    )


def rank_uncertainty_notes(shown: pd.DataFrame, edition: Edition) -> list[str]:
    """The note under a ranking naming the ranks the data cannot separate: each with its rank
    interval and its probability of being in the top (``rank_low``, ``rank_high``, ``p_top``)."""
    level = edition.significance.percent
    blurred = shown[shown["rank_low"] < shown["rank_high"]]
    if blurred.empty:
        return [f"Ordre établi : chaque rang affiché est distinct des autres (intervalles de rang à {level} %)."]
    columns = (blurred[c] for c in ("item_label", "rank", "rank_low", "rank_high", "p_top", "top_n"))
    items = " ; ".join(
        f"{label} : rang {rank} [{low}–{high}], {french_number(100 * p_top)} % de chances d'être dans le Top {top_n}"
        for label, rank, low, high, p_top, top_n in zip(*columns)
    )
    return [f"Rangs que les données ne séparent pas (ex aequo possibles ; entre crochets l'intervalle de rang à {level} %) : {items}."]


def shown_ranks(q: Question, population: Population, edition: Edition, ranked: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The size of a question's ranking and the rows it shows, in rank order."""
    size = top_size(q, population.id, edition.figures)
    return size, ranked[ranked["rank"] <= size].sort_values("rank", kind="stable")


def ranking_chart(q: Question, population: Population, edition: Edition, ranked: pd.DataFrame) -> Chart:
    """A "Top N" bar chart of a multiple-choice question's answers, in rank order, from the
    question's ranked rows on the whole population; without its notes (:func:`ranking_notes`):
    what the renderer draws needs the estimates, their intervals and ranks, not how sure the ranks are."""
    size, shown = shown_ranks(q, population, edition, ranked)
    label = q.label or q.wording
    # "Top 3 des apports…" says it already; otherwise the size of the ranking is added.
    ranking = "" if label.startswith(f"Top {size} ") else f" — Top {size}" if size < len(ranked) else " — classement"
    return Chart(f"{label} ({short_label(population)}){ranking}", interval_bars(interval_rows(shown, population.id), colours_of(edition)), ())


def ranking_notes(q: Question, population: Population, edition: Edition, ranked: pd.DataFrame) -> tuple[str, ...]:
    """The lines under a ranking: base and n, what bars and lines show, small bases, and the ranks the data cannot separate."""
    _, shown = shown_ranks(q, population, edition, ranked)
    return (
        f"Base : {question_base_text(q, population)} · {n_text(shown['n'])}",
        f"{q.wording}",
        "Barre : estimation pondérée ; trait : intervalle de confiance à "
        f"{edition.significance.level_text} ; rang parmi {len(ranked)} réponses (plusieurs réponses possibles).",
        *small_base_notes(shown.loc[shown["small_base"], "item_label"], edition),
        *rank_uncertainty_notes(shown, edition),
    )


def ranked_questions(edition: Edition, totals: pd.DataFrame) -> list[tuple[str, Question]]:
    """(population, question) of every multi question with ranked answers on the whole population,
    in the edition's order (a question whose base is suppressed has no rank: no chart; a grid's
    ranked rows are in the tables, not charted: its rows are not answers to choose among)."""
    ranked = set(map(tuple, totals.loc[totals["rank"].notna(), ["population", "question"]].drop_duplicates().to_numpy()))
    return [(pid, q) for pid, p in edition.populations.items() for q in p.codebook.questions if q.type == "multi" and (pid, q.id) in ranked]


def page_subtitle(cards: Sequence[PublishedFigure], charts: Sequence[tuple[str, Question]], edition: Edition) -> str:
    labels = [
        (edition.populations[f.population].codebook.question(q).label or q)
        for f in cards
        for q in figure_question(f, edition.populations[f.population].codebook)
        if q in {x.id for x in edition.populations[f.population].codebook.questions}
    ]
    labels += [q.label or q.id for _, q in charts]
    return " · ".join(dict.fromkeys(labels))


# What a ranking chart reads of the estimates (:func:`ranking_chart`), and its notes besides (:func:`ranking_notes`).
CHART_COLUMNS = ("population", "question", "item_label", "n", "estimate", "ci_low", "ci_high", "pct", "small_base", "rank")
NOTES_COLUMNS = CHART_COLUMNS + ("rank_low", "rank_high", "p_top", "top_n")


def ranked_rows(estimates: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame]]:
    """The rows on the whole population, and the ranked ones by population and question: ``columns`` only, split once
    (each filter of the whole table takes its ~40 columns, and filtering it per chart cost more than the charts' own rows)."""
    totals = estimates.loc[estimates["breakdown"] == TOTAL, list(columns)]
    return totals, dict(tuple(totals[totals["rank"].notna()].groupby(["population", "question"], sort=False)))


def ranking_charts(edition: Edition, estimates: pd.DataFrame) -> dict[tuple[str, str], Chart]:
    """The chart of every ranked multiple-choice question, by population and question id, in the
    edition's order, without notes: ``estimates`` need no rank uncertainties yet."""
    return rankings_of(edition, *ranked_rows(estimates, CHART_COLUMNS))


def rankings_of(edition: Edition, totals: pd.DataFrame, ranked: Mapping[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str], Chart]:
    """:func:`ranking_charts` of rows split by :func:`ranked_rows`."""
    return {(pid, q.id): ranking_chart(q, edition.populations[pid], edition, ranked[pid, q.id]) for pid, q in ranked_questions(edition, totals)}


def start_ranking_charts(edition: Edition, estimates: pd.DataFrame) -> dict[tuple[str, str], Chart]:
    """The rankings' charts of these estimates (a population's, as soon as its ranks exist, before
    their uncertainties), which the renderer draws while the next stages run: the report finds
    them drawn, and built when given them (it adds their notes)."""
    charts = ranking_charts(edition, estimates)
    start_charts(charts.values())
    return charts


def noted_rankings(edition: Edition, ranked: Mapping[tuple[str, str], pd.DataFrame], rankings: Mapping[tuple[str, str], Chart]) -> dict[tuple[str, str], Chart]:
    """``rankings`` (:func:`ranking_charts`) each with its notes, from the complete estimates' ranked rows (:func:`ranked_rows`)."""
    return {
        (pid, qid): replace(chart, notes=ranking_notes(edition.populations[pid].codebook.question(qid), edition.populations[pid], edition, ranked[pid, qid]))
        for (pid, qid), chart in rankings.items()
    }


def pages(edition: Edition, estimates: pd.DataFrame, audit: pd.DataFrame, rankings: Mapping[tuple[str, str], Chart] | None = None) -> tuple[Page, ...]:
    """One page per page of the synthesis: its figures' cards, then the rankings placed on it
    (``rankings``: :func:`ranking_charts` of these estimates, built here when not given; their notes added here)."""
    audited = {row["figure_id"]: row for row in audit.to_dict(orient="records")}
    figures_on: dict[int | None, list[PublishedFigure]] = {}
    for f in edition.figures:
        figures_on.setdefault(figure_page(f, edition), []).append(f)
    totals, ranked = ranked_rows(estimates, NOTES_COLUMNS)  # split once, for the charts (when not given) and their notes
    charts_on: dict[int | None, list[tuple[str, Question]]] = {}
    for pid, q in ranked_questions(edition, totals):
        charts_on.setdefault(question_pages(edition, pid)[q.id], []).append((pid, q))
    rankings = noted_rankings(edition, ranked, rankings_of(edition, totals, ranked) if rankings is None else rankings)
    numbers = sorted(set(figures_on) | set(charts_on), key=lambda p: (p is None, p or 0))
    texts = texts_of(edition)
    return tuple(
        Page(
            anchor=f"page-{number}" if number is not None else "resultats",
            title=texts.page["page_title"].format(number=number) if number is not None else texts.page["results"],
            subtitle=page_subtitle(figures_on.get(number, []), charts_on.get(number, []), edition),
            cards=tuple(figure_card(f, audited.get(f.id, {}), edition) for f in figures_on.get(number, [])),
            charts=tuple(rankings[pid, q.id] for pid, q in charts_on.get(number, [])),
        )
        for number in numbers
    )
