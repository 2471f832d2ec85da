"""A readings file read in chunks of time rows, for files larger than memory.

:func:`read_chunks` yields the file as :class:`~stgraph.io.readers.Readings` of at most
``chunk_rows`` time rows each, in file order, each checked as :func:`read_readings` checks a
whole file (non-numeric cells, infinite readings, readings outside ``limits``: errors naming
the file, column and line or row). Timestamps are only parsed here; whether they form a
regular grid is for the caller to check once it has all of them
(:func:`stgraph.data.load.grid_positions`). Only one chunk is in memory at a time:

* CSV (wide table, optionally compressed): ``pandas.read_csv(chunksize=...)``. Line numbers
  in messages assume no blank lines inside the table. Long tables (a ``sensor`` column) are
  refused: a sensor's readings may be anywhere in the file, so they cannot be placed chunk
  by chunk.
* HDF5 (pandas frames, METR-LA/PEMS-BAY/LargeST): ``HDFStore.select(key, start=, stop=)``,
  which reads only those rows from a table-format store and slices the block arrays of a
  fixed-format one (what ``DataFrame.to_hdf`` writes by default) in PyTables. The trial
  read in a subprocess that guards :func:`read_readings` against PyTables crashing on a
  damaged file reads the whole table, so it is not made here; errors PyTables raises are
  errors naming the file and the rows.
* NPZ (PEMS0x ``data``): the zip member is decompressed as it is read, ``chunk_rows`` rows
  at a time (an array saved in Fortran order cannot be, and is read whole).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError
from stgraph.io.readers import (
    _CSV_BODY,
    _SENSOR_NAMES,
    DEFAULT_LIMITS,
    Limits,
    Readings,
    _check_unique_columns,
    _first_line,
    _from_frame,
    _generated_timestamps,
    _npz_array,
    check_values,
    detect_format,
    hdf_key,
    open_npz_array,
)

__all__ = ["CHUNKED_FORMATS", "ChunkedFile", "read_chunks"]

#: formats :func:`read_chunks` reads
CHUNKED_FORMATS = ("csv", "hdf5", "npz")


@dataclass
class ChunkedFile:
    """A readings file being read in chunks.

    Attributes:
        source: the file, for messages.
        rows: time rows in the file, where known before reading (HDF5, NPZ), else None.
        chunks: the chunks, in file order.
    """

    source: str
    rows: int | None
    chunks: Iterator[Readings]


def read_chunks(
    path: str | os.PathLike[str],
    *,
    chunk_rows: int,
    format: str | None = None,
    start: Any = None,
    interval: Any = None,
    timestamp_column: str | None = None,
    features: Sequence[str] | None = None,
    key: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    null_value: float | None = None,
) -> ChunkedFile:
    """Read ``path`` in chunks of at most ``chunk_rows`` time rows (options as
    :func:`~stgraph.io.readers.read_readings`)."""
    source = str(path)
    if not Path(path).is_file():
        raise SensorDataError(f"{source}: no such file")
    if int(chunk_rows) < 1:
        raise SensorDataError(f"{source}: chunk_rows must be a positive integer, got {chunk_rows!r}")
    format = format or detect_format(path)
    if format not in CHUNKED_FORMATS:
        raise SensorDataError(
            f"{source}: {format} files are not read in chunks; convert from one of {', '.join(CHUNKED_FORMATS)}"
        )
    table = {"start": start, "interval": interval, "timestamp_column": timestamp_column, "features": features}
    rows: int | None
    if format == "csv":
        rows, chunks = None, _csv_chunks(path, source, int(chunk_rows), table)
    elif format == "hdf5":
        rows, chunks = _hdf_chunks(path, source, int(chunk_rows), key, table)
    else:
        rows, chunks = _npz_chunks(path, source, int(chunk_rows), start=start, interval=interval, features=features)
    return ChunkedFile(source, rows, _checked(chunks, limits, null_value))


def _checked(chunks: Iterator[Readings], limits: Limits, null_value: float | None) -> Iterator[Readings]:
    for chunk in chunks:
        check_values(chunk, limits, null_value)
        yield chunk


def _dated(table: dict[str, Any], first_row: int) -> dict[str, Any]:
    """The table options for a chunk starting at ``first_row``: a file without timestamps is
    dated from ``start`` on, so a later chunk starts ``first_row`` intervals after it."""
    if table["start"] is None or table["interval"] is None or not first_row:
        return table
    try:
        later = pd.Timestamp(table["start"]) + first_row * pd.Timedelta(table["interval"])
    except (TypeError, ValueError):
        return table  # _generated_timestamps names the bad option
    return {**table, "start": later}


def _csv_chunks(path: str | os.PathLike[str], source: str, chunk_rows: int, table: dict[str, Any]) -> Iterator[Readings]:
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise SensorDataError(f"{source}: the file is empty; expected a header line and readings") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as error:
        raise SensorDataError(f"{source}: cannot read as CSV ({_first_line(error)})") from None
    names = [str(name).strip() for name in header.iloc[0]]
    _check_unique_columns(names, source)
    long = next((name for name in names if name.lower() in _SENSOR_NAMES), None)
    if long is not None:
        raise SensorDataError(
            f"{source}: a long table (column {long!r}) cannot be converted in chunks; pivot it to a wide table "
            "(timestamp column + one column per sensor) first"
        )
    reader = pd.read_csv(path, names=list(range(len(names))), chunksize=chunk_rows, **_CSV_BODY)
    done = 0
    try:
        for frame in reader:
            frame.columns = names
            lines = np.arange(len(frame), dtype=np.int64) + done + 2  # header = line 1
            yield _from_frame(frame, source, "line", lines, value_columns=None, **_dated(table, done))
            done += len(frame)
    except pd.errors.ParserError as error:
        message = _first_line(error).removeprefix("Error tokenizing data. C error: ")
        raise SensorDataError(f"{source}: cannot parse as CSV ({message})") from None
    except (UnicodeDecodeError, EOFError) as error:
        raise SensorDataError(f"{source}: cannot read as CSV ({_first_line(error)})") from None
    finally:
        reader.close()
    if not done:
        raise SensorDataError(f"{source}: holds a header but no readings")


def _hdf_chunks(
    path: str | os.PathLike[str], source: str, chunk_rows: int, key: str | None, table: dict[str, Any]
) -> tuple[int, Iterator[Readings]]:
    try:
        store = pd.HDFStore(path, mode="r")
    except Exception as error:  # PyTables and HDF5 raise many kinds on a damaged file
        raise SensorDataError(f"{source}: corrupt HDF5 file ({type(error).__name__}: {_first_line(error)})") from None
    try:
        key = hdf_key(store, source, key)
        storer = store.get_storer(key)
        rows = int(storer.nrows) if storer.is_table else int(storer.group.axis1.shape[0])
    except SensorDataError:
        store.close()
        raise
    except Exception as error:
        store.close()
        raise SensorDataError(
            f"{source}: corrupt HDF5 file or not a pandas frame ({type(error).__name__}: {_first_line(error)})"
        ) from None

    def chunks() -> Iterator[Readings]:
        try:
            for first in range(0, rows, chunk_rows):
                try:
                    frame = store.select(key, start=first, stop=min(first + chunk_rows, rows))
                except Exception as error:
                    raise SensorDataError(
                        f"{source}: corrupt HDF5 file at rows {first}..{first + chunk_rows} ({type(error).__name__}: {_first_line(error)})"
                    ) from None
                if not isinstance(frame, pd.DataFrame):
                    raise SensorDataError(
                        f"{source}, key {key!r}: expected a DataFrame (time x sensors), got {type(frame).__name__}"
                    )
                yield _from_frame(frame, source, "row", first, value_columns=None, **_dated(table, first))
        finally:
            store.close()

    return rows, chunks()


def _npz_chunks(
    path: str | os.PathLike[str], source: str, chunk_rows: int, *, start: Any, interval: Any, features: Sequence[str] | None
) -> tuple[int, Iterator[Readings]]:
    with open_npz_array(path, source, "data") as (_, shape, fortran, dtype):
        pass
    if len(shape) not in (2, 3):
        raise SensorDataError(f"{source}, array 'data': expected [time, sensors, features], got shape {list(shape)}")
    if dtype.kind == "b":
        raise SensorDataError(f"{source}, array 'data': holds booleans; expected numbers (readings)")
    if dtype.kind not in ("i", "u", "f"):
        raise SensorDataError(f"{source}, array 'data': expected numbers, got dtype {dtype}")
    row_shape = (*shape[1:], 1) if len(shape) == 2 else shape[1:]
    names = list(features) if features is not None else [f"feature_{i}" for i in range(row_shape[1])]
    if len(names) != row_shape[1]:
        raise SensorDataError(f"{source}: {row_shape[1]} features in 'data' but features={names}")
    timestamps, interval = _generated_timestamps(source, shape[0], start, interval, "timestamps")

    def readings(block: np.ndarray, first: int) -> Readings:
        steps = np.arange(first, first + len(block), dtype=np.int64)
        values = block.reshape(len(block), *row_shape).astype(np.float64)
        return Readings(values, timestamps[first : first + len(block)], None, names, source, steps, "step", interval)

    def chunks() -> Iterator[Readings]:
        if fortran:  # columns first: no row of it is contiguous
            whole = _npz_array(path, source, "data")
            for first in range(0, shape[0], chunk_rows):
                yield readings(whole[first : first + chunk_rows], first)
            return
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        with open_npz_array(path, source, "data") as (stream, _, _, _):
            for first in range(0, shape[0], chunk_rows):
                count = min(chunk_rows, shape[0] - first)
                raw = stream.read(count * row_bytes)
                if len(raw) != count * row_bytes:
                    raise SensorDataError(
                        f"{source}, array 'data': truncated (ends in step {first + len(raw) // max(row_bytes, 1)} of {shape[0]})"
                    )
                yield readings(np.frombuffer(raw, dtype=dtype).reshape(count, *shape[1:]), first)

    return int(shape[0]), chunks()
