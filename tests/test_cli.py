"""The command line: messages and exit codes, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from baro_pipeline.cli import main
from baro_pipeline.outputs import edition_lock, publish_run

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(MINI / "editions", tmp_path / "editions")
    return tmp_path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_without_editions_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--root", str(tmp_path), "validate", "2025")
    assert code == 2
    assert f"no editions/ folder in {tmp_path}" in err and "pass --root DIR" in err


def test_unknown_edition_names_the_known_ones(project, capsys):
    code, _, err = run_cli(capsys, "--root", str(project), "validate", "2031")
    assert code == 2
    assert "edition '2031' not found" in err and "use one of ['mini']" in err


def test_broken_edition_is_a_configuration_error(project, capsys):
    edition = project / "editions" / "mini" / "edition.yaml"
    edition.write_text(edition.read_text().replace("breakdowns:", "breakdown:"))
    code, _, err = run_cli(capsys, "--root", str(project), "validate", "mini")
    assert code == 2
    assert "unknown key 'breakdown'" in err and "did you mean 'breakdowns'?" in err


def test_audit_before_any_run_says_to_run_first(project, capsys):
    code, _, err = run_cli(capsys, "--root", str(project), "audit", "mini")
    assert code == 2
    assert "no audit.parquet for edition mini" in err and "run 'baro run mini' first" in err


def test_synth_refuses_a_non_positive_sample(project, capsys):
    code, _, err = run_cli(capsys, "--root", str(project), "synth", "mini", "--respondents", "0")
    assert code == 2
    assert "--respondents 0 must be at least 1" in err


def test_console_script_prints_no_traceback(project):
    result = subprocess.run(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(project), "validate", "nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error: " in result.stderr


def test_audit_of_a_damaged_table_is_a_data_error(project, capsys):
    with edition_lock(project, "mini"):
        published = publish_run(project, "mini", {"audit": pd.DataFrame({"x": [1]})}, {}, {})
    (published.target / "audit.parquet").write_bytes(b"PAR1 cut short")
    code, _, err = run_cli(capsys, "--root", str(project), "audit", "mini")
    assert code == 1
    assert re.search(r"(?s)error: .*/audit\.parquet: is not a readable Parquet file \(damaged or cut short: .*fix: run 'baro run mini' again", err), err


def child_processes(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]


def server_child(run: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    """The PID and API URL of the Prefect server ``baro run`` started, once that process runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        for pid in child_processes(run.pid):
            if port := re.search(r"uvicorn\x00.*--port\x00(\d+)", Path(f"/proc/{pid}/cmdline").read_text()):
                return pid, f"http://127.0.0.1:{port.group(1)}/api"
        time.sleep(0.1)
    raise AssertionError(f"baro run started no Prefect server: {run.communicate()}")


def wait_for_health(api_url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the Prefect server did not answer at {api_url}")


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_killed_run_leaves_no_prefect_server_behind(project):
    # The server up without its database (migrations, block types: ~30 s): the run is stopped before it needs one.
    quick = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false", "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false"}
    run = subprocess.Popen(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(project), "run", "mini"],
        env={**os.environ, "PREFECT_HOME": str(project / ".prefect"), **quick},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group, for the clean-up below only
    )
    try:
        server, api_url = server_child(run)
        run.send_signal(signal.SIGSTOP)  # frozen: it can neither go on nor end on its own before the kill
        wait_for_health(api_url)
        run.send_signal(signal.SIGKILL)  # baro run alone, as `kill -9 PID` does
        run.wait()
        deadline = time.monotonic() + 10
        while running(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(server), f"the Prefect server (PID {server}) outlived the killed baro run"
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)  # what outlived it, if the test failed
        except ProcessLookupError:
            pass
