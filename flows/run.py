"""The main job as a Prefect flow: ``baro_pipeline.pipeline.run_edition`` with each stage a task:
task states, the retry of an unreadable file, a progress bar, artifacts, the failure alert (alerts.py).
A task's cost to Prefect is kept small (bench/prefect_tasks.py): arguments ``quote``d (no walk of
every frame for upstream tasks), no result persisted, arguments and results taken back from Prefect
once the task has run (:class:`Handed`), the bar moved off the stages' path (progress.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.settings import PREFECT_API_URL
from prefect.utilities.annotations import quote

from baro_flows.alerts import failed_state_on_pipeline_error, notify_failure
from baro_flows.progress import progress_bar
from baro_pipeline.errors import AuditMismatchError, BaroError, ExportReadError
from baro_pipeline.pipeline import RunResult, run_edition


def retry_unless_pipeline_error(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` of file reading: an unreadable file may read on a second try, a bad content not."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, BaroError) or isinstance(error, ExportReadError)


RETRIES: dict[str, dict[str, Any]] = {"read export": {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": retry_unless_pipeline_error}}


class Handed:
    """The arguments or the result of a stage's task, taken out once the task has run.

    Prefect keeps every task run's parameters and return value until the flow run ends (the task's
    engine stays referenced from the flow's transaction): a raw export, meant to be freed once
    validated, would stay in memory with every frame after it (~+250 MiB at the peak at 1e6 × 2).
    Prefect keeps the emptied holder instead.
    """

    def __init__(self, *values: Any) -> None:
        self.values = values

    def taken(self) -> tuple[Any, ...]:
        values, self.values = self.values, ()
        return values


def stage_task(name: str, function: Callable[..., Any]) -> Any:
    """A stage as a Prefect task (its arguments and result :class:`Handed`): its retries; frames never
    hashed for a cache nor written to result storage."""

    def run(arguments: Handed) -> Handed:
        return Handed(function(*arguments.values))  # not taken here: a retry calls it again

    return task(name=name, cache_policy=NO_CACHE, persist_result=False, **RETRIES.get(name, {}))(run)


def as_tasks(edition_id: str, echo: bool, move: Callable[[str], None]) -> tuple[Callable[..., Any], Callable[[str], None], Callable[[str], None]]:
    """The ``stage``, ``progress`` and ``warn`` arguments of ``run_edition``: each stage a task, the rest logged."""

    def stage(name: str, function: Callable[..., Any], /, *args: Any) -> Any:
        arguments = Handed(*args)
        try:
            (result,) = stage_task(name, function)(quote(arguments)).taken()  # quote: no walk for upstream tasks
        finally:
            arguments.taken()
        move(name)
        return result

    def progress(text: str) -> None:
        get_run_logger().info(text)
        print(f"  {text}", flush=True) if echo else None

    def warn(text: str) -> None:
        get_run_logger().warning(text)
        print(text, file=sys.stderr, flush=True) if echo else None

    return stage, progress, warn


def publish_artifacts(result: RunResult) -> None:
    """The run's summary and the audit as a table, in the Prefect UI (counts only, no data)."""
    server = PREFECT_API_URL.value() or "Prefect's temporary local server"
    create_markdown_artifact(key=f"baro-run-{result.edition}".lower(), description=f"baro run {result.edition}", markdown=f"{result.markdown()}\nPrefect: {server}\n")
    audit = result.tables["audit"][["figure_id", "population", "published", "operator", "computed_pct", "difference_pts", "moe_pts", "verdict"]]
    table = audit.astype(object).where(audit.notna(), None).to_dict(orient="records")
    create_table_artifact(key=f"baro-audit-{result.edition}".lower(), table=table, description=f"Published figures of edition {result.edition}: computed vs published")


@flow(name="baro-run", persist_result=False, on_failure=[notify_failure], on_crashed=[notify_failure])
@failed_state_on_pipeline_error
def baro_run(edition_id: str = "2025", root: str = ".", strict: bool = False, echo: bool = False) -> dict[str, Any]:
    """Turn ``raw/<edition>/`` into ``outputs/<edition>/`` (docs/design.md §4); a failure alerts (flows/alerts.py)."""
    with progress_bar(edition_id) as move:
        stage, progress, warn = as_tasks(edition_id, echo, move)
        try:
            result = run_edition(edition_id, root, strict=strict, stage=stage, progress=progress, warn=warn)
        except AuditMismatchError as failure:
            publish_artifacts(failure.result)  # type: ignore[arg-type]
            raise
    publish_artifacts(result)
    return result.summary()
