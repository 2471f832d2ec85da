"""Benchmarks: paper-comparable accuracy tables (``benchmarks.accuracy``) and speed (``benchmarks.speed``).

Run from the repository root; see benchmarks/README.md. Nothing here runs in CI except the
smoke tests in tests/benchmarks/.
"""
