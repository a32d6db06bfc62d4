"""One fresh process: ``run_edition`` on a project, REPEATS times, each stage's time and memory.

python bench/pipeline_bench.py PROJECT_ROOT [--repeats N]
Prints one JSON line: per repeat the manifest's timings (``RunResult.timings``) and their sum (the
pipeline); for the first repeat, each stage call in order with its seconds, the peak RSS during the
call (VmHWM, reset before it through /proc/self/clear_refs) and the largest of those so far; the
process' peak. The reset also resets the kernel's ru_maxrss (and so what /usr/bin/time reports):
the process' peak is the largest stage peak, kept here.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_so_far_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def high_water_mib() -> float | None:
    """VmHWM of /proc/self/status: the peak RSS since the last reset (None off Linux)."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def reset_high_water() -> bool:
    """Start a new VmHWM (Linux ≥ 4.0: writing 5 to clear_refs); False where that is not allowed."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class StageMemory:
    """A ``stage`` for ``run_edition``: calls each stage as it is and records its seconds and memory."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.peak_mib = peak_so_far_mib()

    def __call__(self, name: str, function: Callable[..., Any], /, *args: Any) -> Any:
        resettable = reset_high_water()
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            seconds = time.perf_counter() - start
            during = high_water_mib() if resettable else None
            self.peak_mib = max(self.peak_mib, during or 0.0, peak_so_far_mib())
            self.calls.append({"stage": name, "seconds": seconds, "peak_mib": during, "peak_so_far_mib": self.peak_mib})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    started = time.perf_counter()
    from baro_pipeline.pipeline import direct, run_edition
    from baro_pipeline.report import charts

    import_seconds = time.perf_counter() - started
    runs, first = [], StageMemory()
    for r in range(a.repeats):
        for renderer in charts.RENDERERS:  # every run draws its charts: the renderer keeps those it drew
            renderer.drawn.clear()
        start = time.perf_counter()
        result = run_edition("2025", a.root, stage=first if r == 0 else direct)
        runs.append({"timings": dict(result.timings), "pipeline": result.pipeline_seconds, "wall": time.perf_counter() - start})
    print(json.dumps({"import_seconds": import_seconds, "runs": runs, "stages": first.calls, "peak_rss_mib": max(first.peak_mib, peak_so_far_mib())}))


if __name__ == "__main__":
    main()
