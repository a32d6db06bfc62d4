"""``baro new-edition NEW --from OLD``: the copy, its links to OLD, the refusals and the checklist."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import yaml

from baro_pipeline import newedition
from baro_pipeline.cli import main
from baro_pipeline.edition import check_runnable, load_edition
from baro_pipeline.errors import EditionError, UsageError
from baro_pipeline.newedition import create_edition
from baro_pipeline.synth import load_model, model_shares, write_exports

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(REPO / "editions" / "2025", tmp_path / "editions" / "2025")
    return tmp_path


@pytest.fixture(scope="module")
def made_once(tmp_path_factory) -> tuple[Path, newedition.NewEdition]:
    root = tmp_path_factory.mktemp("made")
    shutil.copytree(REPO / "editions" / "2025", root / "editions" / "2025")
    return root, create_edition(root, "2026", "2025")


@pytest.fixture
def made(made_once, project) -> newedition.NewEdition:
    """Edition 2026 made from 2025 (once per module: ~2 s), copied into this test's project."""
    root, once = made_once
    shutil.copytree(root / "editions" / "2026", project / "editions" / "2026")
    return dataclasses.replace(once, folder=project / "editions" / "2026")


def test_the_new_edition_is_linked_to_the_old_one(project, made):
    new, old = load_edition("2026", project), load_edition("2025", project)
    assert (new.id, new.previous, new.exports, new.dropped) == ("2026", "2025", "raw/2026", ())
    assert "2026" in new.title and "2025" not in new.title
    assert new.fieldwork == old.fieldwork
    for pid, population in new.populations.items():
        assert [q.was for q in population.codebook.questions] == [q.id for q in old.populations[pid].codebook.questions]
        assert all(q.was is None for q in population.codebook.profile)
        assert population.targets == old.populations[pid].targets
    assert made.linked == {"ps": 22, "gp": 12}
    assert made.files == tuple(sorted(p.name for p in (project / "editions" / "2025").iterdir()))


def test_published_figures_are_emptied_and_synth_works_at_once(project, made):
    new = load_edition("2026", project)
    assert new.figures == ()
    assert yaml.safe_load((made.folder / "published.yaml").read_text(encoding="utf-8")) == {"figures": []}
    model = load_model(new)  # no share cites a figure of 2025 any more
    sources = {share.sources for pm in model.populations.values() for qm in pm.questions.values() for _, share in model_shares(qm)}
    assert sources == {("synthetic",)}


def test_shares_and_comments_are_kept(project, made):
    old_text = (project / "editions" / "2025" / "synth.yaml").read_text(encoding="utf-8")
    new_text = (made.folder / "synth.yaml").read_text(encoding="utf-8")
    assert "1: [0.29, ps_press_use_daily, ps_use_ai]" in old_text
    assert "1: [0.29, synthetic]" in new_text
    codebook = (made.folder / "codebook_ps.yaml").read_text(encoding="utf-8")
    assert "# --- Slide 2: adoption" in codebook and "  - id: Q1\n" in codebook and "    was: Q1\n" in codebook
    edition_text = (made.folder / "edition.yaml").read_text(encoding="utf-8")
    assert edition_text.startswith("# Created by `baro new-edition 2026 --from 2025`")
    assert (project / "editions" / "2025" / "synth.yaml").read_text(encoding="utf-8") == old_text


def test_checklist_names_what_to_review(made):
    text = "\n".join(made.checklist)
    assert "edition.yaml: key 'fieldwork': to review: 2025-03-10 to 2025-03-31 copied from 2025: set the dates of the 2026 fieldwork" in text
    assert "raw/2026/ does not hold any export yet" in text and "baro synth 2026" in text
    assert "targets_ps.yaml: key 'variables': to review: profession (2024), sex (2024)" in text and "update them to the latest figures" in text
    assert "targets_gp.yaml: key 'variables'" in text and "csp (2023)" in text
    assert "codebook_ps.yaml: key 'questions': to review: each question's `was:` names its 2025 id" in text and "dropped:" in text


def test_what_was_copied_is_marked_for_review(project, made):
    """2025's title ("première édition"), dates, comments, targets and figures: marked, warned, not blocking."""
    new = load_edition("2026", project)
    folder = project / "editions" / "2026"
    assert [(m.file.relative_to(folder).as_posix(), m.key, m.kind) for m in new.marks] == [
        ("edition.yaml", "title", "review"),
        ("edition.yaml", "fieldwork", "review"),
        ("edition.yaml", "comments", "review"),
        ("targets_ps.yaml", "variables", "review"),
        ("codebook_ps.yaml", "questions", "review"),
        ("targets_gp.yaml", "variables", "review"),
        ("codebook_gp.yaml", "questions", "review"),
        ("published.yaml", "figures", "review"),
    ]
    assert "première édition" in new.title and "\"première édition\"" in new.marks[0].what
    check_runnable(new)  # review marks warn, they do not stop a run
    assert load_edition("2025", project).marks == ()


