"""The main job as a Prefect flow: ingest, validate, weight, estimate, audit, write.

Each task calls one library function and logs its summary; all the work is in ``baro_pipeline``.
Only file reading is retried, and only when the file could not be read (a network disk, a file
being replaced): the other stages, and what is wrong inside an export, are deterministic: a retry
would fail again.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from baro_flows.alerts import failed_state_on_pipeline_error, notify_failure
from baro_pipeline import audit, edition, estimation, ingest, outputs, report, tables, trends, validation, weighting
from baro_pipeline.errors import BaroError, ExportReadError

# Frames are large and change every run: never hash them for Prefect's cache.
stage_task = task(cache_policy=NO_CACHE)


def retry_unless_pipeline_error(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` of file reading: retry a file that could not be read, not a BaroError about its content."""
    try:
        state.result()
    except BaroError as error:  # an unreadable file may read on a second try; its content will not change
        return isinstance(error, ExportReadError)
    except Exception:  # noqa: BLE001 - anything else may pass on a second try
        return True
    return True


load_edition = stage_task(edition.load_edition, name="load edition")
read_export = task(
    ingest.read_export, name="read export", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_unless_pipeline_error, cache_policy=NO_CACHE
)
validate_export = stage_task(validation.validate_export, name="validate")
weight_population = stage_task(weighting.weight_population, name="weight")
estimate_population = stage_task(estimation.estimate_population, name="estimate")
mirror_comparisons = stage_task(estimation.mirror_comparisons, name="mirror comparisons")
audit_edition = stage_task(audit.audit_edition, name="audit")
previous_run = stage_task(trends.previous_run, name="previous edition")
trends_table = stage_task(trends.trends_table, name="trends")
report_html = stage_task(report.report_html, name="report")
tables_xlsx = stage_task(tables.tables_xlsx, name="tables")
publish_run = stage_task(outputs.publish_run, name="write outputs")

STAGES = ("ingest", "validate", "weight", "estimate", "audit", "report", "write")


