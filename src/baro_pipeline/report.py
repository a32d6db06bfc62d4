"""``report.html``: the synthesis' pages rebuilt from the computed estimates, in one file.

The report is one self-contained HTML file (inline CSS, charts as inline SVG, no script, nothing
fetched): it opens offline and can be mailed. Charts are Vega-Lite specifications rendered to
SVG by ``vl-convert-python`` (Vega's own renderer, no browser needed). Its sections:

- **the synthesis' pages**: each published figure as a card (computed value, margin of error,
  n, base, the printed value and the audit's verdict), grouped by the page that printed it; and,
  on the page where the questionnaire's order puts them, the "Top 3 / Top 5" rankings of the
  multiple-choice questions (from ``rank`` in ``estimates.parquet``);
- **mirror comparisons** between populations: figures with the same published meaning, paired by
  their wording (see :func:`mirror_pairs`), with the difference and its significance;
- **trends** against the previous edition, when there is one (``trends.parquet``);
- **the audit**: verdicts per population, and each figure that does not match with its reason.

Labels are the codebook's French labels and the published wordings; under every chart, its base
and n, with small bases flagged and suppressed values withheld (edition thresholds). No
respondent-level value enters the report: only estimates and the audit table. See docs/report.md.
"""

from __future__ import annotations

import json
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import vl_convert
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from . import __version__
from .audit import MIN_SHARED_WORDING_WORDS, shared_final_words
from .edition import Article, Codebook, Condition, Edition, Population, PublishedFigure, Question
from .estimation import TOTAL
from .report_texts import LANGUAGES, NARROW_SPACE, ReportTexts, french_number, points_text
from .stats.significance import independent_difference

DEFAULT_TOP = 5  # a ranking without an answer cap shows its first 5 ("Top 5"); capped: the cap ("Top 3")
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0")  # one per population, in the edition's order
VERDICT_COLOURS = {
    "match": "#548235", "within_moe": "#a9d18e", "not_computed": "#bfbfbf",
    "inconsistent_publication": "#ffc000", "mismatch": "#c00000",
}
LABEL_WIDTH = 40  # characters per line of a chart's axis label
LABEL_LINES = 3
CHART_WIDTH = 360
FONT = "Helvetica, Arial, sans-serif"
# The y encoding of the bar charts: one band per label, in the data's order, lines split at '|'.
LABEL_AXIS = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelExpr": "split(datum.label, '|')", "labelLimit": 280, "ticks": False, "domain": False}}
RENDER_THREADS = 4


# --------------------------------------------------------------------------------------------
# Frozen values the template shows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Chart:
    """One chart: its title, its Vega-Lite specification, and the lines under it (base, n, flags)."""

    title: str
    spec: Mapping[str, Any]
    notes: tuple[str, ...]


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


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


# --------------------------------------------------------------------------------------------
# French texts
# --------------------------------------------------------------------------------------------


def texts_of(edition: Edition) -> ReportTexts:
    return LANGUAGES[edition.language]


def population_labels(edition: Edition) -> dict[str, str]:
    return {pid: short_label(p) for pid, p in edition.populations.items()}


def percent_text(value: float) -> str:
    return "–" if pd.isna(value) else f"{french_number(value)}{NARROW_SPACE}%"


def short_label(population: Population) -> str:
    """"Professionnels de santé (médecins…)" -> "Professionnels de santé"."""
    return population.label.split(" (")[0]


def wrapped(text: str) -> str:
    """An axis label cut into lines ('|' separates them for Vega's labelExpr)."""
    lines = textwrap.wrap(text, LABEL_WIDTH) or [""]
    if len(lines) > LABEL_LINES:
        lines = lines[: LABEL_LINES - 1] + [textwrap.shorten(" ".join(lines[LABEL_LINES - 1 :]), LABEL_WIDTH, placeholder=" …")]
    return "|".join(lines)


def condition_text(condition: Condition, book: Codebook) -> str:
    """A routing condition in words: "Usage d'outils d'IA : Oui, souvent / Oui, rarement"."""
    if condition.all or condition.any:
        joiner = " et " if condition.all else " ou "
        return joiner.join(condition_text(part, book) for part in condition.all + condition.any)
    q = book.question(str(condition.question))
    row = next((f" – {r.label}" for r in q.rows if r.id == condition.row), "")
    # A net that groups exactly these codes says it in fewer words ("Utilise des outils d'IA").
    net = next((n.label for n in q.nets if set(n.codes) == set(condition.codes)), None)
    answers = net or " / ".join(q.code_label(c) for c in condition.codes)
    return f"{q.label or q.id}{row} : {answers}"


