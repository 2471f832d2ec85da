"""The one timing helper of the speed benchmarks, and the machine's own ceilings measured with it:
dense fp32 GEMM rate and copy bandwidth, on the CPU or a CUDA device."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

__all__ = ["copy_bandwidth", "gemm_rate", "timed"]


def timed(
    fn: Callable[[], object],
    device: torch.device,
    repeats: int,
    *,
    warmup: bool = True,
    statistic: Callable[[list[float]], float] = min,
) -> float:
    """``statistic`` (default the best) of the wall times of ``repeats`` calls, after one
    warm-up call unless ``warmup=False``, synchronising CUDA around each call."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistic(times)


def gemm_rate(device: torch.device, size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of a float32 ``size^3`` matrix product (TF32 as torch's current setting allows)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return 2 * size**3 / timed(lambda: a @ b, device, repeats) / 1e9


def copy_bandwidth(device: torch.device, megabytes: int = 256, repeats: int = 3) -> float:
    """GB/s of a large preallocated ``copy_``, counting bytes read plus bytes written."""
    source = torch.randn(megabytes * 2**20 // 4, device=device)
    target = torch.empty_like(source)
    return 2 * source.numel() * 4 / timed(lambda: target.copy_(source), device, repeats) / 1e9
