"""Have an edition's exports changed since its last run? (the scheduled watch, docs/design.md §6)

The sha256 of each population's export in the edition's exports folder is compared with the hash
the last run's ``manifest.json`` recorded for it. No Prefect here: the flow ``baro_flows.watch``
only starts a run when this module says the exports changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .edition import Edition, load_edition
from .errors import ExportError
from .ingest import find_export
from .outputs import read_manifest


@dataclass(frozen=True)
class ExportChange:
    """One population whose export is not the one the last run read."""

    population: str
    before: str | None  # sha256 in the last manifest; None: no previous run, or a new population
    now: str | None  # sha256 of the export now; None: no single export file for it

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.population}: not in the last run"
        if self.now is None:
            return f"{self.population}: no export (missing, or several files)"
        return f"{self.population}: {self.before[:12]} -> {self.now[:12]}"


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_hashes(edition: Edition, root: Path) -> dict[str, str | None]:
    """sha256 of each population's export; None when there is not exactly one export file.

    A missing export is not an error here: the run it starts reports it, with how to fix it.
    """
    hashes: dict[str, str | None] = {}
    for pop in edition.populations:
        try:
            hashes[pop] = file_sha256(find_export(edition, pop, root))
        except ExportError:
            hashes[pop] = None
    return hashes


def changed_exports(edition_id: str, root: Path) -> dict[str, ExportChange]:
    """The populations whose export differs from the last run's (every one when there is no run).

    An empty dict means the last run read exactly these exports: there is nothing to do.
    """
    root = Path(root)
    edition = load_edition(edition_id, root)
    manifest = read_manifest(root, edition.id)
    now = export_hashes(edition, root)
    if manifest is None:
        return {pop: ExportChange(pop, None, sha) for pop, sha in now.items()}
    before = {pop: entry.get("sha256") for pop, entry in manifest.get("inputs", {}).items()}
    populations = list(now) + [pop for pop in before if pop not in now]
    return {
        pop: ExportChange(pop, before.get(pop), now.get(pop)) for pop in populations if before.get(pop) != now.get(pop)
    }


def changes_fingerprint(changes: dict[str, ExportChange]) -> str:
    """A short stable id of a set of changes: the same exports against the same last run, the same id."""
    text = json.dumps(sorted((c.population, c.before, c.now) for c in changes.values()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