def question_base_text(q: Question, population: Population) -> str:
    who = short_label(population)
    return f"{who}, ensemble" if q.asked_if is None else f"{who} interrogés ({condition_text(q.asked_if, population.codebook)})"


def figure_base_text(figure: PublishedFigure, population: Population) -> str:
    """The base of a published figure in words (its item's own base, everyone, or a subgroup)."""
    book = population.codebook
    derived = {d.id: d for d in book.derived}
    if figure.base == "asked" and figure.indicator.question not in derived:
        return question_base_text(book.question(figure.indicator.question), population)
    own = derived[figure.indicator.question].base if figure.indicator.question in derived else None
    condition = figure.base if isinstance(figure.base, Condition) else None if figure.base == "all" else own
    return f"{short_label(population)}, ensemble" if condition is None else f"{short_label(population)} ({condition_text(condition, book)})"


def n_text(n: Iterable[float]) -> str:
    values = sorted({int(v) for v in n if pd.notna(v)})
    if not values:
        return "n = –"
    span = french_number(values[0]) if len(values) == 1 else f"{french_number(values[0])} à {french_number(values[-1])}"
    return f"n = {span}"


# --------------------------------------------------------------------------------------------
# Charts: Vega-Lite specifications rendered to SVG
# --------------------------------------------------------------------------------------------


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (NaN -> null, numpy scalars -> Python)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def label_step(labels: Iterable[str], rows_per_label: int = 1) -> int:
    """Pixels per label band: enough for its lines, and for grouped bars."""
    lines = max((label.count("|") + 1 for label in labels), default=1)
    return max(15 * lines + 6, 18 * rows_per_label + 6)


def chart_config() -> dict[str, Any]:
    return {
        "font": FONT,
        "view": {"stroke": None},
        "axis": {"labelFontSize": 12, "titleFontSize": 12, "grid": False, "labelColor": "#333", "titleColor": "#333"},
        "legend": {"labelFontSize": 12, "orient": "bottom", "title": None},
        "background": "white",
    }


def svgs(charts: Sequence[Chart]) -> dict[Chart, Markup]:
    """Each chart's SVG element. Rendered side by side: each conversion mostly waits on
    vl-convert's JavaScript runtime, so threads divide the time by about their number."""
    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        return dict(zip(charts, pool.map(lambda c: Markup(vl_convert.vegalite_to_svg(dict(c.spec))), charts)))


def interval_bars(rows: pd.DataFrame, colours: Mapping[str, str]) -> dict[str, Any]:
    """Horizontal bars of ``value`` (points) with their interval (``low``–``high``) and ``text``.

    Rows: ``label`` (lines joined by '|'), ``group`` (the colour; bars of several groups side by
    side in one label band), ``small`` (a small base: a paler bar).
    """
    groups = list(dict.fromkeys(rows["group"]))
    colour = {"field": "group", "type": "nominal", "scale": {"domain": groups, "range": [colours[g] for g in groups]}, "legend": None if len(groups) == 1 else {}}
    encoding: dict[str, Any] = {
        "y": LABEL_AXIS,
    }
    if len(groups) > 1:
        encoding["yOffset"] = {"field": "group", "type": "nominal", "sort": groups}
    x = {"type": "quantitative", "scale": {"domain": [0, 100]}}
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": label_step(rows["label"], len(groups))},
        "encoding": encoding,
        "layer": [
            {"mark": {"type": "bar", "height": {"band": 0.8}}, "encoding": {"x": {**x, "field": "value", "title": "%", "axis": {"values": [0, 25, 50, 75, 100]}}, "color": colour, "opacity": {"condition": {"test": "datum.small", "value": 0.4}, "value": 1}}},
            {"mark": {"type": "rule", "color": "#222", "strokeWidth": 1}, "encoding": {"x": {**x, "field": "low"}, "x2": {"field": "high"}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12, "color": "#111"}, "encoding": {"x": {**x, "field": "high"}, "text": {"field": "text"}}},
        ],
        "config": chart_config(),
    }


