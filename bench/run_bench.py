"""baro-pipeline benchmark (not part of `make test`).  .venv/bin/python bench/run_bench.py [options]

1. pipeline stages (ingest, validation, raking, estimation, writing) in one process on
   bench/data/<N> (`baro synth 2025 --respondents N --seed 1`), and the whole `baro run`;
2. raking + SEs on the standard data set against R's survey, svy, balance, samplics, weightipy;
3. the SEs of every item of the 2025 codebooks (both populations) on bench/data/<N>: baro-pipeline
   (item_matrix + svymean of the coded items), R's survey (rake() then svymean item by item) and
   svy item by item, on the same raking, with their agreement with R (items_bench.py, r_items.R);
4. bench/results.md. Every measurement runs in a fresh process; peak RSS is its ru_maxrss
   (/usr/bin/time -v for `baro run` and R). The load average is recorded with each result.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import time
from datetime import UTC, datetime
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
    line = f"[{datetime.now(UTC):%H:%M:%S}] {msg}"
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
    for (file, _line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():
        if "baro_pipeline" in file or "pandera" in file or "pandas" in file or "numpy" in file or "scipy" in file:
            rows.append((ct, tt, nc, f"{Path(file).parent.name}/{Path(file).name}:{fn}"))
    rows.sort(reverse=True)
    top_cum = [r for r in rows if "baro_pipeline" in r[3]][:25]
    top_self = sorted(rows, key=lambda r: -r[1])[:15]
    return {"cum": top_cum, "self": top_self, "stage_seconds": json.loads(so.strip().splitlines()[-1])["seconds"]}


def whole_runs(n, reps, timeout):
    """A first run on a new PREFECT_HOME (Prefect creates its database: ~15 s of migrations), then
    ``reps`` runs on it, as ``make run`` and every scheduled run after the first; the repeats are
    what the table's median and the acceptance use, the first run is reported beside them."""
    out = []
    proj = project(n)
    env = {**os.environ, "PREFECT_HOME": str(proj / ".prefect")}
    for r in range(reps + 1):
        database = "new" if r == 0 else "existing"
        la = load()
        rc, so, se, wall, rss = run([BARO, "--root", proj, "run", "2025"], timeout=timeout, env=env)
        if rc is None:
            say(f"baro run {n} run {r + 1}: TIMEOUT after {timeout} s")
            out.append({"failed": f"timeout {timeout} s", "load": la, "prefect_database": database})
            break
        man = proj / "outputs" / "2025" / "manifest.json"
        timings = json.loads(man.read_text())["timings_seconds"] if man.exists() else {}
        pipe = sum(timings.values())
        say(f"baro run {n} run {r + 1} (Prefect database {database}): rc {rc} wall {wall:.1f} s pipeline {pipe:.1f} s peak {rss:.0f} MiB load {la}")
        if rc != 0:
            say("  " + (so + se)[-800:].replace("\n", "\n  "))
        out.append({"rc": rc, "wall": wall, "pipeline": pipe, "prefect": wall - pipe, "timings": timings, "peak_rss_mib": rss, "load": la,
                    "prefect_database": database})
    return out


def repeated_runs(runs):
    """The whole runs on an existing Prefect database (the repeats), and the first one."""
    ok = [r for r in runs if "wall" in r]
    return [r for r in ok if r.get("prefect_database") != "new"], [r for r in ok if r.get("prefect_database") == "new"]


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
            res[tool] = {"failed": f"not installed (see bench/logs/pip_{tool}.log)"}
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


# ---------------------------------------------------------------- 3. SEs of every item (2025 codebooks)
def rel_err(a, b):
    """max |a - b| / |b| (0 where both are 0)."""
    import numpy as np
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(a == b, 0.0, np.abs(a - b) / np.abs(b))
    return float(np.max(r))


