"""baro-pipeline's benchmark of issue 20 (not part of `make test`): `make bench` (quick), `make bench-full`.

.venv/bin/python bench/run_bench.py [--variant quick|full] [--parts a,b] [--sizes N,M] [--repeats R] [--out FILE.md]

Each measurement beside its anchor in the same run, each in a fresh process, the machine's load
recorded with it (the machine is shared). Parts, in this order:
  prefect   Prefect's share: bench/prefect_tasks.py (the trivial flow of 12 tasks, `baro run` on the
            small edition, embedded default and a running server, Prefect's time per task)
  small     the small edition's pipeline: `run_edition` REPEATS times in one process, and `baro run --no-prefect`
  validate  `baro validate 2025` vs a plain Python process reading both exports with pyarrow, alternating
  stages    the library calls of the stages alone (bench/stage_bench.py): the anchor of the run's ingest and validate
  memory    `run_edition` in a fresh process, the peak RSS of each stage (bench/pipeline_bench.py)
  whole     `baro run 2025` on a running Prefect server (its manifest's stage timings, wall, CPU, peak RSS)
  formats   xlsx and sav at --formats-rows: bench/formats.py (anchor: openpyxl read-only, pyreadstat)
  standard  raking and SEs of the standard data set: baro, R survey, svy (bench/tool_standard.py, r_standard.R)
  waves     8 waves as flow runs on the process work pool with 1 then 2 workers (bench/waves.py)
A part that fails is recorded as failed, with the end of its output, and the run goes on.
Writes FILE.json (every number) and FILE.md (bench/results.py: the targets of issue 20, met or not).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import BARO, BENCH, LOG, MAIN, PY, WORK, Timed, data_folder, load, project, run, say, tree_peak
from prefect_server import Server
import results
import standard


@dataclass(frozen=True)
class Variant:
    """What one variant measures: sizes of the synthetic data (respondents per population), repeats."""

    sizes: tuple[int, ...]
    repeats: int
    prefect_repeats: int
    standard_sizes: tuple[int, ...]
    formats_rows: int
    formats_repeats: int
    whole_small: bool  # part whole on the small edition too (part prefect already runs it)
    waves: int
    waves_rows: int | None  # None: each wave reads the small edition's exports
    parts: tuple[str, ...]
    timeout: float


PARTS = ("prefect", "small", "validate", "stages", "memory", "whole", "formats", "standard", "waves")
VARIANTS = {
    # make bench: < 5 minutes on a quiet 2-core machine
    "quick": Variant(sizes=(100_000,), repeats=2, prefect_repeats=2, standard_sizes=(100_000,), formats_rows=10_000, formats_repeats=1, whole_small=False,
                     waves=8, waves_rows=None, parts=tuple(p for p in PARTS if p != "waves"), timeout=300),
    # make bench-full: ≲ 25 minutes; bench/results.md
    "full": Variant(sizes=(100_000, 1_000_000), repeats=3, prefect_repeats=3, standard_sizes=(100_000, 1_000_000), formats_rows=100_000,
                    formats_repeats=3, whole_small=True, waves=8, waves_rows=100_000, parts=PARTS, timeout=900),
}
SMALL = "small"  # the size key of the small edition's own exports (raw/2025, 2 × 1,110 rows)


def json_line(t: Timed) -> dict[str, Any]:
    """The JSON a measuring script printed last, with its process' numbers; RuntimeError if it failed."""
    if t.rc != 0:
        raise RuntimeError(f"exit {t.rc}:\n{t.tail()}")
    return {**json.loads(t.stdout.strip().splitlines()[-1]), "process": t.numbers()}


def manifest_timings(proj: Path) -> dict[str, float]:
    """The stage timings of the last run's manifest."""
    return dict(json.loads((proj / "outputs" / "2025" / "manifest.json").read_text())["timings_seconds"])


def pipeline_seconds(stdout: str) -> float:
    """The pipeline's seconds as `baro run` printed them: every stage, the writing of the outputs
    included (the manifest, written first, cannot time its own writing)."""
    found = re.search(r"\(pipeline ([0-9.]+) s", stdout)
    if found is None:
        raise RuntimeError(f"baro run printed no pipeline time:\n{stdout[-2000:]}")
    return float(found.group(1))


