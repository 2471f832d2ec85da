"""Fuzzing the readers: ``python -m benchmarks.fuzz``."""
