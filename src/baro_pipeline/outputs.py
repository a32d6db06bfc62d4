"""Outputs stage: Parquet tables and ``manifest.json``, published atomically under a lock.

A run writes into a fresh folder ``outputs/.<edition>.<run id>/`` and then swaps the symbolic link
``outputs/<edition>`` to it with one ``os.replace`` (atomic on POSIX): a run killed at any point
leaves the previous outputs whole, and readers never see half a run. A file lock
(``outputs/.<edition>.lock``, released by the kernel if the process dies) stops two runs from
writing the same edition at once.

A run removes only what a run of ours wrote: a folder inside ``outputs/`` whose ``manifest.json``
names the edition and lists every file in it (the manifest is written first, so a killed run's
folder carries one too); only those files are removed. Anything else where a run would write or
remove (a link to elsewhere, a user's folder or file, a lock that is a link) is refused before
anything is written, naming the path.
"""

from __future__ import annotations

import errno
import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import ForeignOutputError, OutputError, OutputReadError, OutputWriteError, UsageError

# Columns that may hold a respondent id: only these two tables may carry one (docs/design.md §5).
TABLES_WITH_IDS = ("weights", "quarantine")

# How to get past the system refusing a write, by errno ({folder}: the outputs folder).
NO_PERMISSION_FIX = "make {folder} writable for you (chmod u+w {folder}), or pass --root a project folder you can write"
WRITE_FIXES = {
    errno.EACCES: NO_PERMISSION_FIX,
    errno.EPERM: NO_PERMISSION_FIX,
    errno.EROFS: "the disk is mounted read-only: pass --root a project folder on a writable disk",
    errno.ENOSPC: "free some disk space, then run again",
    errno.EDQUOT: "free some space within your disk quota, then run again",
}


@dataclass(frozen=True)
class RunFolder:
    """A folder a run wrote, and the files in it (each listed by its manifest)."""

    path: Path
    files: tuple[str, ...]


@dataclass(frozen=True)
class PublishedRun:
    """Where a run's outputs now live."""

    folder: Path  # outputs/<edition> (the link)
    target: Path  # the run folder it points to
    files: tuple[str, ...]


def output_root(root: Path) -> Path:
    return Path(root) / "outputs"


def edition_folder(root: Path, edition_id: str) -> Path:
    return output_root(root) / str(edition_id)


@contextmanager
def clear_write_errors(folder: Path) -> Iterator[None]:
    """Turn the system refusing a write in ``folder`` into an :class:`OutputWriteError` naming the path."""
    try:
        yield
    except OSError as exc:
        raise OutputWriteError(
            f"the outputs cannot be written: {exc.strerror or exc}",
            where=str(exc.filename) if exc.filename else str(folder),
            fix=WRITE_FIXES.get(exc.errno or 0, "check {folder} and its disk, then run again").format(folder=folder),
        ) from None


def outputs_folder(root: Path) -> Path:
    """``outputs/``, created when missing, resolved: it may be a link to another disk."""
    out = output_root(root)
    if out.is_symlink() and not out.exists():
        raise ForeignOutputError(
            f"is a link to {os.readlink(out)}, which does not exist", where=str(out), fix="create that folder, or remove the link"
        )
    if out.exists() and not out.is_dir():
        raise ForeignOutputError("is not a folder", where=str(out), fix="move that file away: runs write their outputs in a folder of that name")
    with clear_write_errors(out.parent):
        out.mkdir(parents=True, exist_ok=True)
    return out.resolve()


@contextmanager
def edition_lock(root: Path, edition_id: str) -> Iterator[None]:
    """Hold the edition's output lock, or fail at once: with who to wait for, or with what in
    ``outputs/`` no run wrote would be in the way (before the run computes anything)."""
    out = outputs_folder(root)
    lock_file = out / f".{edition_id}.lock"
    if lock_file.is_symlink() or (lock_file.exists() and not lock_file.is_file()):
        raise ForeignOutputError(
            "is not the lock file runs create (a link, or a folder): a run writes nothing through it",
            where=str(lock_file),
            fix=f"remove it (rm {lock_file}); the next run creates the lock file again",
        )
    current_run(out, str(edition_id))  # refused before anything is written, the lock file included
    lock = filelock.FileLock(str(lock_file), timeout=0)
    with clear_write_errors(out):
        try:
            lock.acquire()
        except filelock.Timeout:  # an OSError too: caught first
            raise OutputError(
                f"another run of edition {edition_id} is writing its outputs",
                where=str(lock_file),
                fix="wait for that run to end and run again (the lock is released when it stops, even if it is killed)",
            ) from None
    try:
        yield
    finally:
        lock.release()