def items_agreement(d, res):
    """Estimates and SEs of baro and svy against R's, item by item, on the items R ran.

    The items of the raking variables' own categories have an SE of 0 by construction (R ~1e-13,
    baro ~1e-10 from the 1e-10 convergence): they are checked as |SE| <= 1e-8, the others relatively.
    """
    import numpy as np
    import pandas as pd
    r_mode = res.get("R survey", {}).get("mode")
    if not r_mode or "failed" in res["R survey"]:
        return
    for tool in ("baro", "svy"):
        t = res.get(tool)
        if not t or "failed" in t:
            continue
        agg = {"se_rel_err": 0.0, "estimate_rel_err": 0.0, "calibration_se_max": 0.0, "compared": 0}
        for pop in res["populations"]:
            items = pd.read_csv(d / pop / "items.csv")
            r = pd.read_csv(d / f"r_{r_mode}_{pop}.csv")
            if tool == "baro":
                z = np.load(d / f"baro_{pop}.npz")
                est, se = z["estimate"][r["j"]], z["se"][r["j"]]
                rr = r
            else:
                z = np.load(d / f"svy_{t['mode']}_{pop}.npz")
                got = pd.DataFrame({"j": z["j"], "e": z["estimate"], "s": z["se"]}).merge(r, on="j")
                est, se, rr = got["e"].to_numpy(), got["s"].to_numpy(), got
            cal = items["calibration"].to_numpy()[rr["j"]] == 1
            agg["se_rel_err"] = max(agg["se_rel_err"], rel_err(se[~cal], rr["se"].to_numpy()[~cal]) or 0.0)
            agg["estimate_rel_err"] = max(agg["estimate_rel_err"], rel_err(est, rr["mean"].to_numpy()) or 0.0)
            if cal.any():
                agg["calibration_se_max"] = max(agg["calibration_se_max"], float(np.max(np.abs(se[cal]))), float(np.max(np.abs(rr["se"].to_numpy()[cal]))))
            agg["compared"] += len(rr)
        agg["agree"] = agg["se_rel_err"] <= 1e-8 and agg["estimate_rel_err"] <= 1e-8 and agg["calibration_se_max"] <= 1e-8
        t.update(agg)
        say(f"  items {tool} vs R on {agg['compared']} items: SE max rel err {agg['se_rel_err']:.3g}, estimates {agg['estimate_rel_err']:.3g}, "
            f"raking-variable items |SE| <= {agg['calibration_se_max']:.2g} -> {'AGREE' if agg['agree'] else 'DIFFER'} (1e-8)")
    b = res.get("baro", {})
    if "failed" not in b:
        import numpy as np
        errs = [rel_err(np.load(d / pop / "baro_weights.npy"), np.fromfile(d / pop / "r_weights.bin")) for pop in res["populations"] if (d / pop / "r_weights.bin").exists()]
        if errs:
            b["weights_rel_err_vs_r"] = max(errs)


def extrapolated(per_pop_seconds, per_pop_items, items_of_pop):
    """Seconds for every item from the items timed, population by population."""
    return sum(per_pop_seconds[p] * items_of_pop[p] / per_pop_items[p] for p in per_pop_seconds if per_pop_items[p])


