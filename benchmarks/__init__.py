"""Benchmarks: run through scripts/bench_*; each prints JSON figures."""