def parquet_bytes(table: pd.DataFrame, metadata: Mapping[str, Any]) -> pa.Table:
    """The Arrow table of a DataFrame with the run's metadata under the key ``baro``."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[b"baro"] = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return arrow.replace_schema_metadata(meta)


def write_table(folder: Path, name: str, table: pd.DataFrame, metadata: Mapping[str, Any]) -> str:
    file = f"{name}.parquet"
    pq.write_table(parquet_bytes(table, metadata), folder / file, compression="zstd")
    return file


def publish_run(
    root: Path,
    edition_id: str,
    tables: Mapping[str, pd.DataFrame],
    manifest: Mapping[str, Any],
    metadata: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
) -> PublishedRun:
    """Write the manifest, every table and extra file into a new run folder, then swap the edition's link to it.

    The caller holds :func:`edition_lock`. ``metadata`` goes into every Parquet file's schema
    (edition, pipeline version, input hashes); ``extra_files`` are written as they are
    (reports, workbooks). Refused, with nothing written, when what the link points at is not a
    run of the edition's.
    """
    out = outputs_folder(root)
    previous = current_run(out, str(edition_id))
    files = sorted([f"{name}.parquet" for name in tables] + list(extra_files or {}) + ["manifest.json"])
    with clear_write_errors(out):
        run_folder = out / f".{edition_id}.{uuid.uuid4().hex[:12]}"
        run_folder.mkdir()  # never an existing folder: a name taken by chance is an error, not a merge
        try:
            # The manifest first, naming the edition: a run killed while writing leaves a folder the next run knows as its own.
            (run_folder / "manifest.json").write_text(
                json.dumps({**manifest, "edition": str(edition_id), "outputs": files}, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
            )
            for name, table in tables.items():
                write_table(run_folder, name, table, metadata)
            for name, data in (extra_files or {}).items():
                (run_folder / name).write_bytes(data)
            previous = swap_link(out, str(edition_id), run_folder, previous)
        except BaseException:
            remove_run(RunFolder(run_folder, tuple(files)))
            raise
        for run in ([previous] if previous is not None else []) + stale_runs(out, str(edition_id), run_folder):
            remove_run(run)
        for link in stale_links(out, str(edition_id)):
            link.unlink(missing_ok=True)
    return PublishedRun(out / str(edition_id), run_folder, tuple(files))


def is_run_name(name: str, edition_id: str) -> bool:
    """Whether ``name`` is a run folder's name as :func:`publish_run` makes it (``.<edition>.<12 hex>``)."""
    return re.fullmatch(rf"\.{re.escape(edition_id)}\.[0-9a-f]{{12}}", name) is not None


def own_run(path: Path, edition_id: str) -> RunFolder:
    """``path`` as a folder a run of the edition wrote, every file in it listed by its manifest;
    otherwise a :class:`ForeignOutputError` saying why it is not."""

    def refuse(what: str, fix: str = f"move it out of outputs/ (mv {path} elsewhere), then run again") -> ForeignOutputError:
        return ForeignOutputError(f"{what}; a run replaces only what runs of edition {edition_id} wrote, whole", where=str(path), fix=fix)

    if path.is_symlink() or not path.is_dir():
        raise refuse("is a link or a file, not a run folder")
    manifest = path / "manifest.json"
    try:
        content = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() and not manifest.is_symlink() else None
    except (OSError, ValueError):
        content = None
    if not isinstance(content, dict) or not isinstance(content.get("outputs"), list):
        raise refuse("is a folder without the manifest.json of a run")
    if content.get("edition") != edition_id:
        raise refuse(f"holds a run of edition {content.get('edition')!r} (its manifest.json says so), not of {edition_id!r}")
    found = sorted(path.iterdir())
    foreign = [p.name for p in found if p.name not in content["outputs"] or p.is_symlink() or not p.is_file()]
    if foreign:
        raise refuse(f"holds what its run did not write: {', '.join(foreign)}", fix=f"move {'it' if len(foreign) == 1 else 'them'} out of {path}, then run again")
    return RunFolder(path, tuple(p.name for p in found))


def current_run(out: Path, edition_id: str) -> RunFolder | None:
    """The run ``outputs/<edition>`` shows now, or None when there is none; a
    :class:`ForeignOutputError` when what is there is not a run of the edition's."""
    link = out / edition_id
    if not link.is_symlink():
        # A plain folder: outputs from before links were used, or a user's.
        return own_run(link, edition_id) if link.exists() else None
    target = os.readlink(link)
    if not is_run_name(target, edition_id):
        raise ForeignOutputError(
            f"is a link to {target}, not to a run folder of edition {edition_id}: a run replaces only its own link",
            where=str(link),
            fix=f"move or remove the link {link} (what it points to stays), then run again",
        )
    folder = out / target
    if not folder.exists() and not folder.is_symlink():
        return None  # its run folder was removed by hand: only the link is left, to replace
    return own_run(folder, edition_id)


