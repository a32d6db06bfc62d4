"""``make worker``: a process worker of the project's work pool that one Ctrl-C stops, exit 0.

``prefect worker start`` sends itself the first Ctrl-C again and SIGKILL on the second: a stop that
takes a second Ctrl-C ends in "make: *** Killed" and leaves its runs behind. This runs the same
worker class; the first SIGINT or SIGTERM stops it once the runs it started have ended, taking no
new one meanwhile, so that their final state reaches the server; a second one stops it at once.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import anyio

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DRAIN_POLL_SECONDS = 0.2


async def cancel_when_idle(task: asyncio.Future[Any], limiter: anyio.CapacityLimiter) -> None:
    """Cancel ``task`` once no run holds a slot of ``limiter``; meanwhile no slot frees up for a new run."""
    while limiter.borrowed_tokens:
        limiter.total_tokens = limiter.borrowed_tokens
        await asyncio.sleep(DRAIN_POLL_SECONDS)
    task.cancel()


async def stopping_signal(work: Coroutine[Any, Any, Any], runs: Callable[[], anyio.CapacityLimiter | None] = lambda: None) -> signal.Signals | None:
    """Run ``work`` until it ends (None) or a SIGINT or SIGTERM stops it (that signal).

    ``runs`` gives the limiter whose slots the runs in progress hold: the first signal waits for them.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[signal.Signals] = []
    drains: list[asyncio.Future[Any]] = []

    def stop(sig: signal.Signals) -> None:
        received.append(sig)
        limiter = runs()
        if len(received) > 1 or limiter is None or not limiter.borrowed_tokens:
            task.cancel()
            return
        print(f"{sig.name}: stopping once the {limiter.borrowed_tokens} run(s) in progress end; again to stop now", flush=True)
        drains.append(asyncio.ensure_future(cancel_when_idle(task, limiter)))

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        for drain in drains:
            drain.cancel()
    return received[0] if received else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baro_flows.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True, help="work pool to take runs from")
    parser.add_argument("--limit", type=int, default=None, help="flow runs at once (default: no limit)")
    args = parser.parse_args(argv)
    from prefect.workers.process import ProcessWorker

    # No limit is an infinite one: its limiter still counts the runs in progress (None until the worker has started).
    worker = ProcessWorker(work_pool_name=args.pool, limit=math.inf if args.limit is None else args.limit)
    sig = asyncio.run(stopping_signal(worker.start(printer=print), runs=lambda: worker._limiter))
    print(f"worker {worker.name} stopped ({sig.name if sig else 'its loops ended'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
