"""Typed errors of every stage, in one place.

Each error says what is wrong, where (file, row, column or key) and how to fix it. The CLI turns
them into a message and an exit code (``exit_code``), never a traceback: 1 bad data, 2 bad usage or
configuration, 3 ``--strict`` audit mismatch, 71 a process of the run killed or crashed, 73 outputs that
cannot be written (the CLI adds 70, an internal error).
"""

from __future__ import annotations


class BaroError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what]
        if self.where:
            parts.insert(0, f"{self.where}:")
        text = " ".join(parts)
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class EditionError(BaroError):
    """The edition's YAML is wrong (unknown key, duplicate id, bad reference, shares not summing to 1)."""

    exit_code = 2


class UsageError(BaroError):
    """A command was called with arguments that cannot work."""

    exit_code = 2


class ExportError(BaroError):
    """An export cannot be read or does not fit its codebook."""

    exit_code = 1


class ExportReadError(ExportError):
    """The system could not read the export (missing, no permission, an I/O error): unlike what is
    wrong inside an export, this may pass on a second try."""


class ValidationThresholdError(BaroError):
    """Too many invalid rows: the edition's maximum share of invalid rows is passed."""

    exit_code = 1


class WeightingError(BaroError):
    """Weights cannot be computed as asked (no convergence, empty cell, impossible bounds)."""

    exit_code = 1


class EstimationError(BaroError):
    """An estimate cannot be computed as asked."""

    exit_code = 1


class ProcessEndedError(BaroError):
    """A process of the run (a population's estimation, forked) ended without its result: killed by
    the system (most often for lack of memory) or crashed."""

    exit_code = 71  # sysexits' EX_OSERR


class OutputError(BaroError):
    """Outputs cannot be written (locked folder, unwritable path)."""

    exit_code = 1


class ForeignOutputError(OutputError):
    """Something in ``outputs/`` that no run of ours wrote is where a run would write or remove: refused, untouched."""

    exit_code = 73  # sysexits' EX_CANTCREAT, beside the CLI's 70 (EX_SOFTWARE)


class OutputWriteError(OutputError):
    """The system refused to write the outputs (no permission, a read-only or full disk)."""

    exit_code = 73


class OutputReadError(BaroError):
    """An output of a past run cannot be read back (damaged, not written by a run, unreadable)."""

    exit_code = 1


class AuditMismatchError(BaroError):
    """``--strict``: at least one published figure is a mismatch."""

    exit_code = 3
    # The run's RunResult: a strict run publishes its outputs before it fails on the audit.
    result: object = None
