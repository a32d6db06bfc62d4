"""report.html: the synthesis' pages from the estimates, self-contained, every chart drawn in a real browser."""

from __future__ import annotations

import dataclasses
import html as htmllib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from xml.etree import ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markupsafe import escape

from baro_pipeline import audit
from baro_pipeline.edition import PROBLEM_KINDS, Edition
from baro_pipeline.chart_renderer import RENDERER_FONTS
from baro_pipeline.report import charts
from baro_pipeline.report import audit_table, figure_card, mirror_pairs, population_labels, question_pages, report_html, start_ranking_charts, start_section_charts, top_size
from baro_pipeline.report.charts import spec_text
from baro_pipeline.report.pages import ranking_charts
from baro_pipeline.report_texts import FRENCH, FRENCH_CHECKS, FRENCH_CLAUSES, FRENCH_PROBLEM_KINDS, FRENCH_SLIPS
from exports import audited
from test_cli import running

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")


@dataclasses.dataclass(frozen=True, eq=False)
class Run:
    """What a run of the committed 2025 exports gives the report and the tables (no Prefect)."""

    edition: Edition
    estimates: pd.DataFrame
    audit: pd.DataFrame
    weighting: pd.DataFrame
    samples: dict  # population -> weighting.SurveySample


def run_of(staged) -> Run:
    """The report's and the tables' inputs from the session's in-process run of 2025 (conftest.run_2025)."""
    tables = staged.result.tables
    edition = staged.stages["load edition"][0]
    return Run(edition, tables["estimates"], tables["audit"], tables["weighting"], staged.per_population("weight"))


@pytest.fixture(scope="module")
def run(run_2025) -> Run:
    return run_of(run_2025)


@pytest.fixture(scope="module")
def html(run) -> str:
    return report_html(run.edition, run.estimates, run.audit, run.weighting).decode("utf-8")


def section(html: str, title: str) -> str:
    """The HTML of one <section>, found by its <h2> title."""
    start = html.index(f"<h2>{title}</h2>")
    return html[start : html.index("</section>", start)]


def test_the_report_is_one_self_contained_file(html):
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 14
    assert "<script" not in html and "<link" not in html and "@import" not in html and "<img" not in html
    assert not re.search(r"""src\s*=|href\s*=\s*"(?!#)|url\(""", html)  # links only inside the page


def test_the_table_of_contents_links_to_every_section(html):
    toc = html[html.index('<nav class="toc">') : html.index("</nav>")]
    targets = re.findall(r'href="#([^"]+)"', toc)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(targets) == len(set(targets)) >= 14 and set(targets) <= set(ids)
    assert html.index("</nav>") < html.index('<section class="page"')  # at the top
    assert {"page-2", "page-12", "miroir", "audit", "methode"} <= set(targets)


def test_headline_figures_with_their_margin_of_error(html):
    page = section(html, "Page 2 de la synthèse")
    assert '<span class="value">90\u202f%</span><span class="moe">± 2,' in page
    assert "des professionnels de santé déclarent utiliser des outils d&#39;IA dans leur pratique" in page
    assert "n = 1\u202f000 · base : Professionnels de santé, ensemble" in page
    assert "Publié : 90\u202f%" in page and "conforme" in page
    contradiction = section(html, "Page 5 de la synthèse")
    assert "SOIT 23% DES FRANÇAIS" in contradiction and "publication incohérente" in contradiction


