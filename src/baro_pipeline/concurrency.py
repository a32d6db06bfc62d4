"""Calls made in processes of their own, forked from the run's: their results, and what they hand over on the way."""

from __future__ import annotations

import contextvars
import gc
import multiprocessing
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from .errors import ProcessEndedError

T = TypeVar("T")
Hand = Callable[[Any], None]


def can_fork() -> bool:
    """Whether a call can run in a forked copy of this process: Linux only (macOS's system libraries
    are not safe to use after a fork, Windows has none)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class Pending(Generic[T]):
    """A call's result: made here and now (``forked`` false: its exception raised at once), or made in
    a forked copy of this process, while this one goes on.

    The call takes one argument, ``hand``: what it hands over on the way (a population's ranked rows)
    reaches ``handed`` in this process: here, or forked, in a thread named ``name`` that runs in a
    copy of the caller's context, taken here (under Prefect, a stage called there stays a task of
    the flow run).

    Forked, the call reads the parent's arrays as they were, without a copy (their pages are shared
    until written), and faults and frees its temporaries in an address space of its own: a thread
    of this process would share the page tables (each fresh page of one thread stalls the other's
    page faults, each freed one flushes the other core's TLB) and the interpreter's lock. Its result
    and exception come back pickled: an exception keeps its class and message.
    """

    def __init__(self, call: Callable[[Hand], T], handed: Hand, forked: bool, name: str) -> None:
        self.name = name
        self.outcome: tuple[str, Any] = ("died", None)
        self.process: BaseProcess | None = None
        self.listener: threading.Thread | None = None
        if not forked:
            self.outcome = ("done", call(handed))
            return
        receiving, sending = multiprocessing.Pipe(duplex=False)
        self.process = multiprocessing.get_context("fork").Process(target=served, args=(call, sending), name=name, daemon=True)
        self.process.start()
        sending.close()  # the child's end: once the child has ended, reading here meets EOF
        caller = contextvars.copy_context()
        self.listener = threading.Thread(target=caller.run, args=(self.listen, receiving, handed), name=name, daemon=True)
        self.listener.start()

    def listen(self, receiving: Connection, handed: Hand) -> None:
        """The child's messages until its result (or its end): each handed value to ``handed``."""
        with receiving:
            while True:
                try:
                    kind, value = receiving.recv()
                except EOFError:
                    return  # ended without a result: killed, or crashed
                except Exception as error:  # noqa: BLE001 - what was sent cannot be rebuilt here
                    self.outcome = ("failed", RuntimeError(f"{self.name}: its answer could not be read back: {type(error).__name__}: {error}"))
                    self.stop()
                    return
                if kind != "handed":
                    self.outcome = (kind, value)
                    return
                try:
                    handed(value)
                except Exception as error:  # noqa: BLE001 - raised by result(), the call's own result dropped
                    self.outcome = ("failed", error)
                    self.stop()
                    return

    def wait(self) -> None:
        """Until the call has ended and its messages are handled."""
        if self.listener is not None and self.process is not None:
            self.listener.join()
            self.process.join()

    def result(self) -> T:
        """The call's result, or its exception raised here (:meth:`wait` first)."""
        self.wait()
        kind, value = self.outcome
        if kind == "done":
            result: T = value
            return result
        if kind == "failed":
            raise value
        code = None if self.process is None else self.process.exitcode
        signalled = f": killed by {signal.Signals(-code).name}" if code is not None and code < 0 and -code in signal.valid_signals() else ""
        raise ProcessEndedError(
            f"ended without its result (exit code {code}{signalled})",
            where=f"process {self.name}",
            fix="a process killed by SIGKILL was most likely stopped by the system for lack of memory: free memory or run on a larger machine, then run again",
        )

    def stop(self) -> None:
        """The process killed if it still runs (the run stopped before its result was needed), and reaped."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            if threading.current_thread() is not self.listener:
                self.wait()


def served(call: Callable[[Hand], Any], sending: Connection) -> None:
    """In the forked process: the call, its handed values and then its result (or exception) sent back."""
    gc.freeze()  # the parent's objects are never collected here: their pages stay shared
    with sending:
        try:
            sending.send(("done", call(lambda value: sending.send(("handed", value)))))
        except BaseException as error:  # noqa: BLE001 - raised in the parent by result()
            try:
                sending.send(("failed", error))
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled (a local class): its traceback as text
                sending.send(("failed", RuntimeError("".join(traceback.format_exception(error)))))
