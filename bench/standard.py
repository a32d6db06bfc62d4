"""Part `standard`: raking and SEs on the standard data set, baro against R's survey and other tools.

The data (bench/gen_standard.py, seed 7) is made once per size in bench/work/standard_<N>/. R's
survey (r_standard.R) times rake() to 1e-10 and svymean of 10 items, and writes its reference: the
weights of rake() converged to 1e-13 and their SEs. Each tool (tool_standard.py, in its own venv)
rakes to 1e-10 and computes the SEs; its weights must agree with R's to 1e-10, its SEs to 1e-8.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import BENCH, PY, WORK, load, run, say

WEIGHT_TOL, SE_TOL = 1e-10, 1e-8


def data_set(n: int) -> Path:
    d = WORK / f"standard_{n}"
    if not (d / "data.npz").exists():
        t = run([PY, BENCH / "gen_standard.py", n, d])
        if t.rc != 0:
            raise RuntimeError(f"gen_standard.py {n}: {t.tail()}")
    return d


def seconds_after(label: str, text: str) -> list[float]:
    """The numbers r_standard.R prints after ``label`` (``RAKE 0.1 0.2``)."""
    m = re.search(rf"^{label} (.*)$", text, re.M)
    return [float(x) for x in m.group(1).split()] if m else []


def r_survey(d: Path, reps: int, timeout: float) -> dict[str, Any]:
    la = load()
    t = run(["Rscript", BENCH / "r_standard.R", d, reps], timeout=timeout)
    if t.rc != 0:
        return {"failed": t.tail(400), "load": la}
    return {"rake": seconds_after("RAKE", t.stdout), "se": seconds_after("SE", t.stdout), "peak_rss_mib": t.peak_rss_mib, "cpu": t.cpu, "load": la,
            "note": "rake() epsilon 1e-10; svymean of the 10 items timed once"}


def tool(name: str, d: Path, reps: int, timeout: float) -> dict[str, Any]:
    py = PY if name == "baro" else BENCH / ".venvs" / name / "bin" / "python"
    if not py.exists():
        return {"failed": f"not installed (see bench/logs/pip_{name}.log)"}
    la = load()
    t = run([py, BENCH / "tool_standard.py", name, d, reps], timeout=timeout)
    if t.rc != 0:
        return {"failed": t.tail(400), "load": la}
    return {**json.loads(t.stdout.strip().splitlines()[-1]), "peak_rss_mib": t.peak_rss_mib, "load": la}


def max_rel_err(got: np.ndarray, ref: np.ndarray) -> float | None:
    return float(np.max(np.abs(got - ref) / np.abs(ref))) if got.shape == ref.shape else None


def agreement(d: Path, name: str) -> dict[str, Any]:
    """The tool's weights and SEs against R's reference: max relative errors and whether they agree."""
    out: dict[str, Any] = {}
    if (d / f"{name}_weights.npy").exists() and (d / "r_weights.csv").exists():
        out["weight_rel_err"] = max_rel_err(np.load(d / f"{name}_weights.npy"), pd.read_csv(d / "r_weights.csv")["w"].to_numpy())
    if (d / f"{name}_se.npy").exists() and (d / "r_se.csv").exists():
        out["se_rel_err"] = max_rel_err(np.load(d / f"{name}_se.npy"), pd.read_csv(d / "r_se.csv")["se"].to_numpy())
    out["weights_agree"] = out.get("weight_rel_err") is not None and out["weight_rel_err"] <= WEIGHT_TOL
    out["se_agree"] = out.get("se_rel_err") is not None and out["se_rel_err"] <= SE_TOL
    return out


def measure(n: int, reps: int, timeout: float, tools: tuple[str, ...]) -> dict[str, Any]:
    d = data_set(n)
    res = {"R survey": r_survey(d, reps, timeout)}
    for name in ("baro", *tools):
        res[name] = tool(name, d, reps, timeout)
        if "failed" not in res[name]:
            res[name].update(agreement(d, name))
    for name, r in res.items():
        say(f"standard {n} {name}: " + (f"FAILED {r['failed'].splitlines()[-1] if r['failed'] else ''}" if "failed" in r else
            f"rake {[round(x, 4) for x in r['rake']]} s, SEs {[round(x, 4) for x in r['se']]} s, peak {r.get('peak_rss_mib') or 0:.0f} MiB"
            + (f", weights vs R {r.get('weight_rel_err')}, SEs vs R {r.get('se_rel_err')}" if name != "R survey" else "") + f", load {r.get('load')}"))
    return res
