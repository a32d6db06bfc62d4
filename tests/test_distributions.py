"""The run's distribution functions equal scipy.stats', bit for bit, on the arguments runs give them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from baro_pipeline.stats.distributions import norm_isf, norm_sf, t_isf, t_sf

RNG = np.random.default_rng(1)
Q = np.concatenate([RNG.uniform(0, 1, 5000), [1e-300, 0.025, 0.005, 0.05 / 2 / 3, 1 - 1e-16]])
DF = np.concatenate([RNG.uniform(0.01, 5000, 5000), [1, 2, 1e9, np.inf, np.nan]])
X = np.concatenate([RNG.normal(0, 5, 5000), [np.inf, -np.inf, np.nan, 0.0, 40.0]])
BAD_DF = np.array([0.0, -1.0, np.nan])


def same(ours, theirs) -> None:
    np.testing.assert_array_equal(ours, theirs)  # NaN equals NaN; any other difference fails
    assert np.shape(ours) == np.shape(theirs) and np.asarray(ours).dtype == np.asarray(theirs).dtype


@pytest.mark.parametrize(("ours", "theirs", "args"), [
    (t_isf, stats.t.isf, (Q, DF)),
    (t_isf, stats.t.isf, (0.025, BAD_DF)),
    (t_isf, stats.t.isf, (0.025, 30.0)),
    (t_sf, stats.t.sf, (X, DF)),
    (t_sf, stats.t.sf, (1.5, BAD_DF)),
    (norm_isf, stats.norm.isf, (Q,)),
    (norm_isf, stats.norm.isf, (0.025,)),
    (norm_sf, stats.norm.sf, (X,)),
])
def test_equal_to_scipy_stats(ours, theirs, args):
    same(ours(*args), theirs(*args))


def test_a_run_imports_no_scipy_stats():
    code = "import sys, baro_pipeline.pipeline; print('scipy.stats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
