"""The whole job as one plain function: an edition's exports in, its published outputs out.

``run_edition`` is the one place that wires the stages (docs/design.md §4): edition, ingest,
validate, weight, estimate (started), gather estimates, slip estimates, mirror comparisons, audit, trends, report,
tables, write. It imports
no Prefect module. Whoever runs it may wrap each stage call: ``stage(name, function, *args)``
calls ``function(*args)`` by default; the Prefect flow (``flows/run.py``) passes a wrapper that
runs each call as a task, so the order of the stages exists here only.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol
from collections.abc import Callable, Mapping

import pandas as pd

from . import audit, blas, edition, estimation, ingest, memory, orders, outputs, report, trends, validation, weighting


class Stage(Protocol):
    """How a stage is called: ``stage("validate", validation.validate_export, export, ...)``."""

    def __call__(self, name: str, function: Callable[..., Any], /, *args: Any) -> Any: ...


def direct(name: str, function: Callable[..., Any], /, *args: Any) -> Any:
    """The default ``stage``: call the stage's function as it is."""
    return function(*args)


def silent(text: str) -> None:
    """The default ``progress``: say nothing."""


# Which part of the run each stage's time counts towards (the manifest's ``timings_seconds``).
PHASES = {
    "load edition": "edition",
    "read export": "ingest",
    "validate": "validate",
    "shared ids": "validate",
    "weight": "weight",
    "estimate": "estimate",
    "gather estimates": "estimate",
    "mirror comparisons": "estimate",
    "slip estimates": "estimate",
    "published list estimates": "estimate",
    "audit": "audit",
    "audit of published orders": "audit",
    "ranking charts": "report",
    "section charts": "report",
    "previous edition": "report",
    "trends": "report",
    "report": "report",
    "tables": "report",
    "weights table": "write",
    "write outputs": "write",
}


@dataclass(frozen=True)
class RowsSummary:
    """One population's row accounting: read = kept + excluded + quarantined."""

    read: int
    kept: int
    excluded: int
    quarantined: int


