"""``tables.xlsx`` built in a forked child while the run's process writes ``report.html``.

The report waits for the charts' renderer at its end: the workbook, built meanwhile by a child,
takes no time of the run's process. A fork costs milliseconds and the child has every module
already imported (a child started by ``spawn`` or ``forkserver`` imports pandas and openpyxl
again: about 0.7 s of CPU on the cores the run and the renderer share). A fork is safe only when
no other thread holds a lock the child needs: the run forks only when its other threads are the
renderer's reader (whose locks are the renderer's pipes, which the child never touches); under
Prefect (its threads log, post events and run tasks) or beside other threads, the workbook is
built in the run's process, as before.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

import pandas as pd

from ..chart_renderer import READER_THREAD
from ..edition import Edition
from .xlsx import tables_xlsx

FORK = multiprocessing.get_context("fork")


def fork_is_safe() -> bool:
    """Whether this process's other threads are only the renderer's reader."""
    return all(thread is threading.current_thread() or thread.name == READER_THREAD for thread in threading.enumerate())


def send_tables_xlsx(sender: Connection, edition: Edition, estimates: pd.DataFrame, audit: pd.DataFrame, trends: pd.DataFrame | None) -> None:
    """The child's work: the workbook's bytes sent to the run's process; nothing sent if it fails
    (the run's process then builds it and meets the same error there, typed, with its exit code)."""
    try:
        sender.send_bytes(tables_xlsx(edition, estimates, audit, trends))
    except BaseException:  # noqa: BLE001 - no traceback from the child: the parent reports the error
        pass


@contextlib.contextmanager
def tables_xlsx_apart(edition: Edition, estimates: pd.DataFrame, audit: pd.DataFrame, trends: pd.DataFrame | None) -> Iterator[Callable[[], bytes]]:
    """Within the block, a call that returns :func:`~baro_pipeline.report.xlsx.tables_xlsx` of
    these tables: built by a child forked now, when :func:`fork_is_safe`, else (or if the child
    failed) built by the call. The child ends with the block."""
    if not fork_is_safe():
        yield lambda: tables_xlsx(edition, estimates, audit, trends)
        return
    receiver, sender = FORK.Pipe(duplex=False)
    child = FORK.Process(target=send_tables_xlsx, args=(sender, edition, estimates, audit, trends), name="baro-tables-xlsx", daemon=True)
    child.start()
    sender.close()

    def built() -> bytes:
        try:
            return receiver.recv_bytes()
        except EOFError:  # the child failed or died
            return tables_xlsx(edition, estimates, audit, trends)

    try:
        yield built
    finally:
        receiver.close()
        child.kill()  # ended already once it sent the workbook; killed if the run stopped before
        child.join()
