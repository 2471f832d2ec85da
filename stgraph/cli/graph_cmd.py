"""``stgraph graph``: build a sensor graph from the user's files, print its statistics, save it.

Examples::

    stgraph graph --distances distances_la_2012.csv --sensors graph_sensor_ids.txt --out metr-la.npz
    stgraph graph --distance-matrix W_228.csv --out pemsd7m.npz
    stgraph graph --locations graph_sensor_locations_bay.csv --neighbors 8 --out bay-knn.npz
    stgraph graph --edges links.csv --sensors stops.txt --out bus.npz
    stgraph graph --adjacency adj_mx.pkl --out metr-la.npz --force

``--out`` must not be one of the inputs, and an existing file is replaced only with ``--force``.
After the statistics come the lines of :func:`~stgraph.graph.graph_diagnostics`: how an edge
file's third column was read, and a warning when the threshold dropped links, left sensors
isolated or split the network, with the option that keeps them.
"""

from __future__ import annotations

import argparse
import math

from stgraph.cli.arguments import positive_int
from stgraph.graph import (
    SensorGraph,
    from_distance_matrix,
    from_distances,
    from_edge_list,
    from_locations,
    from_matrix,
    graph_diagnostics,
    save_graph,
)
from stgraph.io.outputs import OutputError, check_not_input, check_output

__all__ = ["add_parser", "format_statistics", "run"]

# the options that name files the command reads (argparse destinations)
_INPUTS = ("distances", "distance_matrix", "locations", "adjacency", "edges", "sensors")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "graph",
        help="build a sensor graph from distances, locations or an adjacency file",
        description="Build a SensorGraph, print its statistics and write it to .npz (stgraph.graph.load_graph reads it).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--distances", metavar="FILE", help="road distances from,to,cost (DCRNN layout, PEMS0x edge lists)")
    source.add_argument("--distance-matrix", metavar="FILE", help="dense [sensors, sensors] distances (PeMSD7(M) W_228.csv)")
    source.add_argument("--locations", metavar="FILE", help="sensor id, latitude, longitude CSV")
    source.add_argument("--adjacency", metavar="FILE", help="ready-made adjacency: .csv, .npy, .npz or DCRNN .pkl")
    source.add_argument(
        "--edges",
        metavar="FILE",
        help="edge list from,to[,value]: a third column headed distance/cost/length/time is a distance "
        "(Gaussian kernel), one headed weight (or none) a weight as given",
    )
    parser.add_argument("--sensors", metavar="FILE", help="sensor ids in node order (comma- or newline-separated)")
    parser.add_argument("--threshold", type=float, default=0.1, help="kernel weights below this become 0 (default 0.1)")
    parser.add_argument(
        "--sigma", type=float, default=None, help="kernel width in the distance unit (default: std of the distances)"
    )
    parser.add_argument(
        "--neighbors",
        "--k",
        dest="k",
        type=positive_int,
        default=None,
        help="with --locations: connect each sensor to its K nearest sensors",
    )
    parser.add_argument("--undirected", action="store_true", help="with --distances or --edges: use max(A, A^T)")
    parser.add_argument("--no-self-loops", action="store_true", help="with --distance-matrix: zero the diagonal")
    parser.add_argument("--out", metavar="FILE", required=True, help="where to write the graph (.npz)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=lambda args: run(args, parser))
    return parser


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    if args.k is not None and not args.locations:
        if parser is None:
            raise SystemExit("stgraph graph: error: --neighbors applies to --locations only")
        parser.error("--neighbors applies to --locations only")
    inputs = {f"--{name.replace('_', '-')}": getattr(args, name) for name in _INPUTS}
    check_not_input(args.out, inputs)  # first: `--locations L.csv --out L.csv` names both files
    if not str(args.out).lower().endswith(".npz"):
        raise OutputError(f"--out {args.out}: a graph is written as .npz; name the file *.npz")
    check_output(args.out, inputs=inputs, force=getattr(args, "force", False))
    if args.distances:
        graph = from_distances(args.distances, args.sensors, args.threshold, sigma=args.sigma, directed=not args.undirected)
    elif args.distance_matrix:
        graph = from_distance_matrix(
            args.distance_matrix, args.sensors, args.threshold, sigma=args.sigma, self_loops=not args.no_self_loops
        )
    elif args.locations:
        graph = from_locations(args.locations, args.sensors, threshold=args.threshold, sigma=args.sigma, k=args.k)
    elif args.edges:
        graph = from_edge_list(args.edges, args.sensors, threshold=args.threshold, sigma=args.sigma, directed=not args.undirected)
    else:
        graph = from_matrix(args.adjacency, args.sensors)
    print(format_statistics(graph))
    for line in graph_diagnostics(graph):
        print(line)
    save_graph(graph, args.out)
    print(f"wrote {args.out}")
    return 0


def format_statistics(graph: SensorGraph) -> str:
    """The statistics a user checks before training, one per line."""
    stats = graph.statistics()
    lines = [
        f"sensors               {stats['sensors']}",
        f"edges                 {stats['edges']} ({stats['self_loops']} self-loops)",
        f"density               {stats['density']:.4%} of sensor pairs",
        f"connected components  {stats['weak_components']} weak (largest {stats['largest_weak_component']} sensors), "
        f"{stats['strong_components']} strong",
        f"isolated sensors      {stats['isolated_sensors']} (no edge to or from another sensor after thresholding)",
        f"weight range          {_number(stats['weight_min'])} .. {_number(stats['weight_max'])} (mean {_number(stats['weight_mean'])})",
        f"symmetric             {'yes' if stats['symmetric'] else 'no'}",
    ]
    report = graph.build_report
    if report is not None:
        if report.sigma is not None:
            lines.append(f"kernel sigma          {report.sigma:.6g}")
        if report.rows_skipped:
            lines.append(
                f"rows skipped          {report.rows_skipped} of {report.rows} (naming {report.unknown_sensors} sensors outside the list)"
            )
    return "\n".join(lines)


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}"
