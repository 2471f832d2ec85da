"""``load_series``: a readings file -> a :class:`SensorSeries` on a regular, masked time grid."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.data.memmap import is_series_dir, open_series, read_meta
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.io.readers import DEFAULT_LIMITS, InMemoryFile, Limits, Readings, read_readings

__all__ = ["grid_positions", "load_series", "no_observed_reading", "to_regular_grid"]

logger = logging.getLogger(__name__)


def load_series(
    path: str | os.PathLike[str] | InMemoryFile,
    *,
    format: str | None = None,
    null_value: float | None = None,
    sensor_ids: Sequence[Any] | None = None,
    start: Any = None,
    interval: Any = None,
    timestamp_column: str | None = None,
    features: Sequence[str] | None = None,
    value_columns: Sequence[str] | None = None,
    key: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    drop_empty_sensors: bool = False,
    in_memory: bool = False,
) -> SensorSeries:
    """Load traffic readings into a :class:`SensorSeries`.

    Reads wide tables (CSV, Parquet, the METR-LA/PEMS-BAY HDF5 frames), long tables
    (``timestamp, sensor, value...``), PEMS0x ``.npz`` arrays and STGraph's JSON; see
    :mod:`stgraph.io.readers` for the layouts and the format options. A file without
    timestamps needs ``start`` and ``interval``; for a catalog dataset,
    :meth:`Dataset.layout() <stgraph.data.catalog.Dataset.layout>` gives them. Then:

    1. Timestamps: duplicates and steps that go backwards are errors naming the rows
       (wide tables; long tables are sorted by time when pivoted). The interval is
       ``interval`` or else the most common difference between timestamps; a timestamp off
       that grid is an error naming its row. Gaps are filled with masked steps (logged).
    2. Mask: NaN readings and readings equal to ``null_value`` (``0.0`` for METR-LA and
       PEMS-BAY speeds, as in DCRNN's ``masked_mae``) are masked; their stored value is 0.
    3. Sensors: ``sensor_ids`` names the sensors of files that have no ids (NPZ, JSON;
       otherwise ``"0", "1", ...``); for files with ids it reorders the series to that order,
       failing with the ids found on one side only.
    4. Readings outside ``limits`` (default: negative readings; see :mod:`stgraph.io.readers`)
       are errors naming the sensor and row; readings equal to ``null_value`` are exempt.
    5. A sensor with no observed reading at all (every step missing or ``null_value``) is an
       error naming it: it would train on nothing and hide inside one overall missing share.
       With ``drop_empty_sensors=True`` such sensors are dropped and their count and ids
       logged (a graph aligned to the series must then drop them too).

    ``path`` may be a directory that ``stgraph convert`` wrote
    (:func:`~stgraph.data.convert.convert_readings`): the series is then memory-mapped from it
    (:func:`~stgraph.data.memmap.open_series`; copied into memory with ``in_memory=True``),
    checked and masked when it was converted, so the options saying how to read a file do not
    apply; ``sensor_ids`` and ``features`` work as above, and a ``null_value`` other than the
    one it was converted with is an error.

    ``path`` may be a :class:`~stgraph.io.readers.InMemoryFile`: CSV bytes already in memory
    (what ``stgraph serve`` does with an upload), read exactly as that file on disk would be.

    Example:
        >>> series = load_series("metr-la.h5", null_value=0.0, features=["speed"])  # doctest: +SKIP
        >>> series.values.shape  # doctest: +SKIP
        (34272, 207, 1)
        >>> los_loop = get_dataset("los-loop")  # doctest: +SKIP
        >>> series = load_series("los_speed.csv", **los_loop.layout())  # doctest: +SKIP
    """
    if not isinstance(path, InMemoryFile) and is_series_dir(path):
        return _converted(Path(path), null_value, sensor_ids, features, in_memory)
    readings = read_readings(
        path,
        format=format,
        start=start,
        interval=interval,
        timestamp_column=timestamp_column,
        features=features,
        value_columns=value_columns,
        key=key,
        limits=limits,
        null_value=null_value,
    )
    values, timestamps, interval = to_regular_grid(readings, interval)
    observed = ~np.isnan(values)
    if null_value is not None:
        observed &= values != null_value
    values = np.where(observed, values, 0.0).astype(np.float32)

    ids = readings.sensor_ids
    # the file names its sensors: reorder them to sensor_ids; else sensor_ids names the columns
    align_to = sensor_ids if ids is not None else None
    if ids is None:
        ids = [str(s) for s in sensor_ids] if sensor_ids is not None else [str(i) for i in range(values.shape[1])]
    empty = np.flatnonzero(~observed.any(axis=(0, 2))) if values.shape[0] else np.zeros(0, dtype=np.int64)
    if empty.size and len(ids) == values.shape[1]:  # (a count mismatch is SensorSeries' error below)
        names = [ids[i] for i in empty]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        if not drop_empty_sensors:
            raise no_observed_reading(readings.source, names, null_value, "remove them or pass drop_empty_sensors=True")
        keep = np.setdiff1d(np.arange(values.shape[1]), empty)
        if not keep.size:
            raise SensorDataError(f"{readings.source}: no sensor has an observed reading")
        logger.warning("%s: dropped %d sensors with no observed reading: %s", readings.source, len(names), shown)
        values, observed, ids = values[:, keep], observed[:, keep], [ids[i] for i in keep]
        if align_to is not None:
            dropped = set(names)
            align_to = [s for s in align_to if str(s) not in dropped]
    series = SensorSeries(
        values=values,
        mask=observed,
        timestamps=timestamps,
        sensor_ids=ids,
        feature_names=readings.feature_names,
        interval=interval,
        source=readings.source,
    )
    return series.align(align_to, other="sensor_ids=") if align_to is not None else series


def _converted(
    folder: Path, null_value: float | None, sensor_ids: Sequence[Any] | None, features: Sequence[str] | None, in_memory: bool
) -> SensorSeries:
    """The series ``stgraph convert`` wrote to ``folder``, with ``load_series``' selections."""
    converted_with = read_meta(folder).get("null_value")
    if null_value is not None and null_value != converted_with:
        raise SensorDataError(
            f"{folder}: converted with null value {converted_with}, not {null_value:g}; convert the readings again with "
            f"--null-value {null_value:g}"
        )
    series = open_series(folder, in_memory=in_memory)
    if features is not None:  # as for a file: names for the features, in order
        series = series.with_feature_names(features)
    return series.align(sensor_ids, other="sensor_ids=") if sensor_ids is not None else series


def no_observed_reading(source: str, sensors: Sequence[str], null_value: float | None, remedy: str) -> SensorDataError:
    """The error for sensors without a single observed reading, naming them and the remedy."""
    shown = ", ".join(sensors[:10]) + (f" and {len(sensors) - 10} more" if len(sensors) > 10 else "")
    what = "every reading is missing" + (f" or {null_value:g}" if null_value is not None else "")
    plural = len(sensors) > 1
    return SensorDataError(
        f"{source}: {len(sensors)} sensor{'s' if plural else ''} {shown} {'have' if plural else 'has'} "
        f"no observed reading ({what}); {remedy}"
    )


def to_regular_grid(readings: Readings, interval: Any = None) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Timedelta]:
    """Check the timestamps and re-index the values onto a gap-free grid.

    Returns:
        ``(values [steps, sensors, features] with NaN in inserted steps, timestamps, interval)``.
    """
    positions, grid, interval = grid_positions(readings, interval)
    if len(grid) == len(positions):
        return readings.values, grid, interval
    logger.info(
        "%s: inserted %d missing steps (masked) to fill gaps in the %s grid",
        readings.source,
        len(grid) - len(positions),
        interval,
    )
    values = np.full((len(grid), *readings.values.shape[1:]), np.nan)
    values[positions] = readings.values
    return values, grid, interval