def timed(timings: dict[str, float], stage: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one task, adding its wall time to the stage's total (a stage runs once per population)."""
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def progress(echo: bool, text: str) -> None:
    """One progress line: to Prefect's log, and to stdout when run from ``baro run``."""
    get_run_logger().info(text)
    if echo:
        print(f"  {text}", flush=True)


def warn_of_marks(echo: bool, ed: edition.Edition) -> None:
    """What a person must still fill in or review in the edition: a warning in Prefect's log and on stderr."""
    warning = edition.marks_warning(ed)
    if warning:
        get_run_logger().warning(warning)
        if echo:
            print(warning, file=sys.stderr, flush=True)


class StageProgress:
    """The run's stages done so far, as a progress bar on the flow run's page in the Prefect UI."""

    def __init__(self, edition_id: str) -> None:
        self.edition_id = edition_id
        self.artifact_id = create_progress_artifact(0.0, description=f"baro run {edition_id}: {' > '.join(STAGES)}")

    def done(self, stage: str) -> None:
        share = 100.0 * (STAGES.index(stage) + 1) / len(STAGES)
        update_progress_artifact(self.artifact_id, share, description=f"baro run {self.edition_id}: {stage} done")


# A failed run ends Failed with the pipeline's own message and calls the alert webhook (flows/alerts.py).
@flow(name="baro-run", on_failure=[notify_failure], on_crashed=[notify_failure])
@failed_state_on_pipeline_error
def baro_run(edition_id: str = "2025", root: str = ".", strict: bool = False, echo: bool = False) -> dict[str, Any]:
    """Turn ``raw/<edition>/`` into ``outputs/<edition>/`` (DESIGN.md §4–§5)."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    root_path = Path(root).resolve()
    timings: dict[str, float] = {}
    ed = timed(timings, "edition", load_edition, edition_id, root_path)
    warn_of_marks(echo, ed)
    edition.check_runnable(ed)
    progress(echo, f"edition {ed.id}: {', '.join(ed.populations)}")
    stages = StageProgress(ed.id)
    with outputs.edition_lock(root_path, ed.id):
        # The raw exports are freed once validated (the kept rows are a frame of their own): only their sources stay.
        exports, sources, validated, weightings, estimates = {}, {}, {}, {}, {}
        for pop, population in ed.populations.items():
            path = ingest.find_export(ed, pop, root_path)
            exports[pop] = timed(timings, "ingest", read_export, path, population.codebook)
            src = sources[pop] = exports[pop].source
            progress(echo, f"{pop}: read {src.rows_read} rows from {Path(src.path).name} ({src.format}, {src.encoding or '-'}, delimiter {src.delimiter!r})")
        stages.done("ingest")
        for pop, population in ed.populations.items():
            validated[pop] = timed(timings, "validate", validate_export, exports.pop(pop), population, ed.quality, ed.thresholds)
            c = validated[pop].counts
            progress(echo, f"{pop}: kept {c.kept}, excluded {sum(c.excluded.values())}, quarantined {c.quarantined}")
        stages.done("validate")
        for pop, population in ed.populations.items():
            weightings[pop] = timed(timings, "weight", weight_population, validated[pop].frame, population, ed.weighting)
            w = weightings[pop]
            trimmed = "" if w.trimming == "none" else f", trimmed: {w.trimming}"
            progress(echo, f"{pop}: {w.method} in {w.iterations} iterations{trimmed}, Kish deff {w.kish_deff:.2f}, weights {w.min_weight:.2f}–{w.max_weight:.2f}")
        stages.done("weight")
        for pop, population in ed.populations.items():
            estimates[pop] = timed(timings, "estimate", estimate_population, validated[pop].frame, population, weightings[pop], ed)
        estimates = timed(timings, "estimate", mirror_comparisons, ed, estimates)
        progress(echo, f"estimated {sum(len(e) for e in estimates.values())} rows (items × breakdown levels)")
        stages.done("estimate")
        frames = {pop: v.frame for pop, v in validated.items()}
        audit_table = timed(timings, "audit", audit_edition, ed, frames, weightings)
        counts = audit.verdict_counts(audit_table)
        progress(echo, "audit: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        stages.done("audit")
        tables = outputs.run_tables(
            ed.id,
            estimates,
            weighting.weighting_table(ed.id, weightings),
            weighting.weights_table({p: v.frame[ed.populations[p].codebook.columns.id] for p, v in validated.items()}, weightings),
            {p: v.quarantine for p, v in validated.items()},
            audit_table,
        )
        previous = timed(timings, "report", previous_run, root_path, ed)
        if previous is not None:
            tables["trends"] = timed(timings, "report", trends_table, ed, previous, tables["estimates"])
            progress(echo, f"trends against {previous.edition.id}: {int(tables['trends']['significant'].sum())} significant changes in {len(tables['trends'])} rows")
        extra_files = {
            "report.html": timed(timings, "report", report_html, ed, tables["estimates"], tables["audit"], tables["weighting"], tables.get("trends")),
            "tables.xlsx": timed(timings, "report", tables_xlsx, ed, tables["estimates"]),
        }
        stages.done("report")
        hashes = {pop: src.sha256 for pop, src in sources.items()}
        metadata = outputs.table_metadata(ed.id, {p: pp.label for p, pp in ed.populations.items()}, hashes)
        manifest = outputs.build_manifest(
            ed.id, root_path, sources, {p: v.counts for p, v in validated.items()}, timings, started_at
        )
        published = timed(timings, "write", publish_run, root_path, ed.id, tables, manifest, metadata, extra_files)
        stages.done("write")
    summary = run_summary(ed, validated, audit_table, published, timings)
    publish_artifacts(ed.id, summary, audit_table)
    if strict:
        failure = audit.strict_failure(audit_table)
        if failure is not None:
            raise failure
    return summary


def run_summary(ed: edition.Edition, validated: dict, audit_table: Any, published: outputs.PublishedRun, timings: dict[str, float]) -> dict[str, Any]:
    """What ``baro run`` prints at the end and the markdown artifact shows (counts only, no data)."""
    return {
        "edition": ed.id,
        "rows": {
            pop: {
                "read": v.counts.read,
                "kept": v.counts.kept,
                "excluded": sum(v.counts.excluded.values()),
                "quarantined": v.counts.quarantined,
            }
            for pop, v in validated.items()
        },
        "figures": len(audit_table),
        "verdicts": audit.verdict_counts(audit_table),
        "outputs": str(published.folder),
        "files": list(published.files),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def publish_artifacts(edition_id: str, summary: dict[str, Any], audit_table: Any) -> None:
    """A markdown summary of the run and the audit as a table, in the Prefect UI."""
    rows = "\n".join(
        f"| {pop} | {r['read']} | {r['kept']} | {r['excluded']} | {r['quarantined']} |" for pop, r in summary["rows"].items()
    )
    verdicts = ", ".join(f"{k}: {v}" for k, v in summary["verdicts"].items())
    create_markdown_artifact(
        key=f"baro-run-{edition_id}".lower(),
        description=f"baro run {edition_id}",
        markdown=(
            f"# baro run {edition_id}\n\n| population | read | kept | excluded | quarantined |\n|---|---|---|---|---|\n{rows}\n\n"
            f"**Audit** ({summary['figures']} published figures): {verdicts}\n\nOutputs: `{summary['outputs']}`\n"
        ),
    )
    columns = ["figure_id", "population", "published", "operator", "computed_pct", "difference_pts", "moe_pts", "verdict"]
    create_table_artifact(
        key=f"baro-audit-{edition_id}".lower(),
        table=audit_table[[c for c in columns if c in audit_table.columns]].astype(object).where(audit_table.notna(), None).to_dict(orient="records"),
        description=f"Published figures of edition {edition_id}: computed vs published",
    )
