"""``baro new-edition NEW --from OLD``: the copy, its links to OLD, the refusals and the checklist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from baro_pipeline import newedition
from baro_pipeline.cli import main
from baro_pipeline.edition import load_edition
from baro_pipeline.errors import EditionError, UsageError
from baro_pipeline.newedition import create_edition
from baro_pipeline.synth import load_model, model_shares

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(REPO / "editions" / "2025", tmp_path / "editions" / "2025")
    return tmp_path


@pytest.fixture
def made(project) -> newedition.NewEdition:
    return create_edition(project, "2026", "2025")


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
    assert "fieldwork 2025-03-10 to 2025-03-31 copied from 2025: set the dates of the 2026 fieldwork" in text
    assert "raw/2026/ does not hold any export yet" in text and "baro synth 2026" in text
    assert "targets_ps.yaml: profession is from DREES" in text and "year 2024: update it" in text
    assert "targets_gp.yaml: csp" in text and "year 2023" in text
    assert "questions that changed since 2025" in text and "dropped:" in text and "was: <old id>" in text


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
    assert "before running edition 2026, review:\n  [ ] edition.yaml: title" in out
    assert main(["--root", str(project), "new-edition", "2026", "--from", "2025"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "exists already" in err and "Traceback" not in err