def dumbbells(rows: pd.DataFrame, colour: str) -> dict[str, Any]:
    """One line per row from ``previous`` to ``current`` (points), the current point coloured
    when the change is ``significant``, and the change as ``text``."""
    x = {"type": "quantitative", "scale": {"domain": [0, 100]}, "title": "%"}
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": label_step(rows["label"])},
        "encoding": {"y": LABEL_AXIS},
        "layer": [
            {"mark": {"type": "rule", "color": "#999"}, "encoding": {"x": {**x, "field": "previous"}, "x2": {"field": "current"}}},
            {"mark": {"type": "point", "filled": False, "color": "#777", "size": 50}, "encoding": {"x": {**x, "field": "previous"}}},
            {"mark": {"type": "point", "filled": True, "size": 70}, "encoding": {"x": {**x, "field": "current"}, "color": {"condition": {"test": "datum.significant", "value": colour}, "value": "#bbb"}}},
            {"mark": {"type": "text", "align": "left", "dx": 8, "fontSize": 12}, "encoding": {"x": {**x, "field": "right"}, "text": {"field": "text"}}},
        ],
        "config": chart_config(),
    }


def stacked_counts(rows: pd.DataFrame, labels: Mapping[str, str], axis: str) -> dict[str, Any]:
    """One stacked bar per ``label``: ``count`` (``axis``) per ``category``, coloured by VERDICT_COLOURS, named by ``labels``."""
    present = [v for v in VERDICT_COLOURS if v in set(rows["category"])]
    return {
        "data": {"values": records(rows)},
        "width": CHART_WIDTH,
        "height": {"step": 28},
        "encoding": {"y": {"field": "label", "type": "nominal", "sort": None, "title": None}},
        "layer": [
            {"mark": {"type": "bar"}, "encoding": {
                "x": {"field": "count", "type": "quantitative", "stack": True, "title": axis},
                "color": {"field": "category", "type": "nominal", "scale": {"domain": present, "range": [VERDICT_COLOURS[v] for v in present]},
                          "legend": {"labelExpr": json.dumps(dict(labels), ensure_ascii=False) + "[datum.label]"}},
                "order": {"field": "order", "type": "quantitative"},
            }},
        ],
        "config": chart_config(),
    }


# --------------------------------------------------------------------------------------------
# The synthesis' pages: figure cards and rankings
# --------------------------------------------------------------------------------------------


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
    items = " ; ".join(
        f"{row.item_label} : rang {row.rank} [{row.rank_low}–{row.rank_high}], "
        f"{french_number(100 * row.p_top)} % de chances d'être dans le Top {row.top_n}"
        for row in blurred.itertuples()
    )
    return [f"Rangs que les données ne séparent pas (ex aequo possibles ; entre crochets l'intervalle de rang à {level} %) : {items}."]


def ranking_chart(q: Question, population: Population, edition: Edition, totals: pd.DataFrame) -> Chart:
    """A "Top N" bar chart of a multiple-choice question's answers, in rank order."""
    ranked = totals[(totals["question"] == q.id) & totals["rank"].notna()]
    size = top_size(q, population.id, edition.figures)
    shown = ranked[ranked["rank"] <= size].sort_values("rank", kind="stable")
    label = q.label or q.wording
    # "Top 3 des apports…" says it already; otherwise the size of the ranking is added.
    ranking = "" if label.startswith(f"Top {size} ") else f" — Top {size}" if size < len(ranked) else " — classement"
    rows = interval_rows(shown, population.id)
    notes = [
        f"Base : {question_base_text(q, population)} · {n_text(shown['n'])}",
        f"{q.wording}",
        "Barre : estimation pondérée ; trait : intervalle de confiance à "
        f"{edition.significance.level_text} ; rang parmi {len(ranked)} réponses (plusieurs réponses possibles).",
        *small_base_notes(shown.loc[shown["small_base"], "item_label"], edition),
        *rank_uncertainty_notes(shown, edition),
    ]
    return Chart(f"{label} ({short_label(population)}){ranking}", interval_bars(rows, colours_of(edition)), tuple(notes))


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


def pages(edition: Edition, estimates: pd.DataFrame, audit: pd.DataFrame) -> tuple[Page, ...]:
    """One page per page of the synthesis: its figures' cards, then the rankings placed on it."""
    totals = estimates[estimates["breakdown"] == TOTAL]
    audited = {row["figure_id"]: row for row in audit.to_dict(orient="records")}
    figures_on: dict[int | None, list[PublishedFigure]] = {}
    for f in edition.figures:
        figures_on.setdefault(figure_page(f, edition), []).append(f)
    charts_on: dict[int | None, list[tuple[str, Question]]] = {}
    for pid, q in ranked_questions(edition, totals):
        charts_on.setdefault(question_pages(edition, pid)[q.id], []).append((pid, q))
    numbers = sorted(set(figures_on) | set(charts_on), key=lambda p: (p is None, p or 0))
    texts = texts_of(edition)
    return tuple(
        Page(
            anchor=f"page-{number}" if number is not None else "resultats",
            title=texts.page["page_title"].format(number=number) if number is not None else texts.page["results"],
            subtitle=page_subtitle(figures_on.get(number, []), charts_on.get(number, []), edition),
            cards=tuple(figure_card(f, audited.get(f.id, {}), edition) for f in figures_on.get(number, [])),
            charts=tuple(ranking_chart(q, edition.populations[pid], edition, totals[totals["population"] == pid]) for pid, q in charts_on.get(number, [])),
        )
        for number in numbers
    )


