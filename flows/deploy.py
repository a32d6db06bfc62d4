"""``make deploy``: the work pool and every deployment of prefect.yaml, then this project's next commands.

Prefect's hints after a deploy (``prefect worker start …``, ``prefect deployment run …``) leave out
``PREFECT_API_URL``: typed in another terminal they talk to another Prefect (the embedded one).
Prefect's output goes to ``<PREFECT_HOME>/deploy.log``; this prints what was deployed where, and
the next commands with the server's URL.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

RUN_FLOW = "baro-run"


def deployed(log: str) -> list[str]:
    """``flow/deployment`` names that Prefect's deploy output says it created or updated."""
    return re.findall(r"Deployment '([^']+)' successfully created", log)


def next_commands(api_url: str, deployments: list[str]) -> str:
    """What was deployed, and the commands to use it, each naming the server."""
    lines = [f"deployed to {api_url}:", *(f"  {name}" for name in deployments), "next (in another terminal, as is):"]
    lines.append(f"  PREFECT_API_URL={api_url} make worker    # runs what is due; one Ctrl-C stops it")
    for name in deployments:
        flow, _, deployment = name.partition("/")
        if flow == RUN_FLOW and deployment.startswith("baro-"):
            lines.append(f"  PREFECT_API_URL={api_url} make trigger EDITION={deployment.removeprefix('baro-')}    # a run of {name} now")
    return "\n".join(lines)


def prefect(*args: str) -> subprocess.CompletedProcess[str]:
    # Wide lines: Prefect's console wraps at the terminal's width, and deployed() reads its output.
    return subprocess.run([sys.executable, "-m", "prefect", *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "500"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baro_flows.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True, help="process work pool of the deployments (created if missing)")
    pool = parser.parse_args(argv).pool
    api_url = os.environ["PREFECT_API_URL"]  # set by the Makefile: the project's server unless told otherwise
    log = Path(os.environ.get("PREFECT_HOME", ".prefect")) / "deploy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, ...]] = [("--no-prompt", "deploy", "--all")]
    if prefect("work-pool", "inspect", pool).returncode != 0:
        steps.insert(0, ("work-pool", "create", pool, "--type", "process"))
    output = []
    for step in steps:
        result = prefect(*step)
        output.append(f"$ prefect {' '.join(step)}\n{result.stdout}{result.stderr}")
        log.write_text("\n".join(output), encoding="utf-8")
        if result.returncode != 0:
            print(f"error: `prefect {' '.join(step)}` failed against {api_url} (exit {result.returncode}):", file=sys.stderr)
            print(f"{result.stdout}{result.stderr}".strip(), file=sys.stderr)
            print(f"  fix: is the server up (make server)? Prefect's output: {log}", file=sys.stderr)
            return 1
    print(next_commands(api_url, deployed(output[-1])))
    print(f"(Prefect's own output: {log})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
