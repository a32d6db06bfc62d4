"""Server mode end to end: a Prefect server on a free loopback port, a copy of the project deployed from
its prefect.yaml, process workers running edition runs, the export watch, a failed run and its alert.

A copy of the project holds editions 2025 and 2025b (2025 under another id, with its own exports and
deployment). Slow (a server, a deployment, several workers): marked ``integration`` and run by
``make test-integration``. Every server and worker it starts is stopped by its PID in a finally.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.base import PrefectHttpxSyncClient

from baro_flows import server
from baro_pipeline.outputs import read_manifest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
PREFECT = [sys.executable, "-m", "prefect"]
TIMEOUT = 300  # seconds; generous, as every wait below ends as soon as its condition holds
EDITIONS = ("2025", "2025b")


def wait_until(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)
    return result


def make_project(root: Path) -> Path:
    """Editions 2025 and 2025b with their exports, the flows and prefect.yaml with a deployment for 2025b."""
    skip = shutil.ignore_patterns("__pycache__")
    for part in ("editions/2025", "raw/2025", "flows"):
        shutil.copytree(REPO / part, root / part, ignore=skip)
    shutil.copytree(REPO / "editions" / "2025", root / "editions" / "2025b")
    shutil.copytree(REPO / "raw" / "2025", root / "raw" / "2025b")
    edition_file = root / "editions" / "2025b" / "edition.yaml"
    edition = yaml.safe_load(edition_file.read_text(encoding="utf-8"))
    edition.update(id="2025b", exports="raw/2025b")
    edition_file.write_text(yaml.safe_dump(edition, allow_unicode=True, sort_keys=False), encoding="utf-8")
    # A new edition in operations: one more deployment, and the watch told about it (docs/operations.md).
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in config["deployments"]}
    deployments["baro-2025b"] = {
        **deployments["baro-2025"],
        "name": "baro-2025b",
        "parameters": {**deployments["baro-2025"]["parameters"], "edition_id": "2025b"},
        "tags": ["baro", "edition-2025b"],
    }
    deployments["baro-watch"]["parameters"]["editions"] = list(EDITIONS)
    config["deployments"] = list(deployments.values())
    (root / "prefect.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


class Receiver:
    """An HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it (the alert webhook)."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/alerts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """End a worker and the flow runs it started (its own process group, led by its PID)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Stack:
    """A project copy deployed on its own Prefect server, and the commands and API calls the tests need."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home, self.port = root, home, free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # No scheduled run may appear mid-test: runs are only the ones the tests start.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "BARO_PROJECT_DIR": str(root),
        }
        # Prefect's own HTTP client: like every Prefect client it retries a 503, which the server
        # answers while its SQLite database is busy (workers and services writing at the same time).
        self.api = PrefectHttpxSyncClient(base_url=self.api_url, timeout=30)
        self.receiver = Receiver()
        self.workers: list[subprocess.Popen] = []

    def run(self, *command: str) -> subprocess.CompletedProcess:
        result = subprocess.run(command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
        return result

    def start_worker(self, name: str, *options: str) -> subprocess.Popen:
        """``prefect worker start --run-once``: takes the runs due now, waits for them, exits."""
        with open(self.home / f"{name}.log", "w") as log:
            # Its own process group: stop_process ends it with the flow runs it started.
            process = subprocess.Popen(
                [*PREFECT, "worker", "start", "--pool", "baro-process", "--name", name, "--run-once", *options],
                cwd=self.home, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.workers.append(process)
        return process

    def finish(self, worker: subprocess.Popen) -> str:
        """Wait for a ``--run-once`` worker to end; its output."""
        worker.wait(timeout=TIMEOUT)
        log = (self.home / f"{worker.args[worker.args.index('--name') + 1]}.log").read_text()
        assert worker.returncode == 0, log
        return log

    def post(self, path: str, body: dict) -> Any:
        return self.api.post(path, json=body).json()

    def trigger(self, deployment: str) -> str:
        flow, name = deployment.split("/")
        deployment_id = self.api.get(f"/deployments/name/{flow}/{name}").json()["id"]
        return self.post(f"/deployments/{deployment_id}/create_flow_run", {})["id"]

    def flow_run(self, run_id: str) -> dict:
        return self.api.get(f"/flow_runs/{run_id}").json()

    def runs_of(self, deployment: str) -> list[dict]:
        flow, name = deployment.split("/")
        deployment_id = self.api.get(f"/deployments/name/{flow}/{name}").json()["id"]
        return self.post("/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})

    def log_messages(self, run_id: str) -> list[str]:
        return [log["message"] for log in self.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    stack = Stack(make_project(tmp_path_factory.mktemp("project")), tmp_path_factory.mktemp("prefect-home"))
    try:
        server.start_server(stack.home, "127.0.0.1", stack.port, env=stack.env)
        stack.run(*PREFECT, "work-pool", "create", "baro-process", "--type", "process")
        stack.run(*PREFECT, "--no-prompt", "deploy", "--all")
        stack.run(sys.executable, "-m", "baro_flows.alerts", stack.receiver.url)
        yield stack
    finally:
        for worker in stack.workers:
            stop_process(worker)
        server.stop_server(stack.home)
        stack.receiver.stop()
        stack.api.close()


@pytest.fixture(scope="module")
def scale_out(stack) -> tuple[dict[str, str], list[str]]:
    """One run of each edition, two workers of one run each on one pool: the second starts once the
    first holds a run, so each takes one."""
    runs = {edition: stack.trigger(f"baro-run/baro-{edition}") for edition in EDITIONS}
    first = stack.start_worker("worker-1", "--limit", "1")
    wait_until(lambda: any(stack.flow_run(r)["state_type"] != "SCHEDULED" for r in runs.values()), "worker-1 to take a run")
    second = stack.start_worker("worker-2", "--limit", "1")
    return runs, [stack.finish(first), stack.finish(second)]


def test_deployments_come_from_prefect_yaml(stack):
    deployment = stack.api.get("/deployments/name/baro-run/baro-2025").json()
    assert deployment["parameters"] == {"edition_id": "2025", "root": ".", "strict": True}
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert deployment["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(stack.root)}}]
    assert [s["schedule"]["timezone"] for s in deployment["schedules"]] == ["Europe/Paris"]
    watch = stack.api.get("/deployments/name/baro-watch/baro-watch").json()
    assert watch["schedules"][0]["schedule"]["cron"] == "*/15 * * * *"


def test_two_workers_on_one_pool_run_two_editions(stack, scale_out):
    runs, worker_logs = scale_out
    for edition, run_id in runs.items():
        run = stack.flow_run(run_id)
        assert run["state_type"] == "COMPLETED", run["state"]["message"]
        assert read_manifest(stack.root, edition)["edition"] == edition
        progress = stack.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["progress"]}}})
        assert [a["data"] for a in progress] == [100.0]
    taken = [{e for e, r in runs.items() if f"submitting flow run '{r}'" in log} for log in worker_logs]
    assert sorted(map(len, taken)) == [1, 1] and taken[0] != taken[1], worker_logs


@pytest.fixture(scope="module")
def watched(stack, scale_out) -> tuple[str, str]:
    """The watch twice: 2025 unchanged since its run; 2025b changed (its gp export is gone)."""
    for export in (stack.root / "raw" / "2025b").glob("gp.*"):
        export.unlink()
    first = stack.trigger("baro-watch/baro-watch")
    stack.finish(stack.start_worker("watch-1"))
    second = stack.trigger("baro-watch/baro-watch")
    stack.finish(stack.start_worker("watch-2"))  # runs the second watch and the run the first one started
    return first, second


def logged(stack: Stack, run_id: str, *starts: str) -> list[str]:
    """The run's first log line starting with each of ``starts``, once the server has them all
    (it stores logs in batches, a little after the run ends)."""

    def lines() -> list[str] | None:
        messages = stack.log_messages(run_id)
        found = [next((m for m in messages if m.startswith(start)), None) for start in starts]
        return found if all(found) else None

    return wait_until(lines, f"log lines {starts} of flow run {run_id}")


def test_watch_starts_a_run_only_when_exports_changed(stack, scale_out, watched):
    unchanged = "edition 2025: exports unchanged since the last run, nothing to start"
    _, _, started = logged(stack, watched[0], unchanged, "edition 2025b: exports changed (gp: ", "edition 2025b: started baro-run/baro-2025b run '")
    _, again = logged(stack, watched[1], unchanged, "edition 2025b: already started baro-run/baro-2025b run '")
    assert started.split("'")[1] == again.split("'")[1]  # the same run: the second watch started none
    assert [r["id"] for r in stack.runs_of("baro-run/baro-2025")] == [scale_out[0]["2025"]]
    assert len(stack.runs_of("baro-run/baro-2025b")) == 2


def test_failed_run_says_why_and_alerts(stack, scale_out, watched):
    [run] = [r for r in stack.runs_of("baro-run/baro-2025b") if r["id"] != scale_out[0]["2025b"]]
    assert run["state_type"] == "FAILED"
    message = run["state"]["message"]
    assert message.startswith(f"{stack.root / 'raw' / '2025b'}: no export for population 'gp'"), message
    alert = wait_until(lambda: next((a for a in stack.receiver.received if a["flow_run_id"] == run["id"]), None), "the alert")
    assert alert == {
        "text": f"baro-run 2025b: Failed ({run['name']})\n{message}",
        "flow": "baro-run",
        "edition": "2025b",
        "flow_run_name": run["name"],
        "flow_run_id": run["id"],
        "state": "Failed",
        "message": message,
    }
    assert read_manifest(stack.root, "2025b")["edition"] == "2025b"  # the last good run's outputs stay


def test_baro_run_by_hand_keeps_its_exit_code_and_message(stack, watched):
    """``baro run`` pointed at the server (PREFECT_API_URL) fails as on its own: exit 1, the message, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(stack.root), "run", "2025b"],
        env=stack.env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 1, result.stderr
    assert "error: " in result.stderr and "no export for population 'gp'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
