"""The 2025 edition as data (``editions/2025``) and the loader's strictness (``baro_pipeline.edition``).

The synthesis (``tests/fixtures/synthesis/``, a copy of the published text) is the reference: its 47 printed percentages and the questions
quoted under its slides must all be in the edition. Every configuration mistake is checked on a
broken copy of the real edition, by the text of its ``EditionError`` (file, key and fix).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from collections.abc import Callable

import pytest
import yaml

from baro_pipeline.edition import Edition, PublishedFigure, Trimming, WeightingSettings, load_edition
from baro_pipeline.errors import EditionError

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "tests" / "fixtures" / "synthesis" / "000_5c5ceed9e428b6ea.txt"
PRESS_SITES = ("buzz-esante.fr", "cegedim-sante.com", "veille-acteurs-sante.fr")
# Typos of the synthesis, fixed in the codebooks.
SEED_TYPOS = {"Estimatez-vous": "Estimez-vous", "utilisent-ils eux-mêmes": "utilisent eux-mêmes"}


@pytest.fixture(scope="module")
def edition() -> Edition:
    return load_edition("2025", REPO)


@pytest.fixture(scope="module")
def figures(edition: Edition) -> dict[str, PublishedFigure]:
    return {f.id: f for f in edition.figures}


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("\u00a0", " ")).strip().lower()


def all_wordings(edition: Edition) -> list[str]:
    return [normalised(q.wording) for p in edition.populations.values() for q in p.codebook.questions]


# --------------------------------------------------------------------------------------------
# The 2025 edition loads and says what docs/design.md §2 asks
# --------------------------------------------------------------------------------------------


def test_2025_edition_loads_with_both_populations(edition: Edition):
    assert edition.id == "2025" and edition.exports == "raw/2025"
    assert edition.fieldwork[0] < edition.fieldwork[1]
    assert {p: (pop.breakdowns, pop.sample_size) for p, pop in edition.populations.items()} == {
        "ps": (("profession", "age"), 1000),
        "gp": (("sex", "age"), 1000),
    }
    assert (edition.thresholds.flag_base, edition.thresholds.suppress_base, edition.thresholds.max_invalid_share) == (30, 10, 0.10)
    assert (edition.quality.speeder_share_of_median, edition.quality.speeder_action) == (0.4, "quarantine")
    assert (edition.quality.straightliner_min_rows, edition.quality.straightliner_action) == (4, "flag")
    est = edition.estimation
    assert (edition.significance.interval, edition.significance.level, est.variance, est.rounding, est.letters_adjust) == ("logit", 0.95, "linearised", "half_up", "none")


@pytest.mark.parametrize(
    ("population", "variable", "n_codes"),
    [("ps", "profession", 4), ("ps", "sex", 2), ("ps", "age", 4), ("ps", "region", 5),
     ("gp", "sex", 2), ("gp", "age", 5), ("gp", "csp", 8), ("gp", "region", 13), ("gp", "agglo", 5)],
)
def test_every_quota_variable_has_targets_with_source_and_year(edition: Edition, population: str, variable: str, n_codes: int):
    pop = edition.populations[population]
    target = next(v for v in pop.targets.variables if v.variable == variable)
    assert len(pop.codebook.question(variable).codes) == len(target.shares) == n_codes
    assert sum(target.shares.values()) == pytest.approx(1.0, abs=1e-9)
    assert target.source and 2020 <= target.year <= 2025
    assert "1,000" in pop.targets.assumptions


def test_targets_are_realistic(edition: Edition):
    ps = {v.variable: v.shares for v in edition.populations["ps"].targets.variables}
    gp = {v.variable: v.shares for v in edition.populations["gp"].targets.variables}
    assert ps["profession"][4] > 2 * sum(ps["profession"][c] for c in (1, 2, 3))  # infirmiers outnumber médecins
    assert ps["sex"][2] > 0.7  # mostly women, infirmiers being ~87 % women
    assert gp["sex"][2] > gp["sex"][1] and gp["age"][5] > gp["age"][1]
    assert max(gp["region"], key=gp["region"].get) == 8  # Île-de-France
    assert min(gp["region"], key=gp["region"].get) == 5  # Corse


# --------------------------------------------------------------------------------------------
# Published figures
# --------------------------------------------------------------------------------------------


def test_the_47_synthesis_figures_are_the_printed_percentages_in_order(edition: Edition, seed_text: str):
    synthesis = [f for f in edition.figures if f.source == "synthesis"]
    printed = [(float(v), ">=" if plus else "=") for v, plus in re.findall(r"(\d+)\s?%(\+)?", seed_text)]
    assert len(synthesis) == len(printed) == 47
    assert [(f.value, f.operator) for f in synthesis] == printed
    assert all(f.page is not None and 2 <= f.page <= 12 for f in synthesis)
    assert [f.page for f in synthesis] == sorted(f.page for f in synthesis)


PRESS = {  # id: (value, site)
    "ps_press_chatgpt": (84, 0), "ps_press_use_diagnosis": (52, 0), "ps_press_use_training": (43, 0),
    "ps_press_use_organisation": (37, 0), "gp_press_doctor_dont_know": (40, 0), "gp_press_doctor_thinks_not": (20, 0),
    "gp_press_ai_positive": (76, 1), "ps_press_well_trained": (37, 1), "ps_press_use_daily": (29, 1),
    "ps_press_use_weekly": (32, 1), "ps_press_use_never": (10, 1), "ps_press_changed_fully": (13, 1),
    "ps_press_clear_framework": (91, 2),
}


def test_press_figures_have_their_article_as_source(edition: Edition):
    press = {f.id: f for f in edition.figures if f.source != "synthesis"}
    assert set(press) == set(PRESS)
    for fid, (value, site) in PRESS.items():
        article = press[fid].article
        assert press[fid].value == value and article is not None and article.outlet == PRESS_SITES[site], fid
        assert (article.url, article.verified) == ("", False), fid  # no article has been checked: no address
        assert press[fid].source == article.describe() == f"press: {PRESS_SITES[site]}{article.title and f', {article.title!r}'} (address not verified)"
    assert all(f.source and f.wording for f in edition.figures)


def test_published_yaml_has_no_placeholder_and_no_unverified_address():
    text = (REPO / "editions" / "2025" / "published.yaml").read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)  # no figure's address is verified
    assert not re.search(r"telle que citée|adresse exacte|plausible|placeholder|TODO|xxx", text, re.IGNORECASE)


@pytest.mark.parametrize(
    ("fid", "population", "question", "item", "base"),
    [
        ("ps_use_ai", "ps", "Q1", "utilise", "asked"),
        ("ps_genai_any", "ps", "D_genai", "D_genai", "asked"),
        ("ps_press_chatgpt", "ps", "Q4", "r1:1", "asked"),
        ("ps_trust_fully", "ps", "Q11", "1", "asked"),
        ("ps_trained_self", "ps", "Q18", "4", "asked"),
        ("gp_genai_among_users", "gp", "Q2", "ia_generative", "asked"),
        ("gp_genai_all", "gp", "D_genai_health", "D_genai_health", "all"),
        ("gp_press_doctor_dont_know", "gp", "Q3", "9", "asked"),
        ("gp_apps_validated", "gp", "D_test_important", "D_test_important", "asked"),
    ],
)
def test_figures_name_their_indicator_and_base(figures, fid, population, question, item, base):
    f = figures[fid]
    assert (f.population, f.indicator.question, f.indicator.item, f.base) == (population, question, item, base)


def test_known_problems_of_the_publication_are_data(figures):
    product = figures["gp_genai_all"]
    assert product.product_of == ("gp_use_ai_health", "gp_genai_among_users")
    assert [p.kind for p in product.problems] == ["self_contradiction"]
    low = 100 * (0.445 * 0.535)  # the smallest product the rounded 45 % and 54 % allow: 23.8 %
    assert product.value + 0.5 < low  # what prints as 23 % is under 23.5 %: a contradiction
    unlabelled = sorted(fid for fid, f in figures.items() if any(p.kind == "unlabelled_population" for p in f.problems))
    assert len(unlabelled) == 10
    assert Counter(figures[fid].population for fid in unlabelled) == {"ps": 5, "gp": 5}
    assert figures["gp_risk_human_contact"].population == "gp"  # stressed more by the public (headline)
    assert figures["gp_apps_validated"].operator == ">="


def test_scales_agree_with_every_figure_at_once(edition: Edition, figures):
    ps = edition.populations["ps"].codebook
    # frequency of use: daily 29 + weekly 32 + less often + never 10, "utilise" = the three "oui"
    assert next(n.codes for n in ps.question("Q1").nets if n.id == "utilise") == (1, 2, 3)
    assert figures["ps_press_use_daily"].value + figures["ps_press_use_weekly"].value + figures["ps_press_use_never"].value <= 100
    assert figures["ps_use_ai"].value + figures["ps_press_use_never"].value == 100
    # nets and their "tout à fait"
    assert figures["ps_trust_fully"].value < figures["ps_trust"].value
    assert figures["ps_press_changed_fully"].value < figures["ps_practice_changed"].value
    # "Non, jamais" is exclusive and completes the net of the ways of informing
    inform = ps.question("Q5")
    assert inform.type == "multi" and inform.exclusive == (99,)
    assert figures["ps_inform_patients"].value + figures["ps_inform_never"].value == 100
    # the generative AI tools: ChatGPT is among the 93 % using at least one tool
    assert figures["ps_press_chatgpt"].value <= figures["ps_genai_any"].value
    genai = next(d for d in ps.derived if d.id == "D_genai")
    assert genai.rule == "any_of" and len(genai.terms) == len(ps.question("Q4").rows)


def test_ai_users_only_questions_are_routed(edition: Edition):
    ps = edition.populations["ps"].codebook
    for qid in ("Q3", "Q4", "Q5"):
        assert ps.question(qid).asked_if.describe() == "Q1 in [1, 2, 3]"
    assert edition.populations["gp"].codebook.question("Q2").asked_if.describe() == "Q1 in [1, 2, 3]"


def test_capped_multis_and_open_answers(edition: Edition):
    for pop in edition.populations.values():
        for q in pop.codebook.questions:
            text = normalised(q.wording)
            if "3 réponses max" in text or "trois réponses au maximum" in text:
                assert q.type == "multi" and q.max_answers == 3, q.id
            if q.type == "multi" and any("précisez" in label for label in q.codes.values()):
                assert q.other_text == f"{q.id}_98_other", q.id


# --------------------------------------------------------------------------------------------
# Every question quoted in the synthesis is in a codebook
# --------------------------------------------------------------------------------------------

QUOTED_FRAGMENTS = [
    "font appel à l'intelligence artificielle dans votre pratique professionnelle",
    "a modifié vos pratiques",
    "pour quel(s) aspect(s) de votre pratique",
    "que vous connaissez et que vous utilisez dans le cadre de votre pratique médicale",
    "pour vos questions relatives à la santé, vous arrive-t-il",
    "quel(s) outils utilisant l'intelligence artificielle utilisez-vous pour votre santé",
    "savez-vous si vos patients utilisent eux-mêmes",
    "les 3 principaux apports de l'intelligence artificielle dans votre pratique",
    "sujets d'efficacité du système de santé",
    "pour qui pensez-vous que l'intelligence artificielle",
    "dans l'ensemble, avez-vous confiance",
    "lorsqu'ils sont utilisés par les acteurs suivants",
    "la loi exige la supervision humaine",
    "applications de suivi de santé utilisant l'ia destinées au grand public",
    "(par exemple en cas de cyberattaque ou d'accès non autorisé)",
    "les 3 principaux risques liés à l'usage",
    "a-t-elle vocation à devenir",
    "estimez-vous être suffisamment bien formé(e)",
    "avez-vous suivi une ou plusieurs formation(s)",
    "souhaiteriez-vous être",
    "les 3 principaux éléments qui permettent le développement",
    "disposer d'outils français ou européens",
]


@pytest.mark.parametrize("fragment", QUOTED_FRAGMENTS)
def test_quoted_question_is_in_a_codebook(edition: Edition, fragment: str):
    assert any(fragment in w for w in all_wordings(edition)), fragment


def test_every_question_listed_under_the_slides_is_in_a_codebook(edition: Edition, seed_text: str):
    for wrong, right in SEED_TYPOS.items():
        seed_text = seed_text.replace(wrong, right)
    quoted = [line.strip()[2:] for line in seed_text.splitlines() if line.strip().startswith("- ")]
    assert len(quoted) == 22
    wordings = all_wordings(edition)
    for question in quoted:
        parts = [p for p in re.split(r"\.\.\.|…|\.\.|\?", normalised(question)) if len(p.strip()) > 12]
        assert any(all(p.strip() in w for p in parts) for w in wordings), question


# --------------------------------------------------------------------------------------------
# A broken copy of the edition fails with the file, the key and the fix
# --------------------------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Callable[[str, Callable], Path]:
    """Copy editions/2025 to tmp_path and apply one change to one of its files (data or text)."""
    shutil.copytree(REPO / "editions" / "2025", tmp_path / "editions" / "2025")

    def apply(name: str, change: Callable, text: bool = False) -> Path:
        file = tmp_path / "editions" / "2025" / name
        if text:
            file.write_text(change(file.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            change(data)
            file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return tmp_path

    return apply


def entry(entries: list[dict], eid: str) -> dict:
    return next(e for e in entries if e.get("id", e.get("variable")) == eid)


def rename_key(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def set_in(path: list, value) -> Callable[[dict], None]:
    def change(data):
        node = data
        for step in path[:-1]:
            node = entry(node, step) if isinstance(node, list) else node[step]
        node[path[-1]] = value
    return change


CASES = {
    "unknown key (typo)": (
        "edition.yaml",
        lambda d: rename_key(d["populations"]["ps"], "breakdowns", "breakdown"),
        "key 'populations.ps.breakdown'", "unknown key 'breakdown'", "did you mean 'breakdowns'?",
    ),
    "duplicate question id": (
        "codebook_ps.yaml",
        set_in(["questions", "Q3", "id"], "Q2"),
        "key 'questions.Q2'", "duplicate id 'Q2' (at questions[1] and questions[2])", "rename one of them",
    ),
    "net naming a code that does not exist": (
        "codebook_gp.yaml",
        lambda d: entry(entry(d["questions"], "Q7")["nets"], "confiance").update(codes=[1, 2, 7]),
        "key 'questions.Q7.nets.confiance.codes'", "net 'confiance' names code 7, which is not a code of this question",
        "use one of [1, 2, 3, 4]",
    ),
    "route to an unknown question": (
        "codebook_ps.yaml",
        set_in(["questions", "Q3", "asked_if"], {"question": "Q01", "in": [1]}),
        "key 'questions.Q3.asked_if'", "condition refers to unknown question 'Q01'",
        "did you mean 'Q1'? (name a question or profile variable of this codebook)",
    ),
    "route to a later question": (
        "codebook_ps.yaml",
        set_in(["questions", "Q3", "asked_if"], {"question": "Q16", "row": "r1", "in": [1]}),
        "key 'questions.Q3.asked_if'", "Q3 is routed on Q16, which is asked after it",
        "route on a profile variable or a question listed before it in the codebook",
    ),
    "target shares summing to 0.98": (
        "targets_gp.yaml",
        set_in(["variables", "sex", "shares"], {1: 0.46, 2: 0.52}),
        "key 'variables.sex.shares'", "shares of 'sex' sum to 0.98, not 1", "correct the shares so that they sum to 1",
    ),
    "target on a variable that is not a profile variable": (
        "targets_ps.yaml",
        set_in(["variables", "region", "variable"], "Q1"),
        "key 'variables.Q1.variable'", "target variable 'Q1' is not a profile variable of the ps codebook",
        "name a variable listed under 'profile:' (profession, sex, age, region)",
    ),
    "figure naming an unknown net": (
        "published.yaml",
        set_in(["figures", "ps_trust", "indicator"], {"question": "Q11", "net": "confidence"}),
        "key 'figures.ps_trust.indicator.net'", "net 'confidence' is not a net of Q11", "use one of ['confiance', 'pas_confiance']",
    ),
    "figure of an unknown population": (
        "published.yaml",
        set_in(["figures", "gp_trust", "population"], "public"),
        "key 'figures.gp_trust.population'", "unknown population 'public'", "use one of ['ps', 'gp']",
    ),
    "figure with a row on a question that is no grid": (
        "published.yaml",
        set_in(["figures", "ps_trust", "indicator"], {"question": "Q11", "row": "r1", "net": "confiance"}),
        "key 'figures.ps_trust.indicator.row'", "Q11 is a single question: it has no rows", "remove 'row'",
    ),
    "product of an unknown figure": (
        "published.yaml",
        set_in(["figures", "gp_genai_all", "product_of"], ["gp_use_ai_health", "gp_genai_users"]),
        "key 'figures.gp_genai_all.product_of'", "figure 'gp_genai_all' is the product of unknown figure 'gp_genai_users'",
        "did you mean 'gp_genai_among_users'?",
    ),
    "unknown problem kind": (
        "published.yaml",
        set_in(["figures", "gp_genai_all", "problems"], [{"kind": "typo", "note": "x"}]),
        "key 'figures.gp_genai_all.problems[0].kind'", "unknown problem kind 'typo'",
        "use one of self_contradiction, unlabelled_population, other",
    ),
    "unknown adjustment of the letters": (
        "edition.yaml",
        lambda d: d["estimation"].update(letters_adjust="sidak"),
        "key 'estimation.letters_adjust'", "unknown adjustment 'sidak'", "use one of none, bonferroni, holm",
    ),
    "adjustment of the letters not a name": (
        "edition.yaml",
        lambda d: d["estimation"].update(letters_adjust=["holm"]),
        "key 'estimation.letters_adjust'", "expected text, found list ['holm']", "write text here",
    ),
    "unknown weighting method": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "greg"}),
        "key 'weighting.method'", "unknown weighting method 'greg'", "use one of raking, linear, raking_bounded",
    ),
    "bounds without bounded raking": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "raking", "bounds": [0.5, 2]}),
        "key 'weighting.bounds'", "bounds are only used by method raking_bounded, not raking", "remove bounds, or use method: raking_bounded",
    ),
    "bounds that do not contain 1": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "raking_bounded", "bounds": [1.2, 2]}),
        "key 'weighting.bounds'", "bounds [1.2, 2] are not [L, U] with 0 <= L < 1 < U", "write the range of w / w0",
    ),
    "trimming caps that leave out the mean weight": (
        "edition.yaml",
        lambda d: d.update(weighting={"trimming": {"upper": 0.8}}),
        "key 'weighting.trimming'", "caps lower None, upper 0.8 leave out the mean weight 1", "weights have mean 1",
    ),
    "trimming after linear calibration": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "linear", "trimming": {"upper": 3}}),
        "key 'weighting.trimming'", "trimming is only supported after raking, not after linear", "use method: raking, or remove trimming",
    ),
    "mirror naming an unknown question": (
        "edition.yaml",
        lambda d: d["mirrors"][0].update(gp="Q55"),
        "key 'mirrors[0].gp'", "'Q55' is not a single, multi or grid question of the gp codebook", "use one of ['Q1', 'Q2',",
    ),
    "mirror of three questions": (
        "edition.yaml",
        lambda d: d["mirrors"][0].update(public="Q5"),
        "key 'mirrors[0]'", "a mirror names two populations and their questions", "write e.g. - {ps: Q11, gp: Q7}",
    ),
    "mirror of an unknown population": (
        "edition.yaml",
        lambda d: d["mirrors"].__setitem__(0, {"ps": "Q7", "public": "Q5"}),
        "key 'mirrors[0].public'", "unknown population 'public'", "use two of ['ps', 'gp']",
    ),
    "mirror of questions of two types": (
        "edition.yaml",
        lambda d: d["mirrors"][0].update(gp="Q6"),
        "key 'mirrors[0]'", "the two questions are of different types (multi, single)", "pair questions of the same type",
    ),
    "a press article's address that is not verified": (
        "published.yaml",
        lambda d: entry(d["figures"], "ps_press_chatgpt")["source"].update(url="https://www.buzz-esante.fr/un-article/"),
        "key 'figures.ps_press_chatgpt.source.url'", "an address that is not verified",
        "open the article, and set verified: true if the address is the article's",
    ),
    "a verified source without its address": (
        "published.yaml",
        lambda d: entry(d["figures"], "ps_press_chatgpt")["source"].update(verified=True),
        "key 'figures.ps_press_chatgpt.source.url'", "verified: true without the article's address", "give url: https://",
    ),
    "a source that is a bare address": (
        "published.yaml",
        set_in(["figures", "ps_press_chatgpt", "source"], "https://www.buzz-esante.fr/"),
        "key 'figures.ps_press_chatgpt.source'", "unknown source 'https://www.buzz-esante.fr/'",
        "write 'synthesis', or the press article as {outlet: .., title: .., verified: false}",
    ),
    "a report language without texts": (
        "edition.yaml",
        lambda d: d.update(language="en"),
        "key 'language'", "no report texts in language 'en'", "use one of fr",
    ),
    "a block written as a list": (
        "edition.yaml",
        lambda d: d.update(thresholds=[30, 10]),
        "key 'thresholds'", "expected a mapping, found list", "write 'key: value' lines here",
    ),
    "a list written as a mapping": (
        "codebook_gp.yaml",
        lambda d: entry(d["questions"], "Q7").update(nets={"confiance": [1, 2]}),
        "key 'questions.Q7.nets'", "expected a list, found dict {'confiance': [1, 2]}", "write one '- ' entry per item",
    ),
    "a route on a code written as text": (
        "codebook_ps.yaml",
        set_in(["questions", "Q3", "asked_if"], {"question": "Q1", "in": ["1"]}),
        "key 'questions.Q3.asked_if.in'", "code '1' is not a whole number", "list integer codes",
    ),
    "a threshold written as text (settings blocks are pydantic models)": (
        "edition.yaml",
        lambda d: d["thresholds"].update(flag_base="30"),
        "key 'thresholds.flag_base'", "expected a whole number, found str '30'", "write a whole number here",
    ),
    "a threshold written as true": (
        "edition.yaml",
        lambda d: d["thresholds"].update(max_invalid_share=True),
        "key 'thresholds.max_invalid_share'", "expected a number, found a boolean", "write the value itself",
    ),
    "a misspelt quality key": (
        "edition.yaml",
        lambda d: d["quality"].update(speeder_acton="flag"),
        "key 'quality.speeder_acton'", "unknown key 'speeder_acton'", "did you mean 'speeder_action'?",
    ),
    "a misspelt trimming cap": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "raking", "trimming": {"uper": 3}}),
        "key 'weighting.trimming.uper'", "unknown key 'uper'", "did you mean 'upper'?",
    ),
    "a trimming cap written as text": (
        "edition.yaml",
        lambda d: d.update(weighting={"method": "raking", "trimming": {"upper": "3"}}),
        "key 'weighting.trimming.upper'", "expected a number, found str '3'", "write a number here",
    ),
    "a figure's problem without its note": (
        "published.yaml",
        lambda d: d["figures"][0].update(problems=[{"kind": "other", "not": "typo"}]),
        "key 'figures.ps_use_ai.problems[0].not'", "unknown key 'not'", "did you mean 'note'?",
    ),
    "a figure's problem of no kind": (
        "published.yaml",
        lambda d: d["figures"][0].update(problems=[{"kind": None, "note": "x"}]),
        "key 'figures.ps_use_ai.problems[0].kind'", "missing required key 'kind'", "add 'kind:' here",
    ),
    "a settings key that is a number": (
        "edition.yaml",
        lambda d: d["thresholds"].update({1: 2}),
        "key 'thresholds.1'", "unknown key '1'", "allowed keys: flag_base, suppress_base, max_invalid_share",
    ),
    "thresholds the wrong way round": (
        "edition.yaml",
        lambda d: d["thresholds"].update(suppress_base=50),
        "key 'thresholds.suppress_base'", "suppress_base 50 is above flag_base 30", "suppress under a smaller base",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_edition_names_file_line_key_and_fix(broken, case: str):
    name, change, key, what, fix = CASES[case]
    root = broken(name, change)
    file = root / "editions" / "2025" / name
    pattern = rf"{re.escape(str(file))}, line (\d+): {re.escape(key)}: {re.escape(what)}.*\n  fix: {re.escape(fix)}"
    with pytest.raises(EditionError, match=pattern) as error:
        load_edition("2025", root)
    # The line is where the key is written (an entry: its id, or its '- '); an absent key: where its mapping is.
    written = file.read_text(encoding="utf-8").splitlines()[int(re.match(pattern, error.value.message).group(1)) - 1]
    parts = re.split(r"[.\[]", key.removeprefix("key '").removesuffix("'"))
    assert written.lstrip().startswith("- ") if parts[-1].endswith("]") else any(part in written for part in parts[-2:]), (written, key)


def line_of(file: Path, text: str) -> int:
    """The line (from 1) where ``text`` is written in ``file``."""
    return next(i for i, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("name", "written", "rewritten", "at", "key", "what", "fix"),
    [
        (  # a wrong type deep in a codebook item: a net's label of Q7 (gp), a number
            "codebook_gp.yaml", '{id: confiance, label: "A confiance"', "{id: confiance, label: 12", "label: 12",
            "questions.Q7.nets.confiance.label", "expected text, found int 12", "write text here",
        ),
        (  # an unknown key in a figure
            "published.yaml", "  - id: ps_trust\n", "  - id: ps_trust\n    pages: 4\n", "pages: 4",
            "figures.ps_trust.pages", "unknown key 'pages'", "did you mean 'page'?",
        ),
        (  # a missing key in populations: gp without its targets
            "edition.yaml", "    targets: targets_gp.yaml\n", "", "  gp:",
            "populations.gp.targets", "missing required key 'targets'", "add 'targets:' here",
        ),
    ],
    ids=["wrong type in a codebook net", "unknown key in a figure", "missing key in populations"],
)
def test_an_error_gives_the_line_of_its_key(broken, name, written, rewritten, at, key, what, fix):
    root = broken(name, lambda text: text.replace(written, rewritten, 1), text=True)
    file = root / "editions" / "2025" / name
    with pytest.raises(EditionError) as error:
        load_edition("2025", root)
    assert error.value.message == f"{file}, line {line_of(file, at)}: key '{key}': {what}\n  fix: {fix}"
    assert error.value.exit_code == 2


def test_broken_yaml_syntax_names_line_and_column(broken):
    def unclose(text: str) -> str:
        return text.replace("indicator: {question: Q11, net: confiance}", "indicator: {question: Q11, net: confiance", 1)

    root = broken("published.yaml", unclose, text=True)
    file = root / "editions" / "2025" / "published.yaml"
    line = next(i for i, t in enumerate(file.read_text(encoding="utf-8").splitlines(), 1) if "net: confiance\n" in t + "\n" and "{question: Q11" in t)
    with pytest.raises(EditionError, match=rf"{re.escape(str(file))}, line (\d+), column \d+: invalid YAML: .*\n  fix: correct the YAML syntax") as error:
        load_edition("2025", root)
    reported = int(re.search(r"line (\d+)", str(error.value)).group(1))
    assert line <= reported <= line + 2


def test_a_key_written_twice_is_an_error_not_a_silent_override(broken):
    def twice(text: str) -> str:
        return text.replace('      1: "Oui, tous les jours ou presque"\n', '      1: "Oui, tous les jours ou presque"\n      1: "Oui, chaque jour"\n', 1)

    root = broken("codebook_ps.yaml", twice, text=True)
    file = root / "editions" / "2025" / "codebook_ps.yaml"
    with pytest.raises(EditionError, match=rf"{re.escape(str(file))}, line \d+, column \d+: invalid YAML: duplicate key 1\n  fix: keep one entry per key"):
        load_edition("2025", root)


BOMB = "dropped:\n  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))


@pytest.mark.parametrize(
    "dropped, line, problem",
    [
        (BOMB, 15, r"the aliases expand to more than 200,000 values"),  # l5: 9 aliases of 66,430 values each
        ("dropped: &loop [Q1, *loop]\n", 9, r"alias \*loop inside its own anchor"),
    ],
    ids=["billion-laughs", "recursive"],
)
def test_aliases_that_expand_without_bound_are_refused_at_their_line(broken, dropped, line, problem):
    root = broken("edition.yaml", lambda text: text.replace("dropped: []\n", dropped, 1), text=True)
    file = root / "editions" / "2025" / "edition.yaml"
    with pytest.raises(EditionError, match=rf"{re.escape(str(file))}, line {line}, column \d+: invalid YAML: {problem}.*\n  fix: write the values out"):
        load_edition("2025", root)


def test_a_few_aliases_of_small_blocks_are_read():
    """published.yaml shares one ``problems:`` block between figures by an anchor and aliases."""
    text = (REPO / "editions" / "2025" / "published.yaml").read_text(encoding="utf-8")
    assert "&unlabelled" in text and "*unlabelled" in text
    load_edition("2025", REPO)


def test_a_named_figures_file_that_is_missing_is_an_error(broken):
    root = broken("edition.yaml", lambda d: d.update(figures="publishd.yaml"))
    with pytest.raises(EditionError, match=r"file not found: .*publishd\.yaml\n  fix: create it, or fix the name"):
        load_edition("2025", root)


def test_weighting_and_mirrors_of_2025_are_read():
    edition = load_edition("2025", REPO)
    assert edition.weighting.method == "raking" and edition.weighting.trimming is None
    assert [dict(m.questions) for m in edition.mirrors][:2] == [{"ps": "Q7", "gp": "Q5"}, {"ps": "Q10", "gp": "Q6"}]


def test_weighting_settings_are_read(broken):
    root = broken("edition.yaml", lambda d: d.update(weighting={"method": "raking_bounded", "bounds": [0.4, 2.5]}))
    assert load_edition("2025", root).weighting == WeightingSettings("raking_bounded", (0.4, 2.5), None)
    root = broken("edition.yaml", lambda d: d.update(weighting={"trimming": {"lower": 0.3, "upper": 3, "strict": True}}))
    assert load_edition("2025", root).weighting == WeightingSettings("raking", (0.5, 2.0), Trimming(0.3, 3, True))


def test_the_mini_fixture_still_loads(mini_edition: Edition):
    assert len(mini_edition.figures) == 4


def test_synth_yaml_errors_give_their_line_too(broken):
    """synth.yaml is read by the older walker (``_Node``): its errors take their line from the same document."""
    from baro_pipeline.synth.load import load_model

    root = broken("synth.yaml", lambda text: text.replace("    codes:", "    codez:", 1), text=True)
    file = root / "editions" / "2025" / "synth.yaml"
    with pytest.raises(EditionError) as error:
        load_model(load_edition("2025", root))
    key = re.search(r"key '([^']+)'", error.value.message).group(1)
    assert key.endswith(".codez")
    assert error.value.message == f"{file}, line {line_of(file, 'codez:')}: key '{key}': unknown key 'codez'\n  fix: did you mean 'codes'?"
