"""Benchmarks for dlfs-lab: `make bench` (see run.py)."""
