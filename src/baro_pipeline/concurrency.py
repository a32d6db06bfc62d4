"""Calls made at once, in threads of their own, as the run's thread would make them."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def at_once(calls: Sequence[Callable[[], T]], threaded: bool, name: str) -> list[T]:
    """Each call's result, in order: each call in a thread of its own (``name``-N) when ``threaded``,
    else one after the other in this thread.

    Each thread runs in a copy of this thread's context, taken here (under Prefect, a stage called
    there stays a task of the flow run). An exception of a call is raised here as it was raised
    (the first call's first), once every call has ended.
    """
    if not threaded:
        return [call() for call in calls]
    contexts = [contextvars.copy_context() for _ in calls]
    with ThreadPoolExecutor(len(calls), thread_name_prefix=name) as pool:
        made = [pool.submit(context.run, call) for context, call in zip(contexts, calls)]
    return [done.result() for done in made]
