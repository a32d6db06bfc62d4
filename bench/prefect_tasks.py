"""Where Prefect's time goes in ``baro run``: the trivial flow and ``baro run 2025``, embedded and on a server.

    .venv/bin/python bench/prefect_tasks.py [--repeats 3] [--out FILE]

In fresh processes, on a copy of edition 2025 in a temporary folder (its own PREFECT_HOME), first
on Prefect's embedded default, then against a server ``baro server start`` runs on a free port:

- ``trivial``: a flow of 12 tiny tasks, run as ``baro run`` runs its flow (same settings, same server);
- ``baro run``: ``baro run 2025`` itself; the pipeline time is the one it prints (every stage's);
- ``baro run --no-prefect``: the same run without Prefect (its imports and start-up are not in
  those timings either): ``baro run`` minus it is Prefect's share, to set beside the trivial flow;
- one more of each, instrumented in-process, for the breakdown per task: the task call's wall
  against its function's (Prefect's overhead), split by the task run's state timestamps read from
  the Prefect API (before Pending: creation and parameter walking; Pending->Running: start;
  Running->Completed minus the function: result handling; after Completed: exit), and the flow's
  artifact calls; and the phases of that process from its start (Prefect set up, the flow's
  imports, the flow run's creation, its tasks, its end, the exit).

Medians of ``--repeats`` (a warm-up run on each server first, not counted). Prints the result as
JSON, and writes it to ``--out``. The targets of issue 20: ``baro run`` wall <= pipeline + trivial
flow + 1 s on a server, + 2 s on the embedded default.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EDITION = "2025"
TRIVIAL_TASKS = 12
MARGIN_SECONDS = {"embedded": 2.0, "server": 1.0}


# ---- in the child processes ------------------------------------------------------------------


def prefect_as_baro_run(root: Path) -> str:
    """Prefect set up as ``baro run`` sets it up; which server it uses."""
    from baro_flows.server import prefect_for_run, start_embedded_server
    from baro_pipeline.cli import prefect_environment, prefect_home

    prefect_environment(root, verbose=False)
    which = prefect_for_run(prefect_home(root))
    start_embedded_server()
    return which


def trivial_flow(calls: dict[str, list[dict[str, float]]]) -> str:
    """12 tiny tasks in a flow, each call timed into ``calls``; the flow run's id."""
    from prefect import flow, task
    from prefect.runtime import flow_run

    @task
    def tiny(i: int) -> int:
        return i + 1

    @flow(name="trivial")
    def trivial() -> str:
        for i in range(TRIVIAL_TASKS):
            record = {"start": time.time(), "function": 0.0}
            start = time.perf_counter()
            tiny(i)
            record["call"] = time.perf_counter() - start
            calls.setdefault("tiny", []).append(record)
        return str(flow_run.id)

    return trivial()


