"""Readings tables in, filled tables out, in the input's own layout.

:func:`read_table` reads a wide (``timestamp, <sensor>...``) or long (``timestamp, sensor,
<feature>...``) CSV or Parquet file through :func:`stgraph.io.readers.read_readings` and
keeps what is needed to write it back: the column names in the file's order and which
column is the timestamp (and, for long tables, the sensor). :func:`write_table_like` writes
``[time, sensors, features]`` values with those columns, one row per step of the regular grid
(steps missing from the file are inserted; :func:`stgraph.data.load.to_regular_grid`), with
float64 values written at full precision so that observed readings come back as they were read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stgraph.data.load import to_regular_grid
from stgraph.errors import SensorDataError
from stgraph.io.atomic import atomic_path
from stgraph.io.readers import detect_format, read_readings

__all__ = ["TABLE_SUFFIXES", "ReadingsTable", "read_table", "write_table_like"]

#: the formats ``stgraph impute`` reads and writes, by suffix
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class ReadingsTable:
    """A readings file on its regular grid, with the mask of what it observed.

    Attributes:
        values: float64 ``[time, sensors, features]``; 0 where not observed.
        mask: bool, same shape; ``True`` = observed (neither empty, NaN nor the null value).
        timestamps, interval: the regular grid.
        sensor_ids: in the file's order; feature_names: the value columns (wide: one, ``value``).
        columns: the file's column names, in order.
        timestamp_column: the name of the timestamp column; sensor_column: long tables only.
        source: the file.
    """

    values: np.ndarray
    mask: np.ndarray
    timestamps: pd.DatetimeIndex
    interval: pd.Timedelta
    sensor_ids: list[str]
    feature_names: list[str]
    columns: list[str]
    timestamp_column: str
    sensor_column: str | None
    source: str


def _frame_head(path: Path, kind: str, rows: int) -> pd.DataFrame:
    if kind == "csv":
        return pd.read_csv(path, nrows=rows, dtype=str)
    frame = pd.read_parquet(path)
    if isinstance(frame.index, pd.DatetimeIndex):  # a frame saved with its timestamps as the index
        frame = frame.reset_index(names=frame.index.name or "timestamp")
    return frame.head(rows).astype(str)


def read_table(path: str | os.PathLike[str], *, null_value: float | None = None) -> ReadingsTable:
    """Read a wide or long CSV/Parquet readings file and its layout.

    Raises:
        SensorDataError: another format, no timestamp column, or anything
        :func:`~stgraph.io.readers.read_readings` refuses (naming the file, column and line).
    """
    path = Path(path)
    kind = detect_format(path)
    if kind not in TABLE_SUFFIXES.values():
        raise SensorDataError(f"{path}: stgraph impute reads CSV or Parquet readings tables; this is {kind}")
    readings = read_readings(path, null_value=null_value)
    values, timestamps, interval = to_regular_grid(readings)
    observed = ~np.isnan(values)
    if null_value is not None:
        observed &= values != null_value
    head = _frame_head(path, kind, 1)
    columns = [str(c) for c in head.columns]
    sensors = [str(s) for s in readings.sensor_ids or []]
    others = [c for c in columns if c not in set(sensors) | set(readings.feature_names)]
    sensor_column = None
    if set(sensors) <= set(columns):  # wide: a column per sensor
        if len(others) != 1:
            raise SensorDataError(
                f"{path}: stgraph impute needs a timestamp column beside the sensor columns; found {others or 'none'}"
            )
        timestamp_column = others[0]
    else:  # long: the key column holding sensor ids is the sensor column
        first = head.iloc[0] if len(head) else pd.Series(dtype=str)
        sensor_column = next((c for c in others if str(first.get(c)) in set(sensors)), None)
        rest = [c for c in others if c != sensor_column]
        if sensor_column is None or len(rest) != 1:
            raise SensorDataError(f"{path}: expected columns timestamp, sensor, value...; found {columns}")
        timestamp_column = rest[0]
    return ReadingsTable(
        values=np.where(observed, values, 0.0),
        mask=observed,
        timestamps=timestamps,
        interval=interval,
        sensor_ids=sensors,
        feature_names=list(readings.feature_names),
        columns=columns,
        timestamp_column=timestamp_column,
        sensor_column=sensor_column,
        source=str(path),
    )


def write_table_like(table: ReadingsTable, values: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write ``values`` with ``table``'s columns (CSV or Parquet by ``path``'s suffix); atomic.

    Shapes:
        values: ``[time, sensors, features]`` on ``table``'s grid (floats, or 0/1 integers for a mask)
    """
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SensorDataError(f"{path}: unknown output format {path.suffix!r}; use .csv or .parquet")
    stamps = pd.Series(table.timestamps)
    if table.sensor_column is None:
        data = {table.timestamp_column: stamps} | {sensor: values[:, n, 0] for n, sensor in enumerate(table.sensor_ids)}
    else:
        steps, sensors = values.shape[:2]
        data = {
            table.timestamp_column: pd.Series(np.repeat(table.timestamps, sensors)),
            table.sensor_column: np.tile(np.asarray(table.sensor_ids, dtype=object), steps),
        } | {name: values[:, :, f].reshape(-1) for f, name in enumerate(table.feature_names)}
    frame = pd.DataFrame(data)[table.columns]
    with atomic_path(path, suffix=path.suffix) as tmp:
        if kind == "csv":
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
        else:
            frame.to_parquet(tmp, index=False)
