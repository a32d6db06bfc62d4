"""SPSS exports as text cells (codes as numbers): read in a forked child, value labels checked against the codebook."""

from __future__ import annotations

import faulthandler
import json
import mmap
import os
import signal
import struct
import tempfile
import unicodedata
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from ..edition import Codebook
from ..errors import ExportError
from .cells import number_cells
from .columns import code_columns, coded_columns
from .csv import read_numbers, text_frame
from .files import ExportLimits, check_shape
from .table import NO_ISSUES, TextTable, cell_text

Labels = Mapping[str, Mapping[float | int, str]]  # as pyreadstat types them
HEAD = struct.Struct("<Q")  # the length of the JSON that comes before the cells in the child's answer


def read_sav_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    """The file's cells, its codes and lengths of interview as numbers where they are whole (as a clean
    CSV's: not written as text to be parsed back)."""
    cells, labels = sav_cells_apart(path, limits, {codebook.columns.loi, *code_columns(codebook)})
    check_value_labels(labels, codebook, path)
    return TextTable(text_frame(cells, np.arange(1, cells.num_rows + 1, dtype=np.int64)), NO_ISSUES, numbers=read_numbers(cells))


def sav_cells(path: Path, limits: ExportLimits, numeric: Collection[str] = frozenset()) -> tuple[pa.Table, Labels]:
    """The file's cells, and its value labels; refused past the limits, before its data is read.

    The columns named in ``numeric`` are whole numbers (null = blank) where every value is one
    (:func:`whole_numbers`), the others text.
    """
    import pyreadstat  # here only: a CSV run never needs it

    try:
        _, header = pyreadstat.read_sav(str(path), metadataonly=True)
        check_shape(path, header.number_rows or 0, header.number_columns or 0, limits)
        frame, meta = pyreadstat.read_sav(str(path))
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ExportError(f"not a readable SPSS .sav file ({exc})", where=str(path), fix="save it again from SPSS as .sav") from None
    return pa.table({c: sav_column(frame[c], c in numeric) for c in frame.columns}), meta.variable_value_labels


def sav_column(column: pd.Series, numeric: bool) -> pa.Array:
    """One column's cells: whole numbers where ``numeric`` and every value is one; else numeric variables
    (all but texts and dates) written by Arrow, the others as cell_text writes them."""
    if column.dtype != np.float64:
        return pa.array(cell_text(column), pa.string())
    values = column.to_numpy()
    whole = whole_numbers(values) if numeric else None
    return number_cells(values) if whole is None else whole


def whole_numbers(values: np.ndarray) -> pa.Array | None:
    """Values all blank (NaN) or whole from 0 to under 2**32 as unsigned integers of the smallest type,
    null where blank (what a clean CSV's codes are read as); None where any is another number."""
    blank = np.isnan(values)
    filled = np.where(blank, 0.0, values)  # -0.0 is 0, as its text "0" is
    if not ((filled >= 0) & (filled < 2**32) & (filled == np.floor(filled))).all():
        return None
    return pa.array(filled.astype(np.min_scalar_type(int(filled.max(initial=0)))), mask=blank)


def sav_cells_apart(path: Path, limits: ExportLimits, numeric: Collection[str] = frozenset()) -> tuple[pa.Table, Labels]:
    """:func:`sav_cells`, read in a child process: ReadStat, a C library, can crash the process (a
    segmentation fault) on a damaged file, and a crash there must be this error, not the run's end.

    The forked child writes its answer to a file in memory (a ``memfd``, or a temporary file where
    there is none): the JSON of its labels or its error, then the cells as an Arrow stream. Once
    the child has ended, the parent maps the file: the cells are read where the child wrote them,
    not copied. Where processes cannot be forked (not POSIX), the file is read directly.
    """
    if not hasattr(os, "fork"):
        return sav_cells(path, limits, numeric)
    with answer_file() as answer:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                faulthandler.disable()  # its crash is reported by the parent, not dumped on stderr
                send_sav_cells(path, limits, numeric, answer)
                answer.flush()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            raise ExportError(
                f"not a readable SPSS .sav file: the SPSS reader crashed on it ({signal.Signals(os.WTERMSIG(status)).name})",
                where=str(path),
                fix="the file is damaged: save it again from SPSS as .sav, or export the interviews as CSV",
            )
        received = received_sav_cells(answer)
    if received is None:
        raise RuntimeError(f"the child process reading {path} ended without an answer (exit status {status})")
    return received