@dataclass(frozen=True)
class RunResult:
    """What a run produced: the tables written, where, the row accounting, the audit's counts and the timings."""

    edition: str
    rows: Mapping[str, RowsSummary]
    verdicts: Mapping[str, int]
    tables: Mapping[str, pd.DataFrame] = field(repr=False)
    published: outputs.PublishedRun
    timings: Mapping[str, float]

    @property
    def figures(self) -> int:
        """How many published figures the audit compared."""
        return len(self.tables["audit"])

    @property
    def pipeline_seconds(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> dict[str, Any]:
        """Counts only, no respondent data: what ``baro run`` prints and the flow shows as an artifact."""
        return {
            "edition": self.edition,
            "rows": {pop: vars(r).copy() for pop, r in self.rows.items()},
            "figures": self.figures,
            "verdicts": dict(self.verdicts),
            "outputs": str(self.published.folder),
            "files": list(self.published.files),
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }


    def markdown(self) -> str:
        """The summary as markdown: rows per population and the audit's verdicts."""
        rows = "\n".join(f"| {pop} | {r.read} | {r.kept} | {r.excluded} | {r.quarantined} |" for pop, r in self.rows.items())
        verdicts = ", ".join(f"{k}: {v}" for k, v in self.verdicts.items())
        return (
            f"# baro run {self.edition}\n\n| population | read | kept | excluded | quarantined |\n|---|---|---|---|---|\n{rows}\n\n"
            f"**Audit** ({self.figures} published figures): {verdicts}\n\nOutputs: `{self.published.folder}`\n"
        )


class _Timed:
    """``stage`` calls with their wall time added to their phase's total (a stage runs once per population).

    A stage called during another (the ranking charts, started as each population is estimated)
    counts towards its own phase only: its time is taken out of the other's.
    """

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.timings: dict[str, float] = {}
        self.lock = threading.Lock()  # the ranking charts' stages of forked populations end in the threads that receive their rows
        self.local = threading.local()  # per thread: the wall time of the stages ended so far, nested ones within their outer one

    @property
    def ended(self) -> float:
        ended: float = getattr(self.local, "ended", 0.0)
        return ended

    def __call__(self, name: str, function: Callable[..., Any], /, *args: Any) -> Any:
        start, ended_before = time.perf_counter(), self.ended
        try:
            return self.stage(name, function, *args)
        finally:
            seconds = time.perf_counter() - start
            self.count(PHASES[name], seconds - (self.ended - ended_before))
            self.local.ended = ended_before + seconds

    def count(self, phase: str, seconds: float) -> None:
        with self.lock:
            self.timings[phase] = self.timings.get(phase, 0.0) + seconds


def weighting_line(pop: str, w: weighting.RakeResult) -> str:
    trimmed = "" if w.trimming == "none" else f", trimmed: {w.trimming}"
    return f"{pop}: {w.method} in {w.iterations} iterations{trimmed}, Kish deff {w.kish_deff:.2f}, weights {w.min_weight:.2f}–{w.max_weight:.2f}"


def run_edition(
    edition_id: str,
    root: Path | str,
    *,
    strict: bool = False,
    stage: Stage = direct,
    progress: Callable[[str], None] = silent,
    warn: Callable[[str], None] = silent,
) -> RunResult:
    """Turn ``raw/<edition>/`` into ``outputs/<edition>/`` and return what was written.

    ``progress`` receives one line of text per step (counts only), ``warn`` what a person must still
    fill in or review in the edition (its marks: docs/edition-format.md). With ``strict``, a published
    figure that the data contradicts raises :class:`~baro_pipeline.errors.AuditMismatchError`
    after the outputs are published (the error carries the :class:`RunResult`).

    Longer than ~60 lines on purpose: it is the one place that reads as the run's stages in order,
    under the edition's lock, each step one timed call with its progress line.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    root_path = Path(root).resolve()
    report.start_renderer()  # the charts' renderer process starts while the data stages run
    timed = _Timed(stage)
    ed = timed("load edition", edition.load_edition, edition_id, root_path)
    if ed.marks:
        warn(edition.marks_warning(ed))
    edition.check_runnable(ed)
    progress(f"edition {ed.id}: {', '.join(ed.populations)}")
    with outputs.edition_lock(root_path, ed.id), contextlib.ExitStack() as run_scope:
        # Each raw export is validated as soon as read, and freed then (the kept rows are a frame of their
        # own): one raw export in memory at a time, only its source kept.
        exports, sources, validated, samples = {}, {}, {}, {}
        paths = ingest.find_exports(ed, root_path)
        # The allocator's setting for the run, from its largest export: freed arrays go back to the
        # system at a million rows (memory.fit_to_samples), freed pages stay in the process for the next arrays below.
        largest_export = ingest.largest_export_bytes(paths)
        memory.fit_to_export(largest_export)
        for pop, population in ed.populations.items():
            exports[pop] = timed("read export", ingest.read_export, paths[pop], population.codebook)
            src = sources[pop] = exports[pop].source
            progress(f"{pop}: read {src.rows_read} rows from {Path(src.path).name} ({src.format}, {src.encoding or '-'}, delimiter {src.delimiter!r})")
            validated[pop] = timed("validate", validation.validate_export, exports.pop(pop), population, ed.quality, ed.thresholds)
            c = validated[pop].counts
            progress(f"{pop}: kept {c.kept}, excluded {sum(c.excluded.values())}, quarantined {c.quarantined}")
        ingest.release_arrow_memory()  # the last raw export's texts, dropped once validated
        largest_sample = max(v.counts.kept for v in validated.values())
        run_scope.enter_context(blas.threads_for(largest_sample))  # one thread for small samples
        memory.fit_to_samples(largest_export)  # large exports: the heap given back, big arrays mapped
        for warning in timed("shared ids", validation.shared_id_warnings, validated, ed.populations):
            warn(warning)
        for pop, population in ed.populations.items():
            samples[pop] = timed("weight", weighting.weighted_sample, validated.pop(pop), population, ed.weighting)
            progress(weighting_line(pop, samples[pop].weighting))
        rankings = {}

        def start_ranking_charts(pop: str, ranked: pd.DataFrame) -> None:  # drawn in the renderer's process meanwhile (ranks, no uncertainties yet)
            rankings.update(timed("ranking charts", report.start_ranking_charts, ed, ranked))

        # Each population's estimates and its published figures'; large samples: each population but the first in a process of its own, while this one estimates the first.
        estimating = timed("estimate", estimation.start_estimates, samples, ed, audit.figure_specs(ed), start_ranking_charts)
        run_scope.callback(estimating.stop)  # a run stopped before the estimates are gathered leaves no process behind
        estimated = timed("gather estimates", estimating.gathered)
        # the usual slips of the figures the data do not reproduce: what the audit tries for those alone
        slip_rows = timed("slip estimates", estimation.figure_estimates, audit.slip_specs(ed, estimated.figures), ed, samples)
        estimates = timed("mirror comparisons", estimation.mirror_comparisons, ed, estimated.rows)
        progress(f"estimated {sum(len(e) for e in estimates.values())} rows (items × breakdown levels)")
        list_answers = timed("published list estimates", estimation.ranked_answers, orders.list_questions(ed), ed, estimates, estimated.on_total)
        audit_table = timed("audit", audit.audit_edition, ed, estimated.figures, slip_rows)
        verdicts = audit.verdict_counts(audit_table)
        progress("audit: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()))
        run_tables = outputs.run_tables(
            ed.id,
            estimates,
            weighting.weighting_table(ed.id, samples),
            timed("weights table", weighting.weights_table, samples),
            {p: s.quarantine for p, s in samples.items()},
            audit_table,
        )
        run_tables["orders"] = timed("audit of published orders", orders.order_audit, ed, list_answers)
        progress("published orders: " + (", ".join(f"{k} {v}" for k, v in run_tables["orders"]["verdict"].value_counts().items()) or "none"))
        previous = timed("previous edition", trends.previous_run, root_path, ed)
        if previous is not None:
            run_tables["trends"] = timed("trends", trends.trends_table, ed, previous, run_tables["estimates"])
            trend = run_tables["trends"]
            progress(f"trends against {previous.edition.id}: {int(trend['significant'].sum())} significant changes in {len(trend)} rows")
        # The tables are built while the renderer's process draws the report's last charts.
        sections = timed("section charts", report.start_section_charts, ed, run_tables["audit"], run_tables.get("trends"))
        tables_xlsx = timed("tables", report.tables_xlsx, ed, run_tables["estimates"], run_tables["audit"], run_tables.get("trends"))
        extra_files = {
            "report.html": timed("report", report.report_html, ed, run_tables["estimates"], run_tables["audit"], run_tables["weighting"], run_tables.get("trends"), rankings, sections),
            "tables.xlsx": tables_xlsx,
        }
        metadata = outputs.table_metadata(ed.id, {p: pp.label for p, pp in ed.populations.items()}, {p: s.sha256 for p, s in sources.items()})
        manifest = outputs.build_manifest(ed.id, root_path, sources, {p: s.counts for p, s in samples.items()}, timed.timings, started_at)
        published = timed("write outputs", outputs.publish_run, root_path, ed.id, run_tables, manifest, metadata, extra_files)
    result = RunResult(
        edition=ed.id,
        rows=MappingProxyType({pop: rows_summary(s.counts) for pop, s in samples.items()}),
        verdicts=MappingProxyType(verdicts),
        tables=MappingProxyType(run_tables),
        published=published,
        timings=MappingProxyType(dict(timed.timings)),
    )
    if strict:
        failure = audit.strict_failure(audit_table)
        if failure is not None:
            failure.result = result
            raise failure
    return result


def rows_summary(counts: validation.RowCounts) -> RowsSummary:
    return RowsSummary(read=counts.read, kept=counts.kept, excluded=sum(counts.excluded.values()), quarantined=counts.quarantined)
