"""How many threads the BLAS library under numpy and scipy (OpenBLAS) uses during a run: one for a small sample."""

from __future__ import annotations

from threadpoolctl import threadpool_limits

# OpenBLAS splits a dot product among its threads past 10,000 elements, so the sum's order (its
# last bits) depends on the thread count above this; at or below it, its threads share only
# matrix products too small to pay for them: at the small edition (2 × 1,110 rows) estimation
# takes ~15 % less CPU on one thread, the same numbers to the bit.
SMALL_SAMPLE_ROWS = 10_000


def threads_for(rows: int) -> threadpool_limits:
    """A block with one BLAS thread when the largest sample has at most SMALL_SAMPLE_ROWS rows,
    the library's own count otherwise; the count before it is restored at its end."""
    return threadpool_limits(limits=1 if rows <= SMALL_SAMPLE_ROWS else None, user_api="blas")