def exports(size: int | str) -> Path:
    return MAIN / "raw" / "2025" if size == SMALL else data_folder(int(size))


def prefect_part(v: Variant) -> dict[str, Any]:
    out = WORK / "prefect_tasks.json"
    out.unlink(missing_ok=True)
    la = load()
    t = run([PY, BENCH / "prefect_tasks.py", "--repeats", v.prefect_repeats, "--out", out], timeout=v.timeout * 3)
    if t.rc != 0 or not out.exists():
        raise RuntimeError(f"bench/prefect_tasks.py: exit {t.rc}:\n{t.tail()}")
    say(f"prefect: bench/prefect_tasks.py in {t.wall:.0f} s, load {la}")
    return {**json.loads(out.read_text()), "load": la, "process": t.numbers()}


def small_part(v: Variant) -> dict[str, Any]:
    proj = project("small", exports(SMALL))
    la = load()
    in_process = json_line(run([PY, BENCH / "pipeline_bench.py", proj, "--repeats", v.repeats + 1], timeout=v.timeout))
    cli = []
    for _ in range(v.repeats):
        t = run([BARO, "--root", proj, "run", "2025", "--no-prefect"], timeout=v.timeout)
        if t.rc != 0:
            raise RuntimeError(f"baro run --no-prefect: exit {t.rc}:\n{t.tail()}")
        cli.append(t.numbers() | {"pipeline": pipeline_seconds(t.stdout)})
    say(f"small: run_edition pipeline {[round(r['pipeline'], 3) for r in in_process['runs']]} s; baro run --no-prefect wall {[round(c['wall'], 2) for c in cli]} s (pipeline {[round(c['pipeline'], 3) for c in cli]}), load {la}")
    return {"in_process": in_process, "cli": cli, "load": la}


def validate_part(v: Variant, n: int) -> dict[str, Any]:
    """`baro validate` and the pyarrow reader, alternating, REPEATS each."""
    proj = project(f"validate_{n}", exports(n))
    files = [proj / "raw" / "2025" / f"{pop}.csv" for pop in ("ps", "gp")]
    res: dict[str, Any] = {"baro": [], "pyarrow": [], "pyarrow_small_pages": [], "load": load()}
    for _ in range(v.repeats):
        for name, cmd in (("baro", [BARO, "--root", proj, "validate", "2025"]), ("pyarrow", [PY, BENCH / "pyarrow_read.py", *files]),
                          ("pyarrow_small_pages", [PY, BENCH / "pyarrow_read.py", "--no-huge-pages", *files])):
            t = run(cmd, timeout=v.timeout)
            if t.rc != 0:
                raise RuntimeError(f"{name}: exit {t.rc}:\n{t.tail()}")
            res[name].append({**t.numbers(), "load": load()})
    say(f"validate {n}: baro validate {[round(x['wall'], 2) for x in res['baro']]} s, pyarrow {[round(x['wall'], 2) for x in res['pyarrow']]} s, "
        f"pyarrow without huge pages {[round(x['wall'], 2) for x in res['pyarrow_small_pages']]} s, load {res['load']}")
    return res


def stages_part(v: Variant, n: int) -> list[dict[str, Any]]:
    proj = project(f"stages_{n}", exports(n))
    out = []
    for _ in range(1 if n >= 1_000_000 else v.repeats):
        la = load()
        r = json_line(run([PY, BENCH / "stage_bench.py", proj], timeout=v.timeout)) | {"load": la}
        say(f"stages {n}: {json.dumps({k: round(x, 3) for k, x in r['seconds'].items()})} peak {r['process']['peak_rss_mib']:.0f} MiB load {la}")
        out.append(r)
    return out


