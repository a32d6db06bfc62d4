"""Calls made in processes of their own, forked from the run's: their results, and what they hand over on the way."""

from __future__ import annotations

import gc
import multiprocessing
import queue
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

    The call takes one argument, ``hand``: what it hands over on the way (a population's ranked
    rows). Made here, a handed value reaches ``handed`` at once, or, ``held``, when :meth:`wait`
    is called; forked, always in :meth:`wait`, as the values come (a thread named ``name``
    receives them meanwhile, so that the process never waits for this one): in the thread that
    waits, in its context (under Prefect, a stage called there is a task of the flow run).

    Forked, the call reads the parent's arrays as they were, without a copy (their pages are shared
    until written), and faults and frees its temporaries in an address space of its own: a thread
    of this process would share the page tables (each fresh page of one thread stalls the other's
    page faults, each freed one flushes the other core's TLB) and the interpreter's lock. Its result
    and exception come back pickled: an exception keeps its class and message.
    """

    def __init__(self, call: Callable[[Hand], T], handed: Hand, forked: bool, name: str, held: bool = False) -> None:
        self.name = name
        self.handed = handed
        self.outcome: tuple[str, Any] | None = None
        self.messages: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()  # handed values, then the outcome
        self.process: BaseProcess | None = None
        self.listener: threading.Thread | None = None
        if not forked:
            result = call((lambda value: self.messages.put(("handed", value))) if held else handed)
            self.messages.put(("done", result))
            return
        receiving, sending = multiprocessing.Pipe(duplex=False)
        self.process = multiprocessing.get_context("fork").Process(target=served, args=(call, sending), name=name, daemon=True)
        self.process.start()
        sending.close()  # the child's end: once the child has ended, reading here meets EOF
        self.listener = threading.Thread(target=self.listen, args=(receiving,), name=name, daemon=True)
        self.listener.start()

    def listen(self, receiving: Connection) -> None:
        """The child's messages, queued for :meth:`wait` until its result (or its end)."""
        with receiving:
            while True:
                try:
                    kind, value = receiving.recv()
                except EOFError:
                    self.messages.put(("died", None))  # ended without a result: killed, or crashed
                    return
                except Exception as error:  # noqa: BLE001 - what was sent cannot be rebuilt here
                    self.messages.put(("failed", RuntimeError(f"{self.name}: its answer could not be read back: {type(error).__name__}: {error}")))
                    self.kill()
                    return
                self.messages.put((kind, value))
                if kind != "handed":
                    return

    def wait(self) -> None:
        """Until the call has ended: its handed values passed to ``handed`` here, in order, and its
        outcome kept. An error of ``handed`` is the outcome (the process is stopped, the call's own
        result dropped)."""
        while self.outcome is None:
            kind, value = self.messages.get()
            if kind != "handed":
                self.outcome = (kind, value)
                break
            try:
                self.handed(value)
            except Exception as error:  # noqa: BLE001 - raised by result()
                self.outcome = ("failed", error)
                self.kill()
        self.reap()

    def result(self) -> T:
        """The call's result, or its exception raised here (:meth:`wait` first)."""
        self.wait()
        outcome: tuple[str, Any] = self.outcome or ("died", None)
        kind, value = outcome
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
        """The process killed if it still runs (the run stopped before its result was needed), and
        reaped; nothing handed is passed on."""
        self.kill()
        self.reap()

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    def reap(self) -> None:
        """The listener and the process joined (both end once the process has)."""
        if self.listener is not None and self.listener is not threading.current_thread():
            self.listener.join()
        if self.process is not None:
            self.process.join()


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
