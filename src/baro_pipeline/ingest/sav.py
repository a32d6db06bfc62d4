"""SPSS exports as text cells: read once in a forked child first, value labels checked against the codebook."""

from __future__ import annotations

import faulthandler
import os
import signal
import unicodedata
from pathlib import Path
from collections.abc import Mapping

import numpy as np
import pyreadstat

from ..edition import Codebook
from ..errors import ExportError
from .columns import coded_columns
from .files import ExportLimits, check_shape
from .table import NO_ISSUES, ROW, TextTable, cell_text


def read_sav_text(path: Path, data: bytes, codebook: Codebook, limits: ExportLimits) -> TextTable:
    check_sav_readable_apart(path)
    try:
        _, header = pyreadstat.read_sav(str(path), metadataonly=True)
        check_shape(path, header.number_rows or 0, header.number_columns or 0, limits)
        frame, meta = pyreadstat.read_sav(str(path))
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ExportError(f"not a readable SPSS .sav file ({exc})", where=str(path), fix="save it again from SPSS as .sav") from None
    check_value_labels(meta.variable_value_labels, codebook, path)
    text = frame.apply(cell_text)
    text.insert(0, ROW, np.arange(1, len(frame) + 1, dtype=np.int64))
    return TextTable(text, NO_ISSUES)


def check_sav_readable_apart(path: Path) -> None:
    """Read the SPSS file once in a child process first: ReadStat, a C library, can crash the process
    (a segmentation fault) on a damaged file, and a crash there must be this error, not the run's end.

    A forked child reads it into plain arrays (no pandas, no threads) and exits; only its fate is
    used. Where processes cannot be forked (not POSIX), the file is read directly.
    """
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            faulthandler.disable()  # its crash is reported by the parent, not dumped on stderr
            pyreadstat.read_sav(str(path), output_format="dict")
        finally:
            os._exit(0)  # an error is found again, and reported, by the parent's own read
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise ExportError(
            f"not a readable SPSS .sav file: the SPSS reader crashed on it ({signal.Signals(os.WTERMSIG(status)).name})",
            where=str(path),
            fix="the file is damaged: save it again from SPSS as .sav, or export the interviews as CSV",
        )


def check_value_labels(labels: Mapping[str, Mapping[float, str]], codebook: Codebook, path: Path) -> None:
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
