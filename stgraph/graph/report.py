"""What a graph builder did with its input file, and what the graph lost on the way.

:class:`BuildReport` counts the rows a builder read, used and skipped, the links the Gaussian
kernel's threshold dropped, and the sensors and components the finished graph is left with.
:meth:`BuildReport.warnings` words what was lost, with the numbers and the remedy, and
:func:`stgraph.graph.diagnostics.graph_diagnostics` gives the lines the ``stgraph graph`` and
``stgraph train`` commands print.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stgraph.graph.statistics import isolated_mask, weak_components

__all__ = ["BuildReport", "name_sensors", "short_number", "threshold_keeping"]

logger = logging.getLogger(__name__)

_NAMED = 10  # sensors named in a message before "and N more"
_SMALLEST_SUGGESTED = 1e-6  # below it, suggest threshold 0 rather than 1e-49

#: builders whose links are every pair of sensors (a complete distance table), not rows of a file
_COMPLETE_TABLES = ("distance_matrix", "locations")


def name_sensors(sensor_ids: list[str]) -> str:
    """The first ten of ``sensor_ids``, comma-separated, then ``" and N more"`` if any."""
    more = len(sensor_ids) - _NAMED
    return ", ".join(sensor_ids[:_NAMED]) + (f" and {more} more" if more > 0 else "")


def threshold_keeping(weights: np.ndarray) -> float | None:
    r"""A threshold that keeps all of ``weights``: the largest power of ten not above the smallest.

    :math:`10^{\lfloor \log_{10} \min w \rfloor}`, or 0 when that is below :math:`10^{-6}`
    (a link so long that only keeping every link keeps it); None when there is no weight.

    Shapes:
        weights: ``[links]`` kernel weights in ``[0, 1]``.
    """
    if weights.size == 0:
        return None
    smallest = float(weights.min())
    if smallest < _SMALLEST_SUGGESTED:
        return 0.0
    return float(10.0 ** math.floor(math.log10(smallest)))


def short_number(value: float) -> str:
    """``812`` for 812.37, ``1.5`` for 1.5: three significant digits, no exponent above 100."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


@dataclass
class BuildReport:
    """What a builder did with its input file, for users to check nothing was lost silently.

    Attributes:
        source: the file read.
        rows: data rows read (distance or edge rows, or location rows).
        rows_used: rows between two listed sensors (for edge files, after removing repeats).
        rows_skipped: rows naming a sensor outside ``sensor_ids``.
        unknown_sensors: distinct ids in skipped rows that are not in ``sensor_ids``.
        duplicate_rows: rows repeating an earlier (from, to) pair; the last one is used.
        isolated_sensors: sensors with no edge to or from another sensor in the finished graph
            (no row in the file, or every link dropped by the threshold).
        sigma: kernel width used (same unit as the distances), or None.
        threshold: kernel threshold used, or None.
        kind: how the graph was made: ``"distances"`` (kernel of a road-distance file),
            ``"edge_distances"`` (kernel of an edge file whose third column is a distance),
            ``"distance_matrix"``, ``"locations"`` (kernel of great-circle distances),
            ``"neighbors"`` (k nearest locations), ``"edge_weights"`` (weights as given),
            ``"adjacency"`` (a ready-made matrix).
        links: links between two distinct listed sensors in the input: rows of a link file,
            every ordered pair of a complete table, ``k`` per sensor for nearest neighbours.
        links_kept: of these, those with a non-zero weight in the graph.
        links_dropped: of these, those the kernel threshold set to 0.
        suggested_threshold: a lower threshold (a power of ten) that keeps every dropped link
            of a link file, or gives every sensor of a complete table a link; None when none does.
        sensors: sensors in the graph.
        components: weakly connected components of the graph.
        largest_component: sensors in the largest of them.
        notes: how the file was read (an edge file's third column), one line each.
    """

    source: str | None
    rows: int
    rows_used: int
    rows_skipped: int = 0
    unknown_sensors: int = 0
    duplicate_rows: int = 0
    isolated_sensors: list[str] = field(default_factory=list)
    sigma: float | None = None
    threshold: float | None = None
    kind: str = "edge_weights"
    links: int = 0
    links_kept: int = 0
    links_dropped: int = 0
    suggested_threshold: float | None = None
    sensors: int = 0
    components: int = 0
    largest_component: int = 0
    notes: list[str] = field(default_factory=list)

    def measure(self, adjacency: sp.spmatrix, sensor_ids: list[str]) -> None:
        """Record the finished graph's sensors, isolated sensors and weakly connected components."""
        self.sensors = len(sensor_ids)
        self.isolated_sensors = [sensor_ids[i] for i in np.flatnonzero(isolated_mask(adjacency))]
        self.components, self.largest_component = weak_components(adjacency)

    def log(self) -> None:
        """Log skipped and repeated rows (info); what the graph lost is :meth:`warnings`' to say."""
        if self.rows_skipped:
            logger.info(
                "%s: skipped %d of %d rows naming %d sensors outside the sensor list",
                self.source,
                self.rows_skipped,
                self.rows,
                self.unknown_sensors,
            )
        if self.duplicate_rows:
            logger.info("%s: %d rows repeat an earlier (from, to) pair; the last one is used", self.source, self.duplicate_rows)

    def warnings(self) -> list[str]:
        """What the graph lost, with the numbers and the remedy; empty when nothing was.

        One ``warning:`` line when sensors are isolated or the network falls into several
        weakly connected components; one ``note:`` line when the threshold dropped links of a
        link file but every sensor keeps one and the graph stays connected (in a complete
        table, dropping the weak pairs is what the kernel is for).
        """
        name = Path(self.source).name if self.source else "FILE"
        where = f"{name}: " if self.source else ""
        dropped = ""
        if self.links_dropped:
            what = "sensor pairs" if self.kind in _COMPLETE_TABLES else "links"
            unit = " m" if self.kind == "locations" else ""
            sigma = f" (sigma {short_number(self.sigma)}{unit})" if self.sigma is not None else ""
            dropped = f"the kernel threshold {self.threshold:g} dropped {self.links_dropped} of {self.links} {what}{sigma}"
        lost = []
        if self.isolated_sensors:
            now = " now" if dropped else ""
            lost.append(f"{len(self.isolated_sensors)} of {self.sensors} sensors are{now} isolated")
        if self.components > 1:
            lost.append(f"the graph has {self.components} components (largest {self.largest_component} sensors)")
        if not lost:
            if dropped and self.kind not in _COMPLETE_TABLES:
                return [f"note: {where}{dropped}; every sensor keeps a link and the graph is connected."]
            return []
        state = " and ".join(lost)
        remedy = self._remedy(name)
        text = f"{dropped}; {state}" if dropped else state
        return [f"warning: {where}{text}." + (f" {remedy}" if remedy else "")]

    def _remedy(self, name: str) -> str:
        """What to pass to keep what was lost, for this kind of input."""
        if self.kind == "neighbors":
            return "To link more sensors: a larger --neighbors K." if self.components > 1 else ""
        if not self.links_dropped:
            return ""
        threshold = f"--threshold {self.suggested_threshold:g}" if self.suggested_threshold is not None else "a lower --threshold"
        if self.kind == "distances":
            return (
                f"To keep them: {threshold}, or take the file's values as weights with --edges {name} "
                '(third column headed "weight").'
            )
        if self.kind == "edge_distances":
            return f'To keep them: {threshold}, or head the third column "weight" to take the values as weights.'
        if self.kind == "locations":
            return f"To link more sensors: {threshold}, or link each sensor to its K nearest with --neighbors K."
        return f"To link more sensors: {threshold}."
