"""SEs of every item of the 2025 codebooks (both populations): baro-pipeline, and svy item by item.

Run by run_bench.py (part "items"), each mode in a fresh process:

  .venv/bin/python bench/items_bench.py prepare PROJECT_ROOT DIR
      ingest + validate the exports of PROJECT_ROOT (bench/data/<N>) with the library, once:
      DIR/frames.pkl (the validated frames) and, per population, DIR/<pop>/: the raking codes
      (codes.bin, int32, column after column), the population totals (margins.csv), every item
      of item_matrix spelled out (values.bin, float32 when exact else float64, item after item,
      NaN outside the item's base), items.csv (one row per item; `sample` = the fixed 20-item
      sample, 10 per population, used where R or svy cannot do every item), info.csv, and baro's
      weights (baro_weights.npy). Reused while the data files and the library's ingest,
      validation, estimation and weighting sources are unchanged (DIR/key.json).
  .venv/bin/python bench/items_bench.py baro DIR REPS
      REPS times: weight_population (untimed: a fresh Design, so the variance layout is built
      again inside the timing; stats.layout._LAYOUTS is cleared too), then timed
      estimation.item_matrix + stats.svymean(design, list(m.coded)) for both populations.
      DIR/baro_<pop>.npz (estimate, se of every item).
  bench/.venvs/svy/bin/python bench/items_bench.py svy DIR all|sample
      svy 0.35: rake to the same totals (timed apart), then Sample.estimation.mean(item,
      drop_nulls=True) called item by item (rows outside the base stay in the design: R's subset()).
      DIR/svy_<mode>_<pop>.npz.
Each mode prints one JSON line.
"""
from __future__ import annotations

import csv
import gc
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
MAIN = BENCH.parent
SAMPLE_PER_POP = 10
KEY_SOURCES = [*(str(p.relative_to(MAIN)) for p in sorted((MAIN / "src/baro_pipeline/ingest").glob("*.py"))), "src/baro_pipeline/validation.py",
               *(str(p.relative_to(MAIN)) for p in sorted((MAIN / "src/baro_pipeline/estimation").glob("*.py"))),
               "src/baro_pipeline/weighting.py", "src/baro_pipeline/edition.py"]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# ---------------------------------------------------------------- prepare (.venv)
def cache_key(root: Path) -> dict:
    raw = (root / "raw" / "2025").resolve()
    files = {p.name: [p.stat().st_size, p.stat().st_mtime] for p in sorted(raw.glob("*.csv"))}
    h = hashlib.sha256()
    for s in KEY_SOURCES + sorted(str(p.relative_to(MAIN)) for p in (MAIN / "editions" / "2025").glob("*.yaml")):
        h.update((MAIN / s).read_bytes())
    return {"data": str(raw), "files": files, "sources": h.hexdigest()}


def prepare(root: Path, d: Path) -> None:
    import pickle

    from baro_pipeline import edition, estimation, ingest, validation, weighting

    key = cache_key(root)
    if (d / "key.json").exists() and json.loads((d / "key.json").read_text()) == key and (d / "sample.json").exists():
        print(json.dumps({"cached": True, "dir": str(d)}))
        return
    d.mkdir(parents=True, exist_ok=True)
    (d / "key.json").unlink(missing_ok=True)
    ed = edition.load_edition("2025", root)
    t0 = time.perf_counter()
    frames = {}
    for pop, population in ed.populations.items():
        exp = ingest.read_export(ingest.find_export(ed, pop, root), population.codebook)
        frames[pop] = validation.validate_export(exp, population, ed.quality, ed.thresholds).frame
        del exp
    t_ingest = time.perf_counter() - t0
    with open(d / "frames.pkl", "wb") as f:
        pickle.dump(frames, f, protocol=pickle.HIGHEST_PROTOCOL)
    sample, out = [], {}
    for pop, population in ed.populations.items():
        frame = frames[pop]
        pd_ = d / pop
        pd_.mkdir(exist_ok=True)
        w = weighting.weight_population(frame, population)
        np.save(pd_ / "baro_weights.npy", w.weights)
        variables = [t.variable for t in population.targets.variables]
        with open(pd_ / "codes.bin", "wb") as f:
            for c in w.design.calibration_codes:
                np.ascontiguousarray(c, dtype=np.int32).tofile(f)
        write_csv(pd_ / "margins.csv", ["variable", "category", "total"],
                  [(v, k, repr(float(x))) for v, t in zip(variables, population.targets.variables)
                   for k, x in enumerate(weighting.target_totals(len(frame), t))])
        m = estimation.item_matrix(frame, population.codebook)
        exact32 = all(np.array_equal(c.table.astype(np.float32).astype(float), c.table, equal_nan=True) for c in m.coded)
        dtype = np.float32 if exact32 else np.float64
        has_na = []
        with open(pd_ / "values.bin", "wb") as f:
            for c in m.coded:
                for j in range(c.table.shape[1]):
                    col = c.table[:, j].astype(dtype)[c.state]
                    has_na.append(bool(np.isnan(col).any()))
                    col.tofile(f)
        items = m.items.reset_index(drop=True)
        calib = items["question"].isin(variables).to_numpy()
        cand = np.flatnonzero(~calib)
        chosen = set(cand[np.round(np.linspace(0, len(cand) - 1, SAMPLE_PER_POP)).astype(int)].tolist())
        write_csv(pd_ / "items.csv", ["j", "question", "item", "kind", "calibration", "sample", "has_na"],
                  [(j, r.question, r.item, r.kind, int(calib[j]), int(j in chosen), int(has_na[j])) for j, r in enumerate(items.itertuples())])
        write_csv(pd_ / "info.csv", ["n", "k", "size", "V"], [(len(frame), len(items), np.dtype(dtype).itemsize, len(variables))])
        sample += [{"population": pop, "j": int(j), "question": items["question"][j], "item": str(items["item"][j]), "kind": items["kind"][j]} for j in sorted(chosen)]
        out[pop] = {"n": len(frame), "items": len(items), "calibration_items": int(calib.sum()), "dtype": np.dtype(dtype).name}
    (d / "sample.json").write_text(json.dumps(sample, indent=1))
    (d / "key.json").write_text(json.dumps(key))
    print(json.dumps({"cached": False, "ingest_validate_seconds": t_ingest, "seconds": time.perf_counter() - t0,
                      "populations": out, "peak_rss_mib": peak_mib()}))


