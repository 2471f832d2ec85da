"""Where a training step's time goes: torch.profiler's top operators for one model and graph."""

from __future__ import annotations

from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.speed.graphs import load_graph
from benchmarks.speed.model_step import PAPER_CONFIGS, window_inputs
from stgraph import models
from stgraph.ops import reuse_freed_memory

__all__ = ["top_operators"]


def top_operators(
    model_name: str, graph_name: str, *, batch: int = 64, device: str = "cpu", rows: int = 12
) -> list[dict[str, Any]]:
    """Profile one training step (after a warm-up); the ``rows`` operators with the most self time.

    Returns dicts with ``name``, ``calls``, ``self_ms`` and ``share`` (of all self time, CPU or
    CUDA as the device).
    """
    reuse_freed_memory()  # as stgraph train and the timed steps run
    device_ = torch.device(device)
    graph = load_graph(graph_name)
    config = PAPER_CONFIGS.get(model_name, {"in_features": 2})
    torch.manual_seed(0)
    model = models.create(model_name, num_sensors=graph.num_sensors, **config).to(device_)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = window_inputs(batch, graph.num_sensors, config["in_features"], device=device_)
    y = torch.randn(batch, 12, graph.num_sensors, 1, device=device_)

    def step() -> None:
        loss = (model(x, graph, target=y, teacher_forcing=0.5) - y).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device_.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        if device_.type == "cuda":
            torch.cuda.synchronize(device_)
    attribute = "self_device_time_total" if device_.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attribute, 0) > 0]
    total = sum(getattr(e, attribute) for e in events) or 1.0
    events.sort(key=lambda e: getattr(e, attribute), reverse=True)
    return [
        {"name": e.key, "calls": e.count, "self_ms": getattr(e, attribute) / 1e3, "share": getattr(e, attribute) / total}
        for e in events[:rows]
    ]
