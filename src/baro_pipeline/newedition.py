"""``baro new-edition NEW``: next year's edition as a copy of the last one, or a draft from an export.

``--from OLD``: the new folder ``editions/<NEW>/`` holds every file of ``editions/<OLD>/`` with four
changes:

- ``edition.yaml``: ``id: NEW``, ``previous: OLD``, ``exports: raw/NEW``, ``dropped: []``, the old
  id replaced by the new one in the title, and a ``review:`` list of what was copied and must be
  reviewed (title, fieldwork, comments, targets, questions, published figures);
- each codebook: every question gets ``was: <its id>`` (its link to OLD, read by the trends);
- the published figures file: empty (``figures: []``), until the new publication is out;
- ``synth.yaml``: every share's sources set to ``synthetic`` (they named OLD's figures, which
  the new edition does not have), so that ``baro synth NEW`` works at once.

YAML is rewritten with ruamel.yaml's round-trip mode, so the analyst's comments, order and
quoting survive.

``--from-export FILE`` (one per population, named after the file: ``ps.sav`` -> ``ps``): a draft
from the exports' metadata (:mod:`baro_pipeline.draft`), what they cannot say written as ``TODO``
values (title, weighting targets, published figures) and ``review:`` entries (routing, guesses).

Either way the folder is written aside, loaded and checked, then moved into place in one rename:
an existing edition is never overwritten, and a failure leaves nothing behind. The checklist is
the edition's marks (docs/edition-format.md, "Marks"), what ``baro validate`` warns about.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .draft import DraftedCodebook, drafted_codebook, export_metadata, todo
from .edition import EDITION_FILE, Edition, load_edition, read_yaml
from .errors import UsageError
from .synth import MODEL_FILE, SYNTHETIC, load_model

DEFAULT_FIGURES_FILE = "published.yaml"
# An edition id names a folder: no separator, no leading dot.
EDITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class NewEdition:
    """What ``baro new-edition`` made: the folder, its files, the links, and what to review."""

    id: str
    previous: str | None
    folder: Path
    files: tuple[str, ...]
    linked: Mapping[str, int]  # population -> questions linked to the previous edition by `was:`
    checklist: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# YAML that keeps the analyst's comments
# --------------------------------------------------------------------------------------------


def round_trip_yaml() -> YAML:
    """ruamel.yaml in round-trip mode, set to the layout of the edition files (no reflowing)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def loaded(file: Path) -> Any:
    # read_yaml first: a YAML error names the file, line and column like every edition error.
    read_yaml(file)
    return round_trip_yaml().load(file.read_text(encoding="utf-8"))


