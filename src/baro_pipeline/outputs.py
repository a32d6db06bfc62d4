"""Outputs stage: Parquet tables and ``manifest.json``, published atomically under a lock.

A run writes into a fresh folder ``outputs/.<edition>.<run id>/`` and then swaps the symbolic link
``outputs/<edition>`` to it with one ``os.replace`` (atomic on POSIX): a run killed at any point
leaves the previous outputs whole, and readers never see half a run. A file lock
(``outputs/.<edition>.lock``, released by the kernel if the process dies) stops two runs from
writing the same edition at once.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import OutputError, UsageError

# Columns that may hold a respondent id: only these two tables may carry one (DESIGN.md §5).
TABLES_WITH_IDS = ("weights", "quarantine")


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
def edition_lock(root: Path, edition_id: str) -> Iterator[None]:
    """Hold the edition's output lock, or fail at once with who to wait for."""
    out = output_root(root)
    out.mkdir(parents=True, exist_ok=True)
    lock_file = out / f".{edition_id}.lock"
    lock = filelock.FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
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
    """Write every table and the manifest into a new run folder, then swap the edition's link to it.

    The caller holds :func:`edition_lock`. ``metadata`` goes into every Parquet file's schema
    (edition, pipeline version, input hashes); ``extra_files`` are written as they are
    (reports, workbooks).
    """
    out = output_root(root)
    run_folder = out / f".{edition_id}.{uuid.uuid4().hex[:12]}"
    run_folder.mkdir(parents=True)
    try:
        files = [write_table(run_folder, name, table, metadata) for name, table in tables.items()]
        for name, data in (extra_files or {}).items():
            (run_folder / name).write_bytes(data)
            files.append(name)
        files.append("manifest.json")
        full_manifest = {**manifest, "outputs": sorted(files)}
        (run_folder / "manifest.json").write_text(json.dumps(full_manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        previous = swap_link(out, edition_id, run_folder)
    except BaseException:
        shutil.rmtree(run_folder, ignore_errors=True)
        raise
    for stale in ([previous] if previous is not None else []) + stale_runs(out, edition_id, run_folder):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return PublishedRun(out / str(edition_id), run_folder, tuple(sorted(files)))


def stale_runs(out: Path, edition_id: str, current: Path) -> list[Path]:
    """Run folders and temporary links of the edition left by killed runs (SIGKILL, power cut):
    under the edition's lock no other run of it is writing, so all but ``current`` are debris.
    """
    prefix, lock = f".{edition_id}.", f".{edition_id}.lock"
    return [p for p in out.iterdir() if p.name.startswith(prefix) and p.name != lock and p.name != current.name]


def swap_link(out: Path, edition_id: str, run_folder: Path) -> Path | None:
    """Point ``outputs/<edition>`` at ``run_folder`` atomically; return the folder it pointed to."""
    link = out / str(edition_id)
    previous: Path | None = None
    if link.is_symlink():
        previous = out / os.readlink(link)
    elif link.exists():
        # An outputs folder from before links were used: move it aside so the link can replace it.
        previous = out / f".{edition_id}.previous-{uuid.uuid4().hex[:8]}"
        link.rename(previous)
    temp_link = out / f".{edition_id}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(run_folder.name, temp_link)
    os.replace(temp_link, link)
    return previous


def read_table(root: Path, edition_id: str, name: str) -> pd.DataFrame:
    """Read one output table of an edition, with a clear error when the run has not been made."""
    file = edition_folder(root, edition_id) / f"{name}.parquet"
    if not file.exists():
        raise UsageError(
            f"no {name}.parquet for edition {edition_id}",
            where=str(file),
            fix=f"run 'baro run {edition_id}' first",
        )
    return pd.read_parquet(file)


def read_manifest(root: Path, edition_id: str) -> dict[str, Any] | None:
    """The last run's manifest of an edition, or None when there is none."""
    file = edition_folder(root, edition_id) / "manifest.json"
    if not file.exists():
        return None
    return json.loads(file.read_text(encoding="utf-8"))


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
    """The Parquet tables of DESIGN.md §5, in a stable row order (same inputs, same bytes)."""
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
