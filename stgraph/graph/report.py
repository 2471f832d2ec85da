"""What a graph builder did with its input file: rows used, skipped, repeated; isolated sensors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["BuildReport", "name_sensors"]

logger = logging.getLogger(__name__)

_NAMED = 10  # sensors named in a message before "and N more"


def name_sensors(sensor_ids: list[str]) -> str:
    """The first ten of ``sensor_ids``, comma-separated, then ``" and N more"`` if any."""
    more = len(sensor_ids) - _NAMED
    return ", ".join(sensor_ids[:_NAMED]) + (f" and {more} more" if more > 0 else "")


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
        isolated_sensors: listed sensors that no row (edge files) or no edge (locations)
            links to another listed sensor.
        sigma: kernel width used (same unit as the distances), or None.
        threshold: kernel threshold used, or None.
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

    def log(self) -> None:
        """Log skipped rows (info) and isolated sensors (warning)."""
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
        if self.isolated_sensors:
            logger.warning(
                "%s: %d listed sensors are isolated (no row or edge links them to another sensor): %s",
                self.source,
                len(self.isolated_sensors),
                name_sensors(self.isolated_sensors),
            )
