"""SEs of every item of the 2025 codebooks at ~1e6 respondents per population, without ingesting 1e6.

python bench/ses_tiled.py PROJECT_ROOT FACTOR REPS [--profile FILE]
Reads and validates the exports of PROJECT_ROOT (e.g. the 1e5 data), repeats each population's kept
frame FACTOR times (1e5 x 10 = 1e6 rows), rakes it (weighting.weight_population), then times
estimation.item_matrix + stats.svymean(design, list(m.coded)) per population, REPS times in this process.
A proxy for 1e6 when ingesting 1e6 rows takes too long; the cost of svymean depends on n and k only.
"""
import cProfile
import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd


def main():
    root, factor, reps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    prof_file = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    from baro_pipeline import edition, estimation, ingest, stats, validation, weighting
    ed = edition.load_edition("2025", root)
    frames = {}
    for pop, population in ed.populations.items():
        exp = ingest.read_export(ingest.find_export(ed, pop, root), population.codebook)
        frames[pop] = pd.concat([validation.validate_export(exp, population, ed.quality, ed.thresholds).frame] * factor, ignore_index=True)
    out = {"rows": {p: len(f) for p, f in frames.items()}, "raking": [], "item_matrix": [], "svymean": [], "total": []}
    prof = cProfile.Profile() if prof_file else None
    for r in range(reps):
        if prof and r == reps - 1:
            prof.enable()
        t0 = time.perf_counter()
        w = {p: weighting.weight_population(frames[p], ed.populations[p]) for p in frames}
        t1 = time.perf_counter()
        im = sm = 0.0
        k = {}
        for p, population in ed.populations.items():
            s = time.perf_counter()
            m = estimation.item_matrix(frames[p], population.codebook)
            e = time.perf_counter()
            stats.svymean(w[p].design, list(m.coded))
            im += e - s
            sm += time.perf_counter() - e
            k[p] = len(m.items)
        if prof and r == reps - 1:
            prof.disable()
            prof.dump_stats(prof_file)
        out["raking"].append(t1 - t0)
        out["item_matrix"].append(im)
        out["svymean"].append(sm)
        out["total"].append(im + sm)
    out["items"] = k
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
