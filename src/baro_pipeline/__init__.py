"""baro-pipeline: respondent-level survey exports to audited, design-based published figures."""

import os

# Before numpy and scipy load OpenBLAS and numpy (each reads its setting once), whatever imports
# this package first: the CLI, a flow run of a worker, a user's script (a value already set wins).
# numpy asks the kernel for transparent huge pages on every large array: at a million respondents
# the page faults and compaction that causes cost more than the fewer TLB misses save (ingest
# ~30 % faster here without it; memory.no_huge_pages).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
# OpenBLAS's threads spin for 2^28 cycles (~0.1 s) after each product before they sleep: with a
# process per population (estimation.start_estimates) they take the other process' core. 2^4: they
# sleep at once (the estimate phase at 1e6 × 2, 4 runs each: a median 1.45 s against 1.52 s). The
# thread count, and so every sum's order, is unchanged.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
