"""Operations without a server: the export watch, failure states and alerts, the server helper, prefect.yaml.

The same pieces against a real Prefect server and workers: tests/test_integration_prefect.py.
"""

from __future__ import annotations

import asyncio
import http.server
import inspect
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
import yaml

from baro_flows import alerts, deploy, server, worker
from baro_pipeline import cli
from baro_pipeline.errors import ExportError, ExportReadError, UsageError
from baro_pipeline.watch import ExportChange, changed_exports, changes_fingerprint, file_sha256

REPO = Path(__file__).resolve().parents[1]
MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@pytest.fixture
def project(tmp_path) -> Path:
    """The mini edition (one population, ps) with an export: only its bytes matter to the watch."""
    shutil.copytree(MINI / "editions", tmp_path / "editions")
    (tmp_path / "raw" / "mini").mkdir(parents=True)
    (tmp_path / "raw" / "mini" / "ps.csv").write_bytes(b"id;status\n1;complete\n")
    return tmp_path


def record_run(root: Path, hashes: dict[str, str]) -> None:
    """A last run's manifest as outputs.publish_run writes it (only the inputs' hashes matter here)."""
    folder = root / "outputs" / "mini"
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {pop: {"path": f"raw/mini/{pop}.csv", "sha256": sha} for pop, sha in hashes.items()}
    (folder / "manifest.json").write_text(json.dumps({"edition": "mini", "inputs": inputs}), encoding="utf-8")


def test_no_previous_run_means_every_export_changed(project):
    sha = file_sha256(project / "raw" / "mini" / "ps.csv")
    assert changed_exports("mini", project) == {"ps": ExportChange("ps", None, sha)}


def test_exports_the_last_run_read_are_unchanged(project):
    record_run(project, {"ps": file_sha256(project / "raw" / "mini" / "ps.csv")})
    assert changed_exports("mini", project) == {}
    assert changed_exports("mini", project) == {}  # asking again changes nothing


def test_a_new_export_is_a_change(project):
    record_run(project, {"ps": "0" * 64})
    change = changed_exports("mini", project)["ps"]
    assert (change.before, change.now) == ("0" * 64, file_sha256(project / "raw" / "mini" / "ps.csv"))
    assert str(change) == f"ps: {'0' * 12} -> {change.now[:12]}"


@pytest.mark.parametrize("files", [[], ["ps.csv", "ps.xlsx"]], ids=["missing", "several"])
def test_no_single_export_is_a_change_the_run_will_explain(project, files):
    record_run(project, {"ps": file_sha256(project / "raw" / "mini" / "ps.csv")})
    (project / "raw" / "mini" / "ps.csv").unlink()
    for name in files:
        (project / "raw" / "mini" / name).write_bytes(b"x")
    change = changed_exports("mini", project)["ps"]
    assert change.now is None and str(change) == "ps: no export (missing, or several files)"


def test_a_population_dropped_from_the_edition_is_a_change(project):
    sha = file_sha256(project / "raw" / "mini" / "ps.csv")
    record_run(project, {"ps": sha, "gp": "1" * 64})
    assert changed_exports("mini", project) == {"gp": ExportChange("gp", "1" * 64, None)}


def test_fingerprint_is_stable_and_tells_changes_apart():
    a = {"ps": ExportChange("ps", None, "a" * 64), "gp": ExportChange("gp", None, "b" * 64)}
    assert changes_fingerprint(a) == changes_fingerprint(dict(reversed(list(a.items()))))
    assert changes_fingerprint(a) != changes_fingerprint({"ps": ExportChange("ps", "c" * 64, "a" * 64)})


def test_pipeline_error_becomes_a_failed_state_with_its_own_message():
    error = ExportError("no export for population 'gp'", where="raw/2025", fix="put it there")

    @alerts.failed_state_on_pipeline_error
    def run(edition_id: str, strict: bool = False):
        raise error

    state = run("2025")
    assert state.is_failed()
    assert state.message == "raw/2025: no export for population 'gp'\n  fix: put it there"
    assert state.data is error  # a direct call (baro run) raises it again: exit code 1
    assert list(inspect.signature(run).parameters) == ["edition_id", "strict"]  # what Prefect reads


