"""Audit stage: verdicts and reasons of published figures, the publication's own consistency, rendering."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from baro_pipeline import audit
from baro_pipeline.edition import Indicator, PublishedFigure, load_edition
from baro_pipeline.errors import AuditMismatchError, UsageError
from baro_pipeline.estimation import estimate_items, indicator_values, published_round
from baro_pipeline.ingest import read_export
from baro_pipeline.validation import validate_export
from baro_pipeline.weighting import weighted_sample
from exports import audited, clean_frame, weighted, write_csv

MINI = Path(__file__).parent / "fixtures" / "mini"

# The fixture's figures plus some that no consistency check ties to another (free to perturb).
EXTRA_FIGURES = [
    {"id": "ps_q1_no", "population": "ps", "indicator": {"question": "Q1", "code": 3}, "value": 30, "wording": "n'utilisent pas l'IA", "source": "synthesis"},
    {"id": "ps_admin", "population": "ps", "indicator": {"question": "Q2", "code": 2}, "value": 40, "wording": "pour l'administratif", "source": "synthesis"},
    {"id": "ps_trust_patients", "population": "ps", "indicator": {"question": "Q3", "row": "r2", "net": "confiance"}, "value": 30, "wording": "lorsque les patients l'utilisent", "source": "synthesis"},
    {"id": "ps_inform", "population": "ps", "indicator": {"question": "Q4", "net": "informe"}, "value": 50, "wording": "informent leurs patients", "source": "synthesis"},
    {"id": "ps_diag_or_admin", "population": "ps", "indicator": {"derived": "D_diag_or_admin"}, "value": 60, "wording": "pour le diagnostic ou l'administratif", "source": "synthesis"},
]
FREE = ("ps_trust_self", "ps_trust_patients", "ps_inform", "ps_diag_or_admin", "ps_admin")


# --------------------------------------------------------------------------------------------
# Data built in code: a skewed quota sample whose answers depend on the profession
# --------------------------------------------------------------------------------------------


def mini_frame(n: int = 600, seed: int = 11, inform: tuple[float, float] = (0.7, 0.3)) -> pd.DataFrame:
    """A validated-like frame of the mini codebook (float codes, multi 0/1 with NaN where not asked)."""
    rng = np.random.default_rng(seed)
    doctor = rng.random(n) < 0.7  # targets say 40 % of doctors: weighting moves every figure
    by_profession = lambda p_doc, p_nurse, k: np.where(  # noqa: E731 - one categorical draw per profession
        doctor, rng.choice(k, n, p=p_doc), rng.choice(k, n, p=p_nurse)
    )
    q1 = by_profession([0.55, 0.3, 0.15], [0.15, 0.35, 0.5], 3) + 1.0
    asked = q1 <= 2
    first = by_profession([0.6, 0.2, 0.15, 0.05], [0.2, 0.55, 0.2, 0.05], 4)
    second = (first + 1 + rng.integers(0, 3, n)) % 4
    q2 = np.zeros((n, 4))
    q2[np.arange(n), first] = 1
    q2[np.arange(n), second] = np.maximum(q2[np.arange(n), second], rng.random(n) < 0.4)
    q2[~asked] = np.nan
    trust = [0.3, 0.45, 0.1, 0.05, 0.1], [0.1, 0.35, 0.3, 0.1, 0.15]
    q3 = {f"Q3_r{r}": np.array([1, 2, 3, 4, 9], float)[by_profession(*trust, 5)] for r in (1, 2, 3)}
    informs = rng.random(n) < np.where(doctor, *inform)
    how = rng.integers(0, 3, n)  # pédagogie, documents, both
    frame = pd.DataFrame(
        {
            "respondent_id": [f"R{i:04d}" for i in range(n)],
            "status": "complete",
            "profession": np.where(doctor, 1.0, 2.0),
            "SEXE": rng.choice([1.0, 2.0], n),
            "Q1": q1,
            **{f"Q2_{c}": q2[:, i] for i, c in enumerate((1, 2, 3, 98))},
            **q3,
            "Q4_1": (informs & (how != 1)).astype(float),
            "Q4_2": (informs & (how != 0)).astype(float),
            "Q4_99": (~informs).astype(float),
        }
    )
    frame["Q2_98_other"] = None
    return frame


def write_edition(root: Path, figures: list[dict], *, with_gp: bool = False) -> Path:
    """A copy of the mini edition under ``root`` with these figures (and a 'gp' twin population)."""
    folder = root / "editions" / "mini"
    if not folder.exists():
        shutil.copytree(MINI / "editions" / "mini", folder)
    if with_gp:
        for kind in ("codebook", "targets"):
            text = (folder / f"{kind}_ps.yaml").read_text(encoding="utf-8")
            (folder / f"{kind}_gp.yaml").write_text(text.replace("population: ps", "population: gp"), encoding="utf-8")
        spec = yaml.safe_load((folder / "edition.yaml").read_text(encoding="utf-8"))
        spec["populations"]["gp"] = {"label": "Grand public", "codebook": "codebook_gp.yaml", "targets": "targets_gp.yaml", "breakdowns": [], "sample_size": 400}
        (folder / "edition.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    (folder / "published.yaml").write_text(yaml.safe_dump({"figures": figures}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def with_values(figures: list[dict], **changes: dict) -> list[dict]:
    """A copy of the figures with some keys of some figures changed."""
    return [{**f, **changes.get(f["id"], {})} | ({"value": float(changes[f["id"]]["value"])} if "value" in changes.get(f["id"], {}) else {}) for f in figures]


@pytest.fixture(scope="module")
def data():
    frame = mini_frame()
    population = load_edition("mini", MINI).populations["ps"]
    return {"ps": weighted(frame, population)}


@pytest.fixture(scope="module")
def truth(tmp_path_factory, data):
    """The figures of the test edition, each printed at its computed value: everything matches."""
    raw = yaml.safe_load((MINI / "editions" / "mini" / "published.yaml").read_text(encoding="utf-8"))["figures"] + EXTRA_FIGURES
    root = write_edition(tmp_path_factory.mktemp("truth"), raw)
    computed = audited(load_edition("mini", root), data).set_index("figure_id")
    figures = with_values(raw, **{f["id"]: {"value": float(computed.loc[f["id"], "computed_pct"])} for f in raw})
    return figures, computed


def run_audit(tmp_path: Path, data, figures: list[dict]) -> pd.DataFrame:
    return audited(load_edition("mini", write_edition(tmp_path, figures)), data).set_index("figure_id")


def estimate_pct(data, indicator: Indicator, base="asked", *, weighted: bool = True, **options) -> float:
    """One estimate in points, straight from the estimation stage."""
    edition = load_edition("mini", MINI)
    design = data["ps"].design
    if not weighted:
        design = dataclasses.replace(design, weights=np.ones(len(design.weights)), calibration="none", calibration_codes=())
    values = indicator_values(data["ps"].frame, edition.populations["ps"].codebook, indicator, base, **options)
    table = estimate_items(design, values[:, None], settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds)
    return 100 * float(table["estimate"].iloc[0])


def rounded(value: float, rounding: str = "half_up") -> float:
    return float(published_round(np.array([value]), rounding=rounding)[0])


def verdict_from_interval(row: pd.Series) -> str:
    return "within_moe" if row["ci_low_pts"] <= row["published"] <= row["ci_high_pts"] else "mismatch"


# --------------------------------------------------------------------------------------------
# Verdicts and reasons on the mini edition
# --------------------------------------------------------------------------------------------


def test_every_figure_at_its_computed_value_matches(tmp_path, data, truth):
    figures, _ = truth
    table = run_audit(tmp_path, data, figures)
    assert (table["verdict"] == "match").all(), table[["verdict", "reason"]]
    assert ["figure_id", *table.columns] == sorted(audit.AUDIT_COLUMNS, key=lambda c: c != "figure_id" and audit.AUDIT_COLUMNS.index(c) + 1)
    assert not any("respondent" in c for c in table.columns)
    row = table.loc["ps_use_ai"]
    assert (row["indicator"], row["question"], row["item"], row["base"]) == ("Q1 net oui", "Q1", "oui", "asked")
    assert row["difference_pts"] == pytest.approx(row["computed"] - row["published"])
    assert row["computed_pct"] == rounded(row["computed"])
    assert row["moe_pts"] > 0 and row["n"] > 0 and row["n_eff"] > 0
    assert row["ci_low_pts"] < row["computed"] < row["ci_high_pts"]
    assert table.loc["ps_diag_all", "operator"] == ">=" and table.loc["ps_diag_all", "base"] == "all"


def test_a_validated_export_is_audited(tmp_path):
    """The samples the pipeline gives the audit (read, validated, weighted) audit as they are."""
    edition = load_edition("mini", MINI)
    population = edition.populations["ps"]
    path = write_csv(clean_frame(population.codebook, n=300, seed=3), tmp_path / "ps.csv")
    validated = validate_export(read_export(path, population.codebook), population, edition.quality, edition.thresholds)
    table = audited(edition, {"ps": weighted_sample(validated, population)})
    assert table["figure_id"].tolist() == [f.id for f in edition.figures]
    assert table["verdict"].isin(audit.VERDICTS).all() and "not_computed" not in set(table["verdict"])
    assert (table["n"] > 0).all() and table["computed"].between(0, 100).all()


def perturbed_value(case: str, data, truth) -> tuple[str, float, str]:
    """(figure, printed value, words the reason must hold) for each usual slip."""
    figures, computed = truth
    if case == "off_by_3":
        return "ps_trust_self", computed.loc["ps_trust_self", "computed_pct"] + 3, "95 % CI"
    if case == "unweighted":
        return "ps_inform", rounded(estimate_pct(data, Indicator("Q4", net="informe"), weighted=False)), "unweighted"
    if case == "whole_sample":
        return "ps_admin", rounded(estimate_pct(data, Indicator("Q2", code=2), "all")), "whole sample as base"
    if case == "top_box":
        return "ps_trust_self", rounded(estimate_pct(data, Indicator("Q3", code=1, row="r1"))), "top box"
    # rounding down: a free figure whose estimate is x.5 to x.9…
    fid = next(f for f in FREE if computed.loc[f, "computed"] % 1 >= 0.5)
    return fid, math.floor(computed.loc[fid, "computed"]), "rounding down"


@pytest.mark.parametrize("case", ["off_by_3", "unweighted", "whole_sample", "top_box", "rounded_down"])
def test_a_perturbed_figure_gets_its_verdict_and_the_slip_that_explains_it(tmp_path, data, truth, case):
    figures, computed = truth
    fid, value, words = perturbed_value(case, data, truth)
    assert value != computed.loc[fid, "computed_pct"], "the data must make this slip visible"
    table = run_audit(tmp_path, data, with_values(figures, **{fid: {"value": float(value)}}))
    row = table.loc[fid]
    assert row["verdict"] == verdict_from_interval(row)
    assert words in row["reason"]
    if case == "off_by_3":
        assert "no usual slip reproduces it" in row["reason"] and f"{row['difference_pts']:+.1f} pts" in row["reason"]
    else:
        assert "reproduced by" in row["reason"]
    assert (table.drop(index=fid)["verdict"] == "match").all()


def test_reason_of_a_slip_shows_the_arithmetic(tmp_path, data, truth):
    figures, computed = truth
    value = rounded(estimate_pct(data, Indicator("Q4", net="informe"), weighted=False))
    reason = run_audit(tmp_path, data, with_values(figures, ps_inform={"value": value}))["reason"]["ps_inform"]
    main = computed.loc["ps_inform", "computed"]
    assert reason.startswith(f"computed {main:.1f} % → {audit.number_text(rounded(main))}, {main - value:+.1f} pts")
    assert "reproduced by the unweighted estimate (" in reason and f"→ {audit.number_text(value)})" in reason


def test_dont_know_excluded_from_the_base_is_recognised(tmp_path, data, truth):
    figures, computed = truth
    indicator = Indicator("Q3", net="confiance", row="r2")
    value = rounded(estimate_pct(data, indicator, not_answers_in_base=False))
    assert value != computed.loc["ps_trust_patients", "computed_pct"]
    row = run_audit(tmp_path, data, with_values(figures, ps_trust_patients={"value": value})).loc["ps_trust_patients"]
    assert "'Ne sait pas' excluded from the base" in row["reason"] and "reproduced by" in row["reason"]


def test_the_other_population_is_recognised(tmp_path, data, truth):
    figures, computed = truth
    root = write_edition(tmp_path, figures, with_gp=True)
    edition = load_edition("mini", root)
    gp_frame = mini_frame(seed=5, inform=(0.95, 0.9))
    samples = {**data, "gp": weighted(gp_frame, edition.populations["gp"])}
    gp_value = rounded(
        100 * float(estimate_items(
            samples["gp"].design,
            indicator_values(gp_frame, edition.populations["gp"].codebook, Indicator("Q4", net="informe"), "asked")[:, None],
            settings=edition.estimation, significance=edition.significance, thresholds=edition.thresholds,
        )["estimate"].iloc[0])
    )
    assert gp_value != computed.loc["ps_inform", "computed_pct"]
    write_edition(tmp_path, with_values(figures, ps_inform={"value": gp_value}))
    row = audited(load_edition("mini", root), samples).set_index("figure_id").loc["ps_inform"]
    assert row["verdict"] == "mismatch"
    assert "the other population (gp, same question Q4)" in row["reason"]


def test_a_figure_with_the_same_wording_ending_is_the_other_populations_twin(tmp_path, data, truth):
    figures, _ = truth
    root = write_edition(tmp_path, figures, with_gp=True)
    edition = load_edition("mini", root)
    ps_fig = next(f for f in edition.figures if f.id == "ps_inform")
    gp_fig = dataclasses.replace(ps_fig, id="gp_inform", population="gp", indicator=Indicator("Q1", net="oui"), wording="des Français informent leurs patients")
    # The codebooks are twins, so the same question wins; without it, the wording decides.
    twin = audit.counterpart(dataclasses.replace(ps_fig, indicator=Indicator("Q9", code=1)), "gp", dataclasses.replace(edition, figures=(ps_fig, gp_fig)))
    assert twin is None  # "informent leurs patients": 3 shared words, under the minimum of 4
    long_ps = dataclasses.replace(ps_fig, wording="déclarent informer leurs patients lorsqu'ils utilisent l'IA", indicator=Indicator("Q9", code=1))
    long_gp = dataclasses.replace(gp_fig, wording="des Français déclarent informer leurs patients lorsqu'ils utilisent l'IA")
    spec, how = audit.counterpart(long_ps, "gp", dataclasses.replace(edition, figures=(long_ps, long_gp)))
    assert how == "figure gp_inform" and spec == audit.Spec("gp", Indicator("Q1", net="oui"), "asked")


def test_a_self_contradiction_is_an_inconsistent_publication(tmp_path, data, truth):
    figures, _ = truth
    problem = [{"kind": "self_contradiction", "note": "page 4 prints 62 %"}]
    row = run_audit(tmp_path, data, with_values(figures, ps_inform={"problems": problem})).loc["ps_inform"]
    assert row["verdict"] == "inconsistent_publication"
    assert row["reason"].startswith("the publication contradicts itself: page 4 prints 62 %; computed")
    assert row["problems"] == "self_contradiction: page 4 prints 62 %"


def test_a_failed_product_is_an_inconsistent_publication_with_its_arithmetic(tmp_path, data, truth):
    figures, computed = truth
    value = computed.loc["ps_diag_all", "computed_pct"] - 4
    table = run_audit(tmp_path, data, with_values(figures, ps_diag_all={"value": value, "operator": "="}))
    row = table.loc["ps_diag_all"]
    use, diag = (audit.number_text(computed.loc[f, "computed_pct"]) for f in ("ps_use_ai", "ps_diag"))
    assert row["verdict"] == "inconsistent_publication"
    assert re.match(rf"published {audit.number_text(value)} %; its components {use} % × {diag} % = [\d.]+ % \([\d.]+–[\d.]+ from the rounded inputs\); computed ", row["reason"])
    # The components match the data: they keep their verdict, with the failed check noted.
    assert table.loc["ps_use_ai", "verdict"] == "match"
    assert "the publication's product_of check fails" in table.loc["ps_use_ai", "reason"]


def test_the_data_points_to_the_figure_that_breaks_a_check(tmp_path, data, truth):
    figures, computed = truth
    value = computed.loc["ps_use_ai", "computed_pct"] - 6
    table = run_audit(tmp_path, data, with_values(figures, ps_use_ai={"value": value}))
    assert table.loc["ps_use_ai", "verdict"] == "inconsistent_publication"
    assert "its components" in table.loc["ps_use_ai", "reason"] and "must make 100 %" in table.loc["ps_use_ai", "reason"]
    assert table.loc[["ps_diag_all", "ps_q1_no"], "verdict"].tolist() == ["match", "match"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("no_data", "no data for population 'ps'"),
        ("suppressed", "suppressed base:"),
        ("empty_base", "empty base: no respondent in base 'asked' of Q2 code 1"),
    ],
)
def test_what_cannot_be_computed_says_what_is_missing(tmp_path, data, truth, change, words):
    figures, _ = truth
    samples = data
    edition = load_edition("mini", write_edition(tmp_path, figures))
    if change == "no_data":
        samples = {}
    elif change == "suppressed":
        edition = dataclasses.replace(edition, thresholds=dataclasses.replace(edition.thresholds, suppress_base=100_000))
    else:  # nobody uses AI: Q2 is asked to no one
        frame = data["ps"].frame.reset_index().assign(Q1=3.0, **{f"Q2_{c}": np.nan for c in (1, 2, 3, 98)})
        samples = {"ps": weighted(frame, edition.populations["ps"])}
    table = audited(edition, samples).set_index("figure_id")
    row = table.loc["ps_diag"]
    assert row["verdict"] == "not_computed" and words in row["reason"]
    assert math.isnan(row["computed"]) and math.isnan(row["computed_pct"])


# --------------------------------------------------------------------------------------------
# Consistency of the publication (published numbers alone)
# --------------------------------------------------------------------------------------------


def figure(fid: str, value: float, *, base="asked", operator="=", product_of=(), **indicator) -> PublishedFigure:
    return PublishedFigure(fid, "ps", Indicator(**indicator), base, float(value), operator, None, fid, "synthesis", (), tuple(product_of))


def checks_of(figures, max_answers: int | None = None) -> pd.DataFrame:
    edition = load_edition("mini", MINI)
    if max_answers is not None:
        population = edition.populations["ps"]
        book = population.codebook
        questions = tuple(dataclasses.replace(q, max_answers=max_answers) if q.id == "Q2" else q for q in book.questions)
        population = dataclasses.replace(population, codebook=dataclasses.replace(book, questions=questions))
        edition = dataclasses.replace(edition, populations={"ps": population})
    return audit.publication_checks(dataclasses.replace(edition, figures=tuple(figures)))


NET = dict(question="Q1", net="oui")
INFORM = dict(question="Q4", net="informe")


@pytest.mark.parametrize(
    ("figures", "check", "ok"),
    [
        ([figure("net", 70, **NET), figure("c1", 30, question="Q1", code=1), figure("c2", 40, question="Q1", code=2)], "net_vs_parts", True),
        ([figure("net", 70, **NET), figure("c1", 30, question="Q1", code=1), figure("c2", 45, question="Q1", code=2)], "net_vs_parts", False),
        ([figure("net", 30, **NET), figure("c1", 32, question="Q1", code=1)], "net_vs_parts", False),
        ([figure("net", 30, **INFORM), figure("c1", 19, question="Q4", code=1), figure("c2", 16, question="Q4", code=2)], "net_vs_parts", True),
        ([figure("net", 55, **INFORM), figure("c1", 19, question="Q4", code=1), figure("c2", 16, question="Q4", code=2)], "net_vs_parts", False),
        ([figure("net", 55, **INFORM), figure("never", 45, question="Q4", code=99)], "net_plus_exclusive", True),
        ([figure("net", 55, **INFORM), figure("never", 40, question="Q4", code=99)], "net_plus_exclusive", False),
        ([figure("c1", 50, question="Q1", code=1), figure("c2", 30, question="Q1", code=2), figure("c3", 20, question="Q1", code=3)], "single_sum", True),
        ([figure("c1", 50, question="Q1", code=1), figure("c2", 40, question="Q1", code=2), figure("c3", 20, question="Q1", code=3)], "single_sum", False),
        ([figure("c1", 60, question="Q1", code=1), figure("c3", 45, question="Q1", code=3)], "single_sum", False),
        ([figure("net", 65, **NET), figure("c3", 35, question="Q1", code=3)], "single_sum", True),
        ([figure("a", 45, **NET), figure("b", 54, question="Q2", code=1), figure("ab", 24, base="all", question="Q2", code=1, product_of=["a", "b"])], "product_of", True),
        ([figure("a", 45, **NET), figure("b", 54, question="Q2", code=1), figure("ab", 23, base="all", question="Q2", code=1, product_of=["a", "b"])], "product_of", False),
        ([figure("a", 45, **NET), figure("b", 54, question="Q2", code=1), figure("ab", 23, base="all", operator=">=", question="Q2", code=1, product_of=["a", "b"])], "product_of", True),
    ],
)
def test_publication_checks(figures, check, ok):
    checks = checks_of(figures)
    row = checks.loc[checks["check"] == check].iloc[0]
    assert row["ok"] == ok, row["note"]


def test_product_check_gives_the_arithmetic_of_the_rounded_inputs():
    figures = [figure("a", 45, **NET), figure("b", 54, question="Q2", code=1), figure("ab", 23, base="all", question="Q2", code=1, product_of=["a", "b"])]
    row = checks_of(figures).iloc[0]
    assert row["note"] == "published 23 %; its components 45 % × 54 % = 24.3 % (23.8–24.8 from the rounded inputs)"
    assert (row["figures"], row["published"], row["expected"]) == ("ab, a, b", "23; 45; 54", "23.8–24.8")


def test_multi_net_lies_between_its_largest_part_and_their_sum_with_the_exclusive_answer_making_100():
    # The 2025 synthesis: 55 % inform, 19/16/26 % by way, and the exclusive "Non, jamais" 45 %.
    figures = [figure("net", 55, **INFORM), figure("c1", 19, question="Q4", code=1), figure("c2", 36, question="Q4", code=2), figure("never", 45, question="Q4", code=99)]
    checks = checks_of(figures).set_index("check")
    assert checks["ok"].all()
    assert checks.loc["net_vs_parts", "note"] == "net 'informe' 55 % must lie between its largest part and the sum of its parts (19 + 36 = 55 %): expected 35.5–56.0 %"


@pytest.mark.parametrize(("max_answers", "values", "ok"), [(3, [90, 80, 70, 70], False), (3, [90, 80, 70, 50], True), (2, [90, 80, 40], False)])
def test_answers_of_a_capped_multiple_choice_question_add_up_to_at_most_the_cap(max_answers, values, ok):
    figures = [figure(f"c{c}", v, question="Q2", code=c) for c, v in zip((1, 2, 3, 98), values)]
    row = checks_of(figures, max_answers).set_index("check").loc["multi_sum"]
    assert row["ok"] == ok
    assert f"may not exceed {100 * max_answers} %" in row["note"]


# --------------------------------------------------------------------------------------------
# Rendering, counts, --strict
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, data, truth):
    """An audit with every verdict, in two populations, with a long id and wording."""
    figures, computed = truth
    root = tmp_path_factory.mktemp("mixed")
    changes = {
        "ps_trust_self": {"value": float(computed.loc["ps_trust_self", "computed_pct"] + 9)},
        "ps_inform": {"problems": [{"kind": "self_contradiction", "note": "page 4 prints another value"}]},
        "ps_diag": {"value": float(computed.loc["ps_diag", "computed_pct"] + 1), "wording": "utilisent l'IA pour l'aide au diagnostic, " * 4},
    }
    gp = {**EXTRA_FIGURES[0], "id": "gp_figure_with_a_very_long_identifier_indeed", "population": "gp"}
    write_edition(root, with_values(figures, **changes) + [gp], with_gp=True)
    return audited(load_edition("mini", root), data)


def test_every_verdict_is_counted(mixed):
    counts = audit.verdict_counts(mixed)
    assert list(counts) == list(audit.VERDICTS)
    assert counts["mismatch"] == 1 and counts["inconsistent_publication"] == 1 and counts["not_computed"] == 1
    assert sum(counts.values()) == len(mixed)
    assert audit.verdict_counts(mixed.iloc[0:0]) == dict.fromkeys(audit.VERDICTS, 0)


def verdict_ranks(verdicts) -> list[int]:
    return [audit.VERDICTS.index(v) for v in verdicts]


def markdown_rows(text: str) -> pd.DataFrame:
    """The pipe table of ``render_audit(..., "markdown")``, after its summary line."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert set(lines[1]) == {"|", "-"}
    return pd.DataFrame(cells[2:], columns=cells[0])


