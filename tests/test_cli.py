"""The command line: messages and exit codes, never a traceback."""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from baro_pipeline.cli import EXIT_CODES, ReaderProofStdout, build_parser, console, imports_out_of_collections, main
from baro_pipeline.outputs import edition_lock, publish_run

REPO = Path(__file__).resolve().parents[1]

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


def test_audit_before_any_run_says_to_run_first(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    code, _, err = run_cli(capsys, "audit", "mini")
    assert code == 2
    assert "no audit.parquet for edition mini" in err and "run 'baro run mini' first" in err


def test_hints_keep_the_root_given(project, capsys):
    for args in (("--root", str(project), "audit", "mini"), ("audit", "mini", "--root", str(project))):
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and f"run 'baro --root {project} run mini' first" in err


def test_audit_of_an_unknown_edition_names_the_known_ones(project, capsys):
    code, _, err = run_cli(capsys, "--root", str(project), "audit", "2031")
    assert code == 2
    assert "edition '2031' not found" in err and "use one of ['mini']" in err and "first" not in err


def test_root_is_accepted_after_the_command(project, capsys):
    code, _, err = run_cli(capsys, "validate", "2031", "--root", str(project))
    assert code == 2 and f"edition '2031' not found in {project / 'editions'}" in err


def test_a_missing_export_does_not_suggest_synthetic_data(project, capsys):
    code, _, err = run_cli(capsys, "--root", str(project), "validate", "mini")
    assert code == 1
    assert "no export for population 'ps'" in err and "put the export there as ps.csv" in err and "synth" not in err


def test_run_refuses_an_unknown_edition_before_starting_prefect(project):
    script = (
        "import sys; from baro_pipeline.cli import main; code = main(sys.argv[1:]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'baro_flows'})); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", script, "--root", str(project), "run", "2031"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: edition '2031' not found") and "use one of ['mini']" in result.stderr
    assert result.stdout.splitlines() == ["[]"]  # nothing printed, no Prefect imported


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out == f"baro {version('baro-pipeline')}\n"


def test_help_lists_every_exit_code_as_the_readme_does(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    exit_codes = " ".join(readme[readme.index("Exit codes") :].split("\n\n")[0].split())
    for code, what in EXIT_CODES:
        assert re.search(rf"^ +{code}  {re.escape(what)}$", out, re.M), (code, out)
        assert f"{code} " in exit_codes, (code, exit_codes)
    assert "70" in out and "internal error" in exit_codes


def commands() -> dict:
    return build_parser()._subparsers._group_actions[0].choices  # the subcommands' parsers


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_command_explains_each_argument_and_shows_an_example(command, capsys):
    for action in commands()[command]._actions:
        assert action.help, f"baro {command}: {action.dest} has no help"
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    examples = out[out.index("examples:") :].splitlines()[1:]
    assert examples and all(line.startswith(f"  baro {command} ") for line in examples), out
    assert "--root" in out


def test_stdout_whose_reader_left_takes_the_rest_silently():
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -2` has read its lines and gone
    with os.fdopen(write_end, "w") as stream:
        out = ReaderProofStdout(stream)
        print("progress", file=out, flush=True)
        print("more progress", file=out, flush=True)
        assert os.path.samestat(os.fstat(stream.fileno()), os.stat(os.devnull))


def test_a_run_piped_into_head_still_publishes(project):
    """`baro run mini | head -2`: the reader leaves after two lines; the run goes on and publishes.

    Without Prefect (seconds): what is tested is the command line's standard output, the same for both.
    """
    assert main(["--root", str(project), "synth", "mini"]) == 0
    env = {**os.environ, "PREFECT_HOME": str(project / ".prefect")}
    run = subprocess.Popen(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(project), "run", "mini", "--no-prefect"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert run.stdout is not None and run.stderr is not None
    head = [run.stdout.readline() for _ in range(2)]
    run.stdout.close()
    stderr = run.stderr.read()
    assert run.wait(timeout=600) == 0, stderr
    assert head[0].startswith("baro run mini: without Prefect") and stderr == ""
    assert (project / "outputs" / "mini" / "audit.parquet").exists()


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
    assert re.search(r"(?s)error: .*/audit\.parquet: is not a readable Parquet file \(damaged or cut short: .*fix: run 'baro --root \S+ run mini' again", err), err


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
    raise AssertionError(f"baro run started no Prefect server (exit {run.poll()})")


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
def test_killed_run_leaves_no_prefect_server_behind(project, tmp_path):
    # The server up without its database (migrations, block types: ~30 s): the run is stopped before it needs one.
    quick = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false", "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false"}
    said = (tmp_path / "baro-run.log").open("w+")
    run = subprocess.Popen(
        [sys.executable, "-m", "baro_pipeline.cli", "--root", str(project), "run", "mini"],
        env={**os.environ, "PREFECT_HOME": str(project / ".prefect"), **quick},
        stdout=said,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, for the clean-up below only
    )
    try:
        try:
            server, api_url = server_child(run)
        except AssertionError as error:
            said.seek(0)
            raise AssertionError(f"{error}; it printed: {said.read()[-2000:]}") from None
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


def test_console_exits_with_mains_code_and_leaves_the_heap_to_the_os(project, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["baro", "--root", str(project), "validate", "2031"])
    try:
        with pytest.raises(SystemExit) as exited:
            console()
        assert exited.value.code == 2
        assert "edition '2031' not found" in capsys.readouterr().err
        assert gc.get_freeze_count() > 0  # the interpreter's last collections skip them
    finally:
        gc.unfreeze()


def test_a_run_keeps_the_imports_out_of_its_collections_and_only_during_it():
    with imports_out_of_collections():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
