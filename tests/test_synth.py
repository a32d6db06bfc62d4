"""Synthetic exports: deterministic, valid Toluna-style files that reproduce every published figure."""

from __future__ import annotations

import dataclasses
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from baro_pipeline.edition import Edition, load_edition
from baro_pipeline.errors import EditionError, UsageError
from baro_pipeline.estimation import indicator_values, published_round
from baro_pipeline.ingest import read_export
from baro_pipeline.newedition import create_edition
from baro_pipeline.synth import Share, covering_ticks, default_seed, load_model, synthesize, write_exports
from baro_pipeline.validation import validate_export
from baro_pipeline.weighting import weight_population

ROOT = Path(__file__).parents[1]
MINI = Path(__file__).parent / "fixtures" / "mini"
N = 300  # complete, kept interviews of the mini exports


@pytest.fixture(scope="module")
def edition_2025() -> Edition:
    return load_edition("2025", ROOT)


@pytest.fixture(scope="module")
def kept_2025(edition_2025):
    """Per population of raw/2025: the validation result and the kept interviews' raked weights."""
    out = {}
    for population in edition_2025.populations:
        result = validated(edition_2025, ROOT / "raw" / "2025", population)
        out[population] = (result, weight_population(result.frame, edition_2025.populations[population]).weights)
    return out


