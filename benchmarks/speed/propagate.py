"""Propagation microbenchmark on the CPU: each backend of ``stgraph.ops.propagate`` against the
machine's own measured memory bandwidth and GEMM rate.

    python -m benchmarks.speed.propagate            # 207 (METR-LA), 2,000 and 8,600 sensors
    python -m benchmarks.speed.propagate --smoke    # seconds; what the test suite runs

For each graph (forward random-walk operator, as DCRNN applies it) and backend it times
``propagate(op, x)`` with ``x = [batch, time, sensors, features]`` and reports:

- achieved GB/s = (bytes of x read + bytes of the output written + bytes of the operator read)
  / time, and that as a fraction of the measured copy bandwidth (a large ``copy_``, bytes read
  plus written): the ceiling for a sparse product, which must at least read x and write out;
- graphs of 1,000 sensors or more twice: in the kNN builder's random sensor order and in the
  reverse Cuthill-McKee order the trainer renumbers them to (:mod:`stgraph.graph.ordering`);
- for the dense backend also GFLOP/s (2 nodes^2 columns) as a fraction of the measured GEMM rate.

Best of ``--repeats`` runs; on a shared machine the spread between runs is large, so compare
ratios taken in one run. The columns (batch x time x features) default to 8 x 12 x 64 = 6,144,
so the 8,600-sensor input is 211 MB and stays in memory on a small machine.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from benchmarks.speed.ceilings import copy_bandwidth, gemm_rate, timed
from benchmarks.speed.graphs import propagation_graph
from stgraph.graph.ordering import locality_order
from stgraph.ops import Operator, propagate, reuse_freed_memory, select_backend

BACKENDS = ("reference", "dense", "cpu")
DENSE_LIMIT = 4000  # a dense 8,600^2 GEMM per call takes minutes: skipped
LOCALITY_ROWS_FROM = 600  # graphs this large are also timed in locality order (the smoke mode's 600 included)
CPU = torch.device("cpu")


def operator_bytes(op: Operator, backend: str) -> int:
    if backend == "dense":
        return op.num_nodes**2 * op.values.element_size()
    return op.crow_indices.numel() * 8 + op.num_edges * (8 + op.values.element_size())


def run(sizes: list[int], batch: int, time_steps: int, features: int, repeats: int, copy_mb: int) -> list[dict]:
    bandwidth = copy_bandwidth(CPU, copy_mb, repeats)
    gemm = gemm_rate(CPU, 1024 if copy_mb < 64 else 2048, repeats)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"measured copy bandwidth {bandwidth:.1f} GB/s (read + write), float32 GEMM {gemm:.0f} GFLOP/s")
    print(f"x = [{batch}, {time_steps}, sensors, {features}] float32, forward pass, best of {repeats}\n")
    print("| graph | sensors | edges | sensor order | backend | auto | ms | GB/s | of copy | GFLOP/s | of GEMM |")
    print("| --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for sensors in sizes:
        graph = propagation_graph(sensors)
        orders = [("as built", graph)]
        if graph.num_sensors >= LOCALITY_ROWS_FROM:
            orders.append(("locality (trainer's)", graph.permute(locality_order(graph))))
        for order, ordered in orders:
            rows += _time_graph(ordered, order, batch, time_steps, features, repeats, bandwidth, gemm)
    return rows


def _time_graph(
    graph, order: str, batch: int, time_steps: int, features: int, repeats: int, bandwidth: float, gemm: float
) -> list[dict]:
    op = graph.torch_operator("forward", dtype=torch.float32)
    x = torch.randn(batch, time_steps, op.num_nodes, features)
    auto = select_backend(op, x.device)
    rows = []
    for backend in BACKENDS:
        if backend == "dense" and (op.num_nodes > DENSE_LIMIT or order != "as built"):
            continue  # the dense product does not depend on the order
        seconds = timed(lambda: propagate(op, x, backend=backend), CPU, repeats)  # the warm-up builds cached operator forms
        moved = 2 * x.numel() * 4 + operator_bytes(op, backend)
        flops = (
            2 * op.num_nodes**2 * x.numel() / op.num_nodes if backend == "dense" else 2 * op.num_edges * x.numel() / op.num_nodes
        )
        row = {
            "graph": graph.name or "metr-la",
            "sensors": op.num_nodes,
            "edges": op.num_edges,
            "order": order,
            "backend": backend,
            "ms": seconds * 1e3,
            "gbps": moved / seconds / 1e9,
            "gflops": flops / seconds / 1e9,
        }
        rows.append(row)
        print(
            f"| {row['graph']} | {row['sensors']} | {row['edges']} | {order} | {backend} | {'*' if backend == auto else ''} "
            f"| {row['ms']:.2f} | {row['gbps']:.2f} | {row['gbps'] / bandwidth:.0%} | {row['gflops']:.1f} "
            f"| {row['gflops'] / gemm:.0%} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[207, 2000, 8600])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--time", type=int, default=12, dest="time_steps")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: checks the script runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as the trainer runs: outputs reuse freed memory (STGRAPH_MALLOC=system to compare)
    if args.smoke:
        return run([207, 600], batch=2, time_steps=2, features=4, repeats=1, copy_mb=8)
    return run(args.sizes, args.batch, args.time_steps, args.features, args.repeats, copy_mb=256)


if __name__ == "__main__":
    main()
