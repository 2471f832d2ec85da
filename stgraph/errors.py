"""Exceptions raised on bad input. All subclass :class:`ValueError`.

Messages name what is wrong and where: the file, the column, the row, the sensor or the
shape, and what was expected.
"""

__all__ = ["ConfigError", "DataFileError", "GraphError", "RunError", "SensorDataError", "ShapeError"]


class SensorDataError(ValueError):
    """A readings file or series is malformed (bad column, timestamp, value or sensor)."""


class DataFileError(SensorDataError):
    """A dataset file on disk is not the one its catalog entry describes (wrong size or checksum)."""


class GraphError(ValueError):
    """A sensor graph input is malformed (bad distance, weight, matrix or sensor id)."""


class ShapeError(ValueError):
    """A tensor does not have the shape a model or layer expects."""


class ConfigError(ValueError):
    """A configuration file or override names an unknown key or holds a bad value."""


class RunError(ValueError):
    """A run directory cannot be used as asked (it exists, holds nothing to resume, is damaged)."""