def memory_part(v: Variant, n: int | str) -> dict[str, Any]:
    proj = project(f"memory_{n}", exports(n))
    la = load()
    r = json_line(run([PY, BENCH / "pipeline_bench.py", proj], timeout=v.timeout)) | {"load": la}
    say(f"memory {n}: peak {r['peak_rss_mib']:.0f} MiB; per stage " + ", ".join(f"{s['stage']} {s['peak_mib'] or 0:.0f}" for s in r["stages"]))
    # the run's processes together: a forked estimation's private pages, the chart renderer's
    rc, tree, processes = tree_peak([BARO, "--root", proj, "run", "2025", "--no-prefect"], v.timeout)
    if rc != 0:
        raise RuntimeError(f"baro run --no-prefect under the memory sampler: exit {rc}")
    say(f"memory {n}: baro run --no-prefect, its processes together (PSS): peak {tree:.0f} MiB ({processes} processes then)")
    return r | {"tree_pss_peak_mib": tree, "tree_processes": processes}


def whole_part(v: Variant, n: int | str) -> dict[str, Any]:
    """`baro run 2025` with PREFECT_API_URL on a server started for it: REPEATS runs after a first one."""
    proj = project(f"whole_{n}", exports(n))
    server = Server(proj)
    runs = []
    try:
        for r in range(1 + v.repeats):
            la = load()
            t = run([BARO, "--root", proj, "run", "2025"], timeout=v.timeout, env=server.env)
            if t.rc != 0:
                raise RuntimeError(f"baro run: exit {t.rc}:\n{t.tail()}")
            timings = manifest_timings(proj)
            pipeline = pipeline_seconds(t.stdout)
            timings["write"] = round(timings.get("write", 0.0) + pipeline - sum(timings.values()), 3)  # with the outputs' writing, not in the manifest
            runs.append({**t.numbers(), "timings": timings, "pipeline": pipeline, "load": la, "first": r == 0,
                         "first_line": t.stdout.splitlines()[0] if t.stdout else ""})
            say(f"whole {n} run {r + 1}: wall {t.wall:.1f} s, CPU {t.cpu or 0:.1f} s, pipeline {pipeline:.2f} s, peak {t.peak_rss_mib or 0:.0f} MiB, load {la}")
    finally:
        server.stop()
    return {"api_url": server.api_url, "runs": runs}


def formats_part(v: Variant) -> dict[str, Any]:
    out = WORK / "formats.json"
    out.unlink(missing_ok=True)
    la = load()
    t = run([PY, BENCH / "formats.py", "--rows", v.formats_rows, "--repeats", v.formats_repeats, "--out", out], timeout=v.timeout * 3)
    if t.rc != 0 or not out.exists():
        raise RuntimeError(f"bench/formats.py: exit {t.rc}:\n{t.tail()}")
    say(f"formats {v.formats_rows}: bench/formats.py in {t.wall:.0f} s, load {la}")
    return {**json.loads(out.read_text()), "rows": v.formats_rows, "load": la}


def standard_part(v: Variant, n: int, tools: tuple[str, ...]) -> dict[str, Any]:
    """Raking to 1e-10 and the SEs of 10 items, baro vs R survey vs the other tools, and their agreement with R."""
    return standard.measure(n, 1 if n >= 1_000_000 else v.repeats, v.timeout, tools)


def waves_part(v: Variant) -> dict[str, Any]:
    out = WORK / "waves.json"
    out.unlink(missing_ok=True)
    folder = exports(SMALL if v.waves_rows is None else v.waves_rows)
    t = run([PY, BENCH / "waves.py", "--exports", folder, "--waves", v.waves, "--workers", "1,2", "--out", out], timeout=v.timeout * 4)
    if t.rc != 0 or not out.exists():
        raise RuntimeError(f"bench/waves.py: exit {t.rc}:\n{t.tail()}")
    LOG.extend(line for line in t.stdout.splitlines() if line.startswith("["))  # its own log lines
    return json.loads(out.read_text())


def failure_summary(exc: Exception) -> str:
    """The exception's first line and the last line of the output it carries (where the cause usually is)."""
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("Command exited with non-zero status")]
    return f"{type(exc).__name__}: " + (lines[0] + (f" … {lines[-1].strip()}" if len(lines) > 1 else "") if lines else "")