def swap_link(out: Path, edition_id: str, run_folder: Path, previous: RunFolder | None) -> RunFolder | None:
    """Point ``outputs/<edition>`` at ``run_folder`` atomically; return the previous run (moved aside if it was a plain folder)."""
    link = out / edition_id
    if previous is not None and previous.path == link:
        # Outputs from before links were used: move them aside so the link can replace them.
        aside = out / f".{edition_id}.previous-{uuid.uuid4().hex[:8]}"
        link.rename(aside)
        previous = RunFolder(aside, previous.files)
    temp_link = out / f".{edition_id}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(run_folder.name, temp_link)
    os.replace(temp_link, link)
    return previous


def remove_run(run: RunFolder) -> None:
    """Remove the files a run wrote, then its folder if nothing else came into it meanwhile."""
    for name in run.files:
        (run.path / name).unlink(missing_ok=True)
    try:
        run.path.rmdir()
    except OSError:
        pass  # something was added since it was checked: it stays, with its folder


def stale_runs(out: Path, edition_id: str, current: Path) -> list[RunFolder]:
    """Run folders of the edition left by killed runs (SIGKILL, power cut): under the edition's lock
    no other run of it is writing, so all but ``current`` are debris. Only folders a run wrote (by
    their manifest) count; anything else of a like name is left alone."""
    found = []
    for path in out.iterdir():
        if path.name.startswith(f".{edition_id}.") and path != current and path.is_dir() and not path.is_symlink():
            try:
                found.append(own_run(path, edition_id))
            except ForeignOutputError:
                continue
    return found


def stale_links(out: Path, edition_id: str) -> list[Path]:
    """Temporary links of the edition left by runs killed while swapping: the name and target a run gives them."""
    temp_name = rf"\.{re.escape(edition_id)}\.link-[0-9a-f]{{8}}"
    return [p for p in out.iterdir() if re.fullmatch(temp_name, p.name) and p.is_symlink() and is_run_name(os.readlink(p), edition_id)]


def read_table(root: Path, edition_id: str, name: str) -> pd.DataFrame:
    """Read one output table of an edition, with a clear error when the run has not been made or the file is damaged."""
    file = edition_folder(root, edition_id) / f"{name}.parquet"
    if not file.exists():
        raise UsageError(
            f"no {name}.parquet for edition {edition_id}",
            where=str(file),
            fix=f"run 'baro run {edition_id}' first",
        )
    rewrite = f"run 'baro run {edition_id}' again: it writes the file anew"
    try:
        if b"baro" not in (pq.read_schema(file).metadata or {}):
            raise OutputReadError("was not written by a run (no 'baro' metadata in its schema)", where=str(file), fix=rewrite)
        return pd.read_parquet(file)
    except PermissionError as exc:
        raise OutputReadError(f"cannot be read: {exc.strerror}", where=str(file), fix="make it readable for you (chmod u+r)") from None
    except (OSError, pa.ArrowException) as exc:
        raise OutputReadError(f"is not a readable Parquet file (damaged or cut short: {exc})", where=str(file), fix=rewrite) from None


def read_manifest(root: Path, edition_id: str) -> dict[str, Any] | None:
    """The last run's manifest of an edition, or None when there is none."""
    file = edition_folder(root, edition_id) / "manifest.json"
    if not file.exists():
        return None
    manifest: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return manifest


def table_metadata(edition_id: str, populations: Mapping[str, str], inputs: Mapping[str, str]) -> dict[str, Any]:
    """What every Parquet file carries in its schema: edition, population labels, version, input hashes."""
    return {
        "edition": str(edition_id),
        "populations": dict(populations),
        "pipeline_version": __version__,
        "inputs_sha256": dict(inputs),
    }


def run_tables(
    edition_id: str,
    estimates: Mapping[str, pd.DataFrame],
    weighting: pd.DataFrame,
    weights: pd.DataFrame,
    quarantine: Mapping[str, pd.DataFrame],
    audit: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The Parquet tables of docs/design.md §5, in a stable row order (same inputs, same bytes)."""
    return {
        "estimates": pd.concat(list(estimates.values()), ignore_index=True),
        "weighting": weighting.reset_index(drop=True),
        "weights": weights.reset_index(drop=True),
        "quarantine": pd.concat(list(quarantine.values()), ignore_index=True),
        "audit": audit.reset_index(drop=True),
    }


def build_manifest(
    edition_id: str,
    root: Path,
    sources: Mapping[str, Any],
    counts: Mapping[str, Any],
    timings: Mapping[str, float],
    started_at: str,
) -> dict[str, Any]:
    """``manifest.json``: inputs with hashes and what was detected, row accounting, timings per stage."""
    return {
        "edition": str(edition_id),
        "pipeline_version": __version__,
        "started_at": started_at,
        "inputs": {
            pop: {**_as_dict(src), "path": _relative(Path(src.path), root)} for pop, src in sources.items()
        },
        "rows": {pop: _as_dict(c) for pop, c in counts.items()},
        "timings_seconds": {stage: round(seconds, 4) for stage, seconds in timings.items()},
    }


def _as_dict(value: Any) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, tuple) else v) for k, v in asdict(value).items()}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)
