"""The command line: messages and exit codes, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from baro_pipeline.cli import main

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
