"""``make worker``: a process worker of the project's work pool that one Ctrl-C stops, exit 0.

``prefect worker start`` answers the first Ctrl-C by raising it again inside its event loop, where
it is lost, and the second by killing itself (SIGKILL: "make: *** Killed"). This runs the same
worker class, and the first SIGINT or SIGTERM cancels it: it leaves its pool, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, Coroutine

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def stopping_signal(work: Coroutine[Any, Any, Any]) -> signal.Signals | None:
    """Run ``work`` until it ends (None) or until the first SIGINT or SIGTERM cancels it (that signal)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        received.append(sig)
        task.cancel()

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
    return received[0] if received else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baro_flows.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True, help="work pool to take runs from")
    parser.add_argument("--limit", type=int, default=None, help="flow runs at once (default: no limit)")
    args = parser.parse_args(argv)
    from prefect.workers.process import ProcessWorker

    worker = ProcessWorker(work_pool_name=args.pool, limit=args.limit)
    sig = asyncio.run(stopping_signal(worker.start(printer=print)))
    print(f"worker {worker.name} stopped ({sig.name if sig else 'its loops ended'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