def test_other_exceptions_are_left_to_prefect():
    @alerts.failed_state_on_pipeline_error
    def run():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run()


def test_alert_carries_run_state_and_message_only():
    flow_run = SimpleNamespace(name="shy-fox", id="0f0f", parameters={"edition_id": "2025", "root": ".", "strict": True})
    state = SimpleNamespace(name="Failed", message="raw/2025: no export for population 'gp'")
    payload = alerts.alert_payload("baro-run", flow_run, state)
    assert payload == {
        "text": "baro-run 2025: Failed (shy-fox)\nraw/2025: no export for population 'gp'",
        "flow": "baro-run",
        "edition": "2025",
        "flow_run_name": "shy-fox",
        "flow_run_id": "0f0f",
        "state": "Failed",
        "message": "raw/2025: no export for population 'gp'",
    }
    watch_run = SimpleNamespace(name="calm-owl", id="1", parameters={"editions": ["2025", "2026"]})
    assert alerts.alert_payload("baro-watch", watch_run, state)["edition"] == "2025, 2026"


def test_alerts_command_wants_one_url(capsys):
    assert alerts.main(["not-a-url"]) == 2
    assert "make alerts WEBHOOK=URL" in capsys.readouterr().err


def test_stale_pid_file_is_removed(tmp_path):
    server.pid_file(tmp_path).write_text(f"{os.getpid()}\n")  # this process is no Prefect server
    assert server.recorded_pid(tmp_path) is None
    assert not server.pid_file(tmp_path).exists()
    assert server.stop_server(tmp_path) is None


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response({"/api/health": 200, "/locked/api/health": 401}.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args):
        pass


def test_server_refuses_a_port_where_a_server_answers(tmp_path):
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(UsageError, match="another Prefect server already answers at http://127.0.0.1:"):
            server.start_server(tmp_path, "127.0.0.1", httpd.server_address[1])
    finally:
        httpd.shutdown()
    assert not server.pid_file(tmp_path).exists()


@pytest.fixture
def health_server():
    """An HTTP server on a free loopback port answering /api/health; its API URL."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    httpd.shutdown()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/api"


@pytest.fixture
def looks_like_a_server():
    """A process whose command line reads like ``prefect server`` (what server_running checks), stopped after the test."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "prefect", "server"])
    yield process.pid
    process.kill()
    process.wait()


