"""One fresh process: the library calls of the run's stages, one by one, on a project's exports.

python bench/stage_bench.py PROJECT_ROOT [--profile FILE] [--skip estimation]
The anchor of the run's ingest and validate stages (issue 20 item 3): the same library calls,
timed alone. Prints one JSON line: seconds per stage (both populations), peak RSS (ru_maxrss).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class Stopwatch:
    """Library calls with their seconds added up by stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--profile", type=Path, help="write cProfile statistics there")
    ap.add_argument("--skip", default="", help="estimation: skip estimate_population")
    a = ap.parse_args()
    from baro_pipeline import edition, estimation, ingest, memory, outputs, stats, validation, weighting

    t = Stopwatch()
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    ed = edition.load_edition("2025", a.root)
    paths = ingest.find_exports(ed, a.root)
    largest = ingest.largest_export_bytes(paths)
    memory.fit_to_export(largest)  # the allocator's settings of the run (run_edition), untimed there too
    exports = {pop: t("ingest", ingest.read_export, paths[pop], p.codebook) for pop, p in ed.populations.items()}
    valid = {pop: t("validation", validation.validate_export, exports.pop(pop), p, ed.quality, ed.thresholds) for pop, p in ed.populations.items()}
    t("validation", validation.shared_id_warnings, valid, ed.populations)  # the run's validate phase has it too
    ingest.release_arrow_memory()
    memory.fit_to_samples(largest)
    rows = {pop: v.counts.kept for pop, v in valid.items()}
    samples = {pop: t("raking", weighting.weighted_sample, valid.pop(pop), p, ed.weighting) for pop, p in ed.populations.items()}
    items = {}
    for pop, p in ed.populations.items():  # SEs of every item of the codebooks, no breakdown
        m = t("item_matrix", estimation.item_matrix, samples[pop].frame, p.codebook)
        assert np.isfinite(t("svymean_all_items", stats.svymean, samples[pop].weighting.design, list(m.coded)).se).any()
        items[pop] = len(m.items)
    est = {} if "estimation" in a.skip else {pop: t("estimation", estimation.estimate_population, samples[pop], p, ed) for pop, p in ed.populations.items()}
    meta = outputs.table_metadata(ed.id, {p: pp.label for p, pp in ed.populations.items()}, {})
    tables = {
        **({"estimates": pd.concat(list(est.values()), ignore_index=True)} if est else {}),
        "weighting": weighting.weighting_table(ed.id, samples),
        "weights": weighting.weights_table(samples),
        "quarantine": pd.concat([s.quarantine for s in samples.values()], ignore_index=True),
    }
    with tempfile.TemporaryDirectory(dir=a.root) as tmp:
        for name, table in tables.items():
            t("writing", outputs.write_table, Path(tmp), name, table, meta)
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    seconds = t.seconds | {"ses_all_items": t.seconds["item_matrix"] + t.seconds["svymean_all_items"]}
    print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows_kept": rows,
                      "items": items, "iterations": {p: s.weighting.iterations for p, s in samples.items()}}))


if __name__ == "__main__":
    main()
