"""``convert_readings``: a readings file -> a series directory on disk, in chunks (``stgraph convert``).

The layout, and why it is ``.npy`` memory maps, is :mod:`stgraph.data.memmap`'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from stgraph.data.load import grid_positions, no_observed_reading
from stgraph.data.memmap import ARRAYS, FORMAT, FORMAT_VERSION
from stgraph.errors import SensorDataError
from stgraph.io.atomic import WriteError
from stgraph.io.chunked import read_chunks
from stgraph.io.readers import DEFAULT_LIMITS, Limits, Readings

__all__ = ["CHUNK_ROWS", "Conversion", "convert_readings"]

#: time rows per chunk when converting (about 300 MB of float64 for 8,600 sensors)
CHUNK_ROWS = 4096


def convert_readings(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    null_value: float | None = None,
    force: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int | None], None] | None = None,
    format: str | None = None,
    start: Any = None,
    interval: Any = None,
    timestamp_column: str | None = None,
    features: Sequence[str] | None = None,
    key: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Conversion:
    """Convert readings file ``path`` (CSV, HDF5 or NPZ) into the directory ``out``, in chunks.

    The result opens with :func:`open_series` as the series :func:`~stgraph.data.load.load_series`
    makes of the same file (same values, mask, timestamps, ids and interval; read options as
    there), with the same checks: every chunk's readings as they are read
    (:mod:`stgraph.io.chunked`), then the timestamps of all of them (duplicates, steps
    backwards, off the grid: errors naming the rows; gaps become masked steps), then the
    sensors with no observed reading (an error naming them). Memory holds one chunk of
    ``chunk_rows`` time rows, the timestamps and the per-sensor counts.

    The directory is built beside ``out`` under a temporary name and renamed when complete;
    an existing ``out`` is refused unless ``force``, and then replaced only once the new one
    is complete.

    Args:
        progress: called with the time rows of each chunk once it is staged, and the rows in
            the file where known before reading (HDF5, NPZ; else None).

    Returns:
        what was converted: rows read, steps, sensors and inserted steps.
    """
    target = Path(out)
    source = Path(path).expanduser().resolve()
    if source == target.expanduser().resolve() or target.expanduser().resolve() in source.parents:
        raise SensorDataError(f"{target}: is the readings file being converted (or holds it); choose another --out")
    if target.exists() and not force:
        raise SensorDataError(f"{target}: already exists; pass --force to replace it")
    chunked = read_chunks(
        path,
        chunk_rows=chunk_rows,
        format=format,
        start=start,
        interval=interval,
        timestamp_column=timestamp_column,
        features=features,
        key=key,
        limits=limits,
        null_value=null_value,
    )
    with _staging(target) as folder:
        staged = _Staged(folder, chunked.source, null_value)
        with staged:
            for chunk in chunked.chunks:
                staged.add(chunk)
                if progress is not None:
                    progress(len(chunk.timestamps), chunked.rows)
        summary = staged.lay_out(interval, chunk_rows)
        _replace(folder, target)
    return summary


class Conversion:
    """What :func:`convert_readings` converted.

    Attributes:
        source: the readings file.
        rows: time rows read from it.
        steps, sensors, features: the series' shape.
        inserted: steps inserted (masked) to fill gaps in the grid.
    """

    def __init__(self, source: str, rows: int, shape: tuple[int, int, int]) -> None:
        self.source, self.rows = source, rows
        self.steps, self.sensors, self.features = shape
        self.inserted = self.steps - rows


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary directory beside ``target``, removed if it is still there at the end; an
    :class:`OSError` on the way (a full disk) is a :class:`~stgraph.io.atomic.WriteError` naming ``target``."""
    folder: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(folder, 0o777 & ~umask)  # mkdtemp makes it private; the result gets a plain mkdir's permissions
        yield folder
    except OSError as error:
        if isinstance(error, WriteError):
            raise
        raise WriteError(error.errno, error.strerror or str(error), str(target)) from error
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _replace(folder: Path, target: Path) -> None:
    """Move the complete ``folder`` onto ``target``; an old ``target`` goes only after that."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(folder, target)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


class _Staged:
    """Time rows in file order, staged as raw float32 values and bool mask, until the grid is known.

    Each chunk is masked as :func:`~stgraph.data.load.load_series` masks (NaN, ``null_value``),
    its missing readings set to 0 and appended; its timestamps and row numbers are kept.
    """

    def __init__(self, folder: Path, source: str, null_value: float | None) -> None:
        self.folder, self.source, self.null_value = folder, source, null_value
        self.rows = 0
        self.timestamps: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.first: Readings | None = None
        self.observed: np.ndarray | None = None
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> _Staged:
        self._files = {name: open(self.folder / f"rows.{name}", "wb") for name in ARRAYS}  # noqa: SIM115 (closed in __exit__)
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._files.values():
            handle.close()

    def add(self, chunk: Readings) -> None:
        if self.first is None:
            self.first = chunk
        elif chunk.sensor_ids != self.first.sensor_ids or chunk.feature_names != self.first.feature_names:
            raise SensorDataError(f"{self.source}: the columns change at {chunk.describe_rows([0])}")
        observed = ~np.isnan(chunk.values)
        if self.null_value is not None:
            observed &= chunk.values != self.null_value
        self._files["values"].write(np.where(observed, chunk.values, 0.0).astype(np.float32).tobytes())
        self._files["mask"].write(observed.tobytes())
        self.observed = observed.sum(axis=0) + (0 if self.observed is None else self.observed)
        self.timestamps.append(chunk.timestamps.as_unit("ns").asi8)
        self.lines.append(chunk.rows)
        self.rows += len(chunk.timestamps)

    def lay_out(self, interval: Any, chunk_rows: int) -> Conversion:
        """Check all timestamps, then write the arrays on the grid and ``meta.json``."""
        first, observed = self.first, self.observed
        if first is None or observed is None:
            raise SensorDataError(f"{self.source}: holds no readings")
        for handle in self._files.values():
            handle.close()
        every = Readings(
            np.empty((self.rows, 0, 0)),
            pd.DatetimeIndex(np.concatenate(self.timestamps).view("datetime64[ns]")),
            first.sensor_ids,
            first.feature_names,
            self.source,
            np.concatenate(self.lines),
            first.row_word,
            first.interval,
        )
        positions, grid, interval = grid_positions(every, interval)
        ids = first.sensor_ids or [str(i) for i in range(observed.shape[0])]
        empty = np.flatnonzero(observed.sum(axis=1) == 0)
        if empty.size:
            raise no_observed_reading(
                self.source, [ids[i] for i in empty], self.null_value, "remove them from the file before converting"
            )
        shape = (len(grid), *observed.shape)
        for name, dtype in ARRAYS.items():
            _lay_out_rows(self.folder / f"rows.{name}", self.folder / f"{name}.npy", dtype, shape, positions, chunk_rows)
            os.remove(self.folder / f"rows.{name}")
        np.save(self.folder / "timestamps.npy", grid.as_unit("ns").asi8)
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "shape": list(shape),
            "dtype": "float32",
            "mask_dtype": "bool",
            "sensor_ids": ids,
            "feature_names": first.feature_names,
            "interval": to_offset(interval).freqstr,
            "interval_ns": int(interval.value),
            "start": str(grid[0]),
            "source": self.source,
            "null_value": self.null_value,
            "rows_read": self.rows,
            "inserted_steps": len(grid) - self.rows,
            "observed": observed.tolist(),
        }
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return Conversion(self.source, self.rows, shape)


def _lay_out_rows(
    staged: Path, file: Path, dtype: np.dtype[Any], shape: tuple[int, ...], positions: np.ndarray, chunk_rows: int
) -> None:
    """Write the ``.npy`` array ``file`` of ``shape`` whose step ``positions[i]`` is staged row ``i``.

    Plain reads and writes, a chunk at a time, rather than memory maps: mapped pages would
    count in the process's resident memory until the whole array was written. The positions
    increase, so each run of consecutive steps is one write at its offset; the steps between
    runs (inserted ones) are never written and read as zeros (0.0, False), as is the end of
    the file up to its full length.
    """
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    with open(staged, "rb") as source, open(file, "wb") as target:
        np.lib.format.write_array_header_2_0(
            target, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        )
        offset = target.tell()
        for begin in range(0, len(positions), chunk_rows):
            steps = positions[begin : begin + chunk_rows]
            rows = memoryview(source.read(len(steps) * row_bytes))
            runs = np.split(np.arange(len(steps)), np.flatnonzero(np.diff(steps) != 1) + 1)
            for run in runs:
                target.seek(offset + int(steps[run[0]]) * row_bytes)
                target.write(rows[int(run[0]) * row_bytes : (int(run[-1]) + 1) * row_bytes])
        target.truncate(offset + shape[0] * row_bytes)
