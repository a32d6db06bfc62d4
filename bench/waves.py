"""Issue 20 item 7: a tracker of many waves as parallel flow runs on the project's process work pool.

python bench/waves.py --exports DIR [--waves 8] [--workers 1,2] [--out FILE.json]

A temp project (bench/work/waves/) holds WAVES editions w01…, each edition 2025 under its own id with
its own export folder (the files of DIR: copied when small, linked otherwise), and a prefect.yaml with
one deployment per wave (the baro-2025 entry of the project's, unscheduled, strict off: this measures
speed). One Prefect server on a free loopback port with its own PREFECT_HOME (flows/server.py, as
`make server`), the work pool and the deployments as `make deploy` makes them. Then, for each
worker count K: K workers (`python -m baro_flows.worker --pool P --limit 1`, as `make worker`, one
run at a time each) start, the WAVES runs are triggered at once, and the wall time from the trigger
until all of them have ended is the measurement. The speed-up is the wall with 1 worker over the wall
with K. Every worker and the server are stopped by their PID, whatever happens.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from common import MAIN, PY, WORK, load, say
from prefect_server import Server

POOL = "baro-waves"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
COPY_UP_TO_BYTES = 20_000_000  # smaller exports are copied into each wave's folder, larger ones linked
TIMEOUT = 1800


def wave_ids(waves: int) -> list[str]:
    return [f"w{i:02d}" for i in range(1, waves + 1)]


def wave_exports(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    files = sorted(source.glob("*.csv"))
    small = sum(f.stat().st_size for f in files) <= COPY_UP_TO_BYTES
    for f in files:
        if small:
            shutil.copy(f, target / f.name)
        else:
            (target / f.name).symlink_to(f.resolve())


def wave_edition(root: Path, wave: str) -> None:
    """editions/<wave>: edition 2025 under the wave's id, reading raw/<wave>."""
    shutil.copytree(MAIN / "editions" / "2025", root / "editions" / wave)
    file = root / "editions" / wave / "edition.yaml"
    ed = yaml.safe_load(file.read_text(encoding="utf-8"))
    ed.update(id=wave, exports=f"raw/{wave}")
    file.write_text(yaml.safe_dump(ed, allow_unicode=True, sort_keys=False), encoding="utf-8")


def wave_deployments(waves: list[str]) -> dict[str, Any]:
    """The project's prefect.yaml with one unscheduled deployment per wave on POOL, nothing else."""
    config = yaml.safe_load((MAIN / "prefect.yaml").read_text(encoding="utf-8"))
    [run] = [d for d in config["deployments"] if d["name"] == "baro-2025"]
    base = {k: v for k, v in run.items() if k != "schedules"} | {"work_pool": {**run["work_pool"], "name": POOL}}
    config["deployments"] = [
        base | {"name": f"baro-{w}", "parameters": {**run["parameters"], "edition_id": w, "strict": False}, "tags": ["baro", f"edition-{w}"]}
        for w in waves
    ]
    return config


