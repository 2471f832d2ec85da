"""The faulty-sensor benchmark: faults injected into Los-loop readings, found by ``stgraph anomalies``' checks."""
