"""``baro new-edition NEW --from OLD``: next year's edition as a copy of the last one, linked to it.

The new folder ``editions/<NEW>/`` holds every file of ``editions/<OLD>/`` with four changes:

- ``edition.yaml``: ``id: NEW``, ``previous: OLD``, ``exports: raw/NEW``, ``dropped: []``, the old
  id replaced by the new one in the title;
- each codebook: every question gets ``was: <its id>`` (its link to OLD, read by the trends);
- the published figures file: empty (``figures: []``), until the new publication is out;
- ``synth.yaml``: every share's sources set to ``synthetic`` (they named OLD's figures, which
  the new edition does not have), so that ``baro synth NEW`` works at once.

YAML is rewritten with ruamel.yaml's round-trip mode, so the analyst's comments, order and
quoting survive. The folder is written aside, loaded and checked (edition and synth model), then
moved into place in one rename: an existing edition is never overwritten, and a failure leaves
nothing behind. The checklist says what the analyst must review before running the edition.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .edition import Edition, load_edition, read_yaml
from .errors import UsageError
from .synth import MODEL_FILE, SYNTHETIC, load_model

EDITION_FILE = "edition.yaml"
DEFAULT_FIGURES_FILE = "published.yaml"
# An edition id names a folder: no separator, no leading dot.
EDITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class NewEdition:
    """What ``baro new-edition`` made: the folder, its files, the links, and what to review."""

    id: str
    previous: str
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
    return dumped(
        data,
        f"Created by `baro new-edition {new_id} --from {old.id}`: review the title, the fieldwork dates,\n"
        f"the targets and the questions (was: / dropped:) before the first run; see docs/report.md.",
    )


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
    ).encode("utf-8")


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


def checklist(old: Edition, new: Edition, root: Path) -> tuple[str, ...]:
    """The review list printed after creation: each line names a file and what to check in it."""
    exports = Path(root) / new.exports
    state = "holds files already: check they are the new ones" if exports.is_dir() and any(exports.iterdir()) else "does not hold any export yet"
    lines = [
        f"edition.yaml: title \"{new.title}\" (copied from {old.id}): check its wording",
        f"edition.yaml: fieldwork {new.fieldwork[0]} to {new.fieldwork[1]} copied from {old.id}: set the dates of the {new.id} fieldwork",
        f"{new.exports}/ {state}: put one export per population there ({', '.join(new.populations)}; .csv, .xlsx or .sav), "
        f"or write synthetic ones with `baro synth {new.id}`",
    ]
    files = read_yaml(new.folder / EDITION_FILE)["populations"]
    for pid, population in new.populations.items():
        for target in population.targets.variables:
            lines.append(f"{files[pid]['targets']}: {target.variable} is from {target.source}, year {target.year}: update it to the latest figures")
    lines += [
        f"questions that changed since {old.id}: each question's `was:` names its {old.id} id. Renamed: change its id, "
        f"keep `was:`; split: give each part `was: <old id>`; new: delete its `was:`; dropped: delete it and list "
        f"its old id under `dropped:` in edition.yaml (as Q7, or ps.Q7 for one population)",
        f"published figures: none yet; list the {new.id} publication's figures when it is out (then cite them in synth.yaml)",
    ]
    return tuple(lines)


def linked_questions(edition: Edition) -> dict[str, int]:
    return {pid: sum(q.was is not None for q in p.codebook.questions) for pid, p in edition.populations.items()}


# --------------------------------------------------------------------------------------------
# Creating the folder
# --------------------------------------------------------------------------------------------


def check_new_id(root: Path, new_id: str, old_id: str) -> Path:
    """The new edition's folder, once the id is a valid folder name that is not taken."""
    if not EDITION_ID.match(new_id):
        raise UsageError(f"'{new_id}' is not a valid edition id", fix="use letters, digits, '-' and '_' (e.g. 2026)")
    if new_id == old_id:
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


def create_edition(root: Path, new_id: str, old_id: str) -> NewEdition:
    """Create ``editions/<new_id>/`` from ``editions/<old_id>/``; refuse to overwrite anything."""
    folder = check_new_id(root, new_id, old_id)
    old = load_edition(old_id, root)
    files = edition_files(old, new_id)
    # Staged beside the target (same file system): the final rename is atomic.
    with tempfile.TemporaryDirectory(prefix=f".new-{new_id}-", dir=folder.parent) as staging:
        new = written_edition(Path(staging), new_id, files)
        try:
            os.rename(Path(staging) / "editions" / new_id, folder)
        except OSError as exc:
            raise UsageError(f"cannot create {folder}: {exc.strerror}", fix="check that the id is free and the folder writable") from None
    new = load_edition(new_id, root)
    return NewEdition(new_id, old.id, folder, tuple(sorted(files)), linked_questions(new), checklist(old, new, root))