def task_breakdown(flow_run_id: str, expected: int, calls: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """Per task run, from the API's state timestamps, joined with the calls measured in-process (in run order)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 30  # the server records task states from events, a little after the run
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            states = {run.id: client.read_task_run_states(run.id) for run in runs}
            done = [run for run in runs if any(s.type.value == "COMPLETED" for s in states[run.id])]
            if len(done) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    rows = []
    for run in sorted(runs, key=lambda r: r.expected_start_time or r.created):
        stamps = {s.type.value: s.timestamp.timestamp() for s in states[run.id]}
        rows.append({"task": run.name.rsplit("-", 1)[0], "stamps": stamps})
    seen: dict[str, int] = {}
    for row in rows:
        index = seen[row["task"]] = seen.get(row["task"], -1) + 1
        call = calls.get(row["task"], [])[index] if index < len(calls.get(row["task"], [])) else None
        stamps = row.pop("stamps")
        row["pending_to_running"] = stamps.get("RUNNING", float("nan")) - stamps.get("PENDING", float("nan"))
        row["running_to_completed"] = stamps.get("COMPLETED", float("nan")) - stamps.get("RUNNING", float("nan"))
        if call:
            row["call"] = call["call"]
            row["function"] = call["function"]
            row["prefect"] = call["call"] - call["function"]
            row["before_pending"] = stamps.get("PENDING", float("nan")) - call["start"]
            row["result_handling"] = row["running_to_completed"] - call["function"]
            row["after_completed"] = call["start"] + call["call"] - stamps.get("COMPLETED", float("nan"))
    return rows


def timed_calls() -> tuple[dict[str, list[dict[str, float]]], Callable[..., Any]]:
    """Records of each task call (its wall, its function's wall), and a ``stage_task`` that fills them."""
    import baro_flows.run as flow_module

    calls: dict[str, list[dict[str, float]]] = {}
    original = flow_module.stage_task

    def stage_task(name: str, function: Callable[..., Any]) -> Any:
        record: dict[str, float] = {}

        def timed_function(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                record["function"] = time.perf_counter() - start

        prefect_task = original(name, timed_function)

        def call(*args: Any) -> Any:
            record["start"] = time.time()
            start = time.perf_counter()
            try:
                return prefect_task(*args)
            finally:
                record["call"] = time.perf_counter() - start
                calls.setdefault(name, []).append(record)

        return call

    flow_module.stage_task = stage_task
    return calls, original


def timed_artifacts(totals: dict[str, list[float]]) -> None:
    """Count the flow's artifact calls and their wall."""
    import baro_flows.run as flow_module

    for name in ("create_progress_artifact", "update_progress_artifact", "create_markdown_artifact", "create_table_artifact"):
        if not hasattr(flow_module, name):
            continue
        function = getattr(flow_module, name)

        def timed(*args: Any, _function: Callable[..., Any] = function, _name: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _function(*args, **kwargs)
            finally:
                totals.setdefault(_name, []).append(time.perf_counter() - start)

        setattr(flow_module, name, timed)


def process_seconds() -> float:
    """Seconds since this process started (Linux /proc, to 10 ms): the phases count from there."""
    started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def stamps_of_tasks(calls: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """When the first task call started and the last one ended, in seconds since the process started."""
    offset = time.time() - process_seconds()
    records = [r for rs in calls.values() for r in rs]
    return {"first task": min(r["start"] for r in records) - offset, "last task done": max(r["start"] + r["call"] for r in records) - offset}


def child(kind: str, root: Path, breakdown: bool) -> dict[str, Any]:
    """One measured run in this (fresh) process; when its phases ended, in seconds since it started."""
    stamps = {"started": process_seconds()}
    start, cpu = time.perf_counter(), time.process_time()
    which = prefect_as_baro_run(root)
    stamps["prefect set up"] = process_seconds()
    if kind == "trivial":
        calls: dict[str, list[dict[str, float]]] = {}
        stamps["flow imported"] = process_seconds()
        flow_run_id = trivial_flow(calls)
        stamps["flow returned"] = process_seconds()
        artifacts: dict[str, list[float]] = {}
        expected = TRIVIAL_TASKS
    else:
        calls, _ = timed_calls()
        artifacts = {}
        timed_artifacts(artifacts)
        from prefect import get_client
        from prefect.client.schemas.sorting import FlowRunSort

        from baro_flows.run import baro_run

        stamps["flow imported"] = process_seconds()
        baro_run(edition_id=EDITION, root=str(root), strict=False, echo=False)
        stamps["flow returned"] = process_seconds()
        with get_client(sync_client=True) as client:
            flow_run_id = str(client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0].id)
        expected = sum(map(len, calls.values()))
    result: dict[str, Any] = {"prefect": which, "wall_in_process": time.perf_counter() - start, "cpu": time.process_time() - cpu}
    if breakdown:
        result["stamps"] = stamps | stamps_of_tasks(calls)
        result["tasks"] = task_breakdown(flow_run_id, expected, calls)
        result["artifacts"] = {name: {"calls": len(walls), "seconds": sum(walls)} for name, walls in artifacts.items()}
        result["stamps"]["done"] = process_seconds()  # after the API reads of the breakdown: the exit is what follows
    return result


# ---- in the parent -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def project(folder: Path) -> Path:
    for part in ("editions", "raw"):
        shutil.copytree(REPO / part / EDITION, folder / part / EDITION)
    return folder


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {"PREFECT_HOME": str(root / ".prefect")}


def timed_process(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall of a fresh process; its stdout. Fails loudly when it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, done.stdout


def measured_child(kind: str, root: Path, breakdown: bool = False) -> dict[str, Any]:
    wall, out = timed_process([sys.executable, __file__, "--child", kind, "--root", str(root), *(["--breakdown"] if breakdown else [])], environment(root))
    result = {"wall": wall, **json.loads(out.splitlines()[-1])}
    if "stamps" in result:
        result["phases"] = phases(result.pop("stamps"), wall)
    return result


PHASES = {
    "started": "python and this script",
    "prefect set up": "Prefect imported and set up as baro run sets it up",
    "flow imported": "the flow's module imported (baro_flows.run: the library)",
    "first task": "the flow run created, up to its first task",
    "last task done": "the tasks",
    "flow returned": "the flow run ended, after its last task (states, artifacts, heartbeat thread)",
}


def phases(stamps: dict[str, float], wall: float) -> dict[str, float]:
    """Seconds of each phase of a child (its stamps in order), and its exit (its wall after it was done)."""
    ends = [0.0, *(stamps[name] for name in PHASES)]
    return {what: end - before for what, before, end in zip(PHASES.values(), ends, ends[1:])} | {"exit (the interpreter's end)": wall - stamps["done"]}


def baro_run(root: Path, *options: str) -> dict[str, Any]:
    wall, out = timed_process([str(BIN / "baro"), "--root", str(root), "run", EDITION, *options], environment(root))
    pipeline = re.search(r"\(pipeline ([0-9.]+) s", out)  # as baro run prints it: the outputs' writing too, not in the manifest
    if pipeline is None:
        raise RuntimeError(f"baro run printed no pipeline time:\n{out[-2000:]}")
    return {"wall": wall, "pipeline": float(pipeline.group(1)), "first_line": out.splitlines()[0]}


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summary_of_tasks(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Totals over the task runs of one flow run (seconds)."""
    keys = ("call", "function", "prefect", "before_pending", "pending_to_running", "result_handling", "after_completed")
    return {"tasks": len(tasks)} | {key: sum(t[key] for t in tasks if key in t) for key in keys}


def mode(name: str, root: Path, repeats: int) -> dict[str, Any]:
    print(f"{name}: warm-up", file=sys.stderr, flush=True)
    measured_child("trivial", root)
    # Alternating, for the same load on each; `--no-prefect`: what the run costs without Prefect
    # (its imports and start-up are not in the manifest's timings either).
    rounds = [(measured_child("trivial", root), baro_run(root), baro_run(root, "--no-prefect")) for _ in range(repeats)]
    trivial, runs, bare = ([r[i] for r in rounds] for i in range(3))
    print(f"{name}: instrumented runs", file=sys.stderr, flush=True)
    trivial_detail = measured_child("trivial", root, breakdown=True)
    baro_detail = measured_child("baro", root, breakdown=True)
    wall, pipeline, trivial_wall = median(runs, "wall"), median(runs, "pipeline"), median(trivial, "wall")
    budget = pipeline + trivial_wall + MARGIN_SECONDS[name]
    return {
        "prefect": runs[0]["first_line"],
        "baro_run": {"wall_median": wall, "pipeline_median": pipeline, "runs": runs},
        "trivial_flow": {"wall_median": trivial_wall, "runs": trivial},
        "no_prefect": {"wall_median": median(bare, "wall"), "pipeline_median": median(bare, "pipeline"), "runs": bare},
        "prefect_share": {"baro_run_minus_no_prefect": wall - median(bare, "wall"), "trivial_flow": trivial_wall},
        "target": {"budget_seconds": budget, "rule": f"pipeline + trivial flow + {MARGIN_SECONDS[name]:.0f} s", "met": wall <= budget},
        "breakdown": {
            "trivial": {"summary": summary_of_tasks(trivial_detail["tasks"]), **trivial_detail},
            "baro_run": {"summary": summary_of_tasks(baro_detail["tasks"]), **baro_detail},
        },
    }


@contextmanager
def project_server(root: Path) -> Iterator[str]:
    port = free_port()
    env = environment(root)
    subprocess.run([str(BIN / "baro"), "--root", str(root), "server", "start", "--port", str(port)], env=env, check=True, capture_output=True, text=True, timeout=600)
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        subprocess.run([str(BIN / "baro"), "--root", str(root), "server", "stop"], env=env, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--modes", nargs="+", choices=("embedded", "server"), default=["embedded", "server"])
    parser.add_argument("--child", choices=("trivial", "baro"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.root, args.breakdown)))
        return 0
    results: dict[str, Any] = {"repeats": args.repeats, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="baro-prefect-bench-") as folder:
        root = project(Path(folder))
        if "embedded" in args.modes:
            results["embedded"] = mode("embedded", root, args.repeats)
        if "server" in args.modes:
            with project_server(root):
                results["server"] = mode("server", root, args.repeats)
    results["load_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
