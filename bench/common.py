"""What every part of the benchmark shares: paths, the log, the machine's load, timed subprocesses."""
from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MAIN = BENCH.parent
PY = MAIN / ".venv" / "bin" / "python"
BARO = MAIN / ".venv" / "bin" / "baro"
WORK = BENCH / "work"
DATA = BENCH / "data"
# The large data set the maintainer generates once per machine; reused by symlink when present.
SHARED_DATA = Path("/work/benchdata")
LOG: list[str] = []
# Prefect offline, as the Makefile sets it.
QUIET_PREFECT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1"}


def say(msg: str) -> None:
    line = f"[{datetime.now(UTC):%H:%M:%S}] {msg}"
    print(line, flush=True)
    LOG.append(line)


def load() -> str:
    """The load average (1, 5, 15 min): the machine is shared, every measurement records it."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median(xs: Iterable[float | None]) -> float | None:
    values = [x for x in xs if x is not None]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Timed:
    """A finished subprocess: exit code (None on timeout), output, wall and CPU (user + system)
    seconds, peak RSS in MiB."""

    rc: int | None
    stdout: str
    stderr: str
    wall: float
    cpu: float | None
    peak_rss_mib: float | None

    def numbers(self) -> dict[str, float | int | None]:
        return {"rc": self.rc, "wall": self.wall, "cpu": self.cpu, "peak_rss_mib": self.peak_rss_mib}

    def tail(self, chars: int = 1500) -> str:
        """The end of its output without /usr/bin/time's report: what a failed part's log shows."""
        return ("timeout" if self.rc is None else "") + (self.stdout + self.stderr.split("\tCommand being timed")[0])[-chars:]


def run(cmd: Iterable[object], timeout: float | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Timed:
    """``cmd`` under ``/usr/bin/time -v``: its wall time and peak RSS."""
    start = time.perf_counter()
    try:
        p = subprocess.run(["/usr/bin/time", "-v", *map(str, cmd)], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return Timed(None, out, "", time.perf_counter() - start, None, None)
    wall = time.perf_counter() - start
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    cpu = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", p.stderr)
    return Timed(p.returncode, p.stdout, p.stderr, wall, sum(map(float, cpu)) if len(cpu) == 2 else None, int(rss.group(1)) / 1024 if rss else None)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux: /proc/<pid>/task/*/children)."""
    found = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [p for child in children.read_text().split() for p in process_tree(int(child))]
        except OSError:  # ended meanwhile
            pass
    return found


def pss_kib(pid: int) -> int:
    """A process' proportional set size (its private pages, and its share of those it shares), KiB; 0 once ended."""
    try:
        return next((int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def tree_peak(cmd: Iterable[object], timeout: float, env: Mapping[str, str] | None = None) -> tuple[int, float, int]:
    """``cmd``'s exit code and the peak of its process tree's memory: the sum of every process'
    PSS (a forked process' pages shared with its parent counted once), sampled every 50 ms (each
    sample reads every page table: ~14 ms per GiB, so this run is not timed); and how many
    processes the tree had then."""
    p = subprocess.Popen(list(map(str, cmd)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, processes, start = 0, 0, time.perf_counter()
    while p.poll() is None and time.perf_counter() - start < timeout:
        tree = process_tree(p.pid)
        total = sum(pss_kib(q) for q in tree)
        if total > peak:
            peak, processes = total, len(tree)
        time.sleep(0.05)
    if p.poll() is None:
        p.kill()
    return p.wait(), peak / 1024, processes


def env_with(**settings: str) -> dict[str, str]:
    """This process' environment without its Prefect settings, plus Prefect offline and ``settings``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | QUIET_PREFECT | settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def data_folder(n: int) -> Path:
    """``bench/data/<n>``: exports of ``baro synth 2025 --respondents n --seed 1``, linked to the shared
    copy when the machine has one, generated otherwise (once)."""
    out = DATA / str(n)
    if (out / "ps.csv").exists() and (out / "gp.csv").exists():
        return out
    shared = SHARED_DATA / str(n)
    DATA.mkdir(exist_ok=True)
    while shared.exists() and subprocess.run(["pgrep", "-f", f"synth 2025 --respondents {n}"], capture_output=True).returncode == 0:
        say(f"data {n}: waiting for the synth writing {shared} to end")
        time.sleep(10)
    if (shared / "ps.csv").exists() and (shared / "gp.csv").exists() and not out.exists():
        out.symlink_to(shared)
        say(f"data {n}: linked to {shared}")
        return out
    say(f"data {n}: baro synth 2025 --respondents {n} --seed 1")
    synth = run([BARO, "--root", MAIN, "synth", "2025", "--respondents", n, "--seed", 1, "--out", out])
    if synth.rc != 0:
        raise RuntimeError(f"synth {n} failed: {synth.tail()}")
    return out


def project(name: str, exports: Path) -> Path:
    """A temp project ``bench/work/<name>``: a copy of editions/, ``raw/2025`` a link to ``exports``."""
    p = WORK / name
    shutil.rmtree(p, ignore_errors=True)
    (p / "raw").mkdir(parents=True)
    (p / "outputs").mkdir()
    shutil.copytree(MAIN / "editions", p / "editions")
    (p / "raw" / "2025").symlink_to(exports.resolve())
    return p
