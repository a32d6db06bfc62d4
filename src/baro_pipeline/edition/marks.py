"""Marks: what a person must still fill in (TODO values) or review (the ``review:`` list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import EditionError
from .models import TODO, Edition, Mark
from .reading import Place, _entry_suffix
from .schema import ReviewBlock


def is_todo(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(TODO)


def todo_marks(data: Any, file: Path, blocking: tuple[str, ...] = ()) -> tuple[Mark, ...]:
    """One mark per entry (question, variable, figure…) or top-level key holding TODO values.

    Grouped by entry so that a question drafted without labels is one line, not one per code;
    ``blocking`` names the top-level keys the pipeline cannot run without.
    """
    found: dict[str, list[tuple[str, str]]] = {}

    def walk(node: Any, path: str, entry: str | None) -> None:
        if is_todo(node):
            owner = entry or path.split(".")[0]
            found.setdefault(owner, []).append((path[len(owner) + 1 :], node.strip()[len(TODO) :].lstrip(": ")))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key), entry)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                own = f"{path}{_entry_suffix(value, i)}"
                walk(value, own, entry or own)

    walk(data, "", None)
    return tuple(
        Mark(file, key, "todo", _todo_text(places), blocking=key.split(".")[0] in blocking)
        for key, places in found.items()
    )


def _todo_text(places: list[tuple[str, str]]) -> str:
    """``TODO: <text>`` for one place; ``TODO at wording, codes.1: <texts>`` for several."""
    texts = " / ".join(dict.fromkeys(text for _, text in places if text))
    where = ", ".join(sub for sub, _ in places if sub)
    return f"TODO at {where}: {texts}" if where else f"TODO: {texts}"


def _review_marks(entries: list[ReviewBlock], at: Place, folder: Path) -> tuple[Mark, ...]:
    """``review:`` entries of edition.yaml: ``{file: <file of the edition> (default edition.yaml), key, note}``."""
    for i, entry in enumerate(entries):
        if Path(entry.file).name != entry.file or not (folder / entry.file).is_file():
            raise at.error(f"names file '{entry.file}', which is not in {folder}", "name a file of the edition, e.g. targets_ps.yaml", key=(i, "file"))
    return tuple(Mark(folder / entry.file, entry.key, "review", f"to review: {entry.note}") for entry in entries)


def marks_warning(edition: Edition) -> str:
    """The readable list ``baro validate`` and ``baro run`` print while an edition has marks ("" when none)."""
    if not edition.marks:
        return ""
    lines = [f"warning: edition {edition.id} has {len(edition.marks)} place(s) to fill in or review (docs/edition-format.md, \"Marks\"):"]
    lines += ["  " + m.message.replace("\n", "\n  ") for m in edition.marks]
    return "\n".join(lines)


def check_runnable(edition: Edition) -> None:
    """Refuse to run an edition whose TODOs the pipeline needs (e.g. weighting targets), listing them."""
    blocking = [m for m in edition.marks if m.blocking]
    if blocking:
        raise EditionError(
            f"edition {edition.id} cannot run: the pipeline needs {len(blocking)} place(s) still marked TODO:\n"
            + "\n".join("  " + m.message.split("\n")[0] for m in blocking),
            fix="fill them in (weighting targets: docs/edition-format.md, \"Targets\"); `baro validate` lists every mark",
        )
