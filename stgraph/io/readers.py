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

Nothing malformed passes. Each of these is a :class:`~stgraph.errors.SensorDataError` naming the
file, the line (or row, step, key) or column, and what was expected: text that is not UTF-8; a
row with fewer or more fields than the header; a blank line before the last reading; booleans
or dates in a value column; infinite readings; readings outside ``limits``; columns with several
header levels (a pandas MultiIndex); timestamps in more than one time zone; a truncated or
corrupt gzip/bz2/xz/zip, Parquet, NPZ or HDF5 file.

``limits`` says which readings are physically possible: ``(lower, upper)``, inclusive, either
end None for no bound, applied to every feature; or ``{feature: (lower, upper)}``, where
features not named keep the default. The default ``(0.0, None)`` rejects negative readings,
which no speed (km/h, mph), flow (vehicles per interval) or occupancy can be; pass
``limits=None`` to check nothing, or e.g. ``{"speed_change": (None, None)}`` for a signed feature.
Readings equal to the caller's ``null_value`` (a missing-reading sentinel such as ``-1``) are
exempt.

HDF5 files are opened by PyTables, which can crash the interpreter (a segmentation fault) on a
damaged file. So before reading one in this process, the reader checks its HDF5 signature and
then reads the same table in a short-lived subprocess: a crash there becomes an error naming the
file and the signal. A file that passed is not checked again in the same process (remembered by a hash of its content).
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import signal
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

__all__ = ["DEFAULT_LIMITS", "FORMATS", "InMemoryFile", "Limits", "Readings", "check_values", "detect_format", "read_readings"]

Bounds = tuple[float | None, float | None]
Limits = Bounds | Mapping[str, Bounds] | None
DEFAULT_LIMITS: Bounds = (0.0, None)
"""Readings must be >= 0 (speeds, flows, occupancies) unless the caller passes ``limits``."""

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
# how pandas reads the cells of a readings CSV after its header line: only _MISSING_TOKENS are missing
_CSV_BODY: dict[str, Any] = {
    "header": None,
    "skiprows": 1,
    "keep_default_na": False,
    "na_values": list(_MISSING_TOKENS),
    "skipinitialspace": True,
}


@dataclass(frozen=True)
class InMemoryFile:
    """A readings file already in memory (an upload), read as if it were a file called ``name``.

    ``name`` picks the format and the compression by its suffix, as a path's would, and names
    the readings in messages; nothing is ever opened by that name. Only CSV is read from memory.
    """

    name: str
    data: bytes


Source = str | os.PathLike[str] | InMemoryFile


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


def detect_format(path: Source) -> str:
    """File format from the name: one of :data:`FORMATS` (compression suffixes skipped)."""
    name = _name(path).lower()
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
    path: Source,
    *,
    format: str | None = None,
    start: Any = None,
    interval: Any = None,
    timestamp_column: str | None = None,
    features: Sequence[str] | None = None,
    value_columns: Sequence[str] | None = None,
    key: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    null_value: float | None = None,
) -> Readings:
    """Read one readings file; see the module docstring for the layouts and the checks.

    Args:
        path: the file, or an :class:`InMemoryFile` (CSV only).
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
        limits: the physically possible readings (module docstring); default: ``>= 0``.
        null_value: the file's missing-reading sentinel, exempt from ``limits``.
    """
    source = path.name if isinstance(path, InMemoryFile) else str(path)
    if not isinstance(path, InMemoryFile) and not Path(path).is_file():
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
        readings = _read_csv(path, source, **options)
    elif isinstance(path, InMemoryFile):
        raise SensorDataError(f"{source}: only CSV readings are read from memory, not {format}")
    elif format == "parquet":
        readings = _from_frame(_read_parquet(path, source), source, "row", 0, **options)
    elif format == "hdf5":
        readings = _from_frame(_read_hdf(path, source, key), source, "row", 0, **options)
    elif format == "npz":
        readings = _read_npz(path, source, start=start, interval=interval, features=features)
    else:
        readings = _read_stgraph_json(path, source, start=start, interval=interval, features=features)
    steps, sensors, _ = readings.values.shape
    if not steps or not sensors:
        raise SensorDataError(f"{source}: holds no readings ({steps} time steps, {sensors} sensors)")
    check_values(readings, limits, null_value)
    return readings