# ---------------------------------------------------------------- baro (.venv)
def baro(d: Path, reps: int) -> None:
    import pickle

    from baro_pipeline import edition, estimation, stats, weighting
    from baro_pipeline.stats import layout

    ed = edition.load_edition("2025", MAIN)
    with open(d / "frames.pkl", "rb") as f:
        frames = pickle.load(f)
    out = {"seconds": [], "item_matrix": [], "layout": [], "svymean": [], "raking_untimed": []}
    for _ in range(reps):
        s = time.perf_counter()
        w = {p: weighting.weight_population(frames[p], ed.populations[p]) for p in frames}
        out["raking_untimed"].append(time.perf_counter() - s)
        layout._LAYOUTS.clear()  # fresh designs anyway: the layout is built inside the timing
        gc.collect()
        im = lay = sm = 0.0
        results, k = {}, {}
        for p, population in ed.populations.items():
            t0 = time.perf_counter()
            m = estimation.item_matrix(frames[p], population.codebook)
            t1 = time.perf_counter()
            layout.variance_layout(w[p].design)  # the layout svymean builds on its first call (timed apart)
            t2 = time.perf_counter()
            r = stats.svymean(w[p].design, list(m.coded))
            t3 = time.perf_counter()
            im, lay, sm = im + t1 - t0, lay + t2 - t1, sm + t3 - t2
            results[p], k[p] = r, len(m.items)
        out["seconds"].append(im + lay + sm)
        out["item_matrix"].append(im)
        out["layout"].append(lay)
        out["svymean"].append(sm)
    for p, r in results.items():
        np.savez(d / f"baro_{p}.npz", estimate=np.asarray(r.estimate), se=np.asarray(r.se))
    out.update(items=k, peak_rss_mib=peak_mib())
    print(json.dumps(out))


# ---------------------------------------------------------------- svy (bench/.venvs/svy)
def load_pop(pd_: Path, which: str):
    info = read_csv(pd_ / "info.csv")[0]
    n, k, size, nv = (int(info[x]) for x in ("n", "k", "size", "V"))
    items = read_csv(pd_ / "items.csv")
    margins = read_csv(pd_ / "margins.csv")
    variables = list(dict.fromkeys(r["variable"] for r in margins))
    codes = np.fromfile(pd_ / "codes.bin", dtype=np.int32).reshape(nv, n)
    values = np.memmap(pd_ / "values.bin", dtype=np.float32 if size == 4 else np.float64, mode="r", shape=(k, n))
    sel = [int(r["j"]) for r in items if which == "all" or r["sample"] == "1"]
    return n, variables, codes, margins, values, sel


def svy_items(d: Path, which: str) -> None:
    import polars as pl
    import svy

    out = {"mode": which, "rake": {}, "seconds_per_pop": {}, "items": {}, "peak_rss_mib": None}
    total = 0.0
    for pd_ in sorted(p for p in d.iterdir() if p.is_dir() and (p / "info.csv").exists()):
        pop = pd_.name
        n, variables, codes, margins, values, sel = load_pop(pd_, which)
        cols = {v: codes[i].astype(str) for i, v in enumerate(variables)}
        cols.update({f"y{j}": np.asarray(values[j], dtype=float) for j in sel})
        df = pl.DataFrame(cols, nan_to_null=True).with_columns(pl.lit(1.0).alias("w"))
        del cols
        controls = {v: {r["category"]: float(r["total"]) for r in margins if r["variable"] == v} for v in variables}
        sample = svy.Sample(df, svy.Design(wgt="w"))
        t0 = time.perf_counter()
        raked = sample.weighting.rake(controls=controls, tol=1e-10, max_iter=1000, wgt_name="rk_wgt")
        t1 = time.perf_counter()
        est, se = [], []
        for j in sel:
            e = raked.estimation.mean(f"y{j}", drop_nulls=True).to_polars()
            est.append(float(e["est"][0]))
            se.append(float(e["se"][0]))
        t2 = time.perf_counter()
        np.savez(d / f"svy_{which}_{pop}.npz", j=np.array(sel), estimate=np.array(est), se=np.array(se))
        out["rake"][pop] = t1 - t0
        out["seconds_per_pop"][pop] = t2 - t1
        out["items"][pop] = len(sel)
        total += t2 - t1
        del df, sample, raked
        gc.collect()
    out["seconds"] = total
    out["peak_rss_mib"] = peak_mib()
    print(json.dumps(out))


def main() -> None:
    mode = sys.argv[1]
    if mode == "prepare":
        prepare(Path(sys.argv[2]), Path(sys.argv[3]))
    elif mode == "baro":
        baro(Path(sys.argv[2]), int(sys.argv[3]))
    elif mode == "svy":
        svy_items(Path(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
