"""Request bodies for ``POST /forecast``: real windows of the committed sample, built before timing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries

__all__ = ["SAMPLE_READINGS", "forecast_body", "request_bodies"]

SAMPLE_READINGS = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "readings.csv.gz"


def forecast_body(series: SensorSeries, end: int, lookback: int, feature: int = 0) -> dict[str, object]:
    """The JSON body for the window of ``lookback`` steps ending before step ``end`` of ``series``:
    ``timestamps`` (ISO, at the series' interval), ``sensors`` (ids in the series' order) and
    ``values`` as ``[steps][sensors]``, a masked reading as ``None`` (JSON ``null``).

    Raises ``ValueError`` when the window does not fit in the series.
    """
    if not lookback <= end <= series.num_steps:
        raise ValueError(
            f"{series.source}: a window of {lookback} steps ending at step {end} does not fit in {series.num_steps} steps"
        )
    rows = slice(end - lookback, end)
    readings = series.values[rows, :, feature].astype(np.float64).tolist()
    observed = series.mask[rows, :, feature].tolist()
    values = [
        [value if seen else None for value, seen in zip(row, seen_row, strict=True)]
        for row, seen_row in zip(readings, observed, strict=True)
    ]
    timestamps = [stamp.isoformat() for stamp in series.timestamps[rows].to_pydatetime()]
    return {"timestamps": timestamps, "sensors": [str(sensor) for sensor in series.sensor_ids], "values": values}


def request_bodies(count: int, lookback: int, path: Path = SAMPLE_READINGS) -> list[bytes]:
    """Encoded bodies, ready to send as they are: ``count`` different windows of ``path``
    (ending at successive steps), or one per window if ``path`` has fewer; a load longer
    than that cycles through them."""
    series = load_series(path)
    ends = range(lookback, series.num_steps + 1)
    if len(ends) == 0:
        raise ValueError(f"{path}: {series.num_steps} steps, fewer than one window of {lookback}")
    return [json.dumps(forecast_body(series, end, lookback)).encode() for end in ends[:count]]