def wave_project(root: Path, exports: Path, waves: list[str]) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "outputs").mkdir(parents=True)
    shutil.copytree(MAIN / "flows", root / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    for w in waves:
        wave_edition(root, w)
        wave_exports(exports, root / "raw" / w)
    (root / "prefect.yaml").write_text(yaml.safe_dump(wave_deployments(waves), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def deploy(server: Server) -> None:
    """The pool and the deployments, as ``make deploy`` makes them."""
    server.command(PY, "-m", "prefect", "work-pool", "create", POOL, "--type", "process")
    server.command(PY, "-m", "prefect", "--no-prompt", "deploy", "--all")


def trigger(server: Server, deployment: str) -> str:
    """A flow run of ``deployment`` now; its id."""
    flow, name = deployment.split("/")
    deployment_id = server.api.get(f"/deployments/name/{flow}/{name}").json()["id"]
    return str(server.api.post(f"/deployments/{deployment_id}/create_flow_run", json={}).json()["id"])


def flow_runs(server: Server, ids: list[str]) -> list[dict[str, Any]]:
    return list(server.api.post("/flow_runs/filter", json={"flow_runs": {"id": {"any_": ids}}}).json())


def start_worker(server: Server, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        # Its own process group: stop_worker ends it with the flow runs it started.
        return subprocess.Popen([str(PY), "-m", "baro_flows.worker", "--pool", POOL, "--limit", "1"], cwd=server.home,
                                env={**server.env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the worker stops once its runs have ended (flows/worker.py); SIGKILL past 60 s."""
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, None)):
        if worker.poll() is not None:
            return
        os.killpg(worker.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=grace)


def wait_for(condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
    """``condition()``'s first true value, polled 4 times a second; TimeoutError past ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() <= deadline:
        if result := condition():
            return result
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def children_cpu() -> float:
    """CPU seconds of the waited-for children: the workers and, through them, their flow runs."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def round_with(server: Server, waves: list[str], workers: int) -> dict[str, Any]:
    """``workers`` workers up, every wave triggered at once, the wall until all have ended."""
    la = load()
    logs = [server.home / f"worker-{workers}-{i + 1}.log" for i in range(workers)]
    started = [start_worker(server, log) for log in logs]
    cpu_before = children_cpu()
    try:
        wait_for(lambda: all("started!" in log.read_text(errors="replace") for log in logs), f"{workers} worker(s) to start", timeout=300)
        t0 = time.perf_counter()
        ids = [trigger(server, f"baro-run/baro-{w}") for w in waves]
        ended = wait_for(lambda: (r := flow_runs(server, ids)) and all(x["state_type"] in FINAL for x in r) and r, f"the {len(ids)} runs to end")
        wall = time.perf_counter() - t0
    finally:
        for worker in started:
            stop_worker(worker)
    states = [x["state_type"] for x in ended]
    pipeline = [sum(json.loads((server.root / "outputs" / w / "manifest.json").read_text())["timings_seconds"].values()) for w in waves
                if (server.root / "outputs" / w / "manifest.json").exists()]
    # A worker may try a run another one already took (the server aborts that one): count the runs it started.
    took = {log.name: log.read_text(errors="replace").count("submitted to infrastructure") for log in logs}
    failed = [x["state"]["message"] for x in ended if x["state_type"] != "COMPLETED"]
    return {"workers": workers, "wall": wall, "cpu_workers_and_runs": children_cpu() - cpu_before, "states": {s: states.count(s) for s in sorted(set(states))},
            "run_seconds": [x["total_run_time"] for x in ended], "pipeline_seconds": pipeline, "runs_per_worker": took,
            "failed_messages": failed[:3], "load": la}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exports", type=Path, required=True, help="folder with ps.csv and gp.csv (each wave reads these)")
    ap.add_argument("--waves", type=int, default=8)
    ap.add_argument("--workers", default="1,2", help="worker counts, in this order")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    waves = wave_ids(a.waves)
    root = wave_project(WORK / "waves", a.exports, waves)
    rows = {f.stem: sum(1 for _ in open(f, "rb")) - 1 for f in sorted(a.exports.glob("*.csv"))}
    say(f"waves: {len(waves)} editions, rows per wave {rows}, server starting")
    server = Server(root, PREFECT_WORKER_QUERY_SECONDS="1")  # a worker asks for work every second, not every 10 s
    result: dict[str, Any] = {"waves": len(waves), "rows_per_wave": rows, "api_url": server.api_url, "rounds": []}
    try:
        deploy(server)
        for k in (int(x) for x in a.workers.split(",")):
            r = round_with(server, waves, k)
            result["rounds"].append(r)
            say(f"waves: {k} worker(s): {len(waves)} runs in {r['wall']:.1f} s wall, {r['cpu_workers_and_runs']:.1f} s CPU, states {r['states']}, "
                f"runs per worker {list(r['runs_per_worker'].values())}, load {r['load']}")
    finally:
        server.stop()
    walls = {r["workers"]: r["wall"] for r in result["rounds"] if set(r["states"]) == {"COMPLETED"}}
    if 1 in walls:
        result["speedup"] = {k: walls[1] / w for k, w in walls.items() if k != 1}
    text = json.dumps(result)
    if a.out:
        a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