def items_part(n, reps, timeout, r_mode, svy_mode, with_r=True):
    d = WORK / f"items_{n}"
    proj = project(n)
    res = {}
    la = load()
    rc, so, se, wall, rss = run([PY, BENCH / "items_bench.py", "prepare", proj, d], timeout=max(timeout, 3600))
    if rc != 0:
        say(f"items {n} prepare: FAILED ({'timeout' if rc is None else se.split(chr(9) + 'Command being timed')[0][-600:]})")
        return {"failed": "prepare " + ("timeout" if rc is None else "error"), "load": la}
    prep = json.loads(so.strip().splitlines()[-1])
    res["prepare"] = {**prep, "wall": wall, "load": la}
    say(f"items {n} prepare: " + ("cached" if prep["cached"] else f"ingest+validate {prep['ingest_validate_seconds']:.1f} s, total {wall:.1f} s, peak {rss:.0f} MiB") + f" load {la}")
    import csv as _csv
    pops = sorted(p.name for p in d.iterdir() if (p / "info.csv").exists())
    res["populations"] = {p: sum(1 for _ in _csv.DictReader(open(d / p / "items.csv"))) for p in pops}
    res["sample"] = json.loads((d / "sample.json").read_text())
    # baro
    la = load()
    rc, so, se, wall, rss = run([PY, BENCH / "items_bench.py", "baro", d, reps], timeout=timeout)
    if rc != 0:
        res["baro"] = {"failed": "timeout" if rc is None else (se.split("\tCommand being timed")[0].strip().splitlines() or ["error"])[-1][:300], "load": la}
        say(f"items {n} baro: FAILED {res['baro']['failed']}")
    else:
        b = json.loads(so.strip().splitlines()[-1])
        b.update(load=la, peak_rss_mib=rss, items_total=sum(b["items"].values()))
        res["baro"] = b
        say(f"items {n} baro: {b['items_total']} items, seconds {[round(x, 3) for x in b['seconds']]} (item_matrix {[round(x, 3) for x in b['item_matrix']]}, "
            f"layout {[round(x, 3) for x in b['layout']]}, svymean {[round(x, 3) for x in b['svymean']]}) peak {rss:.0f} MiB load {la}")
    # R survey
    if with_r:
        la = load()
        rc, so, se, wall, rss = run(["Rscript", BENCH / "r_items.R", d, r_mode], timeout=max(timeout, 3600))
        if rc != 0:
            res["R survey"] = {"failed": "timeout" if rc is None else se.split("\tCommand being timed")[0][-400:], "load": la, "mode": r_mode}
            say(f"items {n} R: FAILED {res['R survey']['failed']}")
        else:
            t = {m.group(1): (float(m.group(2)), float(m.group(3)), int(m.group(4))) for m in re.finditer(r"TIMES (\S+) (\S+) (\S+) (\d+)", so)}
            sub = {m.group(1): (float(m.group(2)), float(m.group(3)), int(m.group(4))) for m in re.finditer(r"SUBSET (\S+) (\S+) (\S+) (\d+)", so)}
            per_s, per_k = {p: v[1] for p, v in t.items()}, {p: v[2] for p, v in t.items()}
            res["R survey"] = {"mode": r_mode, "rake": {p: v[0] for p, v in t.items()}, "seconds_per_pop": per_s, "items": per_k,
                               "seconds": sum(per_s.values()), "seconds_all_items": extrapolated(per_s, per_k, res["populations"]),
                               "subset_check": sub, "peak_rss_mib": rss, "load": la, "wall": wall}
            say(f"items {n} R ({r_mode}): rake {res['R survey']['rake']} svymean {per_s} on {per_k} items peak {rss:.0f} MiB load {la}; "
                f"subset() vs na.rm max abs diff {sub}")
    # svy, item by item
    py = BENCH / ".venvs" / "svy" / "bin" / "python"
    if not py.exists():
        res["svy"] = {"failed": "not installed (see bench/logs/pip_svy.log)"}
    else:
        la = load()
        rc, so, se, wall, rss = run([py, BENCH / "items_bench.py", "svy", d, svy_mode], timeout=max(timeout, 3600))
        if rc != 0:
            err = se.split("\tCommand being timed")[0].strip()
            res["svy"] = {"failed": "timeout" if rc is None else (err.splitlines()[-1][:300] if err else "error"), "load": la}
            say(f"items {n} svy: FAILED {res['svy']['failed']}")
        else:
            v = json.loads(so.strip().splitlines()[-1])
            v.update(load=la, peak_rss_mib=rss, wall=wall, seconds_all_items=extrapolated(v["seconds_per_pop"], v["items"], res["populations"]))
            res["svy"] = v
            say(f"items {n} svy ({svy_mode}): rake { {p: round(x, 3) for p, x in v['rake'].items()} } mean() item by item { {p: round(x, 3) for p, x in v['seconds_per_pop'].items()} } on {v['items']} items peak {rss:.0f} MiB load {la}")
    items_agreement(d, res)
    return res


