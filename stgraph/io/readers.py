"""Readers for traffic readings files.

Each reader turns one file into :class:`Readings`: float64 values ``[time, sensors, features]``
with NaN where the file has no reading, one timestamp per time row *as found in the file*, and
the file line (or row) of each time row so that later checks can point at it. Checking that the
timestamps form a regular grid, masking and building a :class:`~stgraph.data.SensorSeries` is
the job of :func:`stgraph.load_series`.

Readers know formats, not datasets: a file without timestamps is dated by the caller's
``start`` and ``interval`` (the catalog's :meth:`~stgraph.data.catalog.Dataset.layout` gives
them for catalog datasets), and without them it is an error, never a guess from the file name.

Layouts:

* wide table (CSV, Parquet, HDF5): one row per time step, one column per sensor, plus a
  timestamp column (named ``timestamp``/``time``/``date``/``datetime``, or the first column if
  it holds dates) or a ``DatetimeIndex``. METR-LA's ``metr-la.h5`` and PEMS-BAY's
  ``pems-bay.h5`` are pandas frames of this layout. A table with no timestamps at all
  (Los-loop's ``los_speed.csv``) needs ``start`` and ``interval``.
* long table (CSV, Parquet): columns ``timestamp, sensor, value[, more values]``, one row per
  reading; recognised by a column named ``sensor``/``sensor_id``/``station``/``node``/``detector``.
* PEMS0x ``.npz`` (ASTGCN/STSGCN releases): key ``data``, ``[time, sensors, features]``, no
  timestamps, no sensor ids and no feature names (``features`` names them).
* STGraph JSON (``METRLA.json`` of bfGraph/STGraph-Datasets): keys ``"0"``..``"T-1"``, each a
  list of ``[speed, time_of_day]`` pairs, one per sensor.

In text files only empty cells, ``nan`` and ``NaN`` count as missing; any other text in a value
column (``n/a``, ``-``, ``error``) is an error naming the file, column and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

__all__ = ["FORMATS", "Readings", "detect_format", "read_readings"]

FORMATS = ("csv", "parquet", "hdf5", "npz", "json")
_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".npz": "npz",
    ".json": "json",
}
_COMPRESSION = (".gz", ".bz2", ".xz", ".zip", ".zst")
_TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime")
_SENSOR_NAMES = ("sensor", "sensor_id", "station", "station_id", "node", "node_id", "detector", "detector_id")
_MISSING_TOKENS = ("", "nan", "NaN")


@dataclass
class Readings:
    """One file's readings before any time-grid checks.

    Attributes:
        values: float64 ``[time, sensors, features]``; NaN where the file has no reading.
        timestamps: one per time row, in file order (may be unsorted, duplicated or irregular).
        sensor_ids: the file's sensor ids, or None where it has none (NPZ, JSON).
        feature_names: one per feature.
        source: the file path.
        rows: int64 ``[time]``, the file line (text files, header = line 1) or row (binary
            files, from 0) of each time row; for long tables, its first reading.
        row_word: ``"line"``, ``"row"`` or ``"step"``: what ``rows`` counts.
        interval: the interval the timestamps were generated with (files without timestamps).
    """

    values: np.ndarray
    timestamps: pd.DatetimeIndex
    sensor_ids: list[str] | None
    feature_names: list[str]
    source: str
    rows: np.ndarray
    row_word: str
    interval: pd.Timedelta | None = None

    def describe_rows(self, steps: Sequence[int] | np.ndarray, limit: int = 5) -> str:
        """``"lines 4, 9, 12 and 3 more"`` for the given time-row positions."""
        numbers = [str(int(self.rows[i])) for i in steps]
        shown = ", ".join(numbers[:limit])
        more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
        plural = "s" if len(numbers) > 1 else ""
        return f"{self.row_word}{plural} {shown}{more}"


def detect_format(path: str | os.PathLike[str]) -> str:
    """File format from the name: one of :data:`FORMATS` (compression suffixes skipped)."""
    name = Path(path).name.lower()
    for suffix in _COMPRESSION:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        raise SensorDataError(
            f"{path}: cannot tell the format from the suffix {suffix!r}; pass format= (one of {', '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


def read_readings(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    start: Any = None,
    interval: Any = None,
    timestamp_column: str | None = None,
    features: Sequence[str] | None = None,
    value_columns: Sequence[str] | None = None,
    key: str | None = None,
) -> Readings:
    """Read one readings file; see the module docstring for the layouts.

    Args:
        path: the file.
        format: one of :data:`FORMATS`; from the suffix when omitted.
        start, interval: first timestamp and sampling interval, needed by files without
            timestamps (Los-loop CSV, PEMS0x NPZ, STGraph JSON).
        timestamp_column: the timestamp column of a table, when auto-detection is not wanted.
        features: names for the features (wide tables: one name, default ``"value"``; NPZ:
            one per feature, default ``feature_0, feature_1, ...``; STGraph JSON: one name,
            default ``"speed"``; long tables: renames ``value_columns``).
        value_columns: long tables: the value columns to read (default: all but timestamp
            and sensor), in that order.
        key: HDF5 key, needed only when the file holds several tables.
    """
    source = str(path)
    if not Path(path).is_file():
        raise SensorDataError(f"{source}: no such file")
    format = format or detect_format(path)
    if format not in FORMATS:
        raise SensorDataError(f"{source}: unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    options = {
        "start": start,
        "interval": interval,
        "timestamp_column": timestamp_column,
        "features": features,
        "value_columns": value_columns,
    }
    if format == "csv":
        return _read_csv(path, source, **options)
    if format == "parquet":
        frame = pd.read_parquet(path)
        return _from_frame(frame, source, "row", 0, **options)
    if format == "hdf5":
        return _from_frame(_read_hdf(path, source, key), source, "row", 0, **options)
    if format == "npz":
        return _read_npz(path, source, start=start, interval=interval, features=features)
    return _read_stgraph_json(path, source, start=start, interval=interval, features=features)


# --- tables ------------------------------------------------------------------------------
def _read_csv(path: str | os.PathLike[str], source: str, **options: Any) -> Readings:
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, skipinitialspace=True).iloc[0]
    names = [str(name).strip() for name in header]
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            raise SensorDataError(
                f"{source}, line 1: column {name!r} appears twice (columns {seen[name] + 1} and {position + 1})"
            )
        seen[name] = position
    as_text = {raw: str for raw, name in zip(header, names) if name.lower() in _SENSOR_NAMES}
    frame = pd.read_csv(path, keep_default_na=False, na_values=list(_MISSING_TOKENS), dtype=as_text, skipinitialspace=True)
    frame.columns = names
    # Header is line 1, so data row p is line p + 2.
    return _from_frame(frame, source, "line", 2, **options)


def _read_hdf(path: str | os.PathLike[str], source: str, key: str | None) -> pd.DataFrame:
    with pd.HDFStore(path, mode="r") as store:
        keys = store.keys()
        if key is None:
            if len(keys) != 1:
                raise SensorDataError(f"{source}: holds {len(keys)} tables {keys}; pass key= to pick one")
            key = keys[0]
        elif key not in keys and f"/{key}" not in keys:
            raise SensorDataError(f"{source}: no table {key!r}; it holds {keys}")
        frame = store[key]
    if not isinstance(frame, pd.DataFrame):
        raise SensorDataError(f"{source}, key {key!r}: expected a DataFrame (time x sensors), got {type(frame).__name__}")
    return frame


def _from_frame(
    frame: pd.DataFrame,
    source: str,
    row_word: str,
    row_offset: int,
    *,
    start: Any,
    interval: Any,
    timestamp_column: str | None,
    features: Sequence[str] | None,
    value_columns: Sequence[str] | None,
) -> Readings:
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    rows = np.arange(len(frame), dtype=np.int64) + row_offset
    time_name = _timestamp_column(frame, source, timestamp_column)
    if isinstance(frame.index, pd.DatetimeIndex) and time_name is None:
        timestamps = frame.index
        time_name = "index"
    elif time_name is not None:
        timestamps = _parse_timestamps(frame[time_name], source, time_name, rows, row_word)
        frame = frame.drop(columns=[time_name])
    else:
        timestamps = None
    if timestamps is not None and start is not None:
        raise SensorDataError(f"{source}: has timestamps ({time_name}); start= applies only to files without them")

    sensor_name = next((c for c in frame.columns if c.lower() in _SENSOR_NAMES), None)
    if sensor_name is not None:
        if timestamps is None:
            raise SensorDataError(
                f"{source}: long table (column {sensor_name!r}) needs a timestamp column; pass timestamp_column="
            )
        return _pivot_long(frame, timestamps, sensor_name, source, rows, row_word, features, value_columns)
    if value_columns is not None:
        raise SensorDataError(
            f"{source}: value_columns= applies to long tables (timestamp, sensor, value...); this is a wide table"
        )

    unnamed = [c for c in frame.columns if c.startswith("Unnamed:") or c == ""]
    if unnamed:
        raise SensorDataError(
            f"{source}: column {columns.index(unnamed[0]) + 1} has no header (a saved row index?); name it or remove it"
        )
    matrix = _numeric(frame, list(frame.columns), source, rows, row_word)
    names = list(features) if features is not None else ["value"]
    if len(names) != 1:
        raise SensorDataError(f"{source}: a wide table holds one feature, got features={names}")
    if timestamps is None:
        timestamps, interval = _generated_timestamps(source, len(frame), start, interval, "timestamp column")
    else:
        interval = None
    return Readings(
        matrix[:, :, None], pd.DatetimeIndex(timestamps), list(frame.columns), names, source, rows, row_word, interval
    )


def _timestamp_column(frame: pd.DataFrame, source: str, requested: str | None) -> str | None:
    if requested is not None:
        if requested not in frame.columns:
            raise SensorDataError(
                f"{source}: no column {requested!r} (timestamp_column=); columns start {list(frame.columns[:5])}"
            )
        return requested
    names: list[str] = list(frame.columns)
    for column in names:
        if column.lower() in _TIMESTAMP_NAMES:
            return column
    if names and len(frame):
        first = frame[names[0]]
        if pd.api.types.is_datetime64_any_dtype(first):
            return names[0]
        if not pd.api.types.is_numeric_dtype(first) and not pd.api.types.is_bool_dtype(first):
            head = first.dropna().head(5).astype(str)
            if len(head) and pd.to_datetime(head, errors="coerce").notna().all():
                return names[0]
    return None


def _parse_timestamps(column: pd.Series, source: str, name: str, rows: np.ndarray, row_word: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = pd.DatetimeIndex(column)
    elif pd.api.types.is_numeric_dtype(column):
        raise SensorDataError(f"{source}, column {name!r}: holds numbers, not dates; pass start= and interval= instead")
    else:
        parsed = pd.DatetimeIndex(pd.to_datetime(column, errors="coerce"))
    bad = np.flatnonzero(parsed.isna())
    if bad.size:
        first = bad[0]
        raise SensorDataError(
            f"{source}, column {name!r}: {bad.size} values are not timestamps "
            f"(first at {row_word} {rows[first]}: {str(column.iloc[first])!r})"
        )
    return parsed


def _numeric(frame: pd.DataFrame, columns: list[str], source: str, rows: np.ndarray, row_word: str) -> np.ndarray:
    """``[rows, columns]`` float64; SensorDataError naming the first column with text in it."""
    converted = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        text = values.astype(str).str.strip()
        bad = np.flatnonzero((numbers.isna() & values.notna() & ~text.isin(_MISSING_TOKENS)).to_numpy())
        if bad.size:
            first = bad[0]
            raise SensorDataError(
                f"{source}, column {column!r}: {bad.size} non-numeric values "
                f"(first at {row_word} {rows[first]}: {str(values.iloc[first])!r})"
            )
        converted[column] = numbers
    if converted:
        frame = frame.assign(**converted)
    matrix: np.ndarray = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _pivot_long(
    frame: pd.DataFrame,
    timestamps: pd.DatetimeIndex,
    sensor_name: str,
    source: str,
    rows: np.ndarray,
    row_word: str,
    features: Sequence[str] | None,
    value_columns: Sequence[str] | None,
) -> Readings:
    """``timestamp, sensor, value...`` rows -> ``[time, sensors, values]``; sensors in order of appearance."""
    if value_columns is None:
        value_columns = [c for c in frame.columns if c != sensor_name]
    value_columns = list(value_columns)
    missing = [c for c in value_columns if c not in frame.columns]
    if missing or not value_columns:
        raise SensorDataError(f"{source}: value columns {missing or '(none)'} not found; columns are {list(frame.columns)}")
    sensors = frame[sensor_name]
    empty = np.flatnonzero(sensors.isna().to_numpy() | (sensors.astype(str).str.strip() == "").to_numpy())
    if empty.size:
        raise SensorDataError(
            f"{source}, column {sensor_name!r}: {empty.size} rows have no sensor id (first at {row_word} {rows[empty[0]]})"
        )
    time_codes, steps = pd.factorize(timestamps, sort=True)
    sensor_codes, sensor_ids = pd.factorize(sensors.astype(str).str.strip())
    pair = time_codes.astype(np.int64) * len(sensor_ids) + sensor_codes
    duplicated = np.flatnonzero(pd.Index(pair).duplicated(keep=False))
    if duplicated.size:
        first = duplicated[0]
        twins = duplicated[pair[duplicated] == pair[first]]
        raise SensorDataError(
            f"{source}: {duplicated.size} rows repeat a (timestamp, sensor) pair; first: sensor "
            f"{sensor_ids[sensor_codes[first]]!r} at {steps[time_codes[first]]} on {row_word}s {', '.join(str(rows[i]) for i in twins)}"
        )
    matrix = _numeric(frame, value_columns, source, rows, row_word)
    values = np.full((len(steps), len(sensor_ids), len(value_columns)), np.nan)
    values[time_codes, sensor_codes] = matrix
    first_rows = np.full(len(steps), np.iinfo(np.int64).max)
    np.minimum.at(first_rows, time_codes, rows)
    names = list(features) if features is not None else value_columns
    if len(names) != len(value_columns):
        raise SensorDataError(f"{source}: {len(value_columns)} value columns {value_columns} but features={names}")
    return Readings(values, pd.DatetimeIndex(steps), [str(s) for s in sensor_ids], names, source, first_rows, row_word)


# --- arrays ------------------------------------------------------------------------------
def _read_npz(
    path: str | os.PathLike[str], source: str, *, start: Any, interval: Any, features: Sequence[str] | None
) -> Readings:
    with np.load(path, allow_pickle=False) as archive:
        if "data" not in archive.files:
            raise SensorDataError(
                f"{source}: no array 'data' (PEMS0x layout [time, sensors, features]); keys are {archive.files}"
            )
        data = archive["data"]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise SensorDataError(f"{source}, array 'data': expected [time, sensors, features], got shape {list(data.shape)}")
    if not np.issubdtype(data.dtype, np.number):
        raise SensorDataError(f"{source}, array 'data': expected numbers, got dtype {data.dtype}")
    names = list(features) if features is not None else [f"feature_{i}" for i in range(data.shape[2])]
    if len(names) != data.shape[2]:
        raise SensorDataError(f"{source}: {data.shape[2]} features in 'data' but features={names}")
    timestamps, interval = _generated_timestamps(source, data.shape[0], start, interval, "timestamps")
    rows = np.arange(data.shape[0], dtype=np.int64)
    return Readings(data.astype(np.float64), timestamps, None, names, source, rows, "step", interval)


def _read_stgraph_json(
    path: str | os.PathLike[str], source: str, *, start: Any, interval: Any, features: Sequence[str] | None
) -> Readings:
    """STGraph's JSON: ``{"0": [[speed, time_of_day], ...], ...}``; keeps the speed.

    The second entry of each pair is the time of day (step / 288), which
    :mod:`stgraph.data.covariates` derives from the timestamps; it is not read as a feature.
    """
    with open(path, encoding="utf-8") as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as error:
            raise SensorDataError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise SensorDataError(f"{source}: expected a JSON object with keys '0', '1', ... (STGraph layout)")
    steps = sorted(int(k) for k in document if k.isdigit())
    if not steps or steps != list(range(len(steps))):
        raise SensorDataError(f"{source}: expected step keys '0'..'T-1'; found {len(steps)} numeric keys")
    declared = document.get("time_periods")
    if declared is not None and declared != len(steps):
        raise SensorDataError(f"{source}: time_periods is {declared} but there are {len(steps)} step keys")
    sensors = len(document["0"])
    try:
        values = np.asarray([document[str(step)] for step in steps], dtype=np.float64)[..., :1]
    except (TypeError, ValueError):
        values = _parse_json_steps(document, steps, sensors, source)
    if values.ndim != 3 or values.shape[2] != 1:
        raise SensorDataError(f"{source}: expected [speed, time_of_day] pairs per sensor, got shape {list(values.shape)}")
    names = list(features) if features is not None else ["speed"]
    if len(names) != 1:
        raise SensorDataError(f"{source}: STGraph JSON holds one feature, got features={names}")
    timestamps, interval = _generated_timestamps(source, len(steps), start, interval, "timestamps")
    return Readings(values, timestamps, None, names, source, np.arange(len(steps), dtype=np.int64), "step", interval)


def _parse_json_steps(document: dict[str, Any], steps: list[int], sensors: int, source: str) -> np.ndarray:
    """Slow path that finds the step and sensor of a malformed entry."""
    values = np.empty((len(steps), sensors, 1))
    for step in steps:
        readings = document[str(step)]
        if len(readings) != sensors:
            raise SensorDataError(f"{source}, key '{step}': {len(readings)} sensors, expected {sensors} as in key '0'")
        for sensor, pair in enumerate(readings):
            try:
                values[step, sensor, 0] = np.nan if pair[0] is None else float(pair[0])
            except (TypeError, ValueError, IndexError):  # noqa: PERF203 (the error names the step and sensor)
                raise SensorDataError(
                    f"{source}, key '{step}', sensor {sensor}: expected [speed, time_of_day], got {pair!r}"
                ) from None
    return values


def _generated_timestamps(
    source: str, steps: int, start: Any, interval: Any, lacking: str
) -> tuple[pd.DatetimeIndex, pd.Timedelta]:
    """``steps`` timestamps from ``start`` every ``interval``, for a file without its own."""
    if start is None or interval is None:
        raise SensorDataError(f"{source}: no {lacking}; give start= (the first timestamp) and interval= (e.g. '5min')")
    interval = pd.Timedelta(interval)
    return pd.date_range(pd.Timestamp(start), periods=steps, freq=interval), interval