def test_validate_warns_of_every_mark(project, made, capsys):
    write_exports(load_edition("2026", project), out=project / "raw" / "2026", respondents=300)
    assert main(["--root", str(project), "validate", "2026"]) == 0
    err = capsys.readouterr().err
    folder = project / "editions" / "2026"
    assert err.startswith('warning: edition 2026 has 8 place(s) to fill in or review (docs/edition-format.md, "Marks"):\n')
    assert (
        f"  {folder / 'edition.yaml'}: key 'fieldwork': to review: 2025-03-10 to 2025-03-31 copied from 2025: set the dates of the 2026 fieldwork\n"
        f"    fix: check it, then delete this entry from 'review:' in {folder / 'edition.yaml'}\n"
    ) in err
    assert "Traceback" not in err


def test_a_reviewed_edition_has_no_mark(project, made):
    text = (made.folder / "edition.yaml").read_text(encoding="utf-8")
    (made.folder / "edition.yaml").write_text(text[: text.index("\nreview:") + 1], encoding="utf-8")
    assert load_edition("2026", project).marks == ()


@pytest.mark.parametrize(
    ("review", "message"),
    [
        ("[{file: nope.yaml, key: x, note: y}]", "names file 'nope.yaml', which is not in"),
        ("[{file: ../2025/edition.yaml, key: x, note: y}]", "names file '../2025/edition.yaml', which is not in"),
        ("[{key: title}]", "missing required key 'note'"),
        ("[{key: title, note: x, when: now}]", "unknown key 'when'"),
    ],
)
def test_a_wrong_review_entry_is_an_edition_error(project, made, review, message):
    text = (made.folder / "edition.yaml").read_text(encoding="utf-8")
    (made.folder / "edition.yaml").write_text(text[: text.index("\nreview:") + 1] + f"review: {review}\n", encoding="utf-8")
    with pytest.raises(EditionError, match=re.escape(message)) as caught:
        load_edition("2026", project)
    assert str(made.folder / "edition.yaml") in str(caught.value) and "fix:" in str(caught.value)


def test_todo_values_are_marks_grouped_by_entry(project, made):
    book = made.folder / "codebook_ps.yaml"
    text = book.read_text(encoding="utf-8").replace('"Oui, tout à fait"', '"TODO: the label of code 1"', 1)
    book.write_text(text.replace('wording: "Utilisez-vous', 'wording: "TODO: the wording. Utilisez-vous', 1), encoding="utf-8")
    targets = made.folder / "targets_gp.yaml"
    targets.write_text(re.sub(r"(?s)variables:.*", 'variables: "TODO: the targets"\n', targets.read_text(encoding="utf-8")), encoding="utf-8")
    new = load_edition("2026", project)
    todos = [m for m in new.marks if m.kind == "todo"]
    assert [(m.file.name, m.key, m.what, m.blocking) for m in todos] == [
        ("codebook_ps.yaml", "questions.Q1", "TODO at wording: the wording. Utilisez-vous des outils qui font appel à l'intelligence artificielle dans votre pratique professionnelle ?", False),
        ("codebook_ps.yaml", "questions.Q2", "TODO at codes.1: the label of code 1", False),
        ("targets_gp.yaml", "variables", "TODO: the targets", True),
    ]
    assert new.populations["gp"].targets.variables == ()
    with pytest.raises(EditionError) as caught:
        check_runnable(new)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "edition 2026 cannot run: the pipeline needs 1 place(s) still marked TODO:\n"
        f"  {targets}: key 'variables': TODO: the targets\n"
        '  fix: fill them in (weighting targets: docs/edition-format.md, "Targets"); `baro validate` lists every mark'
    )


def test_an_existing_edition_is_never_overwritten(project, made):
    before = {p.name: p.read_bytes() for p in made.folder.iterdir()}
    with pytest.raises(UsageError, match="edition '2026' exists already"):
        create_edition(project, "2026", "2025")
    assert {p.name: p.read_bytes() for p in made.folder.iterdir()} == before


@pytest.mark.parametrize(
    ("new_id", "old_id", "message"),
    [
        ("../2026", "2025", "'../2026' is not a valid edition id"),
        (".2026", "2025", "'.2026' is not a valid edition id"),
        ("2025", "2025", "are both '2025'"),
    ],
)
def test_bad_ids_are_refused(project, new_id, old_id, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        create_edition(project, new_id, old_id)


def test_unknown_old_edition_is_an_edition_error(project):
    with pytest.raises(EditionError, match="edition '1999' not found"):
        create_edition(project, "2026", "1999")


def test_a_failure_leaves_nothing_behind(project, monkeypatch):
    def broken(edition):
        raise EditionError("broken synth model", fix="none")

    monkeypatch.setattr(newedition, "load_model", broken)
    with pytest.raises(EditionError, match="broken synth model"):
        create_edition(project, "2026", "2025")
    assert sorted(p.name for p in (project / "editions").iterdir()) == ["2025"]


def test_cli_prints_the_checklist_and_refuses_a_second_time(project, capsys):
    assert main(["--root", str(project), "new-edition", "2026", "--from", "2025"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"created {project / 'editions' / '2026'}/ from edition 2025 (7 files; questions linked by was: ps 22, gp 12)")
    assert "before running edition 2026, review:\n  [ ] raw/2026/ does not hold any export yet" in out
    assert f"\n  [ ] {project / 'editions' / '2026' / 'edition.yaml'}: key 'title': to review: copied from 2025" in out
    assert "\n      fix: check it, then delete this entry from 'review:'" in out
    assert main(["--root", str(project), "new-edition", "2026", "--from", "2025"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "exists already" in err and "Traceback" not in err
