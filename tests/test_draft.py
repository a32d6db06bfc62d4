"""``baro new-edition NEW --from-export FILE``: an edition drafted from exports' metadata (.sav, .xlsx)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baro_pipeline.cli import main
from baro_pipeline.draft import ExportMetadata, drafted_codebook
from baro_pipeline.edition import Edition, Question, check_runnable, load_edition
from baro_pipeline.errors import EditionError, ExportError, UsageError
from baro_pipeline.ingest import read_export
from baro_pipeline.newedition import create_draft
from baro_pipeline.synth import column_labels, synthesize, write_exports
from baro_pipeline.validation import validate_export

REPO = Path(__file__).resolve().parents[1]
N = 300  # kept interviews per population: every code of edition 2025 is drawn at least once


@pytest.fixture(scope="module")
def edition_2025() -> Edition:
    return load_edition("2025", REPO)


@pytest.fixture(scope="module")
def root(edition_2025, tmp_path_factory) -> Path:
    """A project with `baro synth 2025 --format sav` and `--format xlsx` exports in raw/sav/, raw/xlsx/."""
    root = tmp_path_factory.mktemp("draft")
    (root / "editions").mkdir()
    for fmt in ("sav", "xlsx"):
        write_exports(edition_2025, out=root / "raw" / fmt, respondents=N, fmt=fmt)
    return root


@pytest.fixture(scope="module")
def drafts(root) -> dict[str, Edition]:
    """The editions drafted from them: editions/sav/, editions/xlsx/."""
    for fmt in ("sav", "xlsx"):
        create_draft(root, fmt, [root / "raw" / fmt / f"{pid}.{fmt}" for pid in ("ps", "gp")])
    return {fmt: load_edition(fmt, root) for fmt in ("sav", "xlsx")}


def shape(q: Question) -> tuple:
    """What an export tells of a question: id, type, codes, rows and columns."""
    return (q.id, q.type, sorted(q.all_codes()), [r.id for r in q.rows], q.export_columns())


def labels(q: Question) -> tuple:
    return (q.label, dict(q.codes), {c: (n.label, n.in_base) for c, n in q.not_answers.items()}, [r.label for r in q.rows])


@pytest.mark.parametrize("fmt", ["sav", "xlsx"])
def test_the_draft_has_2025s_questions_and_codes(drafts, edition_2025, fmt):
    for pid, population in drafts[fmt].populations.items():
        old = edition_2025.populations[pid].codebook
        assert [shape(q) for q in population.codebook.questions] == [shape(q) for q in old.questions]
        assert [(q.column, sorted(q.all_codes())) for q in population.codebook.profile] == [(q.column, sorted(q.all_codes())) for q in old.profile]


def test_a_sav_gives_the_labels_too(drafts, edition_2025):
    for pid, population in drafts["sav"].populations.items():
        old = edition_2025.populations[pid].codebook
        assert [labels(q) for q in population.codebook.questions] == [labels(q) for q in old.questions]


@pytest.mark.parametrize("fmt", ["sav", "xlsx"])
def test_the_draft_validates_its_exports_with_no_quarantine(root, drafts, fmt):
    """Every interview synth meant to keep is kept: the only quarantined rows are the planted speeders
    (synth writes them for a quality policy that quarantines speeders, as the draft's default does)."""
    draft = drafts[fmt]
    for pid, population in draft.populations.items():
        result = validate_export(read_export(root / "raw" / fmt / f"{pid}.{fmt}", population.codebook), population, draft.quality, draft.thresholds)
        assert result.counts.kept == N
        assert set(result.quarantine["rule"]) == {"speeder"}


def test_what_the_export_cannot_say_is_marked(drafts):
    draft = drafts["sav"]
    marks = {(m.file.name, m.key): m for m in draft.marks}
    assert marks["edition.yaml", "title"].what == "TODO: the edition's title, as the report prints it"
    assert marks["targets_ps.yaml", "variables"].blocking and marks["targets_gp.yaml", "variables"].blocking
    assert marks["published.yaml", "figures"].kind == "todo" and not marks["published.yaml", "figures"].blocking
    routed = marks["codebook_ps.yaml", "questions.Q3.asked_if"]
    assert routed.kind == "review" and re.match(r"to review: blank for \d+ of \d+ complete interviews: if it is routed, write its asked_if", routed.what)
    assert draft.populations["ps"].codebook.question("Q3").required is False  # so that the routed blanks validate
    assert ("codebook_ps.yaml", "questions.Q6.not_answers") in marks and ("codebook_gp.yaml", "questions.Q11.exclusive") in marks
    assert draft.fieldwork == ("2025-03-10", "2025-03-31")
    with pytest.raises(EditionError, match=r"edition sav cannot run: the pipeline needs 2 place\(s\) still marked TODO:\n  .*targets_ps.yaml: key 'variables': TODO: the weighting targets"):
        check_runnable(draft)


def test_an_xlsx_without_labels_leaves_them_to_fill_in(drafts):
    q1 = drafts["xlsx"].populations["gp"].codebook.question("Q1")
    assert set(q1.codes.values()) == {"TODO: the export has no label for this code"}
    mark = next(m for m in drafts["xlsx"].marks if m.key == "questions.Q1" and m.file.name == "codebook_gp.yaml")
    assert mark.what == "TODO at wording, label, codes.1, codes.2, codes.3, codes.4: the question's wording (the export has no label for it) / the export has no label for this code"


def test_an_xlsx_label_row_gives_the_labels(edition_2025, tmp_path):
    (tmp_path / "editions").mkdir()
    frame = synthesize(edition_2025, "gp", respondents=100, seed=1)
    book = edition_2025.populations["gp"].codebook
    labelled = pd.concat([pd.DataFrame([column_labels(book, list(frame.columns))], columns=frame.columns), frame.astype(object)])
    path = tmp_path / "gp.xlsx"
    labelled.to_excel(path, index=False, sheet_name="gp")
    create_draft(tmp_path, "x", [path])
    q4 = load_edition("x", tmp_path).populations["gp"].codebook.question("Q4")
    assert (q4.label, [r.label for r in q4.rows]) == (book.question("Q4").label, [r.label for r in book.question("Q4").rows])


def test_cli_drafts_and_validate_lists_the_marks(root, capsys):
    paths = [root / "raw" / "sav" / f"{pid}.sav" for pid in ("ps", "gp")]
    assert main(["--root", str(root), "new-edition", "cli", *(a for p in paths for a in ("--from-export", str(p)))]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"drafted {root / 'editions' / 'cli'}/ from {paths[0]}, {paths[1]} (6 files)\nbefore running edition cli, review:\n")
    assert (root / "editions" / "cli" / "edition.yaml").read_text(encoding="utf-8").count("\nexports: raw/sav\n") == 1
    assert main(["--root", str(root), "validate", "cli"]) == 0
    err = capsys.readouterr().err
    assert re.match(r'warning: edition cli has \d+ place\(s\) to fill in or review \(docs/edition-format.md, "Marks"\):\n', err)
    assert f"  {root / 'editions' / 'cli' / 'targets_gp.yaml'}: key 'variables': TODO: the weighting targets" in err
    assert "Traceback" not in err


def test_what_the_metadata_says_decides_the_types():
    """Multiple-dichotomy sets, measurement levels, text, unlabelled codes and "ne sait pas" (a .sav's metadata)."""
    frame = pd.DataFrame({
        "respondent_id": ["a", "b", "c", "d"], "status": ["complete"] * 4,
        "USE_A": [1, 0, 1, np.nan], "USE_B": [0, 1, 1, np.nan],
        "Q1": [1, 2, 9, 3], "Q2": [4, 5, 6, 7], "Q3": ["x", np.nan, "y", "z"],
    })
    meta = ExportMetadata(
        Path("ps.sav"),
        frame,
        labels={"USE_A": "Outil A", "USE_B": "Outil B", "Q2": "Nombre de patients"},
        value_labels={"Q1": {1: "Oui", 2: "Non", 9: "Ne sait pas"}},
        measures={"Q2": "scale"},
        multi_sets={"$USE": ("Outils utilisés", ("USE_A", "USE_B"))},
    )
    draft = drafted_codebook(meta, "ps")
    by_id = {q["id"]: q for q in draft.data["questions"]}
    assert by_id["USE"] == {"id": "USE", "type": "multi", "wording": "Outils utilisés", "label": "Outils utilisés", "codes": {1: "Outil A", 2: "Outil B"},
                            "columns": {1: "USE_A", 2: "USE_B"}, "required": False}
    assert by_id["Q1"]["codes"] == {1: "Oui", 2: "Non", 3: "TODO: the export has no label for this code"}
    assert by_id["Q1"]["not_answers"] == {9: {"label": "Ne sait pas", "in_base": True}}
    assert (by_id["Q2"]["type"], by_id["Q2"]["min"], by_id["Q2"]["max"]) == ("numeric", 4.0, 7.0)
    assert (by_id["Q3"]["type"], by_id["Q3"]["required"]) == ("text", False)
    assert [(r["key"], r["note"][:28]) for r in draft.review if "asked_if" in r["key"]] == [
        ("questions.USE.asked_if", "blank for 1 of 4 complete in"),
        ("questions.Q3.asked_if", "blank for 1 of 4 complete in"),
    ]


@pytest.mark.parametrize(
    ("files", "error", "message"),
    [
        ({"ps.csv": b"respondent_id;status\n"}, UsageError, "cannot draft an edition from 'ps.csv'"),
        ({"ps.sav": b"not a sav file"}, ExportError, "not a readable SPSS .sav file"),
        ({"ps.xlsx": b"not a workbook"}, ExportError, "not a readable Excel workbook"),
        ({"1ps.sav": b""}, UsageError, "'1ps.sav' does not name a population"),
        ({"ps.sav": b"", "a/ps.sav": b""}, UsageError, "two exports of population 'ps': ps.sav and ps.sav"),
        ({"ps.sav": b"", "a/gp.sav": b""}, UsageError, "the exports are in different folders"),
    ],
)
def test_a_bad_export_is_refused_and_leaves_nothing(tmp_path, files, error, message):
    (tmp_path / "editions").mkdir()
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    with pytest.raises(error, match=re.escape(message)) as caught:
        create_draft(tmp_path, "2026", [tmp_path / name for name in files])
    assert caught.value.fix
    assert list((tmp_path / "editions").iterdir()) == []


def test_cli_exit_codes_of_bad_exports(tmp_path, capsys):
    (tmp_path / "editions").mkdir()
    (tmp_path / "ps.sav").write_bytes(b"not a sav file")
    assert main(["--root", str(tmp_path), "new-edition", "2026", "--from-export", str(tmp_path / "ps.sav")]) == 1
    assert main(["--root", str(tmp_path), "new-edition", "2026", "--from-export", str(tmp_path / "missing.sav")]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "not a readable SPSS .sav file" in err and "export not found" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as both:
        main(["--root", str(tmp_path), "new-edition", "2026", "--from", "2025", "--from-export", str(tmp_path / "ps.sav")])
    assert both.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
