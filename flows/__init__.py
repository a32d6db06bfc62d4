"""Thin Prefect flows over the baro_pipeline library (installed as the package ``baro_flows``)."""

from baro_pipeline import memory

# Before Prefect starts its threads (this package is imported before any flow runs): their memory
# from the process' one heap (memory.one_arena).
memory.one_arena()