# ---------------------------------------------------------------- 4. results.md
def fmt(x, nd=3):
    return "—" if x is None else (f"{x:.{nd}g}" if isinstance(x, float) else str(x))


def items_section(items):
    L = ["\n## 3. SEs of every item of the 2025 codebooks (both populations, bench/data/<N>)\n",
         "Same data and raking for every tool: the validated frames of both populations (ingest + validation of "
         "the library), raked from weights 1 on the targets' variables to the targets' totals (baro: "
         "`weighting.weight_population`; R: `rake()`, epsilon 1e-10; svy: `weighting.rake`, tol 1e-10). "
         "Then the mean and linearised SE of every item of `estimation.item_matrix` (NaN outside the item's base):\n",
         "- **baro**: `estimation.item_matrix` + `stats.svymean(design, list(m.coded))` for both populations, median of 3 "
         "in one process; each repeat gets a fresh design from `weight_population` (untimed) and `stats.layout._LAYOUTS` "
         "is cleared, so the variance layout is built inside the timing;",
         "- **R survey**: `svymean(~y, raked, na.rm = TRUE)` item by item (one run). For a calibrated design `na.rm` drops "
         "the rows as `design[!is.na(y), ]`, i.e. R's `subset()`: the rows stay in the design with weight 0, which is our "
         "definition of an item's base; checked on the first 3 items with NaN of each population against "
         "`svymean(~y, subset(raked, !is.na(y)), na.rm = TRUE)` (plain `svymean(~y, subset(...))` returns NaN: the NA "
         "rows are still there). Where R cannot do every item, it does a fixed sample of 20 (10 per population, evenly "
         "spaced among the items that are not categories of the raking variables), its time extrapolated per population;",
         "- **svy** 0.35: `Sample.estimation.mean(item, drop_nulls=True)` called item by item (rows outside the base stay "
         "in the design) on the svy-raked sample (one run; with a list of items svy's SEs ignore the raking, see section 2).\n",
         "Agreement with R: max relative difference of the SEs and of the estimates over the items R ran; the items of the "
         "raking variables' own categories have an SE of 0 by construction (R ~1e-13, baro ~1e-10 from the raking's "
         "1e-10 convergence) and are checked as SE ≤ 1e-8 in absolute value. Ratio = tool seconds ÷ baro seconds, for every item.\n",
         "| respondents / pop. | tool | items | seconds (SEs of the items) | peak RSS | ratio to baro | agrees with R to 1e-8? | note | load |",
         "|---|---|---|---|---|---|---|---|---|"]
    for n, res in items.items():
        if "failed" in res:
            L.append(f"| {n} | — | | failed: {res['failed']} | | | | | {res.get('load', '')} |")
            continue
        total = sum(res["populations"].values())
        b = res.get("baro", {})
        bsec = median(b.get("seconds", [])) if "failed" not in b else None
        for tool in ("baro", "R survey", "svy"):
            r = res.get(tool)
            if r is None:
                continue
            if "failed" in r:
                L.append(f"| {n} | {tool} | | failed: {r['failed']} | | | | | {r.get('load', '')} |")
                continue
            chk = "reference" if tool == "R survey" else (
                "no R run" if "agree" not in r else
                ("yes" if r["agree"] else "NO") + f" (SE {fmt(r['se_rel_err'])}, estimates {fmt(r['estimate_rel_err'])}, "
                f"raking-variable items: SE ≤ {fmt(r['calibration_se_max'], 2)}; {r['compared']} items)")
            if tool == "baro":
                i = min(range(len(r["seconds"])), key=lambda i: abs(r["seconds"][i] - bsec))  # the median repeat
                sec = f"{fmt(bsec)} (item_matrix {fmt(r['item_matrix'][i])} + layout {fmt(r['layout'][i])} + svymean {fmt(r['svymean'][i])})"
                done, ratio = r["items_total"], "1"
                note = f"median of {len(r['seconds'])}: {', '.join(fmt(x) for x in r['seconds'])}"
                if r.get("weights_rel_err_vs_r") is not None:
                    note += f"; weights vs R's rake() max rel diff {fmt(r['weights_rel_err_vs_r'])}"
            else:
                done = sum(r["items"].values())
                allsec = r["seconds_all_items"]
                sec = fmt(r["seconds"]) + ("" if done == total else f" for {done} items; ≈ {fmt(allsec)} for all {total} (extrapolated)")
                ratio = f"{allsec / bsec:.0f}×" + ("" if done == total else " (extrapolated)") if bsec else "—"
                note = f"one run; its raking (not in the seconds): {', '.join(f'{p} {fmt(x)}' for p, x in r['rake'].items())} s"
                if tool == "R survey" and r.get("subset_check"):
                    note += "; na.rm vs subset(): max abs diff " + ", ".join(f"{p} {fmt(v[0])}/{fmt(v[1])} (mean/SE, {v[2]} items)" for p, v in r["subset_check"].items())
            L.append(f"| {n} | {tool} | {done} of {total} | {sec} | {fmt(r.get('peak_rss_mib'), 4)} | {ratio} | {chk} | {note} | {r.get('load', '')} |")
        samples = [f"{s['population']}:{s['question']}/{s['item']}" for s in res.get("sample", [])]
        if any(res.get(t, {}).get("mode") == "sample" for t in ("R survey", "svy")):
            L.append(f"\nThe fixed sample at {n} (population:question/item): {', '.join(samples)}.\n")
    return L


