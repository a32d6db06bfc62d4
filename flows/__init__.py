"""Thin Prefect flows over the baro_pipeline library (installed as the package ``baro_flows``)."""
