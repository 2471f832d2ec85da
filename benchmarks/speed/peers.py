r"""Peer libraries (PyTorch Geometric Temporal, Torch Spatiotemporal, BasicTS) measured in the same run as ours.

The peers are optional and never in CI: they need compiled torch-scatter / torch-sparse, so they
usually live in their own environment. ``python -m benchmarks.speed --peer-python
/path/to/peers/bin/python`` runs each peer configuration (:data:`.peer_models.PEER_MODELS`) in a
fresh subprocess of that interpreter, with ``PYTHONPATH`` set to this checkout so ``benchmarks``
and ``stgraph`` import there; when the peers import in the current interpreter, also in a
subprocess of it. Each is timed by the same loop as ours
(:func:`benchmarks.speed.model_step.step_measurements`: forward, MAE, backward, Adam; inference;
FLOPs; peak RSS of the fresh process), on the same graph, batch and random 12 -> 12 inputs.

The comparison (:func:`against_peers`) takes, per model and graph, the fastest peer by training
samples/s and prints ours / peer for speed and peer / ours for peak memory beside the issue's
targets. Without measured peers, :func:`against_quoted` prints the ratio to the training
throughputs the issue quotes (**quoted, not re-measured**).

    python -m benchmarks.speed.peers '{"peer": "tsl-dcrnn", "graph_name": "metr-la", "batch": 64}'
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.speed.graphs import load_graph
from benchmarks.speed.model_step import PAPER_CONFIGS, StepResult, run_isolated, serve, step_measurements, window_inputs
from benchmarks.speed.peer_models import build_peer, peer_model

__all__ = [
    "MEMORY_TARGET",
    "QUOTED_PEERS",
    "TARGET_RATIO",
    "PeerStepResult",
    "against_peers",
    "against_quoted",
    "installed_peers",
    "measure_peer",
    "measure_peer_isolated",
    "probe_interpreter",
]

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = {"PyTorch Geometric Temporal": "torch_geometric_temporal", "Torch Spatiotemporal": "tsl", "BasicTS": "basicts"}

#: Training samples/s of the fastest peer per model, as the issue quotes them (2-core CPU).
QUOTED_PEERS: dict[str, dict[str, float]] = {
    "stgcn": {"PyTorch Geometric Temporal": 5.3, "Torch Spatiotemporal": 3.2},  # PGT quoted as 5.0-5.3
    "dcrnn": {"PyTorch Geometric Temporal (encoder only)": 1.2, "Torch Spatiotemporal": 0.8},
    "graph_wavenet": {"Torch Spatiotemporal": 2.9},  # quoted as 2.3-2.9
}
#: The issues' targets: ours at least this many times the fastest peer's training samples/s
#: (the 2019 models: issue 12; the newer ones, wherever a peer implements them: issue 14).
TARGET_RATIO = {"stgcn": 10.0, "dcrnn": 5.0, "graph_wavenet": 5.0, "stid": 3.0, "agcrn": 3.0, "mtgnn": 3.0, "gman": 3.0}
#: Issue 12's memory targets (the 2019 models): the fastest peer's peak memory at least this
#: many times ours. Issue 14 asks only that the newer models' peak memory be reported.
MEMORY_TARGET = {"stgcn": 3.0, "dcrnn": 3.0, "graph_wavenet": 3.0}


def installed_peers() -> dict[str, bool]:
    """Which peer libraries are on this interpreter's path (not whether they import)."""
    return {name: importlib.util.find_spec(module) is not None for name, module in PACKAGES.items()}


@dataclass
class PeerStepResult(StepResult):
    """A peer's measurements (``model`` is our model it is compared with) and where they ran."""

    peer: str
    library: str
    implementation: str
    python: str


def measure_peer(
    peer: str, graph_name: str, *, batch: int = 64, steps: int = 3, warmup: int = 1, device: str = "cpu"
) -> PeerStepResult:
    """Time ``PEER_MODELS[peer]`` exactly as :func:`~benchmarks.speed.model_step.measure` times ours.

    Inputs as ours: ``[batch, 12, sensors, in_features]`` windows of
    :func:`~benchmarks.speed.model_step.window_inputs` with the paper's features
    (:data:`~benchmarks.speed.model_step.PAPER_CONFIGS`), seed 0.
    """
    spec = peer_model(peer)
    device_ = torch.device(device)
    graph = load_graph(graph_name)
    config = PAPER_CONFIGS[spec.model]
    torch.manual_seed(0)
    module, forecast = build_peer(peer, graph, config["in_features"])
    module.to(device_)
    x = window_inputs(batch, graph.num_sensors, config["in_features"], device=device_)
    y = torch.randn(batch, 12, graph.num_sensors, 1, device=device_)
    measured = step_measurements(module, lambda: forecast(x), lambda: forecast(x), y, steps=steps, warmup=warmup, device=device_)
    return PeerStepResult(
        model=spec.model,
        graph=graph_name,
        sensors=graph.num_sensors,
        batch=batch,
        device=str(device_),
        **measured,
        peer=peer,
        library=spec.library,
        implementation=spec.implementation,
        python=sys.executable,
    )


