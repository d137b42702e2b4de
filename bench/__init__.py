"""The benchmark harness (`make bench`). See run.py and docs/benchmarks.md."""
