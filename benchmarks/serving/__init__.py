"""Load test of ``stgraph serve`` on 127.0.0.1: throughput and latency per model, batching mode and concurrency."""