def grid_positions(readings: Readings, interval: Any = None) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Timedelta]:
    """Check the timestamps of ``readings`` (only they are read, not the values) and place
    each time row on a gap-free grid.

    Duplicates, steps backwards and timestamps off the grid are errors naming their rows; the
    interval is ``interval``, the readings' own, or the most common difference.

    Returns:
        ``(positions [rows] int64 on the grid, grid timestamps, interval)``.
    """
    source = readings.source
    timestamps = pd.DatetimeIndex(readings.timestamps).as_unit("ns")
    interval = readings.interval if interval is None else pd.Timedelta(interval)
    if interval is not None and pd.Timedelta(interval) <= pd.Timedelta(0):
        raise SensorDataError(f"{source}: interval must be positive, got {interval}")

    repeated = np.flatnonzero(timestamps.duplicated(keep=False))
    if repeated.size:
        first = timestamps[repeated[0]]
        twins = repeated[timestamps[repeated] == first]
        raise SensorDataError(
            f"{source}: {repeated.size} rows share a timestamp; first: {first} on {readings.describe_rows(twins)}"
        )
    backwards = np.flatnonzero(np.diff(timestamps.asi8) < 0)
    if backwards.size:
        i = int(backwards[0])
        raise SensorDataError(
            f"{source}: timestamps go backwards {backwards.size} time(s); first: {timestamps[i + 1]} on "
            f"{readings.describe_rows([i + 1])} follows {timestamps[i]} on {readings.describe_rows([i])}"
        )
    if interval is None:
        if len(timestamps) < 2:
            raise SensorDataError(f"{source}: cannot infer the interval from {len(timestamps)} timestamp(s); pass interval=")
        differences, counts = np.unique(np.diff(timestamps.asi8), return_counts=True)
        interval = pd.Timedelta(int(differences[np.argmax(counts)]), unit="ns")
    interval = pd.Timedelta(interval)

    offsets = timestamps.asi8 - timestamps.asi8[0] if len(timestamps) else np.zeros(0, dtype=np.int64)
    off_grid = np.flatnonzero(offsets % interval.value)
    if off_grid.size:
        raise SensorDataError(
            f"{source}: {off_grid.size} timestamps are off the {interval} grid starting {timestamps[0]}; "
            f"first: {timestamps[off_grid[0]]} on {readings.describe_rows(off_grid[:5])}"
        )
    positions = offsets // interval.value
    num_steps = int(positions[-1]) + 1 if len(positions) else 0
    if num_steps == len(timestamps):
        return positions, timestamps, interval
    return positions, pd.date_range(timestamps[0], periods=num_steps, freq=interval), interval