@pytest.fixture(scope="module")
def mini_exports(mini_edition, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    write_exports(mini_edition, out=out, respondents=N, seed=7)
    return out


def validated(edition: Edition, folder: Path, population: str, suffix: str = "csv"):
    pop = edition.populations[population]
    return validate_export(read_export(folder / f"{population}.{suffix}", pop.codebook), pop, edition.quality, edition.thresholds)


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes(mini_edition, mini_exports, tmp_path):
    write_exports(mini_edition, out=tmp_path, respondents=N, seed=7)
    assert (tmp_path / "ps.csv").read_bytes() == (mini_exports / "ps.csv").read_bytes()


def test_another_seed_writes_other_interviews(mini_edition, mini_exports, tmp_path):
    write_exports(mini_edition, out=tmp_path, respondents=N, seed=8)
    assert (tmp_path / "ps.csv").read_bytes() != (mini_exports / "ps.csv").read_bytes()


def test_the_default_seed_follows_the_edition(tmp_path):
    """A copied edition draws its own interviews (its trend is noise, not zeros); one edition, one set of bytes."""
    shutil.copytree(MINI / "editions" / "mini", tmp_path / "editions" / "mini")
    create_edition(tmp_path, "2026", "mini")
    mini, copy = load_edition("mini", tmp_path), load_edition("2026", tmp_path)
    assert (default_seed(mini), default_seed(copy), default_seed(dataclasses.replace(copy, id="2025"))) == (zlib.crc32(b"mini"), 2026, 2025)
    (old,) = write_exports(mini, out=tmp_path / "mini", respondents=N)
    (new,) = write_exports(copy, out=tmp_path / "a", respondents=N)
    (again,) = write_exports(copy, out=tmp_path / "b", respondents=N)
    assert new.read_bytes() != old.read_bytes()
    assert new.read_bytes() == again.read_bytes()


def test_raw_2025_is_what_the_defaults_write(edition_2025, tmp_path):
    written = write_exports(edition_2025, out=tmp_path)
    assert [p.name for p in written] == ["ps.csv", "gp.csv"]
    for path in written:
        assert path.read_bytes() == (ROOT / "raw" / "2025" / path.name).read_bytes(), f"regenerate raw/2025 ({path.name} differs)"


# --------------------------------------------------------------------------------------------
# The shape of a Toluna export
# --------------------------------------------------------------------------------------------


def test_csv_is_semicolon_separated_utf8_with_bom(mini_exports, mini_codebook):
    data = (mini_exports / "ps.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfrespondent_id;status;start_time;end_time;loi_seconds;profession;SEXE;Q1;Q2_1")
    export = read_export(mini_exports / "ps.csv", mini_codebook)
    assert export.source.delimiter == ";" and export.source.bom and export.issues.empty


def test_every_interview_is_a_row_with_its_status_id_and_times(mini_edition, mini_exports, mini_codebook):
    frame = read_export(mini_exports / "ps.csv", mini_codebook).frame
    counts = frame["status"].value_counts()
    assert counts["incomplete"] == round(0.06 * N) and counts["screened_out"] == round(0.04 * N)
    assert counts["complete"] == N + round(0.01 * N)  # the speeders are extra complete rows
    assert frame["respondent_id"].str.fullmatch(r"TLN-PS-\d{6}").all() and frame["respondent_id"].is_unique
    start, end = pd.to_datetime(frame["start_time"]), pd.to_datetime(frame["end_time"])
    assert start.is_monotonic_increasing
    assert ((end - start).dt.total_seconds() == frame["loi_seconds"]).all()
    first, last = (pd.Timestamp(d) for d in mini_edition.fieldwork)
    assert start.min() >= first and start.max() < last + pd.Timedelta(days=1)


def test_unfinished_interviews_stop_after_the_profile_or_mid_questionnaire(mini_exports, mini_codebook):
    frame = read_export(mini_exports / "ps.csv", mini_codebook).frame
    answers = frame[["Q1", "Q3_r1", "Q4_1"]]
    screened, incomplete = frame["status"].eq("screened_out"), frame["status"].eq("incomplete")
    assert frame.loc[screened, ["profession", "SEXE"]].notna().all().all() and answers[screened].isna().all().all()
    assert answers[incomplete].notna().any(axis=1).all()  # they answered something…
    assert frame.loc[incomplete, "Q4_1"].isna().all()  # …and never reached the last question


@pytest.mark.parametrize("population", ["ps", "gp"])
def test_only_the_speeders_are_quarantined(edition_2025, kept_2025, population):
    result, _ = kept_2025[population]
    sample = edition_2025.populations[population].sample_size
    assert set(result.quarantine["rule"]) == {"speeder"}
    assert result.counts.quarantined == round(0.01 * sample) and result.counts.kept == sample
    assert result.counts.flagged["straightliner"] >= round(0.015 * sample)  # the planted ones, flagged but kept


@pytest.mark.parametrize("population", ["ps", "gp"])
def test_the_quota_sample_is_skewed_as_a_panel_is(kept_2025, population):
    _, weights = kept_2025[population]
    assert 3 <= weights.max() / weights.min() <= 6


def test_a_small_sample_still_holds_every_weighting_category(edition_2025):
    """200 public interviews: Corse (0.6 % of the target) would often be drawn by no one."""
    frame = synthesize(edition_2025, "gp", respondents=200, seed=3)
    kept = frame[frame["status"].eq("complete")]
    assert set(kept["REGION"].dropna()) == set(range(1, 14))


def test_nurses_are_under_represented_against_their_target(kept_2025):
    result, weights = kept_2025["ps"]
    nurses = result.frame["PROFESSION"].eq(4).to_numpy()
    assert nurses.mean() < 0.74 - 0.1 and np.average(nurses, weights=weights) == pytest.approx(0.74)


def test_breakdowns_differ_as_the_propensities_say(kept_2025):
    """PS Q1: doctors use AI more than nurses, the young more than the old (synth.yaml propensities)."""
    result, weights = kept_2025["ps"]
    frame = result.frame
    daily = frame["Q1"].eq(1).to_numpy()

    def share(mask: pd.Series) -> float:
        return np.average(daily[mask.to_numpy()], weights=weights[mask.to_numpy()])

    assert share(frame["PROFESSION"].isin([1, 2, 3])) > share(frame["PROFESSION"].eq(4)) + 0.05
    assert share(frame["AGE"].eq(1)) > share(frame["AGE"].eq(4)) + 0.05


@pytest.mark.parametrize("policy", ["flag", "quarantine"])
def test_straight_liners_respect_the_policy_and_the_figures(mini_edition, tmp_path, policy):
    """Flagged: planted among the N kept. Quarantined: extra rows, and no kept interview straight-lines."""
    edition = dataclasses.replace(mini_edition, quality=dataclasses.replace(mini_edition.quality, straightliner_action=policy))
    write_exports(edition, out=tmp_path, respondents=N, seed=7)
    result = validated(edition, tmp_path, "ps")
    rules = result.quarantine.groupby("rule")["row"].nunique()
    assert result.counts.kept == N
    if policy == "flag":
        assert set(rules.index) == {"speeder"} and result.counts.flagged["straightliner"] >= round(0.02 * N)
    else:
        assert set(rules.index) == {"speeder", "straightliner"} and rules["straightliner"] == round(0.02 * N)
    kept = {"ps": (result, weight_population(result.frame, edition.populations["ps"]).weights)}
    for figure in edition.figures:
        assert printed_value(edition, kept, figure) == figure.value, figure.id


def test_open_texts_are_planted_where_autre_is_ticked(mini_exports, mini_codebook):
    frame = read_export(mini_exports / "ps.csv", mini_codebook).frame
    ticked = frame["Q2_98"].eq(1)
    assert ticked.sum() > 0 and frame["Q2_98_other"].notna().eq(ticked).all()
    texts = frame.loc[ticked, "Q2_98_other"]
    assert (texts == "précision libre " + frame.loc[ticked, "respondent_id"] + " : " + texts.str.split(" : ").str[1]).all()


def test_caps_and_exclusive_codes_hold(edition_2025, kept_2025):
    frame = kept_2025["ps"][0].frame
    book = edition_2025.populations["ps"].codebook
    for q in (q for q in book.questions if q.type == "multi"):
        ticks = frame[list(q.columns.values())].to_numpy(dtype=float) == 1
        count = ticks.sum(axis=1)
        asked = frame[q.columns[q.all_codes()[0]]].notna().to_numpy()
        assert (count[asked] >= 1).all() and (count[~asked] == 0).all(), q.id
        assert q.max_answers is None or count.max() == q.max_answers, q.id
        for code in q.exclusive:
            assert (count[ticks[:, q.all_codes().index(code)]] == 1).all(), (q.id, code)


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def test_the_three_formats_hold_the_same_data(mini_edition, mini_codebook, mini_exports, tmp_path):
    csv = read_export(mini_exports / "ps.csv", mini_codebook).frame
    for fmt in ("xlsx", "sav"):
        (path,) = write_exports(mini_edition, out=tmp_path / fmt, respondents=N, seed=7, fmt=fmt)
        other = read_export(path, mini_codebook)
        assert other.issues.empty
        pd.testing.assert_frame_equal(other.frame, csv, check_dtype=False)


def test_a_codebook_with_slot_encoding_gets_slot_columns(mini_edition, mini_codebook, mini_exports, tmp_path):
    questions = tuple(dataclasses.replace(q, encoding="codes") if q.type == "multi" else q for q in mini_codebook.questions)
    book = dataclasses.replace(mini_codebook, questions=questions)
    population = dataclasses.replace(mini_edition.populations["ps"], codebook=book)
    edition = dataclasses.replace(mini_edition, populations={"ps": population})
    frame = synthesize(edition, "ps", respondents=N, seed=7)
    assert list(frame.filter(like="Q4_").columns) == ["Q4_1", "Q4_2", "Q4_3"]  # slots: as many as codes
    frame.to_csv(tmp_path / "ps.csv", sep=";", index=False)
    slots = read_export(tmp_path / "ps.csv", book).frame
    binary = read_export(mini_exports / "ps.csv", mini_codebook).frame
    pd.testing.assert_frame_equal(slots[binary.columns], binary, check_dtype=False)


def test_a_second_format_beside_an_export_is_refused(mini_edition, mini_exports):
    with pytest.raises(UsageError, match=r"already holds ps.csv.*two exports"):
        write_exports(mini_edition, out=mini_exports, respondents=N, fmt="sav")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "json"}, "unknown format 'json'"),
        ({"fmt": "xlsx", "respondents": 1_000_000}, r"1110000 interviews of population 'ps' do not fit in an Excel sheet"),
        ({"respondents": 1}, r"1 respondents cannot fill every weighting category \(a target has 2\)"),
    ],
)
def test_bad_arguments_are_usage_errors(mini_edition, tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        write_exports(mini_edition, out=tmp_path, **kwargs)


# --------------------------------------------------------------------------------------------
# The published figures, recomputed from raw/2025 as the pipeline does
# --------------------------------------------------------------------------------------------


def printed_value(edition: Edition, kept, figure) -> float:
    """The figure recomputed as the pipeline does (weighted share of the indicator on its base), rounded as published."""
    result, weights = kept[figure.population]
    values = indicator_values(result.frame, edition.populations[figure.population].codebook, figure.indicator, figure.base)
    inside = ~np.isnan(values)
    return published_round(np.array([100 * np.average(values[inside], weights=weights[inside])]), edition.estimation.rounding)[0]


def figure_ids() -> list[str]:
    return [f.id for f in load_edition("2025", ROOT).figures]


@pytest.mark.parametrize("figure_id", figure_ids())
def test_every_published_figure_is_reproduced(edition_2025, kept_2025, figure_id):
    figure = next(f for f in edition_2025.figures if f.id == figure_id)
    printed = printed_value(edition_2025, kept_2025, figure)
    if any(p.kind == "self_contradiction" for p in figure.problems):
        parts = [next(f for f in edition_2025.figures if f.id == i).value / 100 for i in figure.product_of]
        assert printed == round(100 * np.prod(parts)) != figure.value  # follows its components, not the print
    elif figure.operator == ">=":
        assert printed >= figure.value
    else:
        assert printed == figure.value


# --------------------------------------------------------------------------------------------
# synth.yaml: mistakes fail on load, naming the key and the fix
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mini_copy(tmp_path) -> Path:
    shutil.copytree(MINI, tmp_path / "mini")
    return tmp_path / "mini"


def edited(root: Path, change) -> Edition:
    path = root / "editions" / "mini" / "synth.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["populations"]["ps"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_edition("mini", root)


def set_key(path: str, value):
    def change(node):
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key) if key.isdigit() else key]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_key("questions.Q1.code", {}), r"(?s)key 'populations.ps.questions.Q1.code': unknown key 'code'.*did you mean 'codes'"),
        (set_key("questions.Q1.codes.3", 0.3), r"expected \[share, source, \.\.\.\], found 0.3"),
        (set_key("questions.Q1.codes.3", [0.2, "synthetic"]), r"shares sum to 0.9, not 1"),
        (set_key("questions.Q1.codes.3", [0.3, "ps_use_AI"]), r"(?s)source 'ps_use_AI' is not a published figure.*did you mean 'ps_use_ai'"),
        (set_key("questions.Q4.codes.1", [0.3, "ps_use_ai"]), r"cites figure 'ps_use_ai', which does not depend on Q4"),
        (set_key("questions.Q3.rows.r1", {c: [v, "synthetic"] for c, v in {1: 0.15, 2: 0.45, 3: 0.2, 4: 0.1, 9: 0.1}.items()}), r"no share cites published figure 'ps_trust_self'"),
        (set_key("questions.Q2.codes.1", [0.46, "ps_diag", "ps_diag_all"]), r"the shares give 46.00 % for figure 'ps_diag', printed 50 %"),
        (set_key("questions.Q2.unions", {"D_diag_or_admin": [0.8, "synthetic"], "Q4": [0.1, "synthetic"]}), r"'Q4' is neither a net of Q2 nor a derived indicator"),
        (set_key("questions.Q4.codes.99", [0.9, "synthetic"]), r"codes of Q4 sum to 0.55, more than 2 answer\(s\) × 0.1 of respondents who may tick them"),
        (set_key("questions.Q2.codes", {1: [0.5, "ps_diag", "ps_diag_all"], 2: [0.45, "synthetic"], 3: [1.0, "synthetic"], 98: [0.1, "synthetic"]}), r"codes of Q2 sum to 2.05, more than 2 answer\(s\)"),
        (set_key("questions.Q2.unions", {"D_diag_or_admin": [0.45, "synthetic"]}), r"union 'D_diag_or_admin' \(0.45\) cannot hold its items' shares \[0.5, 0.45\]"),
        (set_key("questions.Q3.unions", {"D_diag_or_admin": [0.5, "synthetic"]}), r"'D_diag_or_admin' is not an any_of over Q3 alone"),
        (set_key("profile.sex", {"skew": {3: 1.2}}), r"3 is not a code of sex"),
        (set_key("questions.Q2.other.texts", ["a; b"]), r"holds a ';', a quote or a line break"),
        (set_key("rates.incomplete", 0.8), r"incomplete = 0.8 is out of range"),
    ],
)
def test_mistakes_in_synth_yaml_fail_on_load(mini_copy, change, message):
    with pytest.raises(EditionError, match=message):
        load_model(edited(mini_copy, change))


def test_a_missing_question_model_is_named(mini_copy):
    with pytest.raises(EditionError, match=r"question Q3 has no answer model.*\n  fix: add 'Q3:' under questions"):
        load_model(edited(mini_copy, lambda ps: ps["questions"].pop("Q3")))


def test_ticks_that_cannot_fit_the_cap_are_an_error():
    """The kernel's guard: two items each ticked by everyone, with one answer allowed."""
    everyone = np.arange(4)
    with pytest.raises(EditionError, match=r"code \d: 2.0 of weight still to tick but only 0.0 can"):
        covering_ticks([(everyone, [0, 1])], np.ones((4, 2), bool), np.ones(4), np.zeros((4, 2)), np.array([4.0, 4.0]), 1, ["code 1", "code 2"], "here")


def test_the_model_records_where_each_share_comes_from(mini_edition):
    q1 = load_model(mini_edition).populations["ps"].questions["Q1"]
    assert q1.codes[1] == Share(0.30, ("ps_use_ai", "ps_diag_all"))
    assert load_model(mini_edition).populations["ps"].questions["Q4"].codes[99] == Share(0.55, ("synthetic",))