def guarded(R: dict[str, Any], part: str, key: str | None, measure: Callable[[], Any]) -> None:
    """R[part][key] = measure(), or what failed: a failed part is a result, not the end of the run."""
    try:
        value = measure()
    except Exception as exc:  # noqa: BLE001 - any failure of a part is recorded, the others go on
        value = {"failed": failure_summary(exc), "log": traceback.format_exc()[-4000:], "load": load()}
        say(f"{part}{' ' + key if key else ''}: FAILED {value['failed']}")
    if key is None:
        R[part] = value
    else:
        R.setdefault(part, {})[key] = value


def measurements(v: Variant, tools: tuple[str, ...]) -> list[tuple[str, str | None, Callable[[], Any]]]:
    """(part, size key, measure) in the order they run."""
    biggest = max(v.sizes)
    per_part: dict[str, list[tuple[str | None, Callable[[], Any]]]] = {
        "prefect": [(None, lambda: prefect_part(v))],
        "small": [(None, lambda: small_part(v))],
        "validate": [(str(biggest), lambda: validate_part(v, biggest))],
        "stages": [(str(n), lambda n=n: stages_part(v, n)) for n in v.sizes],
        "memory": [(str(n), lambda n=n: memory_part(v, n)) for n in (SMALL, *v.sizes)],
        "whole": [(str(n), lambda n=n: whole_part(v, n)) for n in ((SMALL,) if v.whole_small else ()) + v.sizes],
        "formats": [(None, lambda: formats_part(v))],
        "standard": [(str(n), lambda n=n: standard_part(v, n, tools)) for n in v.standard_sizes],
        "waves": [(None, lambda: waves_part(v))],
    }
    return [(part, key, fn) for part in v.parts for key, fn in per_part[part]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=VARIANTS, default="quick")
    ap.add_argument("--parts", help=f"a subset of {','.join(PARTS)}")
    ap.add_argument("--sizes", help="respondents per population of the synthetic data, e.g. 1000 to try the harness")
    ap.add_argument("--standard-sizes", help="rows of the standard data set")
    ap.add_argument("--formats-rows", type=int)
    ap.add_argument("--waves", type=int, help="waves of part waves (default 8)")
    ap.add_argument("--waves-rows", type=int, help="respondents per population of each wave (quick: the small edition's exports; full: 100000)")
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--prefect-repeats", type=int)
    ap.add_argument("--tools", default="svy", help="tools beside baro and R on the standard data set (svy,balance,samplics,weightipy)")
    ap.add_argument("--no-setup", action="store_true", help="do not run bench/setup_venvs.sh")
    ap.add_argument("--out", type=Path, help="results .md (its .json beside); default bench/results.md for full, bench/work/results-quick.md for quick")
    a = ap.parse_args()
    v = VARIANTS[a.variant]
    ints = lambda text: tuple(int(x) for x in text.split(",") if x)  # noqa: E731
    v = replace(v, **{k: val for k, val in {
        "parts": tuple(a.parts.split(",")) if a.parts else None,
        "sizes": ints(a.sizes) if a.sizes else None,
        "standard_sizes": ints(a.standard_sizes) if a.standard_sizes else None,
        "formats_rows": a.formats_rows,
        "waves": a.waves,
        "waves_rows": a.waves_rows,
        "repeats": a.repeats,
        "prefect_repeats": a.prefect_repeats,
    }.items() if val is not None})
    unknown = set(v.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose among {','.join(PARTS)}")
    out = a.out or (BENCH / "results.md" if a.variant == "full" else WORK / "results-quick.md")
    WORK.mkdir(exist_ok=True)
    tools = tuple(t for t in a.tools.split(",") if t)
    if "standard" in v.parts and not a.no_setup:
        subprocess.run([str(BENCH / "setup_venvs.sh"), *tools], check=False)
    R: dict[str, Any] = {"variant": a.variant, "settings": {k: getattr(v, k) for k in v.__dataclass_fields__}, "tools": tools,
                         "started": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}", "load_start": load()}
    say(f"bench {a.variant}: parts {','.join(v.parts)}, sizes {v.sizes}, repeats {v.repeats}, load {R['load_start']}")
    for part, key, measure in measurements(v, tools):
        guarded(R, part, key, measure)
        R["ended"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
        R["log"] = LOG
        out.with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
        results.write(R, out)
    say(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
