"""The export benchmark: artifact size, CPU latency and the change in test MAE of ``stgraph export``'s formats and precisions."""
