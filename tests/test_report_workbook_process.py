"""report/workbook_process.py: tables.xlsx built by a forked child while the report is written, or in this process."""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import zipfile

import pytest

from baro_pipeline.errors import OutputError
from baro_pipeline.report import tables_xlsx, workbook_process
from baro_pipeline.report.workbook_process import fork_is_safe, tables_xlsx_apart
from test_report import run_of


@pytest.fixture(scope="module")
def tables(run_2025):
    run = run_of(run_2025)
    return run.edition, run.estimates, run.audit, None


@pytest.fixture
def forking(monkeypatch):
    """A fork allowed whatever threads run (pytest-xdist's among them); the workbook is the pid of the process that built it."""
    monkeypatch.setattr(workbook_process, "fork_is_safe", lambda: True)
    monkeypatch.setattr(workbook_process, "tables_xlsx", lambda *tables: str(os.getpid()).encode())


def parts(workbook: bytes) -> dict[str, bytes]:
    """A workbook's parts but its properties (their time of creation)."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


@pytest.mark.parametrize("fork", [True, False])
def test_the_workbook_is_the_one_built_here(tables, monkeypatch, fork):
    monkeypatch.setattr(workbook_process, "fork_is_safe", lambda: fork)
    with tables_xlsx_apart(*tables) as built:
        assert parts(built()) == parts(tables_xlsx(*tables))
    assert not multiprocessing.active_children()


def test_a_child_builds_the_workbook_and_ends_with_the_block(tables, forking):
    with tables_xlsx_apart(*tables) as built:
        pid = int(built())
    assert pid != os.getpid()
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_failed_child_leaves_the_workbook_to_this_process_without_a_traceback(tables, forking, monkeypatch, capfd, failure):
    parent = os.getpid()

    def fails_in_the_child(*tables):
        if os.getpid() != parent:
            if failure == "dies":
                os._exit(9)
            raise MemoryError("the child's")
        return b"built here"

    monkeypatch.setattr(workbook_process, "tables_xlsx", fails_in_the_child)
    with tables_xlsx_apart(*tables) as built:
        assert built() == b"built here"
    assert "Traceback" not in capfd.readouterr().err


def test_an_error_of_the_tables_is_raised_here_typed(tables, forking, monkeypatch, capfd):
    def refused(*tables):
        raise OutputError("tables.xlsx has no sheet", where="population ps", fix="check the edition")

    monkeypatch.setattr(workbook_process, "tables_xlsx", refused)
    with pytest.raises(OutputError, match="tables.xlsx has no sheet"), tables_xlsx_apart(*tables) as built:
        built()
    assert "Traceback" not in capfd.readouterr().err
    assert not multiprocessing.active_children()


def test_no_fork_beside_a_thread_that_may_hold_a_lock(tables, monkeypatch):
    """Another thread (Prefect's, here one waiting) may hold a lock the child would need: built here."""
    monkeypatch.setattr(workbook_process, "tables_xlsx", lambda *tables: str(os.getpid()).encode())
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="prefect-like")
    other.start()
    try:
        assert not fork_is_safe()
        with tables_xlsx_apart(*tables) as built:
            assert int(built()) == os.getpid()
    finally:
        release.set()
        other.join()
