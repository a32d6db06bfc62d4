"""A Prefect server of the bench's own: a temp project's PREFECT_HOME, a free loopback port, stopped by its PID."""
from __future__ import annotations

import subprocess
from pathlib import Path

from common import PY, env_with, free_port


class Server:
    """``python -m baro_flows.server start`` (what ``make server`` runs) for the project ``root``; its
    environment points Prefect at it, and ``api`` is Prefect's HTTP client on it."""

    def __init__(self, root: Path, **settings: str) -> None:
        self.root, self.home = root, root / ".prefect"
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.env = env_with(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",  # no scheduled run: only the bench's
            BARO_PROJECT_DIR=str(root),
            **settings,
        )
        self.command(PY, "-m", "baro_flows.server", "start", "--home", self.home, "--host", "127.0.0.1", "--port", port)
        from prefect.client.base import PrefectHttpxSyncClient

        # Prefect's own client retries the 503 a busy SQLite database answers.
        self.api = PrefectHttpxSyncClient(base_url=self.api_url, timeout=60)

    def command(self, *cmd: object) -> str:
        """Run ``cmd`` in the project against this server; its output, or RuntimeError with its end."""
        p = subprocess.run([str(c) for c in cmd], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed (exit {p.returncode}):\n{(p.stdout + p.stderr)[-1500:]}")
        return p.stdout

    def stop(self) -> None:
        self.api.close()
        subprocess.run([str(PY), "-m", "baro_flows.server", "stop", "--home", str(self.home)], env=self.env, capture_output=True, timeout=120)