@pytest.mark.parametrize("width", [64, 80, 100])
def test_table_fits_the_terminal_and_puts_what_needs_a_look_first(mixed, width):
    text = audit.render_audit(mixed, "table", width=width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert lines[0].startswith(f"Audit: {len(mixed)} figure(s): 1 mismatch")
    # A block per verdict, across populations: the mismatch of ps and the not_computed of gp before any match.
    blocks = [line.split(":")[0] for line in lines if line.split(":")[0] in audit.VERDICTS]
    assert blocks == sorted(set(mixed["verdict"]), key=audit.VERDICTS.index) and blocks[-1] == "match"
    figure_rows = [line.split() for line in lines if line.startswith("  ") and not line.startswith(("   ", "  figure"))]
    shown = {row[0].rstrip("…"): row[1] for row in figure_rows}
    assert len(figure_rows) == len(mixed) and set(shown.values()) == {"ps", "gp"}
    reasons = [line for line in lines if line.startswith("      → ")]
    assert len(reasons) == (mixed["verdict"] != "match").sum()
    long_id = "gp_figure_with_a_very_long_identifier_indeed"
    assert (long_id[: width - 37] + "…" if len(long_id) > width - 36 else long_id) in text  # ids cut to fit


def test_every_format_puts_problems_first(mixed):
    expected = audit.ordered_for_reading(mixed)["figure_id"].tolist()
    assert verdict_ranks(audit.ordered_for_reading(mixed)["verdict"]) == sorted(verdict_ranks(mixed["verdict"]))
    back = pd.read_csv(io.StringIO(audit.render_audit(mixed, "csv")))
    assert back["figure_id"].tolist() == expected and list(back.columns) == list(audit.AUDIT_COLUMNS)
    assert [r["figure_id"] for r in json.loads(audit.render_audit(mixed, "json"))] == expected
    assert markdown_rows(audit.render_audit(mixed, "markdown"))["figure"].tolist() == expected


def shown_verdicts(text: str, fmt: str) -> list[str]:
    """The verdict of each figure a rendering shows, in its order."""
    if fmt == "table":  # a block per verdict: "mismatch: 2 figure(s) (ps 1, gp 1)"
        blocks = [re.match(r"(\w+): (\d+) figure", line) for line in text.splitlines()[1:]]
        return [m[1] for m in blocks if m and m[1] in audit.VERDICTS for _ in range(int(m[2]))]
    if fmt == "csv":
        return pd.read_csv(io.StringIO(text))["verdict"].tolist()
    if fmt == "json":
        return [r["verdict"] for r in json.loads(text)]
    return markdown_rows(text)["verdict"].tolist()


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "json"])
def test_problems_only_leaves_out_the_matches(mixed, fmt):
    assert shown_verdicts(audit.render_audit(mixed, fmt), fmt) == audit.ordered_for_reading(mixed)["verdict"].tolist()
    problems = audit.ordered_for_reading(mixed[mixed["verdict"] != "match"])
    assert shown_verdicts(audit.render_audit(mixed, fmt, problems_only=True), fmt) == problems["verdict"].tolist()


