"""Scaling benchmark: training throughput, peak memory and epoch time against the number of
sensors, on synthetic networks (:mod:`stgraph.data.synthetic`); ``python -m benchmarks.scaling``."""