# --------------------------------------------------------------------------------------------
# Mirror comparisons between populations
# --------------------------------------------------------------------------------------------


def meaning(wording: str) -> str:
    """A wording without its trailing parenthesis, a detail ("Des dérives éthiques ou commerciales
    (exploitation des données, biais, discriminations)"): the meaning is said before it."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", wording) or wording


def shared_ending(a: str, b: str) -> str:
    """The words two wordings end with, as written in ``a`` ("Avoir confiance dans l'usage de L'IA en santé")."""
    a_meaning = meaning(a)
    count = shared_final_words(a_meaning, meaning(b))
    starts = [m.start() for m in re.finditer(r"\w+", a_meaning)]
    ending = a_meaning[starts[-count]:] if count else a_meaning
    return ending[:1].upper() + ending[1:]


def likeness(a: PublishedFigure, b: PublishedFigure) -> int:
    """How alike two figures' meanings are: the final words their wordings share, if printed on the same page."""
    return shared_final_words(meaning(a.wording), meaning(b.wording)) if a.page == b.page else 0


def mirror_pairs(edition: Edition) -> tuple[tuple[PublishedFigure, PublishedFigure], ...]:
    """Figures of two populations with the same published meaning, printed side by side: on the
    same page, each one's best match by the final words their wordings share ("des Français
    déclarent avoir confiance…" and "des professionnels de santé déclarent avoir confiance…"),
    when the match is mutual and shares at least MIN_SHARED_WORDING_WORDS words (the audit's rule
    for a figure's twin)."""
    pairs = []
    for a_pop, b_pop in combinations(edition.populations, 2):
        a_figs = [f for f in edition.figures if f.population == a_pop]
        b_figs = [f for f in edition.figures if f.population == b_pop]
        for a in a_figs:
            b = max(b_figs, key=lambda f: likeness(a, f), default=None)
            if b is not None and likeness(a, b) >= MIN_SHARED_WORDING_WORDS and max(a_figs, key=lambda f: likeness(f, b)) is a:
                pairs.append((a, b))
    return tuple(pairs)


def mirror_section(edition: Edition, audit: pd.DataFrame) -> tuple[Chart | None, Table | None]:
    """One chart of every mirror pair (bars side by side) and the table of their differences."""
    pairs = mirror_pairs(edition)
    rows = audit.set_index("figure_id")
    computed = set(rows.index[rows["computed"].notna()])
    pairs = tuple((a, b) for a, b in pairs if {a.id, b.id} <= computed)
    if not pairs:
        return None, None
    ids = [f.id for pair in pairs for f in pair]
    found = rows.loc[ids]
    chart_rows = pd.DataFrame(
        {
            "label": [wrapped(shared_ending(a.wording, b.wording)) for a, b in pairs for _ in (a, b)],
            "group": [short_label(edition.populations[f.population]) for pair in pairs for f in pair],
            "value": found["computed"].to_numpy(),
            "low": found["ci_low_pts"].to_numpy(),
            "high": found["ci_high_pts"].to_numpy(),
            "text": [percent_text(v) for v in found["computed_pct"]],
            "small": (found["n"].fillna(0).to_numpy(dtype=float) < edition.thresholds.flag_base),
        }
    )
    colours = {short_label(edition.populations[p]): c for p, c in colours_of(edition).items()}
    a_rows, b_rows = rows.loc[[a.id for a, _ in pairs]], rows.loc[[b.id for _, b in pairs]]
    diff = independent_difference(a_rows["computed"], a_rows["se_pts"], b_rows["computed"], b_rows["se_pts"])
    z, significant = edition.significance.z, edition.significance.significant(diff.p)
    texts = texts_of(edition)
    table = Table(
        texts.columns["mirror"],
        tuple(
            (
                shared_ending(a.wording, b.wording),
                short_label(edition.populations[a.population]),
                f"{percent_text(ra['computed_pct'])} ± {points_text(ra['moe_pts'])} ({n_text([ra['n']])})",
                short_label(edition.populations[b.population]),
                f"{percent_text(rb['computed_pct'])} ± {points_text(rb['moe_pts'])} ({n_text([rb['n']])})",
                f"{points_text(d, signed=True)} (± {points_text(z * s)})" if pd.notna(d) else "–",
                texts.page["yes"] if sig else texts.page["no"],
            )
            for (a, b), (_, ra), (_, rb), d, s, sig in zip(pairs, a_rows.iterrows(), b_rows.iterrows(), diff.diff, diff.se, significant)
        ),
        note=texts.page["mirror_note"].format(z=french_number(z, 2), level=edition.significance.percent),
    )
    notes = (
        texts.page["mirror_pairs"].format(words=MIN_SHARED_WORDING_WORDS),
        texts.page["mirror_bases"].format(n=n_text(found["n"])),
        *small_base_notes((i for i, small in zip(ids, chart_rows["small"]) if small), edition),
    )
    return Chart(texts.page["mirror_chart"], interval_bars(chart_rows, colours), notes), table


