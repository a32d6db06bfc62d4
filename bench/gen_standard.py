"""The standard raking data set: 4 calibration variables (2, 5, 9, 13 categories), 10 binary items.

python bench/gen_standard.py N OUT_DIR  ->  OUT_DIR/data.csv (c1..c4 coded 0..K-1, y1..y10 0/1)
and OUT_DIR/margins.csv (variable, category, total), totals = share x N (weights of mean 1).
Seeded (seed 7): the sample is skewed against the margins so the raking has work to do.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = (2, 5, 9, 13)


def main() -> None:
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    cols, margins = {}, []
    for j, k in enumerate(SIZES):
        sample_p = rng.dirichlet(np.full(k, 5.0))
        c = rng.choice(k, size=n, p=sample_p)
        # every category present
        c[:k] = np.arange(k)
        cols[f"c{j + 1}"] = c
        target = rng.dirichlet(np.full(k, 5.0))
        margins += [(f"c{j + 1}", cat, target[cat] * n) for cat in range(k)]
    lin = sum(cols[f"c{j + 1}"] / k for j, k in enumerate(SIZES))
    for i in range(10):
        p = 1 / (1 + np.exp(-(-2.5 + 0.5 * i + 0.6 * lin - 1.0)))
        cols[f"y{i + 1}"] = (rng.random(n) < p).astype(np.int8)
    pd.DataFrame(cols).to_csv(out / "data.csv", index=False)
    np.savez(out / "data.npz", **cols, **{f"t_c{j + 1}": np.array([t for v, _, t in margins if v == f"c{j + 1}"]) for j in range(4)})
    pd.DataFrame(margins, columns=["variable", "category", "total"]).to_csv(out / "margins.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
