r"""One model-step measurement: training and inference throughput, peak memory, FLOPs.

A *training step* is forward, masked-MAE loss, backward and an Adam step on a batch of
``[batch, 12, sensors, features]`` random inputs (12 -> 12), the model in training mode
(DCRNN decodes with scheduled sampling at probability 0.5, its cost does not depend on it).
An *inference step* is a forward pass under ``torch.no_grad`` in evaluation mode.

FLOPs are counted once per step with :class:`torch.utils.flop_counter.FlopCounterMode`, which
counts dense matrix products and convolutions only: sparse graph propagation (memory-bound,
measured by ``benchmarks.speed.propagate``) and element-wise work are not in the count, so the
"share of GEMM" is the dense work's achieved rate over the measured GEMM rate.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the timed steps; on the CPU the
process's own peak resident set (``VmHWM``), meaningful when each configuration runs in its own
process (``isolate``: the default for full CPU runs), and the increase over the RSS after
building the model and inputs.

One loop, :func:`step_measurements`, times ours and the peers' models (:mod:`.peers`); a
configuration runs in a fresh process through :func:`run_isolated` and :func:`serve`.

Shapes:
    x: ``[batch, 12, sensors, in_features]`` -> forecast ``[batch, 12, sensors, 1]``
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.speed.ceilings import timed
from benchmarks.speed.graphs import load_graph
from stgraph import models
from stgraph.ops import reuse_freed_memory

__all__ = [
    "DAY_OF_WEEK_FEATURE",
    "PAPER_CONFIGS",
    "STEPS_PER_DAY",
    "TIME_OF_DAY_FEATURE",
    "StepResult",
    "measure",
    "measure_isolated",
    "run_isolated",
    "serve",
    "step_measurements",
    "window_inputs",
]

#: The calendar covariates as ``stgraph train`` lays them out: the reading first, then time of
#: day (a fraction of the day), then day of week (0 = Monday), as far as a model reads them.
TIME_OF_DAY_FEATURE, DAY_OF_WEEK_FEATURE = 1, 2
_CALENDAR = {"in_features": 3, "time_of_day_feature": TIME_OF_DAY_FEATURE, "day_of_week_feature": DAY_OF_WEEK_FEATURE}

#: Each paper's configuration (model defaults are the papers'); inputs as each paper feeds them.
PAPER_CONFIGS: dict[str, dict[str, Any]] = {
    "stgcn": {"in_features": 1},  # speed only; 2 ST-Conv blocks 64-16-64, Kt = Ks = 3 (Yu et al. 2018, Sec. 4.3)
    "dcrnn": {"in_features": 2},  # speed + time of day; 2 x 64 DCGRU, K = 2, seq2seq (Li et al. 2018)
    "graph_wavenet": {"in_features": 2},  # speed + time of day; 8 layers, 32/256/512 channels (Wu et al. 2019)
    "stid": _CALENDAR,  # speed + time of day + day of week; 3 residual MLPs of 128 (Shao et al. 2022)
    "staeformer": _CALENDAR,  # 3 + 3 transformer layers, 4 heads, model width 152 (Liu et al. 2023)
    "agcrn": {"in_features": 1},  # the flow alone; 2 x 64 AGCRN cells, embeddings of 10 (Bai et al. 2020)
    "mtgnn": {"in_features": 2},  # speed + time of day (in_dim 2); 3 layers, learned graph (Wu et al. 2020)
    "gman": _CALENDAR,  # 5 + 5 ST-attention blocks, 8 heads of 8 (Zheng et al. 2020)
    "d2stgnn": _CALENDAR,  # 5 decoupled layers of 32, dynamic graph (Shao et al. 2022)
}

#: Time-of-day slots of the benchmark's 5-minute readings (METR-LA, PEMS-BAY, Los-loop).
STEPS_PER_DAY = 288


def window_inputs(batch: int, sensors: int, in_features: int, *, device: torch.device | str = "cpu") -> Tensor:
    r"""A batch of 12-step input windows laid out as ``stgraph train`` lays them out.

    Feature 0 is the reading, standard normal (the cost of every model here does not depend on
    its values); feature 1, where ``in_features >= 2``, the time of day; feature 2, where
    ``in_features >= 3``, the day of week. The calendar is real: window ``b`` starts at a random
    5-minute step :math:`s_b` of the week and its step ``t`` reads time of day
    :math:`((s_b + t) \bmod 288) / 288` and day of week
    :math:`\lfloor (s_b + t) / 288 \rfloor \bmod 7`, the same for every sensor. Seeded by
    the caller (``torch.manual_seed``).

    Shapes:
        returns ``[batch, 12, sensors, in_features]``.
    """
    x = torch.randn(batch, 12, sensors, in_features, device=device)
    step = torch.randint(0, 7 * STEPS_PER_DAY, (batch, 1), device=device) + torch.arange(12, device=device)
    calendar = {
        TIME_OF_DAY_FEATURE: (step % STEPS_PER_DAY).float() / STEPS_PER_DAY,
        DAY_OF_WEEK_FEATURE: (step // STEPS_PER_DAY % 7).float(),
    }
    for feature, values in calendar.items():
        if feature < in_features:
            x[..., feature] = values[:, :, None]
    return x


@dataclass
class StepResult:
    """Measurements for one (model, graph, batch, device)."""

    model: str
    graph: str
    sensors: int
    batch: int
    device: str
    parameters: int
    train_samples_per_s: float
    infer_samples_per_s: float
    train_step_s: float
    infer_step_s: float
    train_gflop_per_sample: float
    infer_gflop_per_sample: float
    peak_memory_mb: float
    memory_increase_mb: float
    memory_kind: str


def _rss_mb() -> float:
    """This process's peak resident set in MiB: ``VmHWM`` of ``/proc/self/status`` where there is
    one. Not ``ru_maxrss`` first: on Linux a child started by fork/vfork + exec inherits its
    parent's peak there (the kernel folds the old address space's high-water mark into it at
    exec), so a fresh measuring process would report at least the benchmark's own peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return _rss_mb()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_measurements(
    model: nn.Module,
    train_forward: Callable[[], Tensor],
    infer_forward: Callable[[], Tensor],
    target: Tensor,
    *,
    steps: int,
    warmup: int,
    device: torch.device,
) -> dict[str, Any]:
    """Time ``steps`` training and inference steps of ``model`` after ``warmup`` of each (the
    median step; each step synchronised on CUDA).

    ``train_forward()`` / ``infer_forward()`` return the forecast for the fixed input batch
    (ours: ``model(x, graph, ...)``; a peer's: its own call, :mod:`.peer_models`). A training step
    is that forward, the MAE against ``target``, backward and an Adam step (lr 1e-3, the fused
    implementation, as ``stgraph train`` builds it; the same for the peers).

    Returns the :class:`StepResult` fields this measures: parameters, samples/s and seconds
    per step, GFLOP per sample, peak memory, its increase and kind.

    Shapes:
        target: ``[batch, horizon, nodes, 1]``, as the forecasts.
    """
    batch = target.shape[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def train_step() -> None:
        loss = (train_forward() - target).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer_step() -> None:
        with torch.no_grad():
            infer_forward()

    model.train()
    # CPU: the resident set before the first step (after it, a caching allocator keeps the step's
    # memory, which would hide the step's own use); CUDA: live tensors after the warm-up.
    baseline = None if device.type == "cuda" else _current_rss_mb()
    for _ in range(warmup):
        train_step()
    _sync(device)
    if device.type == "cuda":
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    # the median step: a transient load on a shared machine skews a mean over a few steps
    train_s = timed(train_step, device, steps, warmup=False, statistic=statistics.median)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        increase, kind = peak - baseline / 2**20, "torch.cuda.max_memory_allocated"
    else:
        peak = _rss_mb()
        increase, kind = peak - baseline, "process peak RSS (VmHWM)"

    with FlopCounterMode(display=False) as counter:
        train_step()
    train_flops = counter.get_total_flops()

    model.eval()
    for _ in range(warmup):
        infer_step()
    _sync(device)
    infer_s = timed(infer_step, device, steps, warmup=False, statistic=statistics.median)
    with FlopCounterMode(display=False) as counter:
        infer_step()
    infer_flops = counter.get_total_flops()

    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": batch / train_s,
        "infer_samples_per_s": batch / infer_s,
        "train_step_s": train_s,
        "infer_step_s": infer_s,
        "train_gflop_per_sample": train_flops / batch / 1e9,
        "infer_gflop_per_sample": infer_flops / batch / 1e9,
        "peak_memory_mb": peak,
        "memory_increase_mb": increase,
        "memory_kind": kind,
    }