def test_problems_only_says_when_nothing_needs_a_look(mixed):
    matches = mixed[mixed["verdict"] == "match"]
    assert audit.render_audit(matches, "table", problems_only=True).splitlines()[1:] == ["no figure needs a look"]
    assert json.loads(audit.render_audit(matches, "json", problems_only=True)) == []


def test_csv_and_json_keep_every_column_at_full_precision(mixed):
    back = pd.read_csv(io.StringIO(audit.render_audit(mixed, "csv"))).set_index("figure_id")
    ordered = mixed.set_index("figure_id").loc[back.index]
    assert back["reason"].fillna("").tolist() == ordered["reason"].tolist()
    assert np.allclose(back["computed"], ordered["computed"], equal_nan=True)
    missing = next(r for r in json.loads(audit.render_audit(mixed, "json")) if r["verdict"] == "not_computed")
    assert missing["computed"] is None and missing["n"] is None


def test_markdown_is_for_a_person_rounded_with_the_useful_columns(mixed):
    text = audit.render_audit(mixed, "markdown")
    assert text.splitlines()[0] == f"**Audit**: {audit.counts_text(mixed)}"
    table = markdown_rows(text).set_index("figure")
    assert list(table.columns) == ["population", "page", "wording", "published", "computed", "diff", "MOE", "verdict", "reason"]
    ordered = mixed.set_index("figure_id").loc[table.index]
    assert table["verdict"].tolist() == ordered["verdict"].tolist() and table["reason"].tolist() == ordered["reason"].tolist()
    numbers = table[["published", "computed", "diff", "MOE"]].to_numpy().ravel()
    assert all(re.fullmatch(r"—|[≥±+-]?\d+(\.\d)?", cell) for cell in numbers), numbers
    mismatch = ordered.index[ordered["verdict"] == "mismatch"][0]
    assert table.loc[mismatch, "computed"] == f"{ordered.loc[mismatch, 'computed']:.1f}"
    assert table.loc[mismatch, "MOE"] == f"±{ordered.loc[mismatch, 'moe_pts']:.1f}"


def test_unknown_format_is_a_usage_error(mixed):
    with pytest.raises(UsageError, match="unknown audit format 'html'"):
        audit.render_audit(mixed, "html")


def test_strict_failure_names_the_mismatched_figures(mixed):
    error = audit.strict_failure(mixed)
    assert isinstance(error, AuditMismatchError) and error.exit_code == 3
    assert "1 published figure(s) do not match the data: ps_trust_self" in error.message
    assert "edition mini" in error.message
    assert audit.strict_failure(mixed[mixed["verdict"] != "mismatch"]) is None
