"""Propagation on CUDA: the Triton CSR kernel against torch.sparse and a dense GEMM.

    python -m benchmarks.speed.propagate_gpu            # needs a CUDA device and triton
    python -m benchmarks.speed.propagate_gpu --smoke    # small sizes

For synthetic k-nearest-neighbour graphs (k = 10; METR-LA's real graph for 207 sensors when
its file is found, :func:`benchmarks.speed.graphs.propagation_graph`) and ``x = [64, 12, sensors, 64]`` float32, it first checks every path against a
float64 product (relative error, forward and the Triton backward), then times each with CUDA
events (median of ``triton.testing.do_bench``) and reports achieved GB/s (x read once, output
written once, operator read once) as a fraction of a measured device-to-device copy.
"""

from __future__ import annotations

import argparse
import datetime

import torch

from benchmarks.speed.graphs import propagation_graph
from stgraph.ops import propagate


def _copy_bandwidth(device: torch.device) -> float:
    """Device-to-device copy rate in GB/s (read + write) of a 1 GiB buffer."""
    import triton.testing

    source = torch.empty(2**28, device=device)
    target = torch.empty_like(source)
    copy_ms = triton.testing.do_bench(lambda: target.copy_(source), return_mode="median")
    return 2 * source.numel() * 4 / copy_ms / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[207, 2000, 8600])
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 12, 64], metavar=("BATCH", "TIME", "FEATURES"))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also time Triton tile sizes (block_e, block_s, warps)")
    args = parser.parse_args(argv)
    import triton.testing

    if args.smoke:
        args.sizes, args.shape = [207, 1000], [4, 2, 16]
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    print(f"device: {name}, torch {torch.__version__}, triton {triton.__version__}, {datetime.date.today()}")
    bandwidth = _copy_bandwidth(device)
    print(f"device-to-device copy: {bandwidth:.0f} GB/s (read + write)")
    batch, time_steps, features = args.shape
    print(f"x = [{batch}, {time_steps}, sensors, {features}] float32; columns = {batch * time_steps * features}\n")
    print("| graph | sensors | edges | path | rel. error | ms | GB/s | of copy |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for sensors in args.sizes:
        graph = propagation_graph(sensors)
        op64 = graph.torch_operator("forward", device=device, dtype=torch.float64)
        op = graph.torch_operator("forward", device=device, dtype=torch.float32)
        x = torch.randn(batch, time_steps, op.num_nodes, features, device=device)
        expected = propagate(op64, x.double(), backend="reference")
        grad = torch.randn_like(x)
        expected_grad = propagate(op64.transpose(), grad.double(), backend="reference")
        moved = 2 * x.numel() * 4 + op.crow_indices.numel() * 8 + op.num_edges * 12
        for backend in ("triton", "reference", "dense"):
            out = propagate(op, x, backend=backend)
            if not torch.isfinite(out).all():
                raise RuntimeError(f"{backend}: non-finite output for {graph.name}")
            error = float((out.double() - expected).norm() / expected.norm())
            if backend == "triton":
                probe = x.clone().requires_grad_()
                propagate(op, probe, backend=backend).backward(grad)
                grad_error = float((probe.grad.double() - expected_grad).norm() / expected_grad.norm())
                error = max(error, grad_error)
            ms = triton.testing.do_bench(
                lambda op=op, x=x, backend=backend: propagate(op, x, backend=backend), return_mode="median"
            )
            bytes_ = moved + (op.num_nodes**2 * 4 if backend == "dense" else 0)
            gbps = bytes_ / ms / 1e6
            print(
                f"| {graph.name} | {op.num_nodes} | {op.num_edges} | {backend} | {error:.1e} | {ms:.3f} | {gbps:.0f} "
                f"| {gbps / bandwidth:.0%} |",
                flush=True,
            )
        if args.sweep:
            sweep(op, x, moved, bandwidth)
        del x, expected, grad, expected_grad
        torch.cuda.empty_cache()


def sweep(op, x: torch.Tensor, moved: int, bandwidth: float) -> None:
    """Time the Triton kernel over tile sizes; prints the five fastest."""
    import triton.testing

    from stgraph.ops._triton import launch

    slices = x.reshape(-1, x.shape[-2], x.shape[-1])
    out = torch.empty_like(slices)
    features = slices.shape[-1]
    results = []
    for block_e in (8, 16):
        for block_s in (2, 4, 8, 32):
            for num_warps in (1, 2, 4):
                config = {
                    "block_e": block_e,
                    "block_s": block_s,
                    "block_f": min(triton.next_power_of_2(features), 128),
                    "num_warps": num_warps,
                }
                ms = triton.testing.do_bench(lambda config=config: launch(op, slices, out, **config), return_mode="median")
                results.append((ms, config))
    for ms, config in sorted(results, key=lambda r: r[0])[:5]:
        print(f"|   sweep {config} | | | | | {ms:.3f} | {moved / ms / 1e6:.0f} | {moved / ms / 1e6 / bandwidth:.0%} |")


if __name__ == "__main__":
    main()
