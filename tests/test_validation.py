"""Validation: the schema derived from the codebook, each survey rule, quality policy, counts and threshold."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.edition import Condition, QualityPolicy, Question, Thresholds
from baro_pipeline.errors import ValidationThresholdError
from baro_pipeline import validation
from baro_pipeline.ingest import read_export
from baro_pipeline.validation import QUARANTINE_COLUMNS, build_schema, shared_id_warnings, validate_export
from exports import OPEN_TEXT, clean_frame, write_csv

N = 100
LENIENT = Thresholds(max_invalid_share=1.0)


@pytest.fixture(scope="module")
def frame(mini_codebook) -> pd.DataFrame:
    return clean_frame(mini_codebook, n=N)


DEFAULT_QUALITY = QualityPolicy()


def validated(frame, population, tmp_path: Path, quality=DEFAULT_QUALITY, thresholds=LENIENT, text: str | None = None):
    path = write_csv(frame, tmp_path / "ps.csv")
    if text is not None:  # a hand-edited file
        path.write_text(text, encoding="utf-8")
    return validate_export(read_export(path, population.codebook), population, quality, thresholds)


def assert_counts_add_up(result) -> None:
    c = result.counts
    assert c.read == c.kept + sum(c.excluded.values()) + c.quarantined
    assert c.kept == len(result.frame) and c.quarantined == result.quarantine["row"].nunique()


def first_row(frame: pd.DataFrame, mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


# --------------------------------------------------------------------------------------------
# Clean data
# --------------------------------------------------------------------------------------------


def test_a_clean_export_is_kept_whole(frame, mini_population, tmp_path):
    result = validated(frame, mini_population, tmp_path)
    assert result.quarantine.empty and list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert result.counts.kept == N and result.counts.excluded == {"incomplete": 0, "screened_out": 0}
    assert list(result.frame.columns) == [
        "respondent_id", "profession", "SEXE", "Q1", "Q2_1", "Q2_2", "Q2_3", "Q2_98", "Q3_r1", "Q3_r2", "Q3_r3", "Q4_1", "Q4_2", "Q4_99",
    ]  # no open text, no technical column but the id
    assert_counts_add_up(result)


def test_multi_ticks_are_nan_where_not_asked(frame, mini_population, tmp_path):
    export = frame.copy()
    not_asked = ~export["Q1"].isin([1, 2])
    export.loc[not_asked, ["Q2_1", "Q2_2", "Q2_3", "Q2_98"]] = 0.0  # an export writing 0 for "not asked"
    result = validated(export, mini_population, tmp_path)
    assert result.quarantine.empty
    assert result.frame.loc[not_asked.to_numpy(), "Q2_1"].isna().all()


@pytest.mark.parametrize("moved", [True, False], ids=["large export: moved", "small export: copied"])
def test_a_large_exports_answer_columns_are_moved_out_of_it(frame, mini_population, tmp_path, monkeypatch, moved):
    """The kept rows take a large export's answer columns (one copy of them in memory at a time):
    the same values, and the export keeps only its other columns; a small export's are copied."""
    monkeypatch.setattr(validation, "MOVED_ROWS", 1 if moved else N + 1)
    monkeypatch.setattr(validation, "RELEASED_BYTES", 1)  # Arrow's pages given back after every question
    export = read_export(write_csv(frame, tmp_path / "ps.csv"), mini_population.codebook)
    before = export.frame.copy()
    result = validate_export(export, mini_population, DEFAULT_QUALITY, LENIENT)
    answers = [c for c in result.frame.columns if c != "respondent_id"]
    left = set(before.columns) - set(answers) if moved else set(before.columns)
    assert set(export.frame.columns) == left
    pd.testing.assert_frame_equal(result.frame[answers], before[answers].reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# One problem, one quarantine row
# --------------------------------------------------------------------------------------------


def routed_out(f):
    i = first_row(f, ~f["Q1"].isin([1, 2]))
    f.loc[i, "Q2_1"] = 1.0
    return i


def multi_without_tick(f):
    f.loc[0, ["Q4_1", "Q4_2", "Q4_99"]] = 0.0
    return 0


def exclusive_not_alone(f):
    f.loc[0, ["Q4_1", "Q4_99"]] = 1.0
    return 0


def too_many_answers(f):
    i = first_row(f, f["Q1"].isin([1, 2]))
    f.loc[i, ["Q2_1", "Q2_2", "Q2_3"]] = 1.0
    return i


def set_cell(column, value, i=0):
    def mutate(f):
        f.loc[i, column] = value
        return i

    return mutate


PROBLEMS = [
    ("routing", routed_out, "Q2_1", "1", r"^Q2 answered but not asked \(asked only if Q1 in \[1, 2\]\)$"),
    ("required", set_cell("Q1", np.nan), "Q1", "", r"^Q1 asked but not answered$"),
    ("required", multi_without_tick, "Q4", "", r"^Q4 asked but no answer ticked$"),
    ("grid_complete", set_cell("Q3_r2", np.nan), "Q3_r2", "", r"^Q3 row r2 'Vos patients' not answered: every row of the grid must be$"),
    ("exclusive", exclusive_not_alone, "Q4_99", None, r"^Q4 code 99 'Non, jamais' must stand alone, but other codes are ticked too$"),
    ("max_answers", too_many_answers, "Q2", None, r"^Q2 allows 2 answer\(s\) at most$"),
    ("allowed_codes", set_cell("SEXE", 3.0), "SEXE", "3", r"^not a code of sex \(expected one of 1 'Homme', 2 'Femme'\)$"),
    ("allowed_codes", set_cell("Q3_r1", 5.0), "Q3_r1", "5", r"^not a code of Q3 \(expected one of 1 'Tout à fait', .*, 9 'Ne sait pas'\)$"),
    ("binary", set_cell("Q4_2", 2.0), "Q4_2", "2", r"^a Q4 tick must be 0 or 1$"),
    ("status", set_cell("status", "partial"), "status", "partial", r"^unknown interview status \(expected one of complete, incomplete, screened_out\)$"),
    ("not_nullable", set_cell("loi_seconds", np.nan), "loi_seconds", "", r"^blank where a value is required$"),
    ("loi", set_cell("loi_seconds", -5.0), "loi_seconds", "-5", r"^length of interview must be a number of seconds >= 0$"),
    ("number", set_cell("profession", "médecin"), "profession", "médecin", r"^'profession' holds something that is not a number"),
    ("speeder", set_cell("loi_seconds", 30.0), "loi_seconds", "30", r"^interview shorter than 0.4 × the median length of complete interviews \(\d+(\.\d+)? s\), i.e. under"),
]


@pytest.mark.parametrize("rule, mutate, column, value, reason", PROBLEMS, ids=[f"{p[0]}-{p[2]}" for p in PROBLEMS])
def test_each_problem_gives_one_quarantine_row(rule, mutate, column, value, reason, frame, mini_population, tmp_path):
    export = frame.astype(object)
    i = mutate(export)
    result = validated(export, mini_population, tmp_path)
    found = result.quarantine[result.quarantine["rule"] == rule]
    assert len(found) == 1, result.quarantine
    problem = found.iloc[0]
    assert (problem["population"], problem["file"], problem["row"], problem["respondent_id"], problem["column"]) == ("ps", "ps.csv", i + 1, f"R{i + 1:04d}", column)
    assert re.search(reason, problem["reason"]), problem["reason"]
    if value is not None:
        assert problem["value"] == value
    assert result.counts.quarantined == 1 and result.counts.kept == N - 1
    assert f"R{i + 1:04d}" not in set(result.frame["respondent_id"])
    assert_counts_add_up(result)


def test_duplicate_ids_quarantine_both_interviews(frame, mini_population, tmp_path):
    export = frame.copy()
    export.loc[1, "respondent_id"] = "R0001"
    result = validated(export, mini_population, tmp_path)
    assert result.quarantine[["row", "respondent_id", "rule"]].values.tolist() == [[1, "R0001", "field_uniqueness"], [2, "R0001", "field_uniqueness"]]
    assert result.quarantine["reason"].eq("respondent id found on several interviews: each id must be unique").all()


def test_an_id_repeated_on_an_excluded_interview_is_no_duplicate(frame, mini_population, mini_codebook, tmp_path):
    """Excluded interviews are not validated (the schema runs on every row, its cases on them dropped):
    an id they share with a kept interview, or with each other, quarantines nothing."""
    export = frame.copy()
    export.loc[[1, 2, 3], "respondent_id"] = "R0001"
    export.loc[[1, 2], "status"] = mini_codebook.statuses["incomplete"]
    export.loc[3, "status"] = mini_codebook.statuses["screened_out"]
    result = validated(export, mini_population, tmp_path)
    assert result.quarantine.empty and result.counts.kept == N - 3 and "R0001" in set(result.frame["respondent_id"])
    export.loc[4, "respondent_id"] = "R0001"  # a second validated interview with that id: both quarantined
    result = validated(export, mini_population, tmp_path)
    assert result.quarantine[["row", "rule"]].values.tolist() == [[1, "field_uniqueness"], [5, "field_uniqueness"]]


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x85"], ids=["NUL", "ESC", "NEL"])
def test_a_control_character_inside_an_id_is_quarantined_and_shown(control, frame, mini_population, tmp_path):
    export = frame.copy()
    export.loc[2, "respondent_id"] = f"R0{control}003"
    result = validated(export, mini_population, tmp_path)
    problem = result.quarantine.iloc[0]
    assert len(result.quarantine) == 1 and (problem["row"], problem["column"], problem["rule"]) == (3, "respondent_id", "respondent_id")
    assert problem["value"] == f"R0\\x{ord(control):02x}003" and problem["reason"].startswith("respondent id holds a control character")
    assert result.counts.quarantined == 1
    assert_counts_add_up(result)


def test_a_truncated_line_is_quarantined_with_its_row_number(frame, mini_population, tmp_path):
    text = frame.to_csv(sep=";", index=False)
    cut = text.rstrip("\n").rsplit(";", 5)[0]  # the last line loses its last five fields
    result = validated(frame, mini_population, tmp_path, text=cut)
    assert result.quarantine[["row", "respondent_id", "column", "value", "rule"]].values.tolist() == [[N, f"R{N:04d}", "", "", "field_count"]]
    assert result.counts.read == N and result.counts.quarantined == 1
    assert_counts_add_up(result)


def test_ids_shared_by_two_populations_are_counted_in_a_warning_without_the_ids(frame, mini_population, tmp_path):
    for folder in ("ps", "gp", "g2"):
        (tmp_path / folder).mkdir()
    ps = validated(frame, mini_population, tmp_path / "ps")
    other = frame.assign(respondent_id=frame["respondent_id"].str.replace("R", "G").where(frame.index >= 3, frame["respondent_id"]))
    gp = validated(other, mini_population, tmp_path / "gp")
    warnings = shared_id_warnings({"ps": ps, "gp": gp}, {"ps": mini_population, "gp": mini_population})
    assert warnings == [
        "warning: 3 respondent id(s) on kept interviews of both ps and gp: check that the two exports are of distinct panels "
        "(the interviews are in weights.parquet under both populations)"
    ]
    assert shared_id_warnings({"ps": ps, "gp": validated(frame.assign(respondent_id="G" + frame["respondent_id"]), mini_population, tmp_path / "g2")}, {"ps": mini_population, "gp": mini_population}) == []


# --------------------------------------------------------------------------------------------
# Status and quality
# --------------------------------------------------------------------------------------------


def test_incomplete_and_screened_out_are_excluded_not_validated(frame, mini_population, tmp_path):
    export = frame.astype(object)
    export.loc[0:2, "status"] = "incomplete"
    export.loc[0:2, ["Q1", "Q3_r1", "loi_seconds"]] = np.nan  # stopped early: not a problem
    export.loc[3, "status"] = "screened_out"
    export.loc[3, "SEXE"] = "x"  # not a number, but never validated
    result = validated(export, mini_population, tmp_path)
    assert result.counts.excluded == {"incomplete": 3, "screened_out": 1}
    assert result.quarantine.empty and result.counts.kept == N - 4
    assert_counts_add_up(result)


def straight_lined(frame: pd.DataFrame, rows: int = 2) -> pd.DataFrame:
    export = frame.copy()
    export.loc[: rows - 1, ["Q3_r1", "Q3_r2", "Q3_r3"]] = 2.0
    return export


@pytest.mark.parametrize(
    "action, kept, flagged, quarantined",
    [("flag", N, {"straightliner": 2}, 0), ("quarantine", N - 2, {}, 2), ("keep", N, {}, 0)],
)
def test_straightliners_follow_the_edition_action(action, kept, flagged, quarantined, frame, mini_population, tmp_path):
    quality = QualityPolicy(straightliner_min_rows=3, straightliner_action=action)
    result = validated(straight_lined(frame), mini_population, tmp_path, quality=quality)
    assert (result.counts.kept, result.counts.flagged, result.counts.quarantined) == (kept, flagged, quarantined)
    if quarantined:
        assert result.quarantine[["row", "column", "value", "rule"]].values.tolist() == [[1, "Q3", "2", "straightliner"], [2, "Q3", "2", "straightliner"]]
        assert result.quarantine["reason"].eq("all 3 rows of Q3 given the same answer").all()
    assert_counts_add_up(result)


def test_grids_shorter_than_the_policy_are_not_checked_for_straightlining(frame, mini_population, tmp_path):
    quality = QualityPolicy(straightliner_min_rows=4, straightliner_action="quarantine")
    assert validated(straight_lined(frame), mini_population, tmp_path, quality=quality).quarantine.empty


def test_flagged_speeders_are_kept_and_counted(frame, mini_population, tmp_path):
    export = frame.copy()
    export.loc[:2, "loi_seconds"] = 20.0
    result = validated(export, mini_population, tmp_path, quality=QualityPolicy(speeder_action="flag"))
    assert result.counts.flagged == {"speeder": 3, "straightliner": 0} and result.counts.kept == N


# --------------------------------------------------------------------------------------------
# Threshold
# --------------------------------------------------------------------------------------------


def test_too_many_invalid_rows_is_an_error_with_counts_only(frame, mini_population, tmp_path):
    export = frame.copy()
    export.loc[:4, "status"] = "incomplete"  # 95 left
    export.loc[5:24, "SEXE"] = 3.0  # 20 of 95 = 21.1 %
    export.loc[25:27, "Q3_r1"] = np.nan
    with pytest.raises(ValidationThresholdError) as error:
        validated(export, mini_population, tmp_path, thresholds=Thresholds(max_invalid_share=0.2))
    text = str(error.value)
    assert "ps.csv (population ps): 23 of 95 interviews quarantined (24.2%), above the edition's maximum share of invalid rows (20.0%)" in text
    assert "most frequent problems: allowed_codes 20, grid_complete 3" in text
    assert "\n  fix: run `baro validate EDITION`" in text and "thresholds.max_invalid_share" in text
    assert "R00" not in text  # counts, never respondents


def test_the_threshold_share_itself_is_accepted(frame, mini_population, tmp_path):
    export = frame.copy()
    export.loc[:19, "SEXE"] = 3.0  # exactly 20 %
    assert validated(export, mini_population, tmp_path, thresholds=Thresholds(max_invalid_share=0.2)).counts.quarantined == 20


# --------------------------------------------------------------------------------------------
# Open text never leaves
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population_with_text(mini_population):
    """The mini population with an open question asked to Q1 = 1 only."""
    text = Question(id="Q5", wording="Précisez", type="text", column="Q5_text", asked_if=Condition(question="Q1", codes=(1,)), required=False)
    book = dataclasses.replace(mini_population.codebook, questions=mini_population.codebook.questions + (text,))
    return dataclasses.replace(mini_population, codebook=book)


def test_open_text_never_reaches_the_quarantine_or_the_frame(frame, population_with_text, tmp_path):
    export = frame.assign(Q5_text=OPEN_TEXT)  # answered by everyone: a routing problem for Q1 != 1
    result = validated(export, population_with_text, tmp_path)
    routing = result.quarantine[result.quarantine["column"] == "Q5_text"]
    assert len(routing) == (frame["Q1"] != 1).sum() and routing["value"].eq("").all()
    assert not result.quarantine.astype(str).apply(lambda column: column.str.contains("confidentielle")).any().any()
    assert "Q5_text" not in result.frame.columns and "Q2_98_other" not in result.frame.columns


# --------------------------------------------------------------------------------------------
# Schema and conditions
# --------------------------------------------------------------------------------------------


def test_schema_is_derived_from_the_codebook(mini_codebook):
    schema = build_schema(mini_codebook)
    checks = {name: {c.name: c for c in column.checks} for name, column in schema.columns.items()}
    assert checks["Q1"]["allowed_codes"].statistics["allowed_values"] == [1.0, 2.0, 3.0]
    assert checks["Q3_r3"]["allowed_codes"].statistics["allowed_values"] == [1.0, 2.0, 3.0, 4.0, 9.0]
    assert checks["Q2_98"]["binary"].statistics["allowed_values"] == [0.0, 1.0]
    assert checks["status"]["status"].statistics["allowed_values"] == ["complete", "incomplete", "screened_out"]
    assert schema.columns["respondent_id"].unique and not schema.columns["respondent_id"].nullable
    assert "Q2_98_other" not in schema.columns  # open text is never checked, so never quoted


def test_numeric_questions_are_checked_against_min_and_max():
    from baro_pipeline.edition import Codebook, Columns

    age = Question(id="age", wording="Âge", type="numeric", column="AGE", minimum=18, maximum=99, not_answers={})
    schema = build_schema(Codebook("ps", Columns(), (), (age,), ()))
    check = schema.columns["AGE"].checks[0]
    assert (check.name, check.error) == ("range", "age must be between 18 and 99")
    assert check(pd.Series([18.0, 99.0, 17.0, 100.0, np.nan])).check_output.tolist()[:4] == [True, True, False, False]


@pytest.mark.parametrize("seed", range(4))
def test_schema_runs_on_the_rows_that_may_fail_with_the_cases_of_every_row(frame, mini_codebook, tmp_path, seed, monkeypatch):
    """Cells, blanks and repeated ids spoilt at random in a normalised frame: the schema on the suspect
    rows alone finds what it finds on every row."""
    from baro_pipeline import validation

    export = read_export(write_csv(frame, tmp_path / "ps.csv"), mini_codebook).frame.copy()
    rng = np.random.default_rng(seed)
    for column in ("Q1", "Q2_1", "Q3_r2", "Q4_99", "loi_seconds"):
        spoilt = rng.random(N) < 0.1
        export.loc[spoilt, column] = rng.choice([1.0, 0.0, 2.5, -1.0, 7.0, 99.0, np.nan], spoilt.sum()).astype(export[column].dtype)
    export.loc[rng.random(N) < 0.05, "status"] = "unknown"
    export.loc[rng.choice(N, 4, replace=False), "respondent_id"] = export["respondent_id"].iloc[0]
    rows = rng.random(N) < 0.9
    found = validation.schema_problems(export, rows, mini_codebook)
    monkeypatch.setattr(validation, "suspect_rows", lambda frame, rows, rules: np.ones(len(frame), dtype=bool))
    everywhere = validation.schema_problems(export, rows, mini_codebook)
    assert len(found) > 5 and {"allowed_codes", "binary", "loi", "status", "field_uniqueness"} & set(found["rule"])
    pd.testing.assert_frame_equal(found, everywhere, check_exact=True)


def test_validation_goes_without_hypothesis_unless_it_is_imported(monkeypatch):
    from baro_pipeline.validation import without_hypothesis

    monkeypatch.delitem(sys.modules, "hypothesis", raising=False)
    with without_hypothesis(), pytest.raises(ImportError):
        import hypothesis  # noqa: F401
    assert "hypothesis" not in sys.modules


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["A1", "A2", "B1"], [False, False, False]),  # increasing: told without a hash
        (["B1", "A2", "A1"], [False, False, False]),
        (["A1", "A2", "A1"], [True, False, True]),
        (["A1", "A1", "A2"], [True, True, False]),  # in order, but not increasing
        (["A1", None, "A2"], [False, False, False]),
        (["A1", None, None], [False, True, True]),
    ],
)
def test_repeated_ids(ids, expected):
    from baro_pipeline.validation import repeated

    assert repeated(pd.Series(ids, dtype="str")).tolist() == expected


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (pd.Index([], dtype=object), True),  # no id: none repeated (Arrow types it null)
        (pd.Index(["A1"]), True),
        (pd.Index(["A2", "A1", "A3"]), True),
        (pd.Index(["A2", "A1", "A2"]), False),
        (pd.Index([5, "TLN-1", 6], dtype=object), True),  # mixed types, as ingest never gives them: pandas compares
        (pd.Index([5, "TLN-1", 5], dtype=object), False),
    ],
)
def test_all_distinct_ids(ids, expected):
    from baro_pipeline.validation import all_distinct

    assert all_distinct(ids) is expected


