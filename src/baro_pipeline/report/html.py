"""``report.html``: mirror comparisons, trends, the audit and the weighting around the synthesis' pages, rendered by the template."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any
from collections.abc import Mapping

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, Template, select_autoescape

from .. import __version__
from ..audit import MIN_SHARED_WORDING_WORDS, shared_final_words
from ..edition import Codebook, Edition, PublishedFigure
from ..estimation import TOTAL
from ..report_texts import NARROW_SPACE, french_number, points_text
from ..stats.significance import independent_difference
from .charts import Chart, VERDICT_COLOURS, dumbbells, interval_bars, stacked_counts, start_charts, svgs, wrapped
from .labels import n_text, percent_text, population_labels, short_label, texts_of
from .pages import colours_of, pages, small_base_notes


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


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


@dataclass(frozen=True)
class Sections:
    """The report's sections after the synthesis' pages: the mirror comparisons (chart and table,
    None without mirror pairs), the trends' charts (none without trends), the audit's chart (None
    without published figures)."""

    mirror_chart: Chart | None
    mirror_table: Table | None
    trend_charts: tuple[Chart, ...]
    audit_chart: Chart | None

    def charts(self) -> list[Chart]:
        """The charts the sections have, in the report's order."""
        return [c for c in (self.mirror_chart, *self.trend_charts, self.audit_chart) if c is not None]


def report_sections(edition: Edition, audit: pd.DataFrame, trends: pd.DataFrame | None) -> Sections:
    return Sections(
        *mirror_section(edition, audit),
        trend_charts(edition, trends) if trends is not None and len(trends) else (),
        audit_chart(edition, audit) if len(audit) else None,
    )


def start_section_charts(edition: Edition, audit: pd.DataFrame, trends: pd.DataFrame | None = None) -> Sections:
    """The mirror, trend and audit sections of :func:`report_html`, their charts handed to the
    renderer now: drawn while the tables are built, the report finds them drawn."""
    sections = report_sections(edition, audit, trends)
    start_charts(sections.charts())
    return sections


@cache
def report_template() -> Template:
    """The report's template, compiled once per process (compiling it cost more than rendering it)."""
    environment = Environment(loader=PackageLoader("baro_pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("report.html.j2")


def report_html(
    edition: Edition,
    estimates: pd.DataFrame,
    audit: pd.DataFrame,
    weighting: pd.DataFrame,
    trends: pd.DataFrame | None = None,
    rankings: Mapping[tuple[str, str], Chart] | None = None,
    sections: Sections | None = None,
) -> bytes:
    """``report.html`` of a run (UTF-8 bytes): the same tables give the same bytes. ``rankings``
    and ``sections``: what :func:`start_ranking_charts` and :func:`start_section_charts` returned
    for these tables (built again when not given)."""
    report_pages = pages(edition, estimates, audit, rankings)
    sections = sections or report_sections(edition, audit, trends)
    charts = [c for page in report_pages for c in page.charts] + sections.charts()
    html = report_template().render(
        t=texts_of(edition).page,
        edition=edition,
        version=__version__,
        populations=[(p.label, colour) for p, colour in zip(edition.populations.values(), colours_of(edition).values())],
        level=edition.significance.percent,
        thresholds=edition.thresholds,
        interval=edition.significance.interval,
        pages=report_pages,
        mirror_chart=sections.mirror_chart,
        mirror_table=sections.mirror_table,
        trend_charts=sections.trend_charts,
        trend_table=trends_table_rows(edition, trends) if trends is not None and len(trends) else None,
        previous=edition.previous,
        audit_chart=sections.audit_chart,
        audit_table=audit_table(edition, audit),
        weighting=weighting_rows(edition, weighting),
        svg_of=svgs(charts),
    )
    return html.encode("utf-8")