def test_rankings_are_placed_on_their_page_with_base_and_n(run, html):
    ps = run.edition.populations["ps"].codebook
    assert top_size(ps.question("Q3"), "ps", run.edition.figures) == 5  # no answer cap: Top 5
    assert top_size(ps.question("Q20"), "ps", run.edition.figures) == 3  # "3 réponses maximum", 3 printed
    assert top_size(ps.question("Q15"), "ps", run.edition.figures) == 5  # capped at 3, but 5 printed
    pages = question_pages(run.edition, "ps")
    assert (pages["Q3"], pages["Q8"], pages["Q9"], pages["Q10"], pages["Q20"]) == (3, 7, 7, 7, 12)
    page3 = section(html, "Page 3 de la synthèse")
    assert "<h3>Aspects de la pratique où l&#39;IA est utilisée (Professionnels de santé) — Top 5</h3>" in page3
    assert "Base : Professionnels de santé interrogés (Usage d&#39;outils d&#39;IA dans la pratique : Utilise des outils d&#39;IA) · n = 913" in page3
    page7 = section(html, "Page 7 de la synthèse")
    assert "<h3>Top 3 des apports de l&#39;IA dans la pratique (Professionnels de santé)</h3>" in page7
    page12 = section(html, "Page 12 de la synthèse")
    # The ranking's bars are the published levers, in rank order.
    bars = page12[page12.index("Top 3 des leviers") :]
    assert bars.index("55\u202f%") < bars.index("51\u202f%") < bars.index("47\u202f%")


def test_mirror_pairs_come_from_the_published_wordings(run, html):
    pairs = {(a.id, b.id) for a, b in mirror_pairs(run.edition)}
    assert {("ps_trust", "gp_trust"), ("ps_data_risks", "gp_data_risks"), ("ps_prefer_french_eu", "gp_prefer_french_eu")} <= pairs
    assert ("ps_press_chatgpt", "gp_press_doctor_dont_know") not in pairs  # an editorial "(adresse…)" is not a meaning
    mirror = section(html, "Comparaisons miroir entre populations")
    trust = mirror[mirror.index("<td>Déclarent avoir confiance dans l&#39;usage de L&#39;IA en santé</td>") :]
    assert re.match(r"<td>[^<]+</td>\s*<td>Professionnels de santé</td>\s*<td>77\u202f% ± [\d,]+\u202fpts \(n = 1\u202f000\)</td>\s*<td>Grand public</td>\s*<td>58\u202f%", trust)
    assert "<td>+19," in trust[:400] and "<td>oui</td>" in trust[:600]
    assert "<td>Souhaitent privilégier des outils d&#39;IA français ou européens</td>" in mirror


def test_audit_summary(html):
    audit_part = section(html, "Audit des chiffres publiés")
    assert "60 chiffres publiés : 59 conforme, 1 publication incohérente." in audit_part
    assert "<td>gp_genai_all</td>" in audit_part and "<td>ps_trust</td>" not in audit_part


# English the audit writes (its reasons, as `baro audit` prints them) and pointers to the repository.
ENGLISH = (
    "the publication", "contradicts itself", "computed", "published", "inside the", "outside the", "95 % CI", "reproduced by",
    "no usual slip", "unweighted", "whole sample", "small base", "known problem", "not computed", "check fails", "instead of",
    "rounding", "population gp", "population ps", "empty base", "suppressed base", "no data", "address", "docs/", ".md",
    "published.yaml", "inconsistent_publication", "within_moe", "mismatch",
)


def english_in(html: str) -> list[str]:
    """English phrases in the page's text (tags, CSS and the charts' SVG markup left out)."""
    text = re.sub(r"<style>.*?</style>|<[^>]+>", " ", html, flags=re.S)
    return [phrase for phrase in ENGLISH if phrase.lower() in htmllib.unescape(text).lower()]


def test_the_report_speaks_french(run, html):
    assert english_in(html) == []
    shown = run.audit[run.audit["verdict"] != "match"]
    assert len(shown) == 1  # gp_genai_all: the publication contradicts itself
    reason = FRENCH.reason(shown["reason_parts"].iloc[0], population_labels(run.edition), run.edition.significance)
    assert reason.startswith("La publication se contredit sur ce chiffre ; publié 23\u202f%, alors que ses composantes donnent 45\u202f% × 54\u202f% = 24,3\u202f%")
    assert f"<td>{escape(reason)}</td>" in section(html, "Audit des chiffres publiés")
    assert shown["reason"].iloc[0].startswith("the publication contradicts itself")  # audit.parquet keeps its English


