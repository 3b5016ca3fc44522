"""Benchmarks: the pipeline at four sizes against the notebook's naive approach (public API only)."""
