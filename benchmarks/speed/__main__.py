"""``python -m benchmarks.speed``: model-step throughput, memory and FLOPs against the machine's ceilings.

Examples::

    python -m benchmarks.speed --quick                       # seconds: tiny graph, batch 2
    python -m benchmarks.speed --graphs metr-la              # CPU, paper configurations, batch 64
    python -m benchmarks.speed --device cuda --graphs metr-la pems-bay knn-2000 knn-8600 --profile --epoch
    python -m benchmarks.speed --graphs metr-la --peer-python ../.venv-peers/bin/python   # + the peers, measured

Prints the machine (CPU model, cores, torch threads, GPU), its measured fp32 GEMM rate and copy
bandwidth, one row per (model, graph): training and inference samples/s, peak memory, GFLOP per
sample and the share of the GEMM rate the dense work reaches in training; then the ratio to the
peers' training throughput quoted in the issue (CPU, METR-LA graph only), and with ``--profile``
each model's top operators. With ``--peer-python`` (the peers' environment) the peers' models run
at the same configurations in the same run (:mod:`.peers`, :mod:`.peer_models`) and the ratios
are measured ones. Writes Markdown + JSON to benchmarks/results/speed-<device>[-<tag>].{md,json}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result
from benchmarks.options import per_model_counts
from benchmarks.speed.ceilings import copy_bandwidth, gemm_rate
from benchmarks.speed.model_step import PAPER_CONFIGS, measure, measure_isolated
from benchmarks.speed.peer_models import PEER_MODELS
from benchmarks.speed.peers import against_peers, against_quoted, installed_peers, measure_peer_isolated, probe_interpreter

QUICK_GRAPH = "knn-40"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(PAPER_CONFIGS), help="default: stgcn dcrnn graph_wavenet")
    parser.add_argument(
        "--graphs",
        nargs="+",
        default=["metr-la", "pems-bay", "knn-2000", "knn-8600"],
        help="metr-la, pems-bay (real, from ../shared/data) and knn-<sensors>",
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--model-batch",
        nargs="*",
        default=["gman=16"],
        metavar="MODEL=BATCH",
        help="batch for one model and its peers (default gman=16, its recipe's: GMAN's attention over sensors "
        "keeps about 0.3 GB per METR-LA sample for the backward pass)",
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as the issue's numbers)")
    parser.add_argument("--tf32", action="store_true", help="CUDA: allow TF32 matrix products (default: strict fp32)")
    parser.add_argument("--profile", action="store_true", help="top operators of one training step per model (first graph)")
    parser.add_argument("--epoch", action="store_true", help="Graph WaveNet epoch time on a METR-LA-sized run (23,974 windows)")
    parser.add_argument(
        "--no-isolate", action="store_true", help="CPU: measure in this process (peak RSS then covers all configs)"
    )
    parser.add_argument(
        "--peer-python",
        help="the peers' interpreter (PyTorch Geometric Temporal, Torch Spatiotemporal): measure them in the same run",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        default=list(PEER_MODELS),
        choices=list(PEER_MODELS),
        metavar="PEER",
        help=f"peer configurations (default all: {', '.join(PEER_MODELS)})",
    )
    parser.add_argument("--peer-graphs", nargs="+", default=["metr-la"], help="graphs the peers run on (default metr-la)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 40-sensor kNN graph, batch 2, one step, in-process")
    parser.add_argument("--out", default=str(RESULTS), help="folder for speed-<device>.md/.json; 'none' to skip writing")
    parser.add_argument("--tag", default="", help="suffix of the result files' names (speed-<device>-<tag>), e.g. zoo")
    args = parser.parse_args(argv)
    args.model_batch = per_model_counts(args.model_batch, "--model-batch", "BATCH")
    if args.quick:
        args.graphs, args.batch, args.steps, args.warmup, args.no_isolate = [QUICK_GRAPH], 2, 1, 0, True
        args.peer_graphs, args.model_batch = [QUICK_GRAPH], {}
    return args


def batch_of(args: argparse.Namespace, model: str) -> int:
    """The batch ``model`` (ours and its peers) runs at: ``--model-batch``'s, else ``--batch``."""
    batch: int = args.model_batch.get(model, args.batch)
    return batch