# --- checks on every reader's output -------------------------------------------------------
def _bounds(limits: Limits, feature: str, source: str) -> Bounds:
    if limits is None:
        return (None, None)
    if isinstance(limits, Mapping):
        return tuple(limits.get(feature, DEFAULT_LIMITS))  # type: ignore[return-value]
    if not isinstance(limits, tuple) or len(limits) != 2:
        raise SensorDataError(f"{source}: limits= must be (lower, upper) or {{feature: (lower, upper)}}, got {limits!r}")
    return limits


def check_values(readings: Readings, limits: Limits, null_value: float | None) -> None:
    """Infinite readings and readings outside ``limits``: SensorDataError naming sensor and row."""
    source, values = readings.source, readings.values
    if isinstance(limits, Mapping):
        unknown = [name for name in limits if name not in readings.feature_names]
        if unknown:
            raise SensorDataError(f"{source}: limits= names features {unknown} not in the file's {readings.feature_names}")
    for f, feature in enumerate(readings.feature_names):
        column = values[:, :, f]
        with np.errstate(invalid="ignore"):
            huge = np.isfinite(column) & (np.abs(column) > np.finfo(np.float32).max)
        problems: list[tuple[np.ndarray, str]] = [
            (np.isinf(column), "infinite readings (expected finite numbers)"),
            (huge, "readings beyond float32's range (3.4e38), where series are stored"),
        ]
        lower, upper = _bounds(limits, feature, source)
        exempt = column == null_value if null_value is not None else np.zeros(column.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            if lower is not None:
                problems.append(
                    (
                        ~exempt & (column < lower),
                        f"readings below {lower:g} (impossible for {feature!r}; pass limits= to allow them)",
                    )
                )
            if upper is not None:
                problems.append(
                    (
                        ~exempt & (column > upper),
                        f"readings above {upper:g} (impossible for {feature!r}; pass limits= to allow them)",
                    )
                )
        for bad, what in problems:
            if bad.any():
                step, sensor = np.argwhere(bad)[0]
                where = f"column {readings.sensor_ids[sensor]!r}" if readings.sensor_ids is not None else f"sensor {sensor}"
                feature_part = f", feature {feature!r}" if len(readings.feature_names) > 1 else ""
                raise SensorDataError(
                    f"{source}, {where}{feature_part}: {int(bad.sum())} {what}; first at "
                    f"{readings.describe_rows([step])}: {float(column[step, sensor])!r}"
                )


# --- text ----------------------------------------------------------------------------------
def _name(path: Source) -> str:
    return path.name if isinstance(path, InMemoryFile) else Path(path).name


def _decompressed(path: Source, source: str) -> bytes:
    """The file's bytes, decompressed by suffix; SensorDataError for a truncated or corrupt archive."""
    name = _name(path).lower()
    if isinstance(path, InMemoryFile) and not name.endswith(_COMPRESSION):
        return path.data
    opened: str | os.PathLike[str] | io.BytesIO = io.BytesIO(path.data) if isinstance(path, InMemoryFile) else path
    data: bytes
    try:
        if name.endswith(".gz"):
            with gzip.open(opened, "rb") as handle:
                data = handle.read()
                return data
        if name.endswith(".bz2"):
            with bz2.open(opened, "rb") as handle:
                data = handle.read()
                return data
        if name.endswith(".xz"):
            with lzma.open(opened, "rb") as handle:
                data = handle.read()
                return data
        if name.endswith(".zip"):
            with zipfile.ZipFile(opened) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise SensorDataError(f"{source}: a zipped readings file must hold one file, found {len(members)}")
                return archive.read(members[0])
        if name.endswith(".zst"):
            raise SensorDataError(f"{source}: .zst files are not supported; decompress it or use .gz")
        return opened.getvalue() if isinstance(opened, io.BytesIO) else Path(opened).read_bytes()
    except SensorDataError:
        raise
    except EOFError:
        raise SensorDataError(f"{source}: truncated compressed file (it ends before the end-of-stream marker)") from None
    except (OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError, NotImplementedError) as error:
        raise SensorDataError(f"{source}: corrupt compressed file ({_first_line(error)})") from None


def _text(path: Source, source: str) -> str:
    """The file as UTF-8 text, line endings normalised to ``\\n``."""
    data = _decompressed(path, source)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SensorDataError(
            f"{source}, line {line}: not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}); "
            "expected a UTF-8 CSV file (re-save it as UTF-8)"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SensorDataError(f"{source}, line {line}: holds a NUL byte; expected a text (CSV) file, not binary data")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _field_counts(text: str) -> tuple[np.ndarray, np.ndarray]:
    """``(line numbers, fields per line)`` of every line; quoted fields may span lines."""
    if '"' in text:
        lines: list[int] = []
        counts: list[int] = []
        reader = csv.reader(io.StringIO(text), skipinitialspace=True)
        previous = 0
        try:
            for row in reader:
                lines.append(previous + 1)
                counts.append(len(row))
                previous = reader.line_num
        except csv.Error:
            lines.append(previous + 1)
            counts.append(-1)  # unparseable; pandas names the problem
        return np.asarray(lines, dtype=np.int64), np.asarray(counts, dtype=np.int64)
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    if not len(data) or data[-1] != ord("\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1] + 1])
    commas = np.searchsorted(ends, np.flatnonzero(data == ord(",")))
    fields = np.bincount(commas, minlength=len(ends)) + 1
    fields[ends == starts] = 0  # blank line
    return np.arange(1, len(ends) + 1, dtype=np.int64), fields.astype(np.int64)


_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _refuse_other_separator(header: str, source: str) -> None:
    """A one-column header that another separator would split: say so, instead of failing later
    on "column 'timestamp;s1;s2'" as if it were one odd column."""
    for separator, name in _OTHER_SEPARATORS.items():
        if separator in header:
            raise SensorDataError(
                f"{source}, line 1: the header {header.strip()[:60]!r} is one column; the file looks separated by "
                f"{name}, but readings files are read as comma-separated CSV (convert it, e.g. with pandas)"
            )


def _read_csv(path: Source, source: str, **options: Any) -> Readings:
    text = _text(path, source)
    if not text.strip():
        raise SensorDataError(f"{source}: the file is empty; expected a header line and readings")
    lines, counts = _field_counts(text)
    filled = np.flatnonzero(counts != 0)
    if counts[0] == 0:
        raise SensorDataError(f"{source}, line 1: blank; expected the header (timestamp and sensor columns)")
    expected = int(counts[0])
    if expected == 1:
        _refuse_other_separator(text.split("\n", 1)[0], source)
    data_lines, data_counts = lines[1 : filled[-1] + 1], counts[1 : filled[-1] + 1]
    ragged = np.flatnonzero((data_counts != expected) & (data_counts >= 0))
    if ragged.size:
        first = ragged[0]
        fields = int(data_counts[first])
        what = "blank" if fields == 0 else f"{fields} field{'s' if fields != 1 else ''}"
        raise SensorDataError(
            f"{source}, line {data_lines[first]}: {what}, expected {expected} as in the header "
            f"({ragged.size} such line{'s' if ragged.size > 1 else ''})"
        )
    try:
        header = pd.read_csv(io.StringIO(text), header=None, nrows=1, dtype=str, keep_default_na=False, skipinitialspace=True)
        names = [str(name).strip() for name in header.iloc[0]]
        seen: dict[str, int] = {}
        for position, name in enumerate(names):
            if name in seen:
                raise SensorDataError(
                    f"{source}, line 1: column {name!r} appears twice (columns {seen[name] + 1} and {position + 1})"
                )
            seen[name] = position
        as_text = {position: str for position, name in enumerate(names) if name.lower() in _SENSOR_NAMES}
        frame = pd.read_csv(io.StringIO(text), names=list(range(len(names))), dtype=as_text, **_CSV_BODY)
    except pd.errors.EmptyDataError:
        raise SensorDataError(f"{source}: the file is empty; expected a header line and readings") from None
    except pd.errors.ParserError as error:
        message = _first_line(error).removeprefix("Error tokenizing data. C error: ")
        raise SensorDataError(f"{source}: cannot parse as CSV ({message})") from None
    if len(frame) != len(data_lines) - int((data_counts == 0).sum()):
        raise SensorDataError(f"{source}: cannot parse as CSV (a quoted field is not closed?)")
    frame.columns = names
    if not len(frame):
        raise SensorDataError(f"{source}: holds a header but no readings")
    frame.index = pd.RangeIndex(len(frame))
    return _from_frame(frame, source, "line", data_lines[data_counts > 0], **options)


# --- binary tables -------------------------------------------------------------------------
def _read_parquet(path: str | os.PathLike[str], source: str) -> pd.DataFrame:
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(-4 if os.path.getsize(path) >= 8 else 0, os.SEEK_END)
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        raise SensorDataError(f"{source}: not a Parquet file (no 'PAR1' marker at its start and end); truncated or corrupt?")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises many kinds (ArrowInvalid, OSError, KeyError, ...) on a damaged file
        raise SensorDataError(f"{source}: corrupt Parquet file ({_first_line(error)})") from None
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover
        raise SensorDataError(f"{source}: expected a table, got {type(frame).__name__}")
    return frame


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_CHECKED: set[tuple[str, str | None]] = set()
# Runs in a subprocess: the same reads as _read_hdf, so that a crash inside PyTables ends that
# process, not ours. Prints the chosen key, or the error, as JSON.
_HDF5_PROBE = """
import json, sys
import pandas as pd
path, key = sys.argv[1], sys.argv[2] or None
try:
    with pd.HDFStore(path, mode="r") as store:
        keys = store.keys()
        if key is None and len(keys) == 1:
            key = keys[0]
        if key is not None and (key in keys or "/" + key in keys):
            store[key]
    print(json.dumps({"ok": True}))
except Exception as error:
    print(json.dumps({"ok": False, "error": type(error).__name__ + ": " + (str(error).strip().splitlines() or [""])[0]}))
"""


def _check_hdf5(path: str | os.PathLike[str], source: str, key: str | None) -> None:
    """HDF5 signature, then a trial read in a subprocess (PyTables may segfault on a corrupt file)."""
    stat = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    cache_key = (digest.hexdigest(), key)  # the content, not the name: a rewritten file is checked again
    if cache_key in _HDF5_CHECKED:
        return
    with open(path, "rb") as handle:
        # the superblock is at 0, or after a user block of 512, 1024, 2048, ... bytes
        offsets = [0] + [512 << i for i in range(32) if (512 << i) + 8 <= stat.st_size]
        found = False
        for offset in offsets:
            handle.seek(offset)
            if handle.read(8) == _HDF5_SIGNATURE:
                found = True
                break
    if not found:
        raise SensorDataError(f"{source}: not an HDF5 file (no HDF5 signature); expected a pandas HDF5 table such as metr-la.h5")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _HDF5_PROBE, str(path), key or ""],
            capture_output=True,
            text=True,
            timeout=600,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SensorDataError(f"{source}: corrupt HDF5 file (reading it did not finish in 600 s)") from None
    if probe.returncode < 0:
        name = signal.Signals(-probe.returncode).name if -probe.returncode in signal.valid_signals() else str(-probe.returncode)
        raise SensorDataError(
            f"{source}: corrupt HDF5 file (PyTables crashed reading it, signal {name}, in the subprocess that checks HDF5 files)"
        )
    try:
        report = json.loads(probe.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise SensorDataError(f"{source}: cannot check the HDF5 file (the checking process failed: {last})") from None
    if not report["ok"]:
        raise SensorDataError(f"{source}: corrupt HDF5 file ({report['error']})")
    _HDF5_CHECKED.add(cache_key)


def _read_hdf(path: str | os.PathLike[str], source: str, key: str | None) -> pd.DataFrame:
    _check_hdf5(path, source, key)
    try:
        with pd.HDFStore(path, mode="r") as store:
            key = hdf_key(store, source, key)
            frame = store[key]
    except SensorDataError:
        raise
    except Exception as error:  # PyTables and HDF5 raise many kinds on a damaged file
        raise SensorDataError(f"{source}: corrupt HDF5 file ({type(error).__name__}: {_first_line(error)})") from None
    if not isinstance(frame, pd.DataFrame):
        raise SensorDataError(f"{source}, key {key!r}: expected a DataFrame (time x sensors), got {type(frame).__name__}")
    return frame


def hdf_key(store: pd.HDFStore, source: str, key: str | None) -> str:
    """The table to read: ``key``, or the only one the file holds."""
    keys = store.keys()
    if key is None:
        if len(keys) != 1:
            raise SensorDataError(f"{source}: holds {len(keys)} tables {keys}; pass key= to pick one")
        return str(keys[0])
    if key not in keys and f"/{key}" not in keys:
        raise SensorDataError(f"{source}: no table {key!r}; it holds {keys}")
    return key


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# --- tables ------------------------------------------------------------------------------
def _from_frame(
    frame: pd.DataFrame,
    source: str,
    row_word: str,
    row_offset: int | np.ndarray,
    *,
    start: Any,
    interval: Any,
    timestamp_column: str | None,
    features: Sequence[str] | None,
    value_columns: Sequence[str] | None,
) -> Readings:
    if isinstance(frame.columns, pd.MultiIndex):
        raise SensorDataError(
            f"{source}: columns have {frame.columns.nlevels} header levels (a pandas MultiIndex, first column "
            f"{tuple(str(c) for c in frame.columns[0]) if len(frame.columns) else ()}); expected one level: timestamp and sensor ids"
        )
    if isinstance(frame.index, pd.MultiIndex):
        raise SensorDataError(
            f"{source}: the row index has {frame.index.nlevels} levels (a pandas MultiIndex); expected timestamps "
            "(a DatetimeIndex or a timestamp column), one row per time step"
        )
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    if isinstance(row_offset, np.ndarray):
        rows = row_offset.astype(np.int64)
    else:
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
    if not len(frame.columns):
        raise SensorDataError(f"{source}: no sensor columns; expected a timestamp column and one column per sensor")
    _check_unique_columns(list(frame.columns), source)
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


def _check_unique_columns(names: list[str], source: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            raise SensorDataError(f"{source}: column {name!r} appears twice (columns {seen[name] + 1} and {position + 1})")
        seen[name] = position


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
        if isinstance(first, pd.DataFrame):  # a repeated column name
            return None
        if pd.api.types.is_datetime64_any_dtype(first):
            return names[0]
        if not pd.api.types.is_numeric_dtype(first) and not pd.api.types.is_bool_dtype(first):
            head = first.dropna().head(5).astype(str)
            if len(head) and _looks_like_dates(head):
                return names[0]
    return None


def _looks_like_dates(text: pd.Series) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": a guess is all we want here
            return bool(pd.to_datetime(text, errors="coerce").notna().all())
    except (ValueError, TypeError, OverflowError):
        return True  # parses as dates but e.g. in several time zones: _parse_timestamps says so


_ZONE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def _zone(text: str) -> str:
    match = _ZONE.search(text.strip())
    if match is None:
        return "no time zone"
    zone = match.group(0).replace(":", "")
    return "+0000" if zone in ("Z", "-0000") else zone


def _parse_timestamps(column: pd.Series, source: str, name: str, rows: np.ndarray, row_word: str) -> pd.DatetimeIndex:
    if isinstance(column, pd.DataFrame):
        raise SensorDataError(f"{source}: column {name!r} appears more than once")
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = pd.DatetimeIndex(column)
    elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise SensorDataError(f"{source}, column {name!r}: holds numbers, not dates; pass start= and interval= instead")
    else:
        present = column.notna().to_numpy()
        if present.any():
            zones = column[present].astype(str).map(_zone)
            if zones.nunique() > 1:
                where = np.flatnonzero(present)
                other = int(np.argmax((zones != zones.iloc[0]).to_numpy()))
                raise SensorDataError(
                    f"{source}, column {name!r}: timestamps in more than one time zone ({row_word} {rows[where[0]]}: "
                    f"{zones.iloc[0]}, {row_word} {rows[where[other]]}: {zones.iloc[other]}); expected one time zone "
                    "for every timestamp (convert them to one, e.g. UTC)"
                )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # per-element parsing: unparsed values are named below
                parsed = pd.DatetimeIndex(pd.to_datetime(column, errors="coerce"))
        except (ValueError, TypeError, OverflowError) as error:
            raise SensorDataError(f"{source}, column {name!r}: cannot read as timestamps ({_first_line(error)})") from None
    bad = np.flatnonzero(parsed.isna())
    if bad.size:
        first = bad[0]
        raise SensorDataError(
            f"{source}, column {name!r}: {bad.size} values are not timestamps "
            f"(first at {row_word} {rows[first]}: {str(column.iloc[first])!r})"
        )
    return parsed


def _describe_text(value: Any) -> str:
    """What a non-numeric cell looks like, for the error message."""
    if isinstance(value, (bool, np.bool_)) or str(value).strip().lower() in ("true", "false"):
        return "booleans; expected numbers"
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?|\d{1,2}/\d{1,2}/\d{2,4}.*", text):
        return "dates; expected numbers (is this a timestamp column? pass timestamp_column=)"
    return "non-numeric values"


def _numeric(frame: pd.DataFrame, columns: list[str], source: str, rows: np.ndarray, row_word: str) -> np.ndarray:
    """``[rows, columns]`` float64; SensorDataError naming the first column that is not numbers."""
    converted = {}
    for column in columns:
        values = frame[column]
        kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else None
        if kind in ("i", "u", "f"):
            continue
        if kind == "b" or pd.api.types.is_bool_dtype(values):
            raise SensorDataError(f"{source}, column {column!r}: holds booleans (True/False); expected numbers (readings)")
        if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values) or kind in ("M", "m"):
            raise SensorDataError(
                f"{source}, column {column!r}: holds dates or durations ({values.dtype}); expected numbers (readings)"
            )
        if kind == "c":
            raise SensorDataError(f"{source}, column {column!r}: holds complex numbers; expected real numbers (readings)")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_object_dtype(values):
            converted[column] = values.astype("float64")  # nullable Int64/Float64: <NA> becomes NaN
            continue
        bools = values.map(lambda v: isinstance(v, (bool, np.bool_)), na_action="ignore").fillna(False).to_numpy(dtype=bool)
        text = values.astype(str).str.strip()
        try:
            numbers = pd.to_numeric(values.where(~bools), errors="coerce")
        except (TypeError, ValueError):
            numbers = pd.Series(np.nan, index=values.index)
        bad = np.flatnonzero(bools | (numbers.isna() & values.notna() & ~text.isin(_MISSING_TOKENS)).to_numpy())
        if bad.size:
            first = bad[0]
            raise SensorDataError(
                f"{source}, column {column!r}: {bad.size} {_describe_text(values.iloc[first])} "
                f"(first at {row_word} {rows[first]}: {str(values.iloc[first])!r})"
            )
        converted[column] = numbers.astype("float64")
    if converted:
        frame = frame.assign(**converted)
    try:
        matrix: np.ndarray = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError, OverflowError) as error:  # pragma: no cover (every column was checked above)
        raise SensorDataError(f"{source}: value columns are not numbers ({_first_line(error)})") from None
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
    data = _npz_array(path, source, "data")
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise SensorDataError(f"{source}, array 'data': expected [time, sensors, features], got shape {list(data.shape)}")
    if data.dtype.kind == "b":
        raise SensorDataError(f"{source}, array 'data': holds booleans; expected numbers (readings)")
    if data.dtype.kind not in ("i", "u", "f"):
        raise SensorDataError(f"{source}, array 'data': expected numbers, got dtype {data.dtype}")
    names = list(features) if features is not None else [f"feature_{i}" for i in range(data.shape[2])]
    if len(names) != data.shape[2]:
        raise SensorDataError(f"{source}: {data.shape[2]} features in 'data' but features={names}")
    timestamps, interval = _generated_timestamps(source, data.shape[0], start, interval, "timestamps")
    rows = np.arange(data.shape[0], dtype=np.int64)
    return Readings(data.astype(np.float64), timestamps, None, names, source, rows, "step", interval)


def _npz_array(path: str | os.PathLike[str], source: str, name: str) -> np.ndarray:
    """One array of an ``.npz`` archive, read without unpickling and without trusting its header
    (:func:`open_npz_array`)."""
    with open_npz_array(path, source, name) as (handle, shape, fortran, dtype):
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        raw = handle.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise SensorDataError(f"{source}, array {name!r}: truncated ({len(raw)} of {count * dtype.itemsize} bytes)")
        array = np.frombuffer(raw, dtype=dtype)
        return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


@contextlib.contextmanager
def open_npz_array(
    path: str | os.PathLike[str], source: str, name: str
) -> Iterator[tuple[IO[bytes], tuple[int, ...], bool, np.dtype[Any]]]:
    """The stream of array ``name`` in an ``.npz`` archive, after its header: ``(stream, shape,
    fortran order, dtype)``. The stream decompresses as it is read, so an array can be read
    in pieces.

    Read member by member rather than with :func:`numpy.load`, so that a damaged archive is an
    error naming the file (not a zip, CRC or pickle traceback, also while the stream is read
    in the ``with`` block), and a header that claims more data than the member holds is
    refused before memory is allocated for it.
    """
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise SensorDataError(f"{source}: not an .npz archive (no zip signature); expected numpy.savez output")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {m.filename.removesuffix(".npy"): m for m in archive.infolist()}
            if name not in members:
                raise SensorDataError(
                    f"{source}: no array {name!r} (PEMS0x layout [time, sensors, features]); keys are {sorted(members)}"
                )
            member = members[name]
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise SensorDataError(f"{source}, array {name!r}: unsupported .npy version {version}")
                if dtype.hasobject:
                    raise SensorDataError(
                        f"{source}, array {name!r}: holds Python objects, which stgraph never unpickles; expected numbers"
                    )
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                if count < 0 or count * dtype.itemsize > member.file_size:
                    raise SensorDataError(
                        f"{source}, array {name!r}: header says shape {list(shape)} of {dtype} "
                        f"({count * dtype.itemsize} bytes) but the archive holds {member.file_size} bytes; truncated or corrupt"
                    )
                yield stream, tuple(shape), bool(fortran), dtype
    except SensorDataError:
        raise
    except EOFError:
        raise SensorDataError(f"{source}: truncated .npz archive") from None
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        ValueError,
        TypeError,
        KeyError,
        NotImplementedError,
        OverflowError,
    ) as error:
        message = _first_line(error)
        if "pickle" in message:
            message = "holds pickled data, which stgraph never unpickles"
        raise SensorDataError(f"{source}: corrupt .npz archive ({message})") from None


_JSON_BOOLEAN = re.compile(r"\btrue\b|\bfalse\b")


def _read_stgraph_json(
    path: str | os.PathLike[str], source: str, *, start: Any, interval: Any, features: Sequence[str] | None
) -> Readings:
    """STGraph's JSON: ``{"0": [[speed, time_of_day], ...], ...}``; keeps the speed.

    The second entry of each pair is the time of day (step / 288), which
    :mod:`stgraph.data.covariates` derives from the timestamps; it is not read as a feature.
    """
    text = _text(path, source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SensorDataError(f"{source}, line {error.lineno}: not valid JSON ({error.msg})") from None
    except RecursionError:
        raise SensorDataError(f"{source}: not valid STGraph JSON (nested too deeply)") from None
    if not isinstance(document, dict):
        raise SensorDataError(f"{source}: expected a JSON object with keys '0', '1', ... (STGraph layout)")
    steps = sorted(int(k) for k in document if k.isascii() and k.isdigit())
    if not steps or steps != list(range(len(steps))):
        raise SensorDataError(f"{source}: expected step keys '0'..'T-1'; found {len(steps)} numeric keys")
    declared = document.get("time_periods")
    if declared is not None and declared != len(steps):
        raise SensorDataError(f"{source}: time_periods is {declared} but there are {len(steps)} step keys")
    for step in steps:
        if not isinstance(document[str(step)], list):
            raise SensorDataError(f"{source}, key '{step}': expected a list of [speed, time_of_day] pairs")
    sensors = len(document["0"])
    values: np.ndarray | None = None
    if not _JSON_BOOLEAN.search(text):  # booleans would become 1.0/0.0 here: the slow path names them
        try:
            values = np.asarray([document[str(step)] for step in steps])
            values = values[..., :1].astype(np.float64) if values.dtype.kind in ("i", "f") and values.ndim == 3 else None
        except (TypeError, ValueError, OverflowError):
            values = None
    if values is None:
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
            speed = pair[0] if isinstance(pair, list) and pair else "missing"
            if speed is None:
                values[step, sensor, 0] = np.nan
            elif isinstance(speed, (int, float)) and not isinstance(speed, bool):
                try:
                    values[step, sensor, 0] = float(speed)
                except OverflowError:
                    values[step, sensor, 0] = np.inf  # _check_values names it
            else:
                what = "a boolean" if isinstance(speed, bool) else repr(pair)
                raise SensorDataError(
                    f"{source}, key '{step}', sensor {sensor}: expected [speed, time_of_day] with a numeric speed, got {what}"
                )
    return values


def _generated_timestamps(
    source: str, steps: int, start: Any, interval: Any, lacking: str
) -> tuple[pd.DatetimeIndex, pd.Timedelta]:
    """``steps`` timestamps from ``start`` every ``interval``, for a file without its own."""
    if start is None or interval is None:
        raise SensorDataError(f"{source}: no {lacking}; give start= (the first timestamp) and interval= (e.g. '5min')")
    try:
        interval = pd.Timedelta(interval)
        first = pd.Timestamp(start)
    except (TypeError, ValueError) as error:
        raise SensorDataError(f"{source}: start={start!r} or interval={interval!r} is not valid ({_first_line(error)})") from None
    if interval <= pd.Timedelta(0):
        raise SensorDataError(f"{source}: interval must be positive, got {interval}")
    return pd.date_range(first, periods=steps, freq=interval), interval
