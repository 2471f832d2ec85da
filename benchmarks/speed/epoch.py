r"""Wall time of one Graph WaveNet training epoch on a METR-LA-sized run.

METR-LA has 34,272 five-minute steps; DCRNN's 70 % training part holds 23,974 windows of
12 -> 12. This builds a synthetic series of that length on the METR-LA graph (values do not
change the cost), keeps it on the device, and runs one epoch exactly as training does: shuffled
batches of 64 gathered with :meth:`stgraph.data.WindowDataset.batch`, forward with speed and time
of day, masked MAE, backward, gradient clipping at 5, Adam. One short warm-up epoch slice comes
first (allocator, cuBLAS handles), and is not counted.
"""

from __future__ import annotations

import torch

from benchmarks.speed.ceilings import timed
from benchmarks.speed.graphs import load_graph
from stgraph import models
from stgraph.data import WindowDataset

__all__ = ["graph_wavenet_epoch"]


def graph_wavenet_epoch(
    *, windows: int = 23_974, batch: int = 64, device: str = "cuda", graph_name: str = "metr-la", warmup_batches: int = 5
) -> dict[str, float | int | str]:
    """Seconds for one epoch over ``windows`` training windows; returns seconds and samples/s."""
    device_ = torch.device(device)
    graph = load_graph(graph_name)
    steps = windows + 12 + 12 - 1
    generator = torch.Generator().manual_seed(0)
    speed = (60 + 10 * torch.randn(steps, graph.num_sensors, 1, generator=generator)).to(device_)
    mask = torch.ones_like(speed, dtype=torch.bool)
    time_of_day = (torch.arange(steps, dtype=torch.float32) % 288 / 288).reshape(-1, 1).to(device_)
    data = WindowDataset((speed, mask), covariates=time_of_day)
    torch.manual_seed(0)
    model = models.create("graph_wavenet", num_sensors=graph.num_sensors, in_features=2).to(device_)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)
    mean, std = float(speed.mean()), float(speed.std())

    def run(order: torch.Tensor) -> None:
        for first in range(0, len(order), batch):
            x, y, observed = data.batch(order[first : first + batch])
            x = torch.cat([(x[..., :1] - mean) / std, x[..., 1:]], dim=-1)
            forecast = model(x, graph) * std + mean
            loss = ((forecast - y).abs() * observed).sum() / observed.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    model.train()
    run(torch.randperm(len(data), generator=generator)[: warmup_batches * batch])
    order = torch.randperm(len(data), generator=generator)
    seconds = timed(lambda: run(order), device_, 1, warmup=False)
    return {
        "windows": len(data),
        "batch": batch,
        "sensors": graph.num_sensors,
        "device": str(device_),
        "seconds": seconds,
        "samples_per_s": len(data) / seconds,
    }