@pytest.mark.parametrize("seed", range(20))
def test_shared_count_is_the_count_of_ids_in_both(seed):
    """Bounds apart (told without a hash) or overlapping, the count Arrow's is_in gives."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from baro_pipeline.validation import shared_count

    rng = np.random.default_rng(seed)
    prefixes = rng.choice(["TLN-PS-", "TLN-GP-", "é-", ""], size=2)
    ids, others = (pa.array(np.unique([f"{p}{n:06d}" for n in rng.integers(0, 400, rng.integers(0, 60))]), pa.string()) for p in prefixes)
    assert shared_count(ids, others) == (pc.sum(pc.is_in(ids, value_set=others)).as_py() or 0)


@pytest.mark.parametrize("seed", range(10))
def test_ids_without_control_characters_are_those_the_expression_passes(seed):
    """Printable ASCII told by Arrow, the rest by the regular expression: the same cells pass as with the expression alone."""
    from baro_pipeline.validation import CONTROL, without_control

    rng = np.random.default_rng(seed)
    letters = np.array(["A", "7", "-", " ", "é", "\u200b", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "\xa0"])
    ids = ["".join(rng.choice(letters, size=rng.integers(0, 4))) for _ in range(50)]
    for series in (pd.Series(ids, dtype="str").where(rng.random(50) > 0.1), pd.Series([*ids[:-1], 5], dtype=object)):
        assert without_control(series).tolist() == (~series.astype("str").str.contains(CONTROL, na=False)).tolist()


@pytest.mark.parametrize("seed", range(10))
def test_straightliners_are_rows_of_one_answer_across_the_grid(seed, frame, mini_population):
    """Grid columns of both float widths, blanks among them: the rows a respondents × rows array finds."""
    from baro_pipeline.validation import straightliners

    rng = np.random.default_rng(seed)
    book = mini_population.codebook
    grid = next(q for q in book.questions if q.type == "grid")
    columns = [r.column for r in grid.rows]
    cells = frame.assign(_row=np.arange(1, N + 1))  # as ingest numbers the rows
    for c in columns:
        values = np.where(rng.random(N) < 0.1, np.nan, rng.integers(1, 3, N))
        cells[c] = values.astype(rng.choice([np.float32, np.float64]))
    rows = rng.random(N) > 0.2
    found, problems = straightliners(cells, rows, book, QualityPolicy(straightliner_min_rows=1))
    square = cells[columns].to_numpy(dtype=float)
    expected = rows & (square == square[:, :1]).all(axis=1)
    assert found.tolist() == expected.tolist() and expected.any()
    assert problems["value"].tolist() == [str(int(v)) for v in square[expected, 0]]


@pytest.mark.parametrize(
    "dtype",
    ["str", pd.StringDtype("pyarrow"), pd.StringDtype("python"), pd.StringDtype("python", na_value=np.nan), object, "float32", "category"],
    ids=str,
)
def test_text_dtypes_are_those_pandera_takes_as_str(dtype):
    """Ingest's own strings told without pandera; the answer pandera gives for every dtype."""
    from pandera.engines import pandas_engine

    from baro_pipeline.validation import is_text

    dtype = pd.Series([], dtype=dtype).dtype
    assert is_text(dtype) == pandas_engine.Engine.dtype(str).check(pandas_engine.Engine.dtype(dtype))


