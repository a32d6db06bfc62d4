"""baro-pipeline benchmark (not part of `make test`).  .venv/bin/python bench/run_bench.py [options]

1. pipeline stages (ingest, validation, raking, estimation, writing) in one process on
   bench/data/<N> (`baro synth 2025 --respondents N --seed 1`), and the whole `baro run`;
2. raking + SEs on the standard data set against R's survey, svy, balance, samplics, weightipy;
3. bench/results.md. Every measurement runs in a fresh process; peak RSS is its ru_maxrss
   (/usr/bin/time -v for `baro run` and R). The load average is recorded with each result.
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MAIN = BENCH.parent
PY = MAIN / ".venv" / "bin" / "python"
BARO = MAIN / ".venv" / "bin" / "baro"
WORK = BENCH / "work"
R_RAKE_ONLY: set = set()
TOOLS = ("svy", "balance", "samplics", "weightipy")
LOG: list[str] = []


def say(msg: str) -> None:
    line = f"[{datetime.now(timezone.utc):%H:%M:%S}] {msg}"
    print(line, flush=True)
    LOG.append(line)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(cmd, timeout=None, env=None):
    """(returncode, stdout, stderr, wall seconds, peak RSS MiB from /usr/bin/time -v)."""
    start = time.perf_counter()
    try:
        p = subprocess.run(["/usr/bin/time", "-v", *map(str, cmd)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        return None, exc.stdout or "", "timeout", time.perf_counter() - start, None
    wall = time.perf_counter() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.returncode, p.stdout, p.stderr, wall, (int(m.group(1)) / 1024 if m else None)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- data and projects
def synth(n: int) -> Path:
    out = BENCH / "data" / str(n)
    if not ((out / "ps.csv").exists() and (out / "gp.csv").exists()):
        say(f"synth {n}")
        rc, so, se, wall, _ = run([BARO, "--root", MAIN, "synth", "2025", "--respondents", n, "--seed", 1, "--out", out])
        if rc != 0:
            raise SystemExit(f"synth {n} failed: {se[-2000:]}")
    return out


def project(n: int) -> Path:
    """A temp project folder: a copy of editions/, raw/2025 a link to bench/data/<n>."""
    p = WORK / f"project_{n}"
    shutil.rmtree(p, ignore_errors=True)
    (p / "raw").mkdir(parents=True)
    (p / "outputs").mkdir()
    shutil.copytree(MAIN / "editions", p / "editions")
    (p / "raw" / "2025").symlink_to(BENCH / "data" / str(n))
    return p


# ---------------------------------------------------------------- 1. pipeline
def stage_runs(n, reps, timeout, skip=None):
    proj = project(n)
    out = []
    for r in range(reps):
        cmd = [PY, BENCH / "stage_bench.py", proj] + (["--skip", skip] if skip else [])
        la = load()
        rc, so, se, wall, rss = run(cmd, timeout=timeout)
        if rc != 0:
            say(f"stages {n} rep {r + 1}: FAILED ({'timeout' if rc is None else se[-500:]})")
            out.append({"failed": "timeout" if rc is None else "error", "load": la, "timeout": timeout})
            break
        res = json.loads(so.strip().splitlines()[-1])
        res.update(load=la, wall=wall, peak_rss_mib_time=rss)
        say(f"stages {n} rep {r + 1}: {json.dumps({k: round(v, 3) for k, v in res['seconds'].items()})} peak {rss:.0f} MiB load {la}")
        out.append(res)
    return out


def profile_stages(n, timeout, skip=None):
    proj = project(n)
    prof = WORK / f"profile_{n}_{os.getpid()}.pstats"
    rc, so, se, wall, rss = run([PY, BENCH / "stage_bench.py", proj, "--profile", prof] + (["--skip", skip] if skip else []), timeout=timeout)
    if rc != 0:
        return None
    st = pstats.Stats(str(prof))
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():
        if "baro_pipeline" in file or "pandera" in file or "pandas" in file or "numpy" in file or "scipy" in file:
            rows.append((ct, tt, nc, f"{Path(file).parent.name}/{Path(file).name}:{fn}"))
    rows.sort(reverse=True)
    top_cum = [r for r in rows if "baro_pipeline" in r[3]][:25]
    top_self = sorted(rows, key=lambda r: -r[1])[:15]
    return {"cum": top_cum, "self": top_self, "stage_seconds": json.loads(so.strip().splitlines()[-1])["seconds"]}


def whole_runs(n, reps, timeout):
    out = []
    for r in range(reps):
        proj = project(n)
        env = {**os.environ, "PREFECT_HOME": str(proj / ".prefect")}
        la = load()
        rc, so, se, wall, rss = run([BARO, "--root", proj, "run", "2025"], timeout=timeout, env=env)
        if rc is None:
            say(f"baro run {n} rep {r + 1}: TIMEOUT after {timeout} s")
            out.append({"failed": f"timeout {timeout} s", "load": la})
            break
        man = proj / "outputs" / "2025" / "manifest.json"
        timings = json.loads(man.read_text())["timings_seconds"] if man.exists() else {}
        pipe = sum(timings.values())
        say(f"baro run {n} rep {r + 1}: rc {rc} wall {wall:.1f} s pipeline {pipe:.1f} s peak {rss:.0f} MiB load {la}")
        if rc != 0:
            say("  " + (so + se)[-800:].replace("\n", "\n  "))
        out.append({"rc": rc, "wall": wall, "pipeline": pipe, "prefect": wall - pipe, "timings": timings, "peak_rss_mib": rss, "load": la})
    return out


# ---------------------------------------------------------------- 2. standard data set
def standard(n, reps, timeout, tools, with_r=True):
    d = WORK / f"standard_{n}"
    if not (d / "data.npz").exists():
        subprocess.run([str(PY), str(BENCH / "gen_standard.py"), str(n), str(d)], check=True)
    res = {}
    la = load()
    rc, so, se, wall, rss = run(["Rscript", BENCH / "r_standard.R", d, reps] + (["rake_only"] if n in R_RAKE_ONLY else []), timeout=timeout) if with_r else (-1, "", "", 0, 0)
    if not with_r:
        pass
    elif rc == 0:
        rk = [float(x) for x in re.search(r"RAKE (.*)", so).group(1).split()]
        sv = [float(x) for x in (re.search(r"SE (.*)", so) or re.search("(x)?", "")).group(1 if re.search(r"SE (.*)", so) else 0).split()] if re.search(r"SE (.+)", so) else []
        res["R survey"] = {"rake": rk, "se": sv, "peak_rss_mib": rss, "load": la, "note": "rake() epsilon 1e-10" + ("; svymean NOT run (too slow here)" if n in R_RAKE_ONLY else "; svymean of the 10 items")}
        say(f"standard {n} R: rake {rk} se {sv} peak {rss:.0f} MiB load {la}")
    else:
        res["R survey"] = {"failed": "timeout" if rc is None else se[-400:], "load": la}
        say(f"standard {n} R: FAILED {res['R survey']['failed']}")
    for tool in [t for t in ("baro", *tools) if t]:
        py = PY if tool == "baro" else BENCH / ".venvs" / tool / "bin" / "python"
        if not py.exists():
            res[tool] = {"failed": "not installed (see bench/logs/pip_%s.log)" % tool}
            continue
        la = load()
        rc, so, se, wall, rss2 = run([py, BENCH / "tool_standard.py", tool, d, reps], timeout=timeout)
        if rc != 0:
            err = se.split("\tCommand being timed")[0].strip()
            msg = "timeout" if rc is None else (err.splitlines()[-1][:300] if err else "error")
            res[tool] = {"failed": msg, "load": la}
            say(f"standard {n} {tool}: FAILED {msg}")
            continue
        r = json.loads(so.strip().splitlines()[-1])
        r.update(load=la, peak_rss_mib=rss2)
        res[tool] = r
        say(f"standard {n} {tool}: rake {[round(x, 4) for x in r['rake']]} se {[round(x, 4) for x in r['se']]} peak {rss2:.0f} MiB {r['note']}")
    agreement(d, res)
    return res


def agreement(d, res):
    import numpy as np
    import pandas as pd
    if not (d / "r_weights.csv").exists():
        return
    rw = pd.read_csv(d / "r_weights.csv")["w"].to_numpy()
    rse = pd.read_csv(d / "r_se.csv")["se"].to_numpy() if (d / "r_se.csv").exists() else None
    for tool, r in res.items():
        if tool == "R survey" or "failed" in r:
            continue
        wf, sf = d / f"{tool}_weights.npy", d / f"{tool}_se.npy"
        if wf.exists():
            w = np.load(wf)
            r["weight_rel_err"] = float(np.max(np.abs(w - rw) / rw)) if w.shape == rw.shape else None
        if sf.exists() and rse is not None:
            s = np.load(sf)
            r["se_rel_err"] = float(np.max(np.abs(s - rse) / rse))
        r["weights_agree"] = r.get("weight_rel_err") is not None and r["weight_rel_err"] <= 1e-10
        r["se_agree"] = r.get("se_rel_err") is not None and r["se_rel_err"] <= 1e-8
        say(f"  {tool}: weights vs R (1e-13 fixed point) max rel err {r.get('weight_rel_err')} -> {'AGREE' if r['weights_agree'] else 'DIFFER'} (1e-10); "
            f"SEs max rel err {r.get('se_rel_err')} -> {'AGREE' if r['se_agree'] else 'DIFFER'} (1e-8)")


# ---------------------------------------------------------------- 3. results.md
def fmt(x, nd=3):
    return "—" if x is None else (f"{x:.{nd}g}" if isinstance(x, float) else str(x))


def write_results(R, path):
    L = [f"# Benchmark results\n\nOne run of `bench/run_bench.py` ({R['started']} → {R['ended']} UTC), machine: {os.cpu_count()} cores, "
         f"load average at start {R['load_start']} (other processes share the machine: see the load column). "
         "Times in seconds (median of the repeats), peak RSS in MiB of the measuring process.\n"]
    L.append("## 1. Pipeline stages (one process, library calls, both populations)\n")
    L.append("| respondents / pop. | reps | ingest | validation | raking | estimation | writing | SEs of every item (item_matrix + svymean) | peak RSS | load |\n|---|---|---|---|---|---|---|---|---|---|")
    for n, runs in R["stages"].items():
        ok = [r for r in runs if "seconds" in r]
        if not ok:
            L.append(f"| {n} | 0 | failed: {runs[0].get('failed')} (timeout {runs[0].get('timeout')} s) | | | | | | | {runs[0].get('load')} |")
            continue
        g = lambda k: median([r["seconds"].get(k) for r in ok])
        L.append(f"| {n} | {len(ok)} | {fmt(g('ingest'))} | {fmt(g('validation'))} | {fmt(g('raking'))} | {fmt(g('estimation')) if g('estimation') is not None else 'skipped'} | "
                 f"{fmt(g('writing'))} | {fmt(g('ses_all_items'))} ({fmt(g('item_matrix'))} + {fmt(g('svymean_all_items'))}) | {fmt(max(r['peak_rss_mib_time'] for r in ok), 4)} | {ok[0]['load']} |")
    L.append("\n## Whole `baro run 2025` (subprocess, Prefect embedded server)\n")
    L.append("| respondents / pop. | reps | wall | pipeline (manifest timings) | Prefect share | peak RSS | rc | load |\n|---|---|---|---|---|---|---|---|")
    for n, runs in R["whole"].items():
        ok = [r for r in runs if "wall" in r]
        if not ok:
            L.append(f"| {n} | 0 | {runs[0].get('failed') if runs else 'not run'} | | | | | {runs[0].get('load') if runs else ''} |")
            continue
        w, p = median([r["wall"] for r in ok]), median([r["pipeline"] for r in ok])
        L.append(f"| {n} | {len(ok)} | {fmt(w)} | {fmt(p)} | {fmt(w - p)} ({100 * (w - p) / w:.0f} %) | {fmt(max(r['peak_rss_mib'] or 0 for r in ok), 4)} | {ok[0]['rc']} | {ok[0]['load']} |")
    L.append("\n## 2. Standard data set: raking (weights 1, 4 margins of 2/5/9/13 categories, to 1e-10) and SEs of 10 binary items\n")
    L.append("Agreement: weights against R's rake() converged to 1e-13 (the fixed point), max relative error ≤ 1e-10; SEs against R's svymean on that design, ≤ 1e-8.\n")
    L.append("| rows | tool | rake median | SEs median | peak RSS | rake: baro ÷ tool speed-up (tool time / baro time) | weights agree with R? | SEs agree with R? | note | load |\n|---|---|---|---|---|---|---|---|---|---|")
    for n, res in R["standard"].items():
        b = res.get("baro", {})
        brk, bse = median(b.get("rake", [])), median(b.get("se", []))
        for tool, r in res.items():
            if "failed" in r:
                L.append(f"| {n} | {tool} | failed: {r['failed']} | | | | | | | {r.get('load', '')} |")
                continue
            rk, se = median(r.get("rake", [])), median(r.get("se", []))
            ratio = f"{rk / brk:.1f}× (SE {se / bse:.1f}×)" if brk and rk and se and bse else (f"{rk / brk:.1f}×" if brk and rk else "—")
            chk = lambda ok, err, none: none if err is None else ("yes" if ok else "NO") + f" ({fmt(err)})"
            wa = "reference" if tool == "R survey" else chk(r.get("weights_agree"), r.get("weight_rel_err"), "no weights")
            sa = "reference" if tool == "R survey" else chk(r.get("se_agree"), r.get("se_rel_err"), "no R SE at this size" if not r.get("se") else "not checked")
            if tool not in ("R survey", "baro") and not r.get("se"):
                sa = "no SE"
            L.append(f"| {n} | {tool} | {fmt(rk)} ({len(r.get('rake', []))} reps) | {fmt(se)} | {fmt(r.get('peak_rss_mib'), 4)} | {ratio} | {wa} | {sa} | {r.get('note', '')} | {r.get('load', '')} |")
    if R.get("profile"):
        for n, pr in R["profile"].items():
            L.append(f"\n## cProfile of the stages at {n} respondents / population (cumulative seconds, baro_pipeline functions)\n")
            L.append("| cumulative s | own s | calls | function |\n|---|---|---|---|")
            for ct, tt, nc, name in pr["cum"]:
                L.append(f"| {ct:.2f} | {tt:.2f} | {nc} | `{name}` |")
            L.append("\nLargest own time (any library):\n\n| own s | cumulative s | calls | function |\n|---|---|---|---|")
            for ct, tt, nc, name in pr["self"]:
                L.append(f"| {tt:.2f} | {ct:.2f} | {nc} | `{name}` |")
    L.append("\n## Log\n\n```\n" + "\n".join(LOG) + "\n```\n")
    path.write_text("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-1e6", type=int, default=1)
    ap.add_argument("--standard-sizes", default="100000,1000000")
    ap.add_argument("--timeout", type=float, default=300, help="per measurement (s)")
    ap.add_argument("--skip-estimation-at", default="1000000", help="sizes whose stage runs skip estimate_population (too slow)")
    ap.add_argument("--whole-at", default="10000,100000,1000000")
    ap.add_argument("--profile-at", default="100000")
    ap.add_argument("--parts", default="standard,stages,profile,whole", help="in this order")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--no-r", action="store_true", help="reuse R's reference of an earlier run (no R timing)")
    ap.add_argument("--r-rake-only-at", default="1000000", help="sizes where R times rake() only (its svymean takes minutes)")
    ap.add_argument("--no-setup", action="store_true", help="do not run setup_venvs.sh")
    ap.add_argument("--out", default=str(BENCH / "results.md"))
    a = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    R_RAKE_ONLY.update(int(x) for x in a.r_rake_only_at.split(",") if x)
    R = {"started": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}", "load_start": load(), "stages": {}, "whole": {}, "standard": {}, "profile": {}}
    parts = a.parts.split(",")
    sizes = [int(s) for s in a.sizes.split(",") if s]
    for n in sizes:
        synth(n)
    if "standard" in parts and not a.no_setup:
        subprocess.run([BENCH / "setup_venvs.sh"], stdout=subprocess.DEVNULL)
    def ckpt():
        R["ended"] = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
        Path(a.out).with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
        write_results(R, Path(a.out))

    order = a.parts.split(",")
    try:
        for part in order:
            if part == "stages":
                for n in sizes:
                    skip = "estimation" if str(n) in a.skip_estimation_at.split(",") else None
                    R["stages"][n] = stage_runs(n, a.reps_1e6 if n >= 1_000_000 else a.reps, a.timeout, skip)
                    ckpt()
            if part == "standard":
                for n in [int(s) for s in a.standard_sizes.split(",") if s]:
                    R["standard"][n] = standard(n, a.reps_1e6 if n >= 1_000_000 else a.reps, a.timeout, a.tools.split(","), with_r=not a.no_r)
                    ckpt()
            if part == "profile":
                for n in [int(s) for s in a.profile_at.split(",") if s]:
                    pr = profile_stages(n, a.timeout * 2)
                    if pr:
                        R["profile"][n] = pr
                        say(f"profile {n}: " + "; ".join(f"{name} {ct:.1f}s" for ct, tt, nc, name in pr["cum"][:12]))
                        ckpt()
            if part == "whole":
                for n in [int(s) for s in a.whole_at.split(",") if s]:
                    R["whole"][n] = whole_runs(n, a.reps_1e6 if n >= 1_000_000 else a.reps, a.timeout)
                    ckpt()
    finally:
        R["ended"] = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
        Path(a.out).with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
        write_results(R, Path(a.out))
        say(f"wrote {a.out}")


if __name__ == "__main__":
    main()
