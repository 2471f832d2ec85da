"""What a sensor graph's builder lost, in the lines the ``stgraph graph`` and ``stgraph train`` print.

For example, for a bus network whose 690 links between consecutive stops the 0.1 threshold
of the Gaussian kernel thins out::

    warning: links.csv: the kernel threshold 0.1 dropped 369 of 690 links (sigma 812); 216 of
    675 sensors are now isolated and the graph has 240 components (largest 96 sensors). To keep
    them: --threshold 0.01, or take the file's values as weights with --edges links.csv (third
    column headed "weight").
"""

from __future__ import annotations

from stgraph.graph.report import BuildReport
from stgraph.graph.sensor_graph import SensorGraph

__all__ = ["graph_diagnostics"]


def graph_diagnostics(graph: SensorGraph) -> list[str]:
    """How the graph's file was read and what the graph lost: :attr:`BuildReport.notes`, then
    :meth:`BuildReport.warnings`; empty when there is nothing to say.

    A graph without a build report (made in memory, loaded from ``.npz``, read by
    :func:`~stgraph.graph.from_matrix`, cut to a subgraph) is reported as a ready-made
    adjacency: isolated sensors and components only, no threshold advice.
    """
    report = graph.build_report
    if report is None:
        report = BuildReport(source=None if graph.source is None else str(graph.source), rows=0, rows_used=0, kind="adjacency")
        report.measure(graph.adjacency, graph.sensor_ids)
    return report.notes + report.warnings()