def test_every_audit_reason_is_worded_in_french(run):
    """Figures the data does not reproduce, on small bases, with known problems: every clause the
    audit writes for them (difference, slips tried, notes, failed checks) is shown in French."""
    moved = {"ps_use_ai": 70, "ps_risk_reliability": 60, "gp_trust": 40, "ps_inform_never": 46}
    # A figure printed rounded down: reproduced by the "rounded down" slip.
    computed = run.audit.set_index("figure_id")["computed"]
    rounded_down = next(fid for fid, v in computed.items() if v % 1 >= 0.6 and fid not in moved)
    moved[rounded_down] = int(computed[rounded_down])
    figures = tuple(dataclasses.replace(f, value=float(moved.get(f.id, f.value))) for f in run.edition.figures)
    edition = dataclasses.replace(run.edition, figures=figures, thresholds=dataclasses.replace(run.edition.thresholds, flag_base=950))
    table = audited(edition, run.samples)
    codes = {part["code"] for parts in table["reason_parts"] for part in json.loads(parts)}
    assert {"difference", "no_slip_reproduces", "reproduced_by", "small_base", "known_problem", "check_involved", "self_contradiction", "product_of"} <= codes
    assert set(table.loc[table["verdict"] != "match", "figure_id"]) >= set(moved)
    shown = audit_table(edition, table)  # the report's table of the figures that do not match
    reasons = [row[-1] for row in shown.rows]
    assert reasons == [FRENCH.reason(parts, population_labels(edition), edition.significance) for parts in table.loc[table["verdict"] != "match", "reason_parts"]]
    assert english_in(" ".join(cell for row in shown.rows for cell in row[1:])) == []  # the figure id aside
    by_id = {row[0]: row[-1] for row in shown.rows}
    assert re.match(r"Calculé 9\d,\d\u202f% \(arrondi 9\d\), écart \+2\d,\d\u202fpts ; le chiffre publié 70\u202f% est hors de l'intervalle de confiance", by_id["ps_use_ai"])
    assert "reproduit par l'arrondi à l'unité inférieure au lieu de l'arrondi au plus proche" in by_id[rounded_down]
    assert "problème connu : la synthèse n'indique pas la population de cette liste" in by_id["ps_risk_reliability"]
    assert by_id["ps_inform_never"].endswith("base faible (n = 913, sous 950)") and "base faible" not in by_id["ps_use_ai"]  # n = 1 000


def test_a_figure_that_cannot_be_computed_says_why_in_french(run):
    table = audited(run.edition, {"ps": run.samples["ps"]})  # no public's data
    row = table.set_index("figure_id").loc["gp_trust"]
    figure = next(f for f in run.edition.figures if f.id == "gp_trust")
    card = figure_card(figure, {"figure_id": "gp_trust", **row.to_dict()}, run.edition)
    assert (card.value, card.verdict_label) == ("–", "non calculé")
    assert card.flag == "Pas de données pour la population Grand public (aucun fichier validé)"


def test_every_clause_and_slip_the_audit_writes_has_a_french_text():
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(audit.__file__).parent.glob("*.py")))  # the audit package
    clauses = set(re.findall(r'ReasonPart\("(\w+)"', source)) | set(re.findall(r'publication_check\("(\w+)"', source))
    slips = {code for found in re.findall(r'\("slip", ([^)]+)\)', source) for code in re.findall(r'"(\w+)"', found)}
    assert len(clauses) >= 15 and len(slips) == 8
    assert clauses <= set(FRENCH_CLAUSES) | set(FRENCH_CHECKS) and slips <= set(FRENCH_SLIPS)
    assert set(FRENCH_PROBLEM_KINDS) == set(PROBLEM_KINDS) - {"self_contradiction"}


def test_cards_name_the_question_of_an_answer_label(html):
    page4 = section(html, "Page 4 de la synthèse")
    assert re.search(r'<div class="question">Information des patients sur l&#39;usage de l&#39;IA</div>\s*<div class="wording">Non, jamais</div>', page4)
    page2 = section(html, "Page 2 de la synthèse")
    assert '<div class="question">' not in page2  # "des professionnels de santé déclarent utiliser…" says it