def dumped(data: Any, note: str) -> bytes:
    """The YAML text, under a comment ``note`` added above the file's own comments."""
    buffer = io.StringIO()
    round_trip_yaml().dump(data, buffer)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    return (header + buffer.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------------------------
# The new edition's files
# --------------------------------------------------------------------------------------------


def edition_yaml(old: Edition, new_id: str) -> bytes:
    """``edition.yaml`` of the new edition: its id, its predecessor, its exports' folder."""
    data = loaded(old.folder / EDITION_FILE)
    data["id"] = new_id
    data["title"] = old.title.replace(old.id, new_id)
    data["exports"] = f"raw/{new_id}"
    data["previous"] = old.id
    data["dropped"] = CommentedSeq()
    data["review"] = CommentedSeq(copied_review(old, new_id) + list(data.get("review") or []))
    return dumped(
        data,
        f"Created by `baro new-edition {new_id} --from {old.id}`: `review:` lists what was copied from {old.id};\n"
        f"delete each entry once reviewed (`baro validate {new_id}` warns until then); see docs/report.md.",
    )


def copied_review(old: Edition, new_id: str) -> list[dict[str, str]]:
    """``review:`` entries for what the copy keeps of OLD and a person must check for NEW."""
    settings = read_yaml(old.folder / EDITION_FILE)
    entries = [
        {"key": "title", "note": f"copied from {old.id} (\"{old.title}\"), its id replaced: check what else describes {old.id} (e.g. \"première édition\")"},
        {"key": "fieldwork", "note": f"{old.fieldwork[0]} to {old.fieldwork[1]} copied from {old.id}: set the dates of the {new_id} fieldwork"},
        {"key": "comments", "note": f"the comments of every file are {old.id}'s: rewrite those that describe {old.id} (assumptions, dates, edition number)"},
    ]
    for pid, population in old.populations.items():
        files = settings["populations"][pid]
        sources = ", ".join(f"{t.variable} ({t.year})" for t in population.targets.variables)
        entries.append({"file": files["targets"], "key": "variables", "note": f"{sources}: copied from {old.id}, update them to the latest figures"})
        entries.append({
            "file": files["codebook"],
            "key": "questions",
            "note": f"each question's `was:` names its {old.id} id. Renamed: change its id, keep `was:`; split: give each part `was: <old id>`; "
            f"new: delete its `was:`; dropped: delete it and list its old id under `dropped:` in edition.yaml (as Q7, or {pid}.Q7)",
        })
    entries.append({"file": settings.get("figures") or DEFAULT_FIGURES_FILE, "key": "figures", "note": f"none yet: list the {new_id} publication's figures when it is out (then cite them in synth.yaml)"})
    return entries


def linked_codebook(file: Path, previous: str) -> bytes:
    """A codebook whose every question names itself in the previous edition (``was: <id>``).

    Profile (quota) variables get no link: they are matched by id (breakdowns), never trended.
    """
    data = loaded(file)
    for question in data.get("questions") or []:
        if "was" in question:
            question["was"] = question["id"]
        else:
            question.insert(1, "was", question["id"])
    return dumped(data, f"Every question's `was:` is its id in edition {previous} (trends).")


def empty_figures(old: Edition, new_id: str) -> bytes:
    return (
        f"# Published figures of edition {new_id}: none yet (created by `baro new-edition {new_id} --from {old.id}`).\n"
        f"# List the figures of the {new_id} publication here when it is out, as editions/{old.id}/published.yaml\n"
        "# does (format: docs/edition-format.md). Until then the audit has no figure to check.\n"
        "figures: []\n"
    ).encode()


def is_share(node: Any) -> bool:
    """A synth.yaml share: ``[share, source, ...]``."""
    return isinstance(node, CommentedSeq) and len(node) >= 2 and isinstance(node[0], (int, float)) and not isinstance(node[0], bool)


def synthetic_sources(node: Any) -> None:
    """Set the sources of every share under ``node`` to ``synthetic`` (in place)."""
    if is_share(node):
        node[1:] = [SYNTHETIC]
    elif isinstance(node, CommentedMap):
        for value in node.values():
            synthetic_sources(value)
    elif isinstance(node, CommentedSeq):
        for value in node:
            synthetic_sources(value)


def synthetic_model(file: Path, previous: str) -> bytes:
    """``synth.yaml`` with every share kept and its sources set to ``synthetic``."""
    data = loaded(file)
    synthetic_sources(data)
    return dumped(
        data,
        f"Shares copied from edition {previous}; their sources reset to `synthetic` (the published figures\n"
        "are empty). Once published.yaml lists the new figures, cite them: [share, figure_id].",
    )


def edition_files(old: Edition, new_id: str) -> dict[str, bytes]:
    """Every file of the new edition's folder (relative path -> bytes): the old ones, four rewritten."""
    settings = read_yaml(old.folder / EDITION_FILE)
    files = {str(p.relative_to(old.folder)): p.read_bytes() for p in sorted(old.folder.rglob("*")) if p.is_file()}
    files[EDITION_FILE] = edition_yaml(old, new_id)
    for population in settings["populations"].values():
        files[population["codebook"]] = linked_codebook(old.folder / population["codebook"], old.id)
    files[settings.get("figures") or DEFAULT_FIGURES_FILE] = empty_figures(old, new_id)
    if MODEL_FILE in files:
        files[MODEL_FILE] = synthetic_model(old.folder / MODEL_FILE, old.id)
    return files


# --------------------------------------------------------------------------------------------
# What the analyst must review
# --------------------------------------------------------------------------------------------


def checklist(new: Edition, root: Path) -> tuple[str, ...]:
    """The review list printed after creation: the exports' folder, then each mark (file, key, what to do)."""
    exports = Path(root) / new.exports
    state = "holds files already: check they are the new ones" if exports.is_dir() and any(exports.iterdir()) else "does not hold any export yet"
    synthetic = f", or write synthetic ones with `baro synth {new.id}`" if (new.folder / MODEL_FILE).is_file() else ""
    exports_line = f"{new.exports}/ {state}: put one export per population there ({', '.join(new.populations)}; .csv, .xlsx or .sav){synthetic}"
    return (exports_line,) + tuple(m.message for m in new.marks)


def linked_questions(edition: Edition) -> dict[str, int]:
    return {pid: sum(q.was is not None for q in p.codebook.questions) for pid, p in edition.populations.items()}


# --------------------------------------------------------------------------------------------
# Creating the folder
# --------------------------------------------------------------------------------------------


def check_new_id(root: Path, new_id: str, old_id: str | None = None) -> Path:
    """The new edition's folder, once the id is a valid folder name that is not taken."""
    if not EDITION_ID.match(new_id):
        raise UsageError(f"'{new_id}' is not a valid edition id", fix="use letters, digits, '-' and '_' (e.g. 2026)")
    if old_id is not None and new_id == old_id:
        raise UsageError(f"the new edition and the one it comes from are both '{new_id}'", fix="give the new edition its own id, e.g. --from 2025 for 2026")
    folder = Path(root) / "editions" / new_id
    if folder.exists():
        raise UsageError(f"edition '{new_id}' exists already", where=str(folder), fix="choose another id, or delete that folder first if it is a mistake (it is never overwritten)")
    return folder


def written_edition(staging: Path, new_id: str, files: Mapping[str, bytes]) -> Edition:
    """Write the files under ``staging/editions/<new_id>/``, and load them as ``baro run`` will."""
    folder = staging / "editions" / new_id
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    edition = load_edition(new_id, staging)
    if MODEL_FILE in files:
        load_model(edition)
    return edition


def placed_edition(root: Path, folder: Path, new_id: str, files: Mapping[str, bytes]) -> Edition:
    """Write and check the files aside, then move them to ``folder`` in one rename."""
    # Staged beside the target (same file system): the final rename is atomic.
    with tempfile.TemporaryDirectory(prefix=f".new-{new_id}-", dir=folder.parent) as staging:
        written_edition(Path(staging), new_id, files)
        try:
            os.rename(Path(staging) / "editions" / new_id, folder)
        except OSError as exc:
            raise UsageError(f"cannot create {folder}: {exc.strerror}", fix="check that the id is free and the folder writable") from None
    return load_edition(new_id, root)


def create_edition(root: Path, new_id: str, old_id: str) -> NewEdition:
    """Create ``editions/<new_id>/`` from ``editions/<old_id>/``; refuse to overwrite anything."""
    folder = check_new_id(root, new_id, old_id)
    old = load_edition(old_id, root)
    files = edition_files(old, new_id)
    new = placed_edition(root, folder, new_id, files)
    return NewEdition(new_id, old.id, folder, tuple(sorted(files)), linked_questions(new), checklist(new, root))


# --------------------------------------------------------------------------------------------
# A draft from exports
# --------------------------------------------------------------------------------------------


def export_populations(paths: Sequence[Path]) -> dict[str, Path]:
    """Population id -> export: each file is named after its population (``ps.sav``), one folder for all."""
    populations: dict[str, Path] = {}
    for path in paths:
        pid = path.stem
        if not EDITION_ID.match(pid) or not pid[0].isalpha():
            raise UsageError(f"'{path.name}' does not name a population", where=str(path), fix="name each export after its population, e.g. ps.sav, gp.xlsx")
        if pid in populations:
            raise UsageError(f"two exports of population '{pid}': {populations[pid].name} and {path.name}", fix="give one export per population")
        populations[pid] = path
    if len({p.resolve().parent for p in populations.values()}) > 1:
        raise UsageError("the exports are in different folders", fix="put the exports of one edition in one folder (the edition's exports: folder)")
    return populations


def exports_folder(root: Path, path: Path) -> str:
    """The exports' folder as ``edition.yaml`` names it: relative to the project root when inside it."""
    folder = path.resolve().parent
    return str(folder.relative_to(root.resolve())) if folder.is_relative_to(root.resolve()) else str(folder)


def drafted_edition_yaml(new_id: str, exports: str, drafts: Mapping[str, DraftedCodebook], sources: Mapping[str, Path]) -> bytes:
    days = [d.fieldwork for d in drafts.values() if d.fieldwork]
    fieldwork: Any = {"start": min(d[0] for d in days), "end": max(d[1] for d in days)} if days else todo("the fieldwork's first and last day")
    review = [
        {"key": "fieldwork", "note": "the first and last day the complete interviews started: check them against the fieldwork"},
        {"key": "populations", "note": "each sample_size is the export's number of complete interviews: set the planned one; add breakdowns (profile variables)"},
        {"key": "quality", "note": "the default quality policy (speeders quarantined, straight-liners flagged): set the survey's own"},
    ] + [entry for d in drafts.values() for entry in d.review]
    data = {
        "id": new_id,
        "title": todo("the edition's title, as the report prints it"),
        "fieldwork": fieldwork,
        "exports": exports,
        "previous": None,
        "dropped": [],
        "populations": {
            pid: {
                "label": todo(f"who population {pid} is, as the report prints it"),
                "codebook": f"codebook_{pid}.yaml",
                "targets": f"targets_{pid}.yaml",
                "breakdowns": [],
                "sample_size": max(d.complete, 1),
            }
            for pid, d in drafts.items()
        },
        "figures": DEFAULT_FIGURES_FILE,
        "review": review,
    }
    exports_named = ", ".join(p.name for p in sources.values())
    return dumped(data, f"Drafted by `baro new-edition {new_id} --from-export` from {exports_named}: fill in every TODO and\nreview each entry of `review:` (then delete it); `baro validate {new_id}` lists them.")


def draft_targets(population: str) -> bytes:
    data = {
        "population": population,
        "assumptions": todo("what the targets assume (universe, sources)"),
        "variables": todo("the weighting targets: per profile variable, the population share of each code, with source and year (an export cannot say)"),
    }
    return dumped(data, "Weighting targets: none yet (docs/edition-format.md, \"Targets\"). `baro run` refuses to run until they are written.")


def draft_files(root: Path, new_id: str, paths: Sequence[Path]) -> dict[str, bytes]:
    """Every file of a drafted edition (relative path -> bytes)."""
    sources = export_populations(paths)
    drafts = {pid: drafted_codebook(export_metadata(path), pid) for pid, path in sources.items()}
    files = {EDITION_FILE: drafted_edition_yaml(new_id, exports_folder(root, next(iter(sources.values()))), drafts, sources)}
    for pid, draft in drafts.items():
        files[f"codebook_{pid}.yaml"] = dumped(draft.data, f"Codebook of population {pid}, drafted from {sources[pid].name} (docs/edition-format.md, \"Codebook\").")
        files[f"targets_{pid}.yaml"] = draft_targets(pid)
    files[DEFAULT_FIGURES_FILE] = dumped({"figures": todo("the published figures, once the publication is out (an export cannot say)")}, "Published figures (docs/edition-format.md).")
    return files


def create_draft(root: Path, new_id: str, exports: Sequence[Path]) -> NewEdition:
    """Create ``editions/<new_id>/`` drafted from exports; refuse to overwrite anything."""
    folder = check_new_id(root, new_id)
    files = draft_files(Path(root), new_id, exports)
    new = placed_edition(root, folder, new_id, files)
    return NewEdition(new_id, None, folder, tuple(sorted(files)), {}, checklist(new, root))