def test_baro_run_refuses_a_prefect_api_url_that_does_not_answer(project, monkeypatch, capsys):
    url = closed_port_url()
    monkeypatch.setenv("PREFECT_API_URL", url)
    assert cli.main(["--root", str(project), "run", "mini"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: PREFECT_API_URL: no Prefect server answers at {url}\n  fix: start that server, or unset PREFECT_API_URL")
    assert "Traceback" not in err


def test_baro_run_uses_the_prefect_api_url_that_answers_even_asking_for_a_key(monkeypatch, tmp_path, health_server):
    monkeypatch.setenv("PREFECT_API_URL", health_server.replace("/api", "/locked/api"))  # 401: it answers
    assert server.prefect_for_run(tmp_path) == f"Prefect server {health_server.replace('/api', '/locked/api')} (PREFECT_API_URL)"


def test_baro_run_uses_the_projects_server_while_it_runs_and_answers(monkeypatch, tmp_path, health_server, looks_like_a_server):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    server.url_file(tmp_path).write_text(f"{health_server}\n")
    server.pid_file(tmp_path).write_text(f"{looks_like_a_server}\n")
    assert server.prefect_for_run(tmp_path) == f"Prefect server {health_server} (started by baro server start)"
    assert os.environ["PREFECT_API_URL"] == health_server
    del os.environ["PREFECT_API_URL"]  # not monkeypatch.delenv: it would restore this value after the test, for the next ones
    server.url_file(tmp_path).write_text(f"{closed_port_url()}\n")  # its process runs, its port does not answer
    assert server.prefect_for_run(tmp_path).startswith("Prefect embedded local server (temporary; baro server start keeps one running)")
    assert "PREFECT_API_URL" not in os.environ and server.pid_file(tmp_path).exists()  # baro run removes nothing


def test_baro_run_without_a_server_of_the_project_uses_the_embedded_one(monkeypatch, tmp_path, health_server):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    server.url_file(tmp_path).write_text(f"{health_server}\n")  # answers, but no process of this project runs it
    server.pid_file(tmp_path).write_text(f"{os.getpid()}\n")
    assert server.prefect_for_run(tmp_path).startswith("Prefect embedded local server")
    assert "PREFECT_API_URL" not in os.environ


def test_baro_server_start_refuses_a_port_where_a_server_answers(project, health_server, monkeypatch, capsys):
    monkeypatch.setenv("PREFECT_HOME", str(project / ".prefect"))
    port = health_server.split(":")[-1].split("/")[0]
    assert cli.main(["--root", str(project), "server", "start", "--port", port]) == 2
    assert capsys.readouterr().err == f"error: another Prefect server already answers at {health_server}\n  fix: stop it, or choose another port: baro --root {project} server start --port 4300 (make server SERVER_PORT=4300)\n"
    assert not server.url_file(project / ".prefect").exists()


def test_server_logs_only_to_its_log_file(tmp_path, monkeypatch):
    from prefect.logging.configuration import load_logging_config

    monkeypatch.setenv("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    config = load_logging_config(server.logging_settings(tmp_path))
    assert {name: h["class"] for name, h in config["handlers"].items()} == {"file": "logging.FileHandler"}
    assert config["handlers"]["file"]["filename"] == str(tmp_path / "server.log")
    assert config["loggers"]["uvicorn.access"] == {"level": "WARNING", "handlers": ["file"], "propagate": False}
    assert config["loggers"]["prefect"]["level"] == "WARNING"


@pytest.fixture(scope="module")
def deployments() -> dict[str, dict]:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    return {d["name"]: d for d in config["deployments"]}


def test_every_edition_deployment_runs_once_at_a_time_on_a_schedule(deployments):
    from baro_flows.run import baro_run

    runs = {name: d for name, d in deployments.items() if d["entrypoint"] == "flows/run.py:baro_run"}
    assert runs
    for name, d in runs.items():
        edition_id = d["parameters"]["edition_id"]
        assert name == f"baro-{edition_id}" and f"edition-{edition_id}" in d["tags"]
        assert (REPO / "editions" / edition_id).is_dir()
        assert set(d["parameters"]) <= set(inspect.signature(baro_run.fn).parameters)
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
        assert [s["timezone"] for s in d["schedules"]] == ["Europe/Paris"]
        assert d["work_pool"]["name"] == "baro-process"


def test_watch_deployment_watches_deployed_editions_every_15_minutes(deployments):
    watch = deployments["baro-watch"]
    assert watch["entrypoint"] == "flows/watch.py:baro_watch"
    assert watch["schedules"][0]["cron"] == "*/15 * * * *"
    pattern = watch["parameters"]["deployment"]
    for edition_id in watch["parameters"]["editions"]:
        assert pattern.format(edition=edition_id) == f"baro-run/{deployments[f'baro-{edition_id}']['name']}"


def test_reading_an_export_is_retried_on_io_errors_only():
    from prefect.states import Failed

    from baro_flows.run import stage_task
    from baro_pipeline.ingest import read_export as read

    read_export = stage_task("read export", read)
    retry = read_export.retry_condition_fn
    assert read_export.retries == 2
    assert retry(read_export, None, Failed(data=OSError("stale NFS file handle"))) is True
    assert retry(read_export, None, Failed(data=ExportError("not a CSV export", where="raw/2025/ps.csv"))) is False
    assert retry(read_export, None, Failed(data=ExportReadError("cannot read the file (Stale file handle)", where="raw/2025/ps.csv"))) is True


async def worker_loops(events: list[str], signals: tuple[int, ...], run_seconds: float | None = None, limiter=None) -> str:
    """A worker's loops: with a run in progress (a slot of ``limiter`` for ``run_seconds``), it gets
    ``signals`` (a Ctrl-C in its terminal), then polls; its cleanup records that it ran."""
    run = object()

    async def the_run() -> None:
        await asyncio.sleep(run_seconds)
        events.append("run ended")
        limiter.release_on_behalf_of(run)

    if run_seconds is not None:
        await limiter.acquire_on_behalf_of(run)
        running = asyncio.ensure_future(the_run())
    try:
        for signum in signals:
            os.kill(os.getpid(), signum)
            await asyncio.sleep(0.05)  # handled one at a time, as a person presses Ctrl-C
        await asyncio.sleep(0.01 if not signals else 60)
        return "ended"
    finally:
        events.append("worker stopped")
        if run_seconds is not None:
            running.cancel()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_the_worker_after_its_cleanup(signum):
    events: list[str] = []
    assert asyncio.run(worker.stopping_signal(worker_loops(events, (signum,)))) == signum
    assert events == ["worker stopped"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a later Ctrl-C is Python's again


def test_one_signal_lets_the_runs_in_progress_end_first_and_takes_no_new_one(capsys):
    events: list[str] = []

    async def main():
        limiter = anyio.CapacityLimiter(math.inf)
        stopped = await worker.stopping_signal(worker_loops(events, (signal.SIGINT,), 0.5, limiter), runs=lambda: limiter)
        return stopped, limiter.total_tokens

    assert asyncio.run(main()) == (signal.SIGINT, 1)  # while it drained, no slot was free for a new run
    assert events == ["run ended", "worker stopped"]
    assert "SIGINT: stopping once the 1 run(s) in progress end; again to stop now" in capsys.readouterr().out


def test_a_second_signal_stops_the_worker_at_once():
    events: list[str] = []

    async def main():
        limiter = anyio.CapacityLimiter(math.inf)
        return await worker.stopping_signal(worker_loops(events, (signal.SIGINT, signal.SIGINT), 60, limiter), runs=lambda: limiter)

    assert asyncio.run(main()) == signal.SIGINT
    assert events == ["worker stopped"]


def test_a_worker_whose_loops_end_was_not_stopped():
    events: list[str] = []
    assert asyncio.run(worker.stopping_signal(worker_loops(events, ()))) is None
    assert events == ["worker stopped"]


def test_make_worker_runs_the_worker_that_stops_on_one_ctrl_c():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\nworker:") :].split("\n\n")[0]
    assert "$(BIN)/python -m baro_flows.worker --pool $(WORK_POOL)" in recipe and "prefect worker start" not in recipe


# What `prefect --no-prompt deploy --all` prints for each deployment (a rich panel), then its own hints.
DEPLOY_OUTPUT = """
╭──────────────────────────────────────────────────────────────────────────────────────╮
│ Deployment 'baro-run/baro-2025' successfully created with id '0b6c1f3e-aaaa-bbbb'.   │
╰──────────────────────────────────────────────────────────────────────────────────────╯
To schedule a run for this deployment, use the following command:
        $ prefect deployment run 'baro-run/baro-2025'
╭──────────────────────────────────────────────────────────────────────────────────────╮
│ Deployment 'baro-watch/baro-watch' successfully created with id '1c7d2e4f-cccc'.     │
╰──────────────────────────────────────────────────────────────────────────────────────╯
"""


def test_deploy_prints_next_commands_that_name_the_projects_server():
    names = deploy.deployed(DEPLOY_OUTPUT)
    assert names == ["baro-run/baro-2025", "baro-watch/baro-watch"]
    text = deploy.next_commands("http://127.0.0.1:4300/api", names)
    commands = [line.split("#")[0].strip() for line in text.splitlines() if "make " in line]
    assert commands == [
        "PREFECT_API_URL=http://127.0.0.1:4300/api make worker",
        "PREFECT_API_URL=http://127.0.0.1:4300/api make trigger EDITION=2025",
    ]
    assert "baro-watch/baro-watch" in text and "prefect " not in text