def _row(result: dict, gemm: float) -> str:
    share = result["train_gflop_per_sample"] * result["train_samples_per_s"] / gemm
    return (
        f"| {result['model']} | {result['graph']} | {result['sensors']} | {result['batch']} | {result['parameters']:,} "
        f"| {result['train_samples_per_s']:.2f} | {result['infer_samples_per_s']:.2f} | {result['peak_memory_mb']:.0f} "
        f"| {result['memory_increase_mb']:.0f} | {result['train_gflop_per_sample']:.3f} | {share:.1%} |"
    )


def _peer_interpreters(peer_python: str | None) -> list[str]:
    """``--peer-python`` and, when a peer library is on this interpreter's path, this interpreter."""
    pythons = [peer_python] if peer_python else []
    here = any(installed_peers().values()) and not any(os.path.realpath(p) == os.path.realpath(sys.executable) for p in pythons)
    return pythons + ([sys.executable] if here else [])


@dataclass
class PeerRun:
    """What :func:`run_peers` measured: results, their Markdown table, what could not run, and
    each interpreter's library versions."""

    results: list[dict] = field(default_factory=list)
    table: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interpreters: dict[str, dict] = field(default_factory=dict)


PEER_TABLE = [
    "",
    "## Peers, measured in this run (each configuration in a fresh process of its interpreter)",
    "",
    "| model · peer | graph | sensors | batch | parameters | train samples/s | inference samples/s | peak MB "
    "| increase MB | train GFLOP/sample | share of GEMM |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def run_peers(args: argparse.Namespace, row: Callable[[dict], str]) -> PeerRun:
    """Each selected peer configuration on each ``--peer-graphs`` graph, in a fresh process of each
    peer interpreter; prints the table row by row as configurations finish (a peer step can take
    a minute at batch 64)."""
    run = PeerRun()
    selected = [key for key in args.peers if PEER_MODELS[key].model in args.models]
    for python in _peer_interpreters(args.peer_python) if selected else []:
        try:
            run.interpreters[python] = versions = probe_interpreter(python)
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            run.notes.append(f"{python}: {str(error).splitlines()[0]}")
            continue
        for key in selected:
            package = PEER_MODELS[key].package
            if versions.get(package) is None:
                run.notes.append(f"{key} not run with {python}: {versions.get(package + '_error', package + ' missing')}")
                continue
            for graph in args.peer_graphs:
                try:
                    result = measure_peer_isolated(
                        key,
                        graph,
                        python=python,
                        batch=batch_of(args, PEER_MODELS[key].model),
                        steps=args.steps,
                        warmup=args.warmup,
                        device=args.device,
                        threads=args.threads,
                    )
                except Exception as error:  # a failing peer (out of memory, an API change) is reported, the run goes on
                    run.notes.append(f"{key} on {graph} with {python} failed: {str(error).splitlines()[0][:200]}")
                    continue
                run.results.append(asdict(result))
                new = (PEER_TABLE if not run.table else []) + [
                    row({**run.results[-1], "model": f"{result.model} · {result.library}: {result.implementation}"})
                ]
                print("\n".join(new), flush=True)
                run.table += new
    return run


def peer_comparison(args: argparse.Namespace, ours: list[dict], run: PeerRun, isolated: bool) -> list[str]:
    """The "Against peers" section: measured ratios when any peer ran, else the issue's quotes
    (CPU, only where the METR-LA graph was measured: the quotes are for that graph)."""
    if run.results:
        specs = {p["peer"]: PEER_MODELS[p["peer"]] for p in run.results}
        section = ["", "## Against peers (measured in this run, same graph, batch and inputs)", ""]
        section += [
            f"Peers' interpreter {python}: "
            + ", ".join(f"{name} {version}" for name, version in versions.items() if version and not name.endswith("_error"))
            for python, versions in run.interpreters.items()
        ] + [""]
        section += against_peers(ours, run.results, memory_comparable=isolated)
        section += ["", "Peer configurations (how each differs from the paper's):", ""]
        section += [f"- `{key}` ({spec.library}: {spec.implementation}): {spec.notes}" for key, spec in specs.items()]
    elif args.device == "cpu" and any(result["graph"] == "metr-la" for result in ours):
        section = [
            "",
            "## Against peers (CPU, METR-LA graph)",
            "",
            f"Installed here: {installed_peers()}. **Peer numbers quoted from the issue, not re-measured** "
            "(2-core CPU, batch 64, 12 -> 12, METR-LA/Los-loop graph, 2 threads); measure them with "
            "`--peer-python` (benchmarks/README.md).",
            "",
        ]
        section += against_quoted(ours)
    else:
        section = []
    return section + (["", "Peers not measured:", ""] + [f"- {note}" for note in run.notes] if run.notes else [])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    size = 512 if args.quick else 2048
    gemm = gemm_rate(device, size)
    bandwidth = copy_bandwidth(device, 16 if args.quick else 256)
    info = {**machine(), **library_versions()}
    lines = [
        f"# Speed: model steps on {device.type.upper()}",
        "",
        f"machine: {info['cpu']}, {info['cpu_cores']} cores, torch threads {info['torch_threads']}"
        + (f", GPU {info['gpu']}" if "gpu" in info else "")
        + f"; torch {info['torch']}; {info['date']}",
        f"measured: fp32 GEMM ({size}^3) {gemm:.0f} GFLOP/s"
        + (" (TF32 allowed)" if device.type == "cuda" and args.tf32 else "")
        + f", copy {bandwidth:.1f} GB/s (read + write)",
        f"batch {args.batch}"
        + "".join(f", {model} {batch}" for model, batch in args.model_batch.items() if model in args.models)
        + f", 12 -> 12, median of {args.steps} timed steps after {args.warmup} warm-up; paper configurations "
        "(the inputs of each paper: STGCN and AGCRN the reading alone; DCRNN, Graph WaveNet and MTGNN + time of day; "
        "STID, STAEformer, GMAN and D2STGNN + time of day + day of week)",
        "",
        "| model | graph | sensors | batch | parameters | train samples/s | inference samples/s | peak MB | increase MB "
        "| train GFLOP/sample | share of GEMM |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    isolate = device.type == "cpu" and not args.no_isolate
    results = []
    for graph in args.graphs:
        for model in args.models:
            kwargs = {"batch": batch_of(args, model), "steps": args.steps, "warmup": args.warmup, "device": args.device}
            try:
                result = (
                    measure_isolated(model, graph, threads=args.threads, **kwargs) if isolate else measure(model, graph, **kwargs)
                )
            except Exception as error:  # a failing configuration (out of memory, a backend error) is reported, the run goes on
                row = f"| {model} | {graph} | | {kwargs['batch']} | | failed: {str(error).splitlines()[0][:80]} | | | | | |"
                print(row, flush=True)
                lines.append(row)
                continue
            results.append(asdict(result))
            row = _row(results[-1], gemm)
            print(row, flush=True)
            lines.append(row)

    peers = run_peers(args, lambda result: _row(result, gemm))
    comparison = peer_comparison(args, results, peers, isolate)
    print("\n".join(comparison), flush=True)
    comparison = peers.table + comparison

    profiles = {}
    if args.profile:
        from benchmarks.speed.profile import top_operators

        section = ["", f"## Top operators of one training step ({args.graphs[0]}, batch {args.batch})"]
        for model in args.models:
            profiles[model] = top_operators(model, args.graphs[0], batch=batch_of(args, model), device=args.device)
            section += [
                "",
                f"**{model}** (batch {batch_of(args, model)})",
                "",
                "| operator | calls | self ms | share |",
                "| --- | ---: | ---: | ---: |",
            ]
            section += [f"| {op['name']} | {op['calls']} | {op['self_ms']:.1f} | {op['share']:.0%} |" for op in profiles[model]]
        print("\n".join(section), flush=True)
        comparison += section

    epoch = None
    if args.epoch:
        from benchmarks.speed.epoch import graph_wavenet_epoch

        epoch = graph_wavenet_epoch(
            device=args.device, **({"windows": 64, "batch": 8, "graph_name": QUICK_GRAPH} if args.quick else {})
        )
        section = [
            "",
            f"Graph WaveNet training epoch, METR-LA-sized ({epoch['windows']:,} windows, batch {epoch['batch']}, "
            f"{epoch['sensors']} sensors): {epoch['seconds']:.2f} s ({epoch['samples_per_s']:.0f} samples/s)",
        ]
        print("\n".join(section), flush=True)
        comparison += section

    payload = {
        "machine": info,
        "gemm_gflops": gemm,
        "copy_gbps": bandwidth,
        "tf32": bool(args.tf32 and device.type == "cuda"),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
        "profiles": profiles,
        "graph_wavenet_epoch": epoch,
        "peers": peers.results,
        "peer_interpreters": peers.interpreters,
        "peer_notes": peers.notes,
    }
    if args.out != "none":
        md, js = write_result(
            f"speed-{device.type}" + ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else ""),
            "\n".join(lines + comparison),
            payload,
            args.out,
        )
        print(f"\nwritten: {md} and {js}", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
