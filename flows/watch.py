"""Start a run of each watched edition whose exports changed (prefect.yaml schedules it every 15 minutes).

The comparison is ``baro_pipeline.watch.changed_exports``; this flow only starts the edition's
deployment. The start carries an idempotency key made of the changed hashes: while that run waits
or runs, and after it failed on these exports, a later watch starts nothing more — new exports,
or a run that publishes them, make a new key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from prefect import flow, get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.runtime import flow_run as this_flow_run

from baro_flows.alerts import failed_state_on_pipeline_error, notify_failure
from baro_pipeline import watch

compare_exports = task(name="compare exports", cache_policy=NO_CACHE)(watch.changed_exports)


@flow(name="baro-watch", on_failure=[notify_failure], on_crashed=[notify_failure])
@failed_state_on_pipeline_error
def baro_watch(editions: list[str], root: str = ".", deployment: str = "baro-run/baro-{edition}") -> dict[str, dict[str, Any]]:
    """For each edition: ``unchanged``, or the run started (``started``) or already started for these exports."""
    root_path = Path(root).resolve()
    return {edition_id: watch_edition(edition_id, root_path, deployment.format(edition=edition_id)) for edition_id in editions}


def watch_edition(edition_id: str, root: Path, deployment: str) -> dict[str, Any]:
    logger = get_run_logger()
    changes = compare_exports(edition_id, root)
    if not changes:
        logger.info(f"edition {edition_id}: exports unchanged since the last run, nothing to start")
        return {"status": "unchanged"}
    logger.info(f"edition {edition_id}: exports changed ({'; '.join(map(str, changes.values()))})")
    # run_deployment hands back its async twin's coroutine only in an async context; this flow is sync.
    run = cast(FlowRun, run_deployment(deployment, timeout=0, idempotency_key=f"{deployment}:{watch.changes_fingerprint(changes)}"))
    status = "started" if started_here(run) else "already started"
    logger.info(f"edition {edition_id}: {status} {deployment} run {run.name!r} ({run.id}), state {run.state_name}")
    return {"status": status, "flow_run_name": run.name, "flow_run_id": str(run.id)}


def started_here(run: FlowRun) -> bool:
    """Whether this watch created the run: with a known idempotency key, Prefect returns the earlier run,
    linked to the task of the watch that created it."""
    if run.parent_task_run_id is None:
        return False
    with get_client(sync_client=True) as client:
        parent = client.read_task_run(run.parent_task_run_id)
    this_run: str | None = this_flow_run.id  # the module's attributes are untyped (get_id() would skip their test mocks)
    return str(parent.flow_run_id) == this_run
