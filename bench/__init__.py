"""Benchmarks: our server against the seed's FastAPI design, same graph, same run.

`python -m bench` (or `make bench`) runs every measurement and writes `bench/results/`.
"""