def answer_file() -> BinaryIO:
    """An unnamed file for the child's answer: a ``memfd`` (Linux: in memory, no disk), else a temporary file."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("baro-sav-answer"), "w+b")
    return tempfile.TemporaryFile()


def send_sav_cells(path: Path, limits: ExportLimits, numeric: Collection[str], answer: BinaryIO) -> None:
    """The child's answer: the labels and the cells; or the error that refuses the file, that memory
    ran out, or what else went wrong (a bug: the parent raises it as such)."""
    try:
        cells, labels = sav_cells(path, limits, numeric)
    except ExportError as exc:
        return send_head(answer, {"error": {"what": exc.what, "where": exc.where, "fix": exc.fix}})
    except MemoryError:
        return send_head(answer, {"memory": True})
    except Exception as exc:  # noqa: BLE001 - passed on to the parent, which raises it
        return send_head(answer, {"internal": f"{type(exc).__name__}: {exc}"})
    send_head(answer, {"labels": {c: [[v, label] for v, label in codes.items()] for c, codes in labels.items()}})
    with pa.ipc.new_stream(answer, cells.schema) as stream:
        stream.write_table(cells)


def send_head(answer: BinaryIO, head: dict[str, object]) -> None:
    text = json.dumps(head).encode()
    text += b" " * (-len(text) % 8)  # the Arrow stream after it starts 8-byte aligned
    answer.write(HEAD.pack(len(text)) + text)


def received_sav_cells(answer: BinaryIO) -> tuple[pa.Table, Labels] | None:
    """What the child sent (see :func:`send_sav_cells`), its error raised; None if it ended without a whole answer."""
    size = os.fstat(answer.fileno()).st_size
    if size < HEAD.size:
        return None
    # Mapped, not read: the cells' buffers are the file's pages (freed with the last cell).
    view = pa.py_buffer(mmap.mmap(answer.fileno(), size, access=mmap.ACCESS_READ))
    length = HEAD.unpack(view.slice(0, HEAD.size).to_pybytes())[0]
    try:
        text = view.slice(HEAD.size, length).to_pybytes()
        head = json.loads(text)
        if "error" in head:
            raise ExportError(head["error"]["what"], where=head["error"]["where"], fix=head["error"]["fix"])
        if "memory" in head:
            raise MemoryError
        if "internal" in head:
            raise RuntimeError(f"reading the SPSS file in a child process: {head['internal']}")
        return pa.ipc.open_stream(view.slice(HEAD.size + length)).read_all(), {c: dict((v, label) for v, label in codes) for c, codes in head["labels"].items()}
    except (ValueError, IndexError, OSError, pa.ArrowInvalid):  # cut short
        return None


def check_value_labels(labels: Labels, codebook: Codebook, path: Path) -> None:
    """A value label that names a codebook code differently means the column or codes moved."""
    for column, expected in coded_columns(codebook).items():
        for value, label in labels.get(column, {}).items():
            code = float(value)
            if code in expected and folded(str(label)) != folded(expected[code]):
                raise ExportError(
                    f"column '{column}': code {code:g} is labelled '{label}' in the file but '{expected[code]}' in the codebook",
                    where=str(path),
                    fix="check that the column is mapped to the right question and that its codes did not change this edition; "
                    "correct the codebook's codes (or the file's value labels)",
                )


def folded(label: str) -> str:
    """A label compared without accents, case, apostrophe style or extra whitespace."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", label) if not unicodedata.combining(c))
    return " ".join(plain.replace("’", "'").replace("‘", "'").casefold().split())
