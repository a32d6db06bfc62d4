"""Prefect servers: the project's own, and the temporary one of ``baro run``.

The project's own server is started in the background, waited for, stopped by its PID:
``make server`` and ``make server-stop`` run this module; the integration test uses the same
functions. The PID goes to ``<PREFECT_HOME>/server.pid`` (where ``prefect server stop`` reads it)
and the server's log to ``server.log`` beside it. What this adds to Prefect's commands: a clear
refusal when a server already answers on the port, a wait until the API answers, the log, and a
SIGKILL for a server that ignores ``prefect server stop``.

``baro run`` starts Prefect's temporary server with :func:`start_embedded_server`, as a child
that the kernel kills when ``baro run`` dies, even by SIGKILL.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from baro_pipeline.errors import UsageError

START_TIMEOUT_SECONDS = 240  # ~9 s usually, ~25 s on a fresh database; slow disks need more
STOP_TIMEOUT_SECONDS = 30
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def pid_file(home: Path) -> Path:
    return Path(home) / "server.pid"


def api_answers(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_running(pid: int) -> bool:
    """Whether ``pid`` is a live ``prefect server`` process (not a zombie, not a reused PID)."""
    ps = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True)
    stat, _, command = ps.stdout.strip().partition(" ")
    return ps.returncode == 0 and not stat.startswith("Z") and "prefect" in command and "server" in command


def recorded_pid(home: Path) -> int | None:
    """The PID in ``server.pid`` if that server still runs; a stale file is removed."""
    file = pid_file(home)
    if not file.exists():
        return None
    pid = int(file.read_text().strip())
    if server_running(pid):
        return pid
    file.unlink()
    return None


def prefect_server(home: Path, command: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``prefect server <command> …`` with the project's PREFECT_HOME (and ``env``'s settings)."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", "server", command, *args],
        env={**os.environ, **(env or {}), "PREFECT_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT_SECONDS,
    )


def start_server(home: Path, host: str, port: int, env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT_SECONDS) -> int:
    """Start ``prefect server start`` in the background and return its PID once ``/api/health`` answers.

    Not ``prefect server start --background``: Prefect 3.9 leaves that server's output on pipes
    its command closes on exit, and a server on a new database dies writing its start-up log
    (seen 2 of 2 here). The PID goes where ``prefect server stop`` reads it.

    ``env`` adds Prefect settings for the server (e.g. the scheduler off) to this process' environment.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if (pid := recorded_pid(home)) is not None:
        raise UsageError(f"a Prefect server of this project already runs (PID {pid})", where=str(pid_file(home)), fix="use it, or stop it with `make server-stop`")
    api_url = f"http://{host}:{port}/api"
    if api_answers(api_url):
        raise UsageError(f"another Prefect server already answers at {api_url}", fix="stop it, or choose another port: make server SERVER_PORT=4300")
    log = home / "server.log"
    with open(log, "ab") as out:
        # Its own session: Ctrl-C in the terminal that started it does not stop the server.
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            env={**os.environ, **(env or {}), "PREFECT_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(home).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while not api_answers(api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(home)
            tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-5:])
            raise UsageError(f"the Prefect server did not answer at {api_url}:\n    {tail}", where=str(log), fix="read the log; a port in use needs SERVER_PORT=another")
        time.sleep(0.5)
    return process.pid


def stop_server(home: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
    """``prefect server stop`` (SIGTERM), waited for, SIGKILL past ``timeout``; the PID stopped, or None."""
    pid = recorded_pid(home)
    if pid is None:
        return None
    prefect_server(Path(home).resolve(), "stop")
    deadline = time.monotonic() + timeout
    while server_running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if server_running(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file(home).unlink(missing_ok=True)
    return pid


def dying_with(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` after which the kernel sends the child SIGKILL when its parent dies (Linux)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl: no signal would come
            os._exit(1)

    return preexec


def start_embedded_server() -> None:
    """Start Prefect's temporary server now, as a child killed with this process.

    Prefect starts it on first use as a plain child (``SubprocessASGIServer``, stopped at exit),
    which a SIGKILL of ``baro run`` would leave running; Prefect has no setting for that. Started
    here first, it is the one Prefect then uses (one instance per port). The parent-death signal
    follows the thread that started the child: call this from the main thread. Nothing to do when
    ``PREFECT_API_URL`` names a server, and off Linux.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value() or not sys.platform.startswith("linux"):
        return
    from prefect.server.api import server as prefect_server

    class ServerDyingWithParent(prefect_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect's own command and environment, with one more argument to its Popen.
            popen = functools.partial(subprocess.Popen, preexec_fn=dying_with(os.getpid()))
            with mock.patch.object(prefect_server, "subprocess", types.SimpleNamespace(Popen=popen)):
                return super()._run_uvicorn_command()

    ServerDyingWithParent().start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baro_flows.server", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("PREFECT_HOME", ".prefect")), help="PREFECT_HOME of the server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            pid = start_server(args.home, args.host, args.port)
            print(f"Prefect server running (PID {pid}, log {args.home / 'server.log'})")
            print(f"  UI  http://{args.host}:{args.port}")
            print(f"  API http://{args.host}:{args.port}/api  (stop it: make server-stop)")
        else:
            stopped = stop_server(args.home)
            print(f"Prefect server stopped (PID {stopped})" if stopped else "no Prefect server of this project is running")
    except UsageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
