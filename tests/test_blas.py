"""blas.py: one BLAS thread for small samples, the library's own count restored after."""

from __future__ import annotations

import numpy  # noqa: F401 - loads the BLAS library whose threads are counted
from threadpoolctl import threadpool_info, threadpool_limits

from baro_pipeline import blas


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_small_samples_run_on_one_blas_thread_and_the_count_comes_back() -> None:
    with threadpool_limits(limits=2, user_api="blas"):  # as on a machine of two cores or more
        with blas.threads_for(blas.SMALL_SAMPLE_ROWS):
            assert blas_threads() == {1}
        assert blas_threads() == {2}


def test_larger_samples_keep_the_library_s_threads() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        with blas.threads_for(blas.SMALL_SAMPLE_ROWS + 1):
            assert blas_threads() == {2}