def met(ok):
    """An acceptance cell: met, not met, or not measured (None)."""
    return "—" if ok is None else ("**yes**" if ok else "**NO**")


def agreement_cell(ok, err, none):
    """An agreement cell: the verdict and the error, or the text `none` when nothing was compared."""
    return none if err is None else ("yes" if ok else "NO") + f" ({fmt(err)})"


def median_seconds(runs, stage):
    return median([r["seconds"].get(stage) for r in runs])


def acceptance(R):
    """The acceptance items of issue 11, met or not, from the numbers of this run."""
    L = ["## Acceptance of issue 11 (from the numbers below)\n", "| item | measured | met? |", "|---|---|---|"]
    st = R.get("standard", {}).get(1000000) or R.get("standard", {}).get("1000000") or {}
    b = st.get("baro", {})
    brk = median(b.get("rake", [])) if "failed" not in b else None
    for tool, need in (("R survey", 50), ("svy", 10), ("balance", 10)):
        t = st.get(tool, {})
        trk = median(t.get("rake", [])) if "failed" not in t else None
        ratio = trk / brk if trk and brk else None
        L.append(f"| raking at 1e6 ≥ {need}× faster than {tool} (standard data set) | "
                 + (f"{fmt(trk)} s vs baro {fmt(brk)} s: {ratio:.0f}×" if ratio else "not measured") + f" | {met(None if ratio is None else ratio >= need)} |")
    we = b.get("weight_rel_err")
    L.append(f"| weights at 1e6 = R's to 1e-10 (standard data set) | max rel diff {fmt(we)} | {met(None if we is None else we <= 1e-10)} |")
    it = R.get("items", {}).get(1000000) or R.get("items", {}).get("1000000") or {}
    ib = it.get("baro", {}) if "failed" not in it else {}
    bsec = median(ib.get("seconds", [])) if ib and "failed" not in ib else None
    L.append(f"| SEs of every item of the 2025 codebooks (both populations, {sum(it.get('populations', {}).values()) or '?'} items) at 1e6 < 2 s | "
             + (f"{fmt(bsec)} s (median of {len(ib['seconds'])}, layout built inside)" if bsec else "not measured") + f" | {met(None if bsec is None else bsec < 2)} |")
    agree = []
    for n in (100000, 1000000):
        x = (R.get("items", {}).get(n) or R.get("items", {}).get(str(n)) or {}).get("baro", {})
        if "agree" in x:
            agree.append((n, x))
    L.append("| those SEs = R's to 1e-8 | " + ("; ".join(f"{n}: {x['compared']} items, SE max rel {fmt(x['se_rel_err'])}, estimates {fmt(x['estimate_rel_err'])}" for n, x in agree) or "not measured")
             + f" | {met(all(x['agree'] for _, x in agree) if agree else None)} |")
    sv = it.get("svy", {})
    sratio = sv["seconds_all_items"] / bsec if bsec and sv and "failed" not in sv else None
    L.append("| those SEs at 1e6 ≥ 10× faster than svy item by item | "
             + (f"svy {fmt(sv['seconds_all_items'])} s{' (extrapolated)' if sum(sv['items'].values()) != sum(it['populations'].values()) else ''} vs baro {fmt(bsec)} s: {sratio:.0f}×" if sratio else "not measured")
             + f" | {met(None if sratio is None else sratio >= 10)} |")
    wh, first = repeated_runs(R.get("whole", {}).get(1000000) or R.get("whole", {}).get("1000000") or [])
    if wh:
        w, pk, rc = median([r["wall"] for r in wh]), max(r["peak_rss_mib"] or 0 for r in wh + first), max(r["rc"] for r in wh + first)
        cold = f"; the first run, on a new Prefect database: {fmt(first[0]['wall'])} s" if first else ""
        L.append(f"| whole `baro run` at 1e6 < 60 s | {fmt(w)} s, median of {len(wh)} on an existing Prefect database (rc {rc}){cold} | {met(w < 60 and rc == 0)} |")
        L.append(f"| … with peak memory < 4 GB | {fmt(pk, 4)} MiB (largest of all runs) | {met(pk < 4096)} |")
    else:
        f = (R.get("whole", {}).get(1000000) or R.get("whole", {}).get("1000000") or [{}])
        L.append(f"| whole `baro run` at 1e6 < 60 s, peak < 4 GB | {f[0].get('failed', 'not measured') if f else 'not measured'} | {met(False) if f and f[0].get('failed') else '—'} |")
    L.append("| no test depends on timing | not a benchmark measurement | — |\n")
    return L