def measure(
    model_name: str,
    graph_name: str,
    *,
    batch: int = 64,
    steps: int = 3,
    warmup: int = 1,
    device: str = "cpu",
    options: dict[str, Any] | None = None,
) -> StepResult:
    """Time ``steps`` training and inference steps of ``model_name`` on ``graph_name`` after ``warmup``.

    The process reuses freed CPU memory as ``stgraph train`` sets it up
    (:func:`stgraph.ops.reuse_freed_memory`; ``STGRAPH_MALLOC=system`` measures without).
    """
    reuse_freed_memory()
    device_ = torch.device(device)
    graph = load_graph(graph_name)
    config = {**PAPER_CONFIGS.get(model_name, {"in_features": 2}), **(options or {})}
    torch.manual_seed(0)
    model = models.create(model_name, num_sensors=graph.num_sensors, **config).to(device_)
    x = window_inputs(batch, graph.num_sensors, config["in_features"], device=device_)
    y = torch.randn(batch, 12, graph.num_sensors, 1, device=device_)
    measured = step_measurements(
        model,
        lambda: model(x, graph, target=y, teacher_forcing=0.5),
        lambda: model(x, graph),
        y,
        steps=steps,
        warmup=warmup,
        device=device_,
    )
    return StepResult(model=model_name, graph=graph_name, sensors=graph.num_sensors, batch=batch, device=str(device_), **measured)


def run_isolated(
    module: str, request: dict[str, Any], *, python: str = sys.executable, env: dict[str, str] | None = None
) -> dict:
    """``python -m module '<request as JSON>'`` in a fresh process; the JSON object it prints last.

    A fresh process per configuration makes its peak RSS this configuration's alone; ``python``
    may be another interpreter (the peers' environment), ``env`` its environment.
    """
    done = subprocess.run([python, "-m", module, json.dumps(request)], capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RuntimeError(f"{error} (in {python} -m {module} {json.dumps(request)})\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_isolated(model_name: str, graph_name: str, **kwargs: Any) -> StepResult:
    """:func:`measure` in a fresh Python process, so the peak RSS belongs to this configuration alone."""
    return StepResult(
        **run_isolated("benchmarks.speed.model_step", {"model_name": model_name, "graph_name": graph_name, **kwargs})
    )


def serve(request: str, measure_fn: Callable[..., Any]) -> None:
    """A :func:`run_isolated` subprocess: one JSON request in (``threads`` sets torch's CPU
    threads, the rest are ``measure_fn``'s keyword arguments), one JSON line out."""
    args = json.loads(request)
    threads = args.pop("threads", None)
    if threads:
        torch.set_num_threads(threads)
    print(json.dumps(asdict(measure_fn(**args))))


if __name__ == "__main__":
    serve(sys.argv[1], measure)
