"""Series on disk: a converted readings directory, opened as a memory-mapped :class:`SensorSeries`.

A series larger than memory (LargeST's 8,600 California sensors over years of 5-minute
steps) is converted once, in chunks (:func:`convert_readings`, ``stgraph convert``), into a
directory, by convention ``NAME.stseries/``, holding:

* ``values.npy``: float32 ``[time, sensors, features]`` on the regular grid, 0 where missing;
* ``mask.npy``: bool, the values' shape, ``True`` = observed;
* ``timestamps.npy``: int64 nanoseconds since the epoch, one per step;
* ``meta.json``: format and version, shape and dtypes, sensor ids, feature names, interval,
  the source file, the null value applied, the observed readings per sensor and feature,
  and the number of steps inserted to fill gaps.

:func:`open_series` maps the arrays (``numpy.load(mmap_mode="r")``): nothing is read until a
window asks for its steps, and the operating system's page cache, not the process, holds what
was read. The readings were checked when converted (as :func:`~stgraph.data.load.load_series`
checks a file), so opening checks only what is cheap and catches a damaged directory: every
member present, each array's header, dtype and shape against ``meta.json``, and its length on
disk against its header (a truncated file), the timestamps regular at the interval.

Why ``.npy`` and a memory map rather than a chunked format (HDF5, Zarr): a window is a run of
consecutive steps, and in ``[time, sensors, features]`` order a run of steps is one contiguous
byte range, so the map reads exactly the bytes of a batch's windows with no decompression,
no chunk cache to size and no dependency beyond numpy; the page cache shares them between
DataLoader workers and between processes of a DDP run. A chunked format pays off for
compression or for reading one sensor over all time, which training does not do.

Why a bool mask rather than packed bits: a bool array maps and slices like the values (a
batch's mask is a view of the same steps), while packed bits would need unpacking in every
batch; the mask costs a quarter of the values on disk (1 byte against 4 per reading).

In-memory mode: ``open_series(..., in_memory=True)`` (``data.in_memory: true``) copies the
arrays into memory, for speed when they fit; a series whose arrays take more than
``memory_limit`` bytes (default: half the memory available when it is opened) is refused with
an error naming the directory and both sizes, instead of being swapped out or killed.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError

__all__ = ["ARRAYS", "FORMAT", "FORMAT_VERSION", "SUFFIX", "is_series_dir", "memory_available", "open_series", "read_meta"]

#: name of the layout in ``meta.json``
FORMAT = "stgraph-series"
#: version of the layout; a directory of another version is refused
FORMAT_VERSION = 1
#: the conventional suffix of a converted directory
SUFFIX = ".stseries"

#: the arrays of a converted series beside ``timestamps.npy``, and their dtypes
ARRAYS = {"values": np.dtype(np.float32), "mask": np.dtype(np.bool_)}


def is_series_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory, and so taken for a converted series."""
    return Path(path).is_dir()


def memory_available() -> int:
    """Bytes of memory available now (``MemAvailable`` on Linux; free pages elsewhere)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


# --- opening ------------------------------------------------------------------------------
def open_series(path: str | os.PathLike[str], *, in_memory: bool = False, memory_limit: int | None = None) -> SensorSeries:
    """The converted series in directory ``path``, its arrays memory-mapped (module docstring).

    Args:
        path: a directory written by :func:`convert_readings`.
        in_memory: copy the arrays into memory instead of mapping them.
        memory_limit: with ``in_memory``, the most bytes the arrays may take (default half of
            :func:`memory_available`).

    Raises:
        SensorDataError: naming the file, for a missing member, a ``meta.json`` that is not
            this layout, an array whose dtype or shape differs from ``meta.json``, a
            truncated array, irregular timestamps, or arrays over ``memory_limit``.
    """
    folder = Path(path)
    meta = read_meta(folder)
    shape = tuple(int(n) for n in meta["shape"])
    arrays = {name: _mapped(folder / f"{name}.npy", dtype, shape) for name, dtype in ARRAYS.items()}
    timestamps = _timestamps(folder / "timestamps.npy", shape[0])
    if in_memory:
        size = sum(array.nbytes for array in arrays.values())
        limit = memory_available() // 2 if memory_limit is None else int(memory_limit)
        if size > limit:
            raise SensorDataError(
                f"{folder}: the series takes {_gigabytes(size)} in memory, more than the {_gigabytes(limit)} allowed "
                f"for in-memory mode ({'half the memory available' if memory_limit is None else 'memory_limit'}); "
                "leave data.in_memory off to read it from disk"
            )
        arrays = {name: np.array(array) for name, array in arrays.items()}
    return SensorSeries(
        arrays["values"],
        arrays["mask"],
        timestamps,
        meta["sensor_ids"],
        meta["feature_names"],
        interval=pd.Timedelta(int(meta["interval_ns"]), unit="ns"),
        source=str(folder),
        trusted=True,
    )


def read_meta(folder: Path) -> dict[str, Any]:
    """``meta.json`` of the converted series in ``folder``, checked to be this layout."""
    file = folder / "meta.json"
    if not file.is_file():
        raise SensorDataError(
            f"{folder}: not a converted series (no meta.json); make one with `stgraph convert FILE --out {folder}`"
        )
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SensorDataError(f"{file}: not valid JSON ({error}); convert the readings again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SensorDataError(f"{file}: not the metadata of a converted series (format {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise SensorDataError(f"{file}: layout version {meta.get('version')!r}; this stgraph reads version {FORMAT_VERSION}")
    missing = [key for key in ("shape", "sensor_ids", "feature_names", "interval_ns") if key not in meta]
    if missing:
        raise SensorDataError(f"{file}: lacks {', '.join(missing)}; convert the readings again")
    return meta


def _header(file: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """``(shape, fortran order, dtype, header bytes)`` of a ``.npy`` file."""
    if not file.is_file():
        raise SensorDataError(f"{file}: missing; the converted series is incomplete (convert the readings again)")
    try:
        with open(file, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            return tuple(shape), bool(fortran), dtype, handle.tell()
    except (ValueError, OSError, EOFError) as error:
        raise SensorDataError(f"{file}: not a readable .npy array ({error})") from None


def _mapped(file: Path, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """``file`` memory-mapped, read-only, after checking it against ``meta.json``'s shape and ``dtype``."""
    found_shape, fortran, found_dtype, offset = _header(file)
    if found_dtype != dtype or found_shape != shape or fortran:
        raise SensorDataError(
            f"{file}: holds {found_dtype} {list(found_shape)}{' in Fortran order' if fortran else ''} but meta.json says "
            f"{dtype} {list(shape)}; the directory was altered (convert the readings again)"
        )
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = file.stat().st_size
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise SensorDataError(f"{file}: {what} ({size} bytes, expected {expected}); convert the readings again")
    mapped: np.ndarray = np.load(file, mmap_mode="r", allow_pickle=False)
    return mapped


def _timestamps(file: Path, steps: int) -> pd.DatetimeIndex:
    shape, _, dtype, offset = _header(file)
    if dtype != np.int64 or shape != (steps,):
        raise SensorDataError(f"{file}: holds {dtype} {list(shape)} but meta.json says int64 [{steps}] (nanoseconds)")
    if file.stat().st_size != offset + steps * 8:
        raise SensorDataError(f"{file}: truncated ({file.stat().st_size} bytes, expected {offset + steps * 8})")
    return pd.DatetimeIndex(np.load(file, allow_pickle=False).view("datetime64[ns]"))


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.2f} GB"