# --------------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------------


def question_label(book: Codebook, qid: str) -> str | None:
    """A question's label (its id when it has none); None for what is not a question (a derived indicator)."""
    return next((q.label or q.id for q in book.questions if q.id == qid), None)


def trend_label(row: Mapping[str, Any], edition: Edition) -> str:
    """"<question label> : <answer>"; a derived indicator's label alone."""
    question = question_label(edition.populations[row["population"]].codebook, row["question"])
    return wrapped(f"{question} : {row['item_label']}" if question else str(row["item_label"]))


def p_text(p: float) -> str:
    return "< 0,001" if p < 0.001 else f"{p:.3f}".replace(".", ",")


def trend_charts(edition: Edition, trends: pd.DataFrame) -> tuple[Chart, ...]:
    """Per population, the published figures' items (all significant changes if none is published):
    previous → current estimate, the change, significant ones coloured."""
    totals = trends[(trends["breakdown"] == TOTAL) & (trends["kind"] != "mean")]
    published = {(f.population, f.indicator.question, f.indicator.item) for f in edition.figures}
    texts = texts_of(edition)
    charts = []
    for pid, colour in colours_of(edition).items():
        mine = totals[totals["population"] == pid]
        keys = list(zip(mine["population"], mine["question"], mine["item"]))
        chosen = mine[[k in published for k in keys]] if published else mine[mine["significant"]]
        if not len(chosen):
            continue
        chosen = chosen.drop_duplicates(["question", "item"])
        rows = pd.DataFrame(
            {
                "label": [trend_label(r, edition) for r in chosen.to_dict(orient="records")],
                "previous": chosen["estimate_previous"].to_numpy() * 100,
                "current": chosen["estimate"].to_numpy() * 100,
                "right": np.fmax(chosen["estimate_previous"], chosen["estimate"]).to_numpy() * 100,
                "significant": chosen["significant"].to_numpy(dtype=bool),
                "text": [points_text(c, signed=True) + ("*" if s else "") if pd.notna(c) else "–" for c, s in zip(chosen["change_pts"], chosen["significant"])],
            }
        )
        population = edition.populations[pid]
        previous = str(chosen["previous_edition"].iloc[0])
        charts.append(
            Chart(
                texts.page["trend_chart"].format(previous=previous, id=edition.id, population=short_label(population)),
                dumbbells(rows, colour),
                (
                    texts.page["trend_points"].format(previous=previous, id=edition.id, level=edition.significance.percent),
                    texts.page["trend_bases"].format(n=n_text(chosen["n"]), id=edition.id, n_previous=n_text(chosen["n_previous"]), previous=previous),
                    *small_base_notes(chosen.loc[chosen["n"] < edition.thresholds.flag_base, "item_label"], edition),
                ),
            )
        )
    return tuple(charts)


