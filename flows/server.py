"""Prefect servers: the project's own, and the temporary one of ``baro run``.

The project's own server is ``prefect server start --background``, stopped by ``prefect server
stop``: ``baro server start|stop`` and ``make server``/``make server-stop`` run this module; the
integration test uses the same functions. Prefect writes the PID to ``<PREFECT_HOME>/server.pid``;
this module adds the API URL in ``server.url`` beside it (how ``baro run`` finds the server), the
server's log in ``server.log``, a clear refusal when a server already answers on the port, a wait
until the API answers, and a SIGKILL for a server that ignores ``prefect server stop``.

``prefect server start --background`` leaves the server's stdout and stderr on pipes its command
closes on exit (Prefect 3.9.1). So the database is migrated first (``prefect server database
upgrade``: a server on a new database would otherwise log its migrations at start-up), and the
server logs to ``server.log`` through its own logging settings, never to those pipes.

``baro run`` uses the server ``PREFECT_API_URL`` names, else the project's own when it answers
(:func:`run_server`), else starts Prefect's temporary server with :func:`start_embedded_server`,
as a child that the kernel kills when ``baro run`` dies, even by SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from baro_pipeline.errors import UsageError

START_TIMEOUT_SECONDS = 240  # ~9 s usually; slow disks need more
STOP_TIMEOUT_SECONDS = 30
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Unless the environment says otherwise: warnings and errors in ``server.log``, nothing sent to Prefect.
SERVER_DEFAULTS = {"PREFECT_SERVER_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def pid_file(home: Path) -> Path:
    return Path(home) / "server.pid"


def url_file(home: Path) -> Path:
    return Path(home) / "server.url"


def health_status(api_url: str) -> int | None:
    """The HTTP status of ``<api_url>/health``, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def api_answers(api_url: str) -> bool:
    return health_status(api_url) == 200