def _environment() -> dict[str, str]:
    """This environment with the checkout first on ``PYTHONPATH`` (another interpreter lacks stgraph)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    return env


def measure_peer_isolated(peer: str, graph_name: str, *, python: str = sys.executable, **kwargs: Any) -> PeerStepResult:
    """:func:`measure_peer` in a fresh process of ``python`` (peak RSS: this configuration's alone)."""
    request = {"peer": peer, "graph_name": graph_name, **kwargs}
    return PeerStepResult(**run_isolated("benchmarks.speed.peers", request, python=python, env=_environment()))


# Distribution versions (PGT 0.56.2's own __version__ still says 0.54.0), for modules that import.
_PROBE = """
import importlib, importlib.metadata, json, torch
found = {"torch": torch.__version__}
for name, distribution in (("torch_geometric", "torch_geometric"), ("torch_scatter", "torch_scatter"),
                           ("torch_sparse", "torch_sparse"), ("torch_geometric_temporal", "torch-geometric-temporal"),
                           ("tsl", "torch-spatiotemporal"), ("basicts", "basicts")):
    try:
        importlib.import_module(name)
        found[name] = importlib.metadata.version(distribution)
    except Exception as error:
        found[name] = None
        found[name + "_error"] = f"{type(error).__name__}: {error}"
print(json.dumps(found))
"""


def probe_interpreter(python: str) -> dict[str, Any]:
    """Versions of torch, PyG and the peers in ``python`` (``None`` plus ``<name>_error`` for
    one that does not import). Raises FileNotFoundError when ``python`` is not an interpreter."""
    if not Path(python).is_file():
        raise FileNotFoundError(f"peer interpreter {python} not found (build the peers' environment: benchmarks/README.md)")
    done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, check=False, env=_environment(), timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"peer interpreter {python} failed to start torch:\n{done.stderr[-1000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fastest(peers: list[dict], model: str, graph: str) -> list[dict]:
    """The peer results for ``model`` on ``graph``, fastest training first."""
    rows = [p for p in peers if p["model"] == model and p["graph"] == graph]
    return sorted(rows, key=lambda p: p["train_samples_per_s"], reverse=True)


def against_peers(ours: list[dict], peers: list[dict], *, memory_comparable: bool = True) -> list[str]:
    """Markdown: ours beside every measured peer of the same model and graph, then the verdict
    against the fastest one (speed ours / peer, memory peer / ours, and the issue's targets).

    ``memory_comparable`` is False when ours ran in the benchmark's own process (``--no-isolate``),
    whose peak RSS covers every configuration: the memory ratio is then not printed.
    """
    lines = [
        "| model | graph | peer | ours train samples/s | peer train samples/s | train ours/peer "
        "| inference ours/peer | ours peak MB | peer peak MB | memory peer/ours |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for result in ours:
        ranked = _fastest(peers, result["model"], result["graph"])
        for peer in ranked:
            memory = f"{peer['peak_memory_mb'] / result['peak_memory_mb']:.2f}x" if memory_comparable else "n/a"
            lines.append(
                f"| {result['model']} | {result['graph']} | {peer['library']}: {peer['implementation']} "
                f"| {result['train_samples_per_s']:.2f} | {peer['train_samples_per_s']:.2f} "
                f"| {result['train_samples_per_s'] / peer['train_samples_per_s']:.2f}x "
                f"| {result['infer_samples_per_s'] / peer['infer_samples_per_s']:.2f}x "
                f"| {result['peak_memory_mb']:.0f} | {peer['peak_memory_mb']:.0f} | {memory} |"
            )
        if not ranked:
            continue
        fastest = ranked[0]
        speed = result["train_samples_per_s"] / fastest["train_samples_per_s"]
        target = TARGET_RATIO.get(result["model"])
        verdict = (
            f"- **{result['model']}** on {result['graph']}: {speed:.2f}x the fastest peer "
            f"({fastest['library']}: {fastest['implementation']})"
        )
        if target is not None:
            verdict += f", target {target:.0f}x: {'met' if speed >= target else 'not met'}"
        if memory_comparable:
            memory = fastest["peak_memory_mb"] / result["peak_memory_mb"]
            verdict += f"; its peak memory is {memory:.2f}x ours"
            memory_target = MEMORY_TARGET.get(result["model"])
            if memory_target is not None:
                verdict += f", target {memory_target:.0f}x: {'met' if memory >= memory_target else 'not met'}"
        verdicts.append(verdict)
    return lines + (["", *verdicts] if verdicts else [])


def against_quoted(ours: list[dict]) -> list[str]:
    """Markdown: ours on the METR-LA graph against the issue's quoted peer throughputs."""
    lines = ["| model | ours train samples/s | fastest peer (quoted) | ratio | target |", "| --- | ---: | --- | ---: | ---: |"]
    for result in ours:
        if result["graph"] != "metr-la" or result["model"] not in QUOTED_PEERS:
            continue
        peer, rate = max(QUOTED_PEERS[result["model"]].items(), key=lambda item: item[1])
        lines.append(
            f"| {result['model']} | {result['train_samples_per_s']:.2f} | {peer}: {rate} "
            f"| {result['train_samples_per_s'] / rate:.2f}x | {TARGET_RATIO[result['model']]:.0f}x |"
        )
    return lines


if __name__ == "__main__":
    serve(sys.argv[1], measure_peer)
