"""One tool on the standard data set, in a fresh process (run by run_bench.py with the tool's venv).

python bench/tool_standard.py TOOL DIR REPEATS
TOOL: baro | svy | balance | samplics | weightipy. Rakes from weights 1 to 1e-10 on the margins,
then the SEs of y1..y10 where the tool has design-based SEs of a raked mean. Writes
DIR/<tool>_weights.npy, DIR/<tool>_se.npy (when any) and prints one JSON line:
rake seconds, se seconds (lists, one per repeat), peak RSS in MiB, notes.
"""
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

TOL = 1e-10
ITEMS = [f"y{i}" for i in range(1, 11)]
VARS = ["c1", "c2", "c3", "c4"]


class Frame(dict):
    """Columns as numpy arrays (no pandas: not every tool's venv has it)."""

    def __len__(self):
        return len(self["c1"])

    def pandas(self, str_vars=False):
        import pandas as pd
        return pd.DataFrame({k: (v.astype(str) if str_vars and k in VARS else v) for k, v in self.items()})


def load(d):
    z = np.load(d / "data.npz")
    data = Frame({k: z[k] for k in VARS + ITEMS})
    totals = {v: z[f"t_{v}"] for v in VARS}
    return data, totals


def run_baro(data, totals):
    from baro_pipeline import stats
    codes = [data[v] for v in VARS]
    y = np.column_stack([data[i] for i in ITEMS]).astype(float)
    t0 = time.perf_counter()
    res = stats.rake(codes, [totals[v] for v in VARS], tol=TOL)
    t1 = time.perf_counter()
    design = stats.design_from_calibration(res, codes)
    se = stats.svymean(design, y).se
    t2 = time.perf_counter()
    return res.weights, se, t1 - t0, t2 - t1, f"{res.iterations} iterations"


def run_svy(data, totals):
    import polars as pl
    import svy
    df = pl.DataFrame({k: (v.astype(str) if k in VARS else v.astype(float)) for k, v in data.items()}).with_columns(pl.lit(1.0).alias("w"))
    controls = {v: {str(k): float(t) for k, t in enumerate(totals[v])} for v in VARS}
    sample = svy.Sample(df, svy.Design(wgt="w"))
    t0 = time.perf_counter()
    raked = sample.weighting.rake(controls=controls, tol=TOL, max_iter=1000, wgt_name="rk_wgt")
    t1 = time.perf_counter()
    est = raked.estimation.mean(ITEMS)
    se = np.array([e.to_polars()["se"][0] for e in est])
    t2 = time.perf_counter()
    w = raked.data["rk_wgt"].to_numpy() if hasattr(raked, "data") else None
    return w, se, t1 - t0, t2 - t1, ""


def run_balance(data, totals):
    from balance import Sample
    from balance.weighting_methods.rake import prepare_marginal_dist_for_raking
    df = data.pandas(str_vars=True)
    df["id"] = np.arange(len(df)).astype(str)
    df["w"] = 1.0
    n = float(len(df))
    dist = {v: {str(k): float(t) / n for k, t in enumerate(totals[v])} for v in VARS}
    target_df = prepare_marginal_dist_for_raking(dist)
    target_df["id"] = np.arange(len(target_df)).astype(str)
    s = Sample.from_frame(df[["id", "w"] + VARS + ITEMS], id_column="id", weight_column="w", outcome_columns=ITEMS)
    t = Sample.from_frame(target_df, id_column="id")
    t0 = time.perf_counter()
    adj = s.set_target(t).adjust(method="rake", variables=VARS, transformations=None, convergence_rate=TOL, max_iteration=1000, rate_tolerance=0, na_action="drop", weight_trimming_mean_ratio=None)
    t1 = time.perf_counter()
    w = adj.weights().df.iloc[:, 0].to_numpy() if hasattr(adj.weights(), "df") else adj.weight_column.to_numpy()
    w = w * n / w.sum()
    return w, None, t1 - t0, None, "no design-based SE of a raked mean"


def run_samplics(data, totals):
    from samplics.weighting import SampleWeight
    control = {v: {k: float(t) for k, t in enumerate(totals[v])} for v in VARS}
    margins = {v: data[v] for v in VARS}
    t0 = time.perf_counter()
    w = SampleWeight().rake(samp_weight=np.ones(len(data)), control=control, margins=margins, tol=TOL, max_iter=1000)
    t1 = time.perf_counter()
    from samplics.estimation import TaylorEstimator
    ses = []
    for it in ITEMS:
        try:
            from samplics.utils.types import PopParam
            e = TaylorEstimator(PopParam.mean)
        except ImportError:
            e = TaylorEstimator("mean")
        e.estimate(y=data[it].astype(float), samp_weight=np.asarray(w))
        ses.append(float(np.asarray(e.stderror).ravel()[0]) if not isinstance(e.stderror, dict) else float(list(e.stderror.values())[0]))
    t2 = time.perf_counter()
    return np.asarray(w, dtype=float), np.array(ses), t1 - t0, t2 - t1, "Taylor SE ignores the raking"


def run_weightipy(data, totals):
    import weightipy as wp
    n = float(len(data))
    scheme = wp.scheme_from_dict({v: {k: 100.0 * float(t) / n for k, t in enumerate(totals[v])} for v in VARS})
    df = data.pandas()
    t0 = time.perf_counter()
    out = wp.weight_dataframe(df, scheme, weight_column="weights")
    t1 = time.perf_counter()
    w = out["weights"].to_numpy(dtype=float)
    return w * n / w.sum(), None, t1 - t0, None, "no SE; own convergence criterion"


def main():
    tool, d, reps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    data, totals = load(d)
    fn = globals()[f"run_{tool}"]
    rt, st, note = [], [], ""
    for _ in range(reps):
        w, se, r, s, note = fn(data, totals)
        rt.append(r)
        if s is not None:
            st.append(s)
    if w is not None:
        np.save(d / f"{tool}_weights.npy", np.asarray(w, dtype=float))
    if se is not None:
        np.save(d / f"{tool}_se.npy", np.asarray(se, dtype=float))
    print(json.dumps({"tool": tool, "rake": rt, "se": st, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "note": note}))


if __name__ == "__main__":
    main()