def test_screening_keeps_the_interviews_and_ids_validation_keeps(frame, mini_population, mini_codebook, tmp_path):
    """`baro validate`'s way (no kept answers taken): the same quarantine, counts and kept ids as validate_export."""
    from baro_pipeline.validation import kept_id_warnings, kept_ids, screened_export

    export = frame.copy()
    export.loc[1, "respondent_id"] = "R0001"  # quarantined twice
    export.loc[[4, 5], "status"] = mini_codebook.statuses["incomplete"]
    path = write_csv(export, tmp_path / "ps.csv")
    screened = screened_export(read_export(path, mini_population.codebook), mini_population, DEFAULT_QUALITY, LENIENT)
    result = validate_export(read_export(path, mini_population.codebook), mini_population, DEFAULT_QUALITY, LENIENT)
    ids = kept_ids(read_export(path, mini_population.codebook), screened, mini_population.codebook)
    pd.testing.assert_frame_equal(screened.quarantine, result.quarantine)
    assert screened.counts == result.counts and screened.counts.kept == N - 4
    assert ids.to_pylist() == result.frame["respondent_id"].tolist()
    assert kept_id_warnings({"ps": ids, "gp": ids.slice(3)}) == [
        "warning: 93 respondent id(s) on kept interviews of both ps and gp: check that the two exports are of distinct panels "
        "(the interviews are in weights.parquet under both populations)"
    ]