def server_running(pid: int) -> bool:
    """Whether ``pid`` is a live ``prefect server`` process (not a zombie, not a reused PID)."""
    ps = subprocess.run(["ps", "-ww", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True)  # -ww: the whole command, whatever the terminal width
    stat, _, command = ps.stdout.strip().partition(" ")
    return ps.returncode == 0 and not stat.startswith("Z") and "prefect" in command and "server" in command


def live_pid(home: Path) -> int | None:
    """The PID in ``server.pid`` if that server still runs (read only)."""
    file = pid_file(home)
    try:
        pid = int(file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if server_running(pid) else None


def recorded_pid(home: Path) -> int | None:
    """The PID in ``server.pid`` if that server still runs; a stale file is removed."""
    pid = live_pid(home)
    if pid is None:
        pid_file(home).unlink(missing_ok=True)
        url_file(home).unlink(missing_ok=True)
    return pid


def project_api_url(home: Path) -> str | None:
    """The API URL of the server ``baro server start`` started for this PREFECT_HOME, if it runs and answers."""
    try:
        api_url = url_file(home).read_text().strip()
    except OSError:
        return None
    return api_url if live_pid(home) is not None and api_answers(api_url) else None


def prefect_for_run(home: Path) -> str:
    """Which Prefect ``baro run`` uses, in a few words with its URL; sets PREFECT_API_URL to the project's server when it answers.

    Called before Prefect is imported: Prefect reads its settings once, at import.
    """
    if api_url := os.environ.get("PREFECT_API_URL"):
        status = health_status(api_url)
        if status is None or status >= 500:  # 401 or 403 answer: a server asking for PREFECT_API_KEY
            what = f"no Prefect server answers at {api_url}" if status is None else f"the Prefect server at {api_url} answers {status}"
            raise UsageError(what, where="PREFECT_API_URL", fix="start that server, or unset PREFECT_API_URL (baro run then uses the project's server, or Prefect's temporary one), or baro run --no-prefect")
        return f"Prefect server {api_url} (PREFECT_API_URL)"
    if api_url := project_api_url(home):
        os.environ["PREFECT_API_URL"] = api_url
        return f"Prefect server {api_url} (started by baro server start)"
    return "Prefect embedded local server (temporary; baro server start keeps one running)"


def logging_settings(home: Path) -> Path:
    """Prefect logging settings (``PREFECT_LOGGING_SETTINGS_PATH``) that send all of the server's log to ``server.log``.

    uvicorn's own configuration, applied before Prefect's, logs every request to stdout: its
    loggers are named here so that Prefect's configuration replaces their handlers.
    """
    log = str(home / "server.log").replace("$", "$$")  # Prefect fills in ${SETTINGS} in this file
    logger = {"level": "${PREFECT_SERVER_LOGGING_LEVEL}", "handlers": ["file"], "propagate": False}
    settings = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"standard": {"format": "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s", "datefmt": "%Y-%m-%d %H:%M:%S"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": log, "formatter": "standard"}},
        "loggers": {name: logger for name in ("prefect", "uvicorn", "uvicorn.error", "fastapi")} | {"uvicorn.access": {**logger, "level": "WARNING"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
    }
    file = home / "server-logging.yml"
    file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return file


def prefect_server(home: Path, command: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = STOP_TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
    """``prefect server <command> …`` with the project's PREFECT_HOME (and ``env``'s settings)."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", "server", command, *args],
        env={**SERVER_DEFAULTS, **os.environ, **(env or {}), "PREFECT_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_lines(text: str, count: int = 5) -> str:
    return "\n    ".join(text.splitlines()[-count:])


def start_server(home: Path, host: str, port: int, env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT_SECONDS) -> int:
    """``prefect server start --background`` on a migrated database; its PID once ``/api/health`` answers.

    ``env`` adds Prefect settings for the server (e.g. the scheduler off) to this process' environment.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if (pid := recorded_pid(home)) is not None:
        raise UsageError(f"a Prefect server of this project already runs (PID {pid})", where=str(pid_file(home)), fix="use it, or stop it with `baro server stop` (make server-stop)")
    api_url = f"http://{host}:{port}/api"
    if health_status(api_url) is not None:
        raise UsageError(f"another Prefect server already answers at {api_url}", fix="stop it, or choose another port: baro server start --port 4300 (make server SERVER_PORT=4300)")
    env = {**(env or {}), "PREFECT_LOGGING_SETTINGS_PATH": str(logging_settings(home))}
    for step in (("database", "upgrade", "-y"), ("start", "--background", "--host", host, "--port", str(port))):
        done = prefect_server(home, *step, env=env, timeout=timeout)
        if done.returncode != 0:
            raise UsageError(f"`prefect server {' '.join(step)}` failed:\n    {last_lines(done.stdout + done.stderr)}", where=str(home), fix="read the message; a port in use needs --port (SERVER_PORT=) another")
    url_file(home).write_text(f"{api_url}\n", encoding="utf-8")
    deadline = time.monotonic() + timeout
    while not api_answers(api_url):
        if live_pid(home) is None or time.monotonic() > deadline:
            stop_server(home)
            log = home / "server.log"
            tail = last_lines(log.read_text(errors="replace")) if log.exists() else "(no log)"
            raise UsageError(f"the Prefect server did not answer at {api_url}:\n    {tail}", where=str(log), fix="read the log; a port in use needs --port (SERVER_PORT=) another")
        time.sleep(0.2)
    return int(pid_file(home).read_text())


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
    url_file(home).unlink(missing_ok=True)
    return pid


def dying_with(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` after which the kernel sends the child SIGKILL when its parent dies (Linux)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl: no signal would come
            os._exit(1)

    return preexec


def start_embedded_server(meanwhile: Callable[[], object] = lambda: None) -> None:
    """Start Prefect's temporary server now, as a child killed with this process; ``meanwhile`` runs while it starts.

    Prefect starts it on first use as a plain child (``SubprocessASGIServer``, stopped at exit),
    which a SIGKILL of ``baro run`` would leave running; Prefect has no setting for that. Started
    here first, it is the one Prefect then uses (one instance per port). The parent-death signal
    follows the thread that started the child: call this from the main thread. Nothing to do when
    ``PREFECT_API_URL`` names a server, and off Linux.

    ``meanwhile`` (``baro run``: importing its flow, seconds) runs in a thread from the server's
    start until it answers, and is waited for; what it raises is dropped: the caller does it again.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value() or not sys.platform.startswith("linux"):
        return
    from prefect.server.api import server as prefect_server

    def quietly() -> None:
        with contextlib.suppress(BaseException):  # a thread's exception would print a traceback
            meanwhile()

    thread = threading.Thread(target=quietly, name="baro-meanwhile", daemon=True)

    class ServerDyingWithParent(prefect_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect's own command and environment, with one more argument to its Popen.
            popen = functools.partial(subprocess.Popen, preexec_fn=dying_with(os.getpid()))
            with mock.patch.object(prefect_server, "subprocess", types.SimpleNamespace(Popen=popen)):
                process = super()._run_uvicorn_command()
            if thread.ident is None:  # Prefect starts it again on another port when the first was taken
                thread.start()
            return process

    try:
        ServerDyingWithParent().start()
    finally:
        if thread.ident is not None:
            thread.join()


def server_command(command: str, home: Path, host: str, port: int) -> str:
    """``start`` or ``stop`` the project's server; what to tell the user (``baro server`` and ``make server``)."""
    if command == "stop":
        stopped = stop_server(home)
        return f"Prefect server stopped (PID {stopped})" if stopped else "no Prefect server of this project is running"
    pid = start_server(home, host, port)
    return (
        f"Prefect server running (PID {pid}, log {Path(home) / 'server.log'})\n"
        f"  UI  http://{host}:{port}\n"
        f"  API http://{host}:{port}/api  (baro run uses it; stop it: baro server stop, or make server-stop)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baro_flows.server", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("PREFECT_HOME", ".prefect")), help="PREFECT_HOME of the server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args(argv)
    try:
        print(server_command(args.command, args.home, args.host, args.port))
    except UsageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