def trends_table_rows(edition: Edition, trends: pd.DataFrame) -> Table:
    """Every significant change of the whole populations, largest first."""
    found = trends[(trends["breakdown"] == TOTAL) & trends["significant"]]
    z = edition.significance.z
    found = found.reindex(found["change_pts"].abs().sort_values(ascending=False).index)
    texts = texts_of(edition)
    return Table(
        texts.columns["trends"],
        tuple(
            (
                short_label(edition.populations[r["population"]]),
                question_label(edition.populations[r["population"]].codebook, r["question"]) or "",  # a derived indicator: its label alone
                str(r["item_label"]),
                percent_text(r["pct_previous"]),
                percent_text(r["pct"]),
                f"{points_text(r['change_pts'], signed=True)} (± {points_text(z * r['se_change_pts'])})",
                p_text(r["p_value"]),
            )
            for r in found.to_dict(orient="records")
        ),
        note=texts.page["trend_note"].format(z=french_number(z, 2), level=edition.significance.percent),
    )


# --------------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------------


def audit_chart(edition: Edition, audit: pd.DataFrame) -> Chart:
    order = {v: i for i, v in enumerate(VERDICT_COLOURS)}
    counts = audit.groupby(["population", "verdict"]).size().reset_index(name="count")
    rows = pd.DataFrame(
        {
            "label": [short_label(edition.populations[p]) for p in counts["population"]],
            "category": counts["verdict"],
            "count": counts["count"],
            "order": counts["verdict"].map(order),
        }
    )
    texts = texts_of(edition)
    total = ", ".join(f"{n} {texts.verdicts.get(v, v)}" for v, n in audit["verdict"].value_counts().items())
    notes = (texts.page["audit_counts"].format(n=len(audit), counts=total), texts.audit_note)
    return Chart(texts.page["audit"], stacked_counts(rows, texts.verdicts, texts.page["audit_axis"]), notes)


def audit_table(edition: Edition, audit: pd.DataFrame) -> Table:
    """The figures that do not match, what needs a look first."""
    rows = audit[audit["verdict"] != "match"]
    texts, pops = texts_of(edition), population_labels(edition)
    return Table(
        texts.columns["audit"],
        tuple(
            (
                r["figure_id"],
                short_label(edition.populations[r["population"]]),
                ("≥" if r["operator"] == ">=" else "") + percent_text(r["published"]),
                "–" if pd.isna(r["computed"]) else f"{french_number(r['computed'], 1)}{NARROW_SPACE}%",
                "–" if pd.isna(r["difference_pts"]) else points_text(r["difference_pts"], signed=True),
                texts.verdicts.get(r["verdict"], r["verdict"]),
                texts.reason(r["reason_parts"], pops, edition.significance),
            )
            for r in rows.to_dict(orient="records")
        ),
    )


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def weighting_rows(edition: Edition, weighting: pd.DataFrame) -> Table:
    return Table(
        texts_of(edition).columns["weighting"],
        tuple(
            (
                edition.populations[r["population"]].label,
                french_number(r["n"]),
                french_number(r["kish_deff"], 2),
                f"{french_number(100 * r['efficiency'])}{NARROW_SPACE}%",
                f"{french_number(r['min_weight'], 2)} – {french_number(r['max_weight'], 2)}",
            )
            for r in weighting.to_dict(orient="records")
        ),
    )


def template_environment() -> Environment:
    return Environment(loader=PackageLoader("baro_pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def report_html(
    edition: Edition,
    estimates: pd.DataFrame,
    audit: pd.DataFrame,
    weighting: pd.DataFrame,
    trends: pd.DataFrame | None = None,
) -> bytes:
    """``report.html`` of a run (UTF-8 bytes): the same tables give the same bytes."""
    mirror_chart, mirror_table = mirror_section(edition, audit)
    has_trends = trends is not None and len(trends) > 0
    report_pages = pages(edition, estimates, audit)
    trend_figures = trend_charts(edition, trends) if has_trends else ()
    audit_figure = audit_chart(edition, audit) if len(audit) else None
    charts = [c for page in report_pages for c in page.charts] + [c for c in (mirror_chart, *trend_figures, audit_figure) if c is not None]
    html = template_environment().get_template("report.html.j2").render(
        t=texts_of(edition).page,
        edition=edition,
        version=__version__,
        populations=[(p.label, colour) for p, colour in zip(edition.populations.values(), colours_of(edition).values())],
        level=edition.significance.percent,
        thresholds=edition.thresholds,
        interval=edition.significance.interval,
        pages=report_pages,
        mirror_chart=mirror_chart,
        mirror_table=mirror_table,
        trend_charts=trend_figures,
        trend_table=trends_table_rows(edition, trends) if has_trends else None,
        previous=edition.previous,
        audit_chart=audit_figure,
        audit_table=audit_table(edition, audit),
        weighting=weighting_rows(edition, weighting),
        svg_of=svgs(charts),
    )
    return html.encode("utf-8")