def test_press_figures_show_their_wording_and_no_unverified_address(run, html):
    press = [f for f in run.edition.figures if f.article is not None]
    assert press and all(f.article.url == "" for f in press)
    verified = {f.article.url for f in press if f.article.verified}
    shown = set(re.findall(r"https?://[^\s\"'<>]+", html)) - {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert shown <= verified
    assert '<div class="wording">ChatGPT est utilisé par 84 % des professionnels de santé qui utilisent l&#39;IA</div>' in html
    assert "presse : cegedim-sante.com, « Baromètre IA Santé 2025 » (adresse non vérifiée)" in html
    assert "presse : buzz-esante.fr (adresse non vérifiée)" in html
    assert "(adresse exacte" not in html


def test_small_bases_are_flagged_and_suppressed_rankings_withheld(run):
    estimates = run.estimates.copy()
    q3 = (estimates["population"] == "ps") & (estimates["question"] == "Q3") & (estimates["breakdown"] == "total")
    estimates.loc[q3, ["n", "small_base"]] = [25, True]
    page = section(report_html(run.edition, estimates, run.audit, run.weighting).decode("utf-8"), "Page 3 de la synthèse")
    assert "Base : Professionnels de santé interrogés (Usage d&#39;outils d&#39;IA dans la pratique : Utilise des outils d&#39;IA) · n = 25" in page
    assert "⚠ Base faible (n &lt; 30), en pâle, à lire avec prudence : L&#39;aide au diagnostic, La formation continue" in page
    # Under suppress_base, estimation withholds every share of the question (and so its ranks).
    estimates.loc[q3, ["n", "suppressed", "estimate", "pct", "rank"]] = [6, True, np.nan, np.nan, pd.NA]
    page = section(report_html(run.edition, estimates, run.audit, run.weighting).decode("utf-8"), "Page 3 de la synthèse")
    assert "<h3>Aspects de la pratique où l&#39;IA est utilisée (Professionnels de santé) — Top 5</h3>" not in page


def test_no_respondent_data_and_the_same_bytes_twice(run, html):
    assert "TLN-" not in html and "précision libre" not in html
    assert report_html(run.edition, run.estimates, run.audit, run.weighting).decode("utf-8") == html


def test_the_report_takes_the_ranking_charts_the_run_started(run, html):
    started = {}
    for pid in run.edition.populations:
        started.update(start_ranking_charts(run.edition, run.estimates[run.estimates["population"] == pid]))
    assert report_html(run.edition, run.estimates, run.audit, run.weighting, None, started).decode("utf-8") == html
    (key, chart), *_ = started.items()
    given = {**started, key: dataclasses.replace(chart, title="Classement donné au rapport")}
    page = report_html(run.edition, run.estimates, run.audit, run.weighting, None, given).decode("utf-8")
    assert "<h3>Classement donné au rapport</h3>" in page and f"<h3>{escape(chart.title)}</h3>" in html and f"<h3>{escape(chart.title)}</h3>" not in page


def test_the_ranking_charts_started_before_the_rank_uncertainties_are_those_the_report_draws(run_2025, run, html):
    """The run starts each population's ranking charts from its ranked rows, before their rank
    uncertainties: the same specification texts (the renderer finds them drawn), the notes added by the report."""
    started = {key: chart for charts in run_2025.stages["ranking charts"] for key, chart in charts.items()}
    complete = ranking_charts(run.edition, run.estimates)
    assert started and all(chart.notes == () for chart in started.values())
    assert {key: spec_text(chart) for key, chart in started.items()} == {key: spec_text(chart) for key, chart in complete.items()}
    assert report_html(run.edition, run.estimates, run.audit, run.weighting, None, started).decode("utf-8") == html
    assert "Rangs que les données ne séparent pas" in html or "Ordre établi" in html


def test_trends_section_when_there_is_a_predecessor(run):
    edition = dataclasses.replace(run.edition, previous="2024")
    totals = run.estimates[(run.estimates["breakdown"] == "total") & ~run.estimates["question"].isin(["profession", "sex", "age", "region", "csp", "agglo"])]
    moved = (totals["question"] == "Q11") & (totals["item"] == "confiance") & (totals["population"] == "ps")
    trends = totals.assign(
        previous_edition="2024",
        previous_question=totals["question"],
        estimate_previous=np.where(moved, totals["estimate"] - 0.08, totals["estimate"]),
        pct_previous=np.where(moved, totals["pct"] - 8, totals["pct"]),
        n_previous=totals["n"],
        change_pts=np.where(moved, 8.0, 0.0),
        se_change_pts=2.5,
        p_value=np.where(moved, 0.0014, 1.0),
        significant=moved,
    )
    html = report_html(edition, run.estimates, run.audit, run.weighting, trends).decode("utf-8")
    part = section(html, "Évolutions depuis 2024")
    assert "<h3>Évolutions 2024 → 2025 (Professionnels de santé)</h3>" in part
    assert "<h3>Évolutions 2024 → 2025 (Grand public)</h3>" in part
    assert re.search(r"<td>Professionnels de santé</td>\s*<td>Confiance dans l&#39;usage de l&#39;IA en santé</td>\s*<td>A confiance</td>\s*<td>69\u202f%</td>\s*<td>77\u202f%</td>\s*<td>\+8,0\u202fpts", part)


def test_an_edition_without_published_figures_still_shows_its_rankings(run):
    edition = dataclasses.replace(run.edition, figures=())
    html = report_html(edition, run.estimates, run.audit.iloc[0:0], run.weighting).decode("utf-8")
    results = section(html, "Résultats")
    assert "Aspects de la pratique où l&#39;IA est utilisée (Professionnels de santé) — Top 5" in results
    assert "L&#39;édition ne liste encore aucun chiffre publié" in html


# --------------------------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------------------------


class ChartMarks(HTMLParser):
    """Per <figure class="chart">: its <svg> elements and the drawn shapes inside Vega's mark groups."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, int]] = []
        self.depth = 0  # open elements inside the current chart (0: outside)
        self.mark_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "figure" and "chart" in classes:
            self.charts.append({"svg": 0, "shapes": 0})
            self.depth = 1
            return
        if not self.depth:
            return
        self.depth += 1
        if tag == "svg":
            self.charts[-1]["svg"] += 1
        if any(c.startswith("mark-") and c != "mark-group" for c in classes):
            self.mark_depth = self.depth
        elif self.mark_depth and tag in ("path", "rect", "line", "text"):
            self.charts[-1]["shapes"] += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            if self.depth == self.mark_depth:
                self.mark_depth = 0
            self.depth -= 1


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_every_chart_is_drawn_by_a_real_browser(html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr
    parser = ChartMarks()
    parser.feed(dom.stdout)
    assert len(parser.charts) == html.count('<figure class="chart">') >= 14
    assert all(chart["svg"] == 1 and chart["shapes"] > 0 for chart in parser.charts), parser.charts
    shot = tmp_path / "first-page.png"
    result = chromium("--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,1800", page.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000


PHONE_PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" style="width:{width}px;height:800px;border:0" srcdoc="{page}"></iframe>
<script>
window.addEventListener("load", () => {{
  const page = document.getElementById("page").contentDocument.documentElement;
  document.body.setAttribute("data-page-width", page.scrollWidth);
}});
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_page_fits_a_phone(html, tmp_path):
    """At 400 px the page never scrolls sideways: charts scale to their box, tables scroll in theirs.
    Chromium's window is at least 500 px wide, so the report is laid out in a 400 px frame."""
    probe = tmp_path / "phone.html"
    probe.write_text(PHONE_PROBE.format(width=400, page=htmllib.escape(html, quote=True)), encoding="utf-8")
    dom = chromium("--hide-scrollbars", "--window-size=800,900", "--dump-dom", probe.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr
    width = int(re.search(r'data-page-width="(\d+)"', dom.stdout).group(1))
    assert width <= 400


# --------------------------------------------------------------------------------------------
# The charts' renderer (vl-convert in a process of its own)
# --------------------------------------------------------------------------------------------

BAR = {"data": {"values": [{"x": 1}]}, "mark": "bar", "encoding": {"x": {"field": "x", "type": "quantitative"}}}


def test_a_chart_asked_for_again_is_not_drawn_again():
    first, again = charts.start_charts([charts.Chart("une barre", BAR, ())] * 2)
    assert again is first
    assert first.result().startswith("<svg")


def test_a_chart_vl_convert_cannot_draw_says_why():
    (future,) = charts.start_charts([charts.Chart("cassé", {**BAR, "mark": "no-such-mark"}, ())])
    with pytest.raises(RuntimeError, match="^vl-convert could not draw a chart: Vega-Lite to SVG conversion failed: TypeError: ") as error:
        future.result()
    assert "\n" not in str(error.value)  # its reason, not JavaScript's stack


def test_a_renderer_that_died_is_replaced_and_its_charts_fail_clearly():
    dead = charts.start_renderer()
    dead.process.kill()
    dead.process.wait()
    with pytest.raises(RuntimeError, match=r"^the charts' renderer \(svg_renderer.py\) ended with code -9"):
        dead.submit(json.dumps({**BAR, "width": 123})).result()
    assert charts.start_renderer() is not dead
    assert "<svg" in charts.svgs([charts.Chart("une barre", {**BAR, "width": 124}, ())]).popitem()[1]


def test_the_renderer_ends_with_the_process_that_started_it():
    started = subprocess.run(
        [sys.executable, "-c", "from baro_pipeline.report import charts; print(charts.start_renderer().process.pid)"], capture_output=True, text=True, timeout=60
    )
    renderer, deadline = int(started.stdout), time.monotonic() + 30
    while running(renderer) and time.monotonic() < deadline:
        time.sleep(0.05)  # it sees its stdin end, then exits
    assert not running(renderer), f"the charts' renderer (PID {renderer}) outlived the process that started it"


def test_the_renderer_measures_texts_with_vl_convert_s_own_fonts():
    """Its fontconfig file names no font folder that exists: the SVGs do not depend on the machine's
    fonts (those of a fresh vl-convert under the same file, on any Linux machine)."""
    renderer = charts.start_renderer()
    environment = Path(f"/proc/{renderer.process.pid}/environ").read_bytes().split(b"\0")
    assert f"FONTCONFIG_FILE={RENDERER_FONTS}".encode() in environment
    folders = [RENDERER_FONTS.parent / d.text for d in ElementTree.parse(RENDERER_FONTS).getroot().iter("dir")]
    assert folders and not any(folder.exists() for folder in folders)
    spec = {**BAR, "width": 131, "title": "Élevé – « très » 45\u202f%"}
    drawn = renderer.submit(json.dumps(spec)).result()
    alone = subprocess.run(
        [sys.executable, "-c", f"import json, sys, vl_convert; sys.stdout.write(vl_convert.vegalite_to_svg(json.loads({json.dumps(spec)!r})))"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "FONTCONFIG_FILE": str(RENDERER_FONTS)}, encoding="utf-8",
    )
    assert alone.returncode == 0 and drawn == alone.stdout


def test_the_renderer_starts_before_the_run_imports_its_libraries():
    """``baro run`` starts the renderer before it imports the run's libraries: its module imports none of them."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, baro_pipeline.chart_renderer; print(sorted({'jinja2', 'numpy', 'openpyxl', 'pandas', 'pyarrow', 'baro_pipeline.report'} & set(sys.modules)))"],
        capture_output=True, text=True, timeout=60,
    )
    assert imported.stdout.strip() == "[]", imported.stderr


def test_the_report_takes_the_sections_the_run_started(run, html):
    sections = start_section_charts(run.edition, run.audit)
    assert report_html(run.edition, run.estimates, run.audit, run.weighting, None, None, sections).decode("utf-8") == html
    assert sections.mirror_chart is not None and sections.audit_chart is not None and sections.trend_charts == ()
    given = dataclasses.replace(sections, mirror_chart=dataclasses.replace(sections.mirror_chart, title="Miroir donné au rapport"))
    page = report_html(run.edition, run.estimates, run.audit, run.weighting, None, None, given).decode("utf-8")
    assert "<h3>Miroir donné au rapport</h3>" in page and f"<h3>{escape(sections.mirror_chart.title)}</h3>" in html
    assert f"<h3>{escape(sections.mirror_chart.title)}</h3>" not in page