def write_results(R, path):
    L = [f"# Benchmark results\n\nOne run of `bench/run_bench.py` ({R['started']} → {R['ended']} UTC), machine: {os.cpu_count()} cores, "
         f"load average at start {R['load_start']} (other processes share the machine: see the load column). "
         "Times in seconds (median of the repeats), peak RSS in MiB of the measuring process.\n"]
    L += acceptance(R)
    L.append("## 1. Pipeline stages (one process, library calls, both populations)\n")
    L.append("| respondents / pop. | reps | ingest | validation | raking | estimation | writing | SEs of every item (item_matrix + svymean) | peak RSS | load |\n|---|---|---|---|---|---|---|---|---|---|")
    for n, runs in R["stages"].items():
        ok = [r for r in runs if "seconds" in r]
        if not ok:
            L.append(f"| {n} | 0 | failed: {runs[0].get('failed')} (timeout {runs[0].get('timeout')} s) | | | | | | | {runs[0].get('load')} |")
            continue
        g = functools.partial(median_seconds, ok)
        L.append(f"| {n} | {len(ok)} | {fmt(g('ingest'))} | {fmt(g('validation'))} | {fmt(g('raking'))} | {fmt(g('estimation')) if g('estimation') is not None else 'skipped'} | "
                 f"{fmt(g('writing'))} | {fmt(g('ses_all_items'))} ({fmt(g('item_matrix'))} + {fmt(g('svymean_all_items'))}) | {fmt(max(r['peak_rss_mib_time'] for r in ok), 4)} | {ok[0]['load']} |")
    L.append("\n## Whole `baro run 2025` (subprocess, Prefect embedded server)\n")
    L.append("Each size: a first run on a new `PREFECT_HOME` (Prefect creates and migrates its SQLite database), then the repeats on "
             "that database, as `make run` and scheduled runs work; medians are of the repeats.\n")
    L.append("| respondents / pop. | Prefect database | runs | wall | pipeline (manifest timings) | Prefect share | peak RSS | rc | load |\n|---|---|---|---|---|---|---|---|---|")
    for n, runs in R["whole"].items():
        if not any("wall" in r for r in runs):
            L.append(f"| {n} | | 0 | {runs[0].get('failed') if runs else 'not run'} | | | | | {runs[0].get('load') if runs else ''} |")
            continue
        for label, ok in zip(("existing", "new (first run)"), repeated_runs(runs)):
            if not ok:
                continue
            w, p = median([r["wall"] for r in ok]), median([r["pipeline"] for r in ok])
            L.append(f"| {n} | {label} | {len(ok)} | {fmt(w)} | {fmt(p)} | {fmt(w - p)} ({100 * (w - p) / w:.0f} %) | "
                     f"{fmt(max(r['peak_rss_mib'] or 0 for r in ok), 4)} | {max(r['rc'] for r in ok)} | {ok[0]['load']} |")
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
            wa = "reference" if tool == "R survey" else agreement_cell(r.get("weights_agree"), r.get("weight_rel_err"), "no weights")
            sa = "reference" if tool == "R survey" else agreement_cell(r.get("se_agree"), r.get("se_rel_err"), "no R SE at this size" if not r.get("se") else "not checked")
            if tool not in ("R survey", "baro") and not r.get("se"):
                sa = "no SE"
            L.append(f"| {n} | {tool} | {fmt(rk)} ({len(r.get('rake', []))} reps) | {fmt(se)} | {fmt(r.get('peak_rss_mib'), 4)} | {ratio} | {wa} | {sa} | {r.get('note', '')} | {r.get('load', '')} |")
    if R.get("items"):
        L += items_section(R["items"])
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
    ap.add_argument("--parts", default="standard,stages,items,profile,whole", help="in this order")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--no-r", action="store_true", help="reuse R's reference of an earlier run (no R timing)")
    ap.add_argument("--r-rake-only-at", default="1000000", help="sizes where R times rake() only (its svymean takes minutes)")
    ap.add_argument("--no-setup", action="store_true", help="do not run setup_venvs.sh")
    ap.add_argument("--items-at", default="100000,1000000", help="sizes of part 'items' (SEs of every item of the 2025 codebooks)")
    ap.add_argument("--items-r-sample-at", default="1000000", help="sizes where R does the fixed 20-item sample, not every item")
    ap.add_argument("--items-svy-sample-at", default="", help="sizes where svy does the fixed 20-item sample, not every item")
    ap.add_argument("--items-reps", type=int, default=3, help="baro's repeats in part 'items' (median)")
    ap.add_argument("--out", default=str(BENCH / "results.md"))
    a = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    R_RAKE_ONLY.update(int(x) for x in a.r_rake_only_at.split(",") if x)
    R = {"started": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}", "load_start": load(), "stages": {}, "whole": {}, "standard": {}, "profile": {}, "items": {}}
    parts = a.parts.split(",")
    sizes = [int(s) for s in a.sizes.split(",") if s]
    for n in sizes:
        synth(n)
    if "standard" in parts and not a.no_setup:
        subprocess.run([BENCH / "setup_venvs.sh"], stdout=subprocess.DEVNULL)
    def ckpt():
        R["ended"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
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
            if part == "items":
                for n in [int(s) for s in a.items_at.split(",") if s]:
                    synth(n)
                    R["items"][n] = items_part(n, a.items_reps, a.timeout,
                                               "sample" if str(n) in a.items_r_sample_at.split(",") else "all",
                                               "sample" if str(n) in a.items_svy_sample_at.split(",") else "all", with_r=not a.no_r)
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
        R["ended"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
        Path(a.out).with_suffix(".json").write_text(json.dumps(R, indent=1, default=str))
        write_results(R, Path(a.out))
        say(f"wrote {a.out}")


if __name__ == "__main__":
    main()
