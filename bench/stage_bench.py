"""One measurement in a fresh process: every library stage of baro-pipeline on bench/data/<N>.

Run by run_bench.py as  .venv/bin/python bench/stage_bench.py PROJECT_ROOT [--profile FILE] [--ses-only]
Prints one JSON line: seconds per stage, SE-of-every-item seconds, peak RSS (ru_maxrss).
"""
from __future__ import annotations

import cProfile
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    root = Path(sys.argv[1])
    profile_file = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    from baro_pipeline import edition, estimation, ingest, outputs, stats, validation, weighting

    t: dict[str, float] = {}

    def timed(stage, fn, *a, **k):
        s = time.perf_counter()
        r = fn(*a, **k)
        t[stage] = t.get(stage, 0.0) + time.perf_counter() - s
        return r

    prof = cProfile.Profile() if profile_file else None
    if prof:
        prof.enable()
    ed = edition.load_edition("2025", root)
    exports, val, wts, est = {}, {}, {}, {}
    rows = {}
    for pop, population in ed.populations.items():
        exports[pop] = timed("ingest", ingest.read_export, ingest.find_export(ed, pop, root), population.codebook)
    for pop, population in ed.populations.items():
        val[pop] = timed("validation", validation.validate_export, exports[pop], population, ed.quality, ed.thresholds)
        rows[pop] = val[pop].counts.kept
    for pop, population in ed.populations.items():
        wts[pop] = timed("raking", weighting.weight_population, val[pop].frame, population)
    # SEs of every item of the codebooks, no breakdown: item_matrix + svymean of its coded items on the raked design
    n_items = {}
    for pop, population in ed.populations.items():
        m = timed("item_matrix", estimation.item_matrix, val[pop].frame, population.codebook)
        r = timed("svymean_all_items", stats.svymean, wts[pop].design, list(m.coded))
        n_items[pop] = len(m.items)
        assert np.isfinite(r.se).any()
    skip = sys.argv[sys.argv.index("--skip") + 1].split(",") if "--skip" in sys.argv else []
    for pop, population in ed.populations.items():
        if "estimation" in skip:
            break
        est[pop] = timed("estimation", estimation.estimate_population, val[pop].frame, population, wts[pop], ed)
    s = time.perf_counter()
    if "estimation" in skip:
        est = {}
    # writing: the tables a run writes (estimates, weighting, weights, quarantine) as Parquet
    import tempfile
    meta = outputs.table_metadata(ed.id, {p: pp.label for p, pp in ed.populations.items()}, {p: e.source.sha256 for p, e in exports.items()})
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        import pandas as pd
        wt = {
            **({"estimates": pd.concat(list(est.values()), ignore_index=True)} if est else {}),
            "weighting": weighting.weighting_table(ed.id, wts),
            "weights": weighting.weights_table({p: v.frame[ed.populations[p].codebook.columns.id] for p, v in val.items()}, wts),
            "quarantine": pd.concat([v.quarantine for v in val.values()], ignore_index=True),
        }
        for name, table in wt.items():
            outputs.write_table(Path(tmp), name, table, meta)
    t["writing"] = time.perf_counter() - s
    if prof:
        prof.disable()
        prof.dump_stats(profile_file)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    t["ses_all_items"] = t["item_matrix"] + t["svymean_all_items"]
    print(json.dumps({"seconds": t, "peak_rss_mib": peak, "rows_kept": rows, "items": n_items,
                      "iterations": {p: w.iterations for p, w in wts.items()}}))


if __name__ == "__main__":
    main()
