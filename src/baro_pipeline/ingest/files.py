"""Finding the export and reading its bytes: regular files only, bounded reads, the size limits."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..edition import Edition
from ..errors import ExportError, ExportReadError, UsageError

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".sav": "sav"}
FILE_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"}
# Limits of what is parsed at all (overridable by environment variable, see export_limits).
LIMIT_VARIABLES = {"max_mb": "BARO_MAX_EXPORT_MB", "max_columns": "BARO_MAX_EXPORT_COLUMNS", "max_cells": "BARO_MAX_EXPORT_CELLS"}
DEFAULT_MAX_COLUMNS = 5_000
# The size and cells allowed by default are the memory available divided by these: ingest and
# validation peak at about 13 bytes per cell and 5 per byte of CSV (2 per byte of unpacked .xlsx),
# and the rest is room for weighting and estimation, which run while the frames are held.
BYTES_PER_CELL = 50
BYTES_PER_FILE_BYTE = 10
ASSUMED_MEMORY = 4 * 2**30  # bytes, where the memory available cannot be told (not Linux)


@dataclass(frozen=True)
class ExportLimits:
    """What an export may be at most; beyond, it is refused before being parsed."""

    max_mb: float  # file size (an .xlsx: unpacked), in MiB
    max_columns: int
    max_cells: int


def find_export(edition: Edition, population: str, root: Path) -> Path:
    """``<root>/<edition.exports>/<population>.csv|xlsx|sav``: exactly one of them."""
    folder = Path(root) / edition.exports
    found = sorted(p for p in folder.glob(f"{population}.*") if p.suffix.lower() in FORMATS)
    if not found:
        raise ExportError(
            f"no export for population '{population}'",
            where=str(folder),
            fix=f"put the export there as {population}.csv, {population}.xlsx or {population}.sav",
        )
    if len(found) > 1:
        raise ExportError(
            f"several exports for population '{population}': {', '.join(p.name for p in found)}",
            where=str(folder),
            fix="keep one of them and move the others out of the folder",
        )
    return found[0]


def find_exports(edition: Edition, root: Path) -> dict[str, Path]:
    """:func:`find_export` of every population, in the edition's order."""
    return {pop: find_export(edition, pop, root) for pop in edition.populations}


def largest_export_bytes(paths: Mapping[str, Path]) -> int:
    """The size of the largest export (links followed), for the allocator's settings of a run
    (memory.fit_to_export); one that cannot be looked at counts as empty: reading it says why."""

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    return max(map(size, paths.values()), default=0)


def file_bytes(path: Path, limits: ExportLimits) -> bytes:
    """The bytes of a regular file (after links), read no further than the size limit.

    A FIFO, a device (a link to ``/dev/zero``) or a directory is refused before it is opened: reading
    one would hang or never end. The limit holds while reading, as a file may grow after ``stat``.
    """
    try:
        info = path.stat()
        kind = stat.S_IFMT(info.st_mode)
        if kind != stat.S_IFREG:
            raise ExportError(
                f"not a regular file but {FILE_KINDS.get(kind, 'a special file')}" + (f" (a link to {path.resolve()})" if path.is_symlink() else ""),
                where=str(path),
                fix="put the export itself there, as an ordinary file (copy it rather than link a pipe or device)",
            )
        limit = int(limits.max_mb * 2**20)
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise ExportReadError(f"cannot read the file ({exc.strerror})", where=str(path), fix="check the path and its permissions") from None
    check_size(path, max(info.st_size, len(data)), limits)
    return data


def export_limits() -> ExportLimits:
    """The limits in force: each environment variable of :data:`LIMIT_VARIABLES` if set, else the default.

    The default size and number of cells follow the memory available now: a file the machine
    cannot hold is refused with a message rather than by the kernel's out-of-memory killer, and
    a large export that it can hold is read.
    """
    memory = available_memory() or ASSUMED_MEMORY
    return ExportLimits(
        max_mb=limit_setting("max_mb", memory // (BYTES_PER_FILE_BYTE * 2**20)),
        max_columns=int(limit_setting("max_columns", DEFAULT_MAX_COLUMNS)),
        max_cells=int(limit_setting("max_cells", memory // BYTES_PER_CELL)),
    )


def limit_setting(name: str, default: float) -> float:
    variable = LIMIT_VARIABLES[name]
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"environment variable {variable}={text!r} is not a positive number", fix=f"set {variable} to a positive number, or unset it for the default")
    return value


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None where it cannot be told."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_fix(name: str, what: str) -> str:
    return (
        f"check that this is the interviews' export ({what}); if it truly is that large, raise the limit with the "
        f"environment variable {LIMIT_VARIABLES[name]} on a machine with the memory for it "
        f"(about {BYTES_PER_CELL} bytes per cell and {BYTES_PER_FILE_BYTE} per byte of file)"
    )


def check_size(path: Path, size: int, limits: ExportLimits, unpacked: bool = False) -> None:
    if size > limits.max_mb * 2**20:
        what = "the workbook unpacks to" if unpacked else "the file is"
        raise ExportError(
            f"{what} {size / 2**20:,.1f} MB, more than the limit of {limits.max_mb:,g} MB",
            where=str(path),
            fix=limit_fix("max_mb", "not a database dump or several files in one"),
        )


def check_shape(path: Path, rows: int, columns: int, limits: ExportLimits) -> None:
    """Refuse, before parsing, a table with too many columns or cells for the limits."""
    if columns > limits.max_columns:
        raise ExportError(
            f"the header has {columns:,} columns, more than the limit of {limits.max_columns:,}",
            where=f"{path}, line 1",
            fix=limit_fix("max_columns", "a wrong delimiter or a transposed table also gives thousands of columns"),
        )
    if rows * columns > limits.max_cells:
        raise ExportError(
            f"the file has about {rows:,} rows × {columns:,} columns = {rows * columns:,} cells, more than the limit of {limits.max_cells:,}",
            where=str(path),
            fix=limit_fix("max_cells", "one row per interview"),
        )
