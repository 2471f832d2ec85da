"""A forecast request -> a :class:`~stgraph.data.SensorSeries` aligned to the served run.

Two layouts:

- JSON: ``{"timestamps": [...], "sensors": [...], "values": [[...]], "mask": [[...]]}``.
  ``timestamps`` are ISO 8601 strings (all with the same UTC offset or none), at least
  ``lookback`` of them, increasing, exactly the run's interval apart. ``sensors`` are ids
  (strings or integers), in any order; every run sensor must be there, and an id the run does
  not know is refused too (a typo would otherwise pass unnoticed). ``values`` is
  ``[steps][sensors]`` for a one-feature run or ``[steps][sensors][features]`` (the run's
  feature order), numbers or ``null``/``NaN`` for a missing reading. ``mask`` (optional) is
  ``[steps][sensors]`` booleans, true = observed. Readings equal to the run's null value
  (METR-LA's ``0`` speed) are missing, as in training.
- CSV: the bytes of a readings table in a layout ``stgraph predict`` reads, parsed by
  :func:`~stgraph.data.load.load_series` from memory (never from a path), then checked like
  ``stgraph predict`` checks a file.

Anything else is a :class:`RequestError`: one line naming the field, the position, the sensor
or the row, and what was expected.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.io.readers import InMemoryFile
from stgraph.pipeline.data import interval_text
from stgraph.pipeline.forecast import check_series

if TYPE_CHECKING:  # pragma: no cover
    from stgraph.serve.run import ServedRun

__all__ = ["FIELDS", "RequestError", "parse_csv", "parse_json", "parse_json_bytes"]

#: the keys a JSON request may hold
FIELDS = ("timestamps", "sensors", "values", "mask")

#: the name an uploaded CSV is read under (plain CSV: never decompressed, whatever its name)
UPLOAD_NAME = "upload.csv"


class RequestError(SensorDataError):
    """A forecast request that cannot be answered; the message names the problem (HTTP 422)."""


def parse_json_bytes(body: bytes, run: ServedRun) -> SensorSeries:
    """:func:`parse_json` of a raw request body."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError as error:
        raise RequestError(f"body: not UTF-8 text (byte {body[error.start]:#04x} at offset {error.start})") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"body: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise RequestError("body: JSON nested too deeply") from None
    return parse_json(document, run)


def parse_json(document: Any, run: ServedRun) -> SensorSeries:
    """A decoded JSON request (module docstring) -> the series in the run's sensor order."""
    if not isinstance(document, dict):
        raise RequestError(f"body: expected a JSON object with keys timestamps, sensors, values; got {_kind(document)}")
    unknown = [str(key) for key in document if key not in FIELDS]
    if unknown:
        raise RequestError(f"body: unknown field {unknown[0]!r}; expected {', '.join(FIELDS)}")
    missing = [key for key in FIELDS[:3] if key not in document]
    if missing:
        raise RequestError(f"body: field {missing[0]!r} is missing (expected {', '.join(FIELDS[:3])}, optional mask)")
    timestamps = _timestamps(document["timestamps"], run)
    sensors = _sensors(document["sensors"], run)
    values = _values(document["values"], len(timestamps), len(sensors), len(run.features))
    observed = np.isfinite(values)
    if "mask" in document and document["mask"] is not None:
        observed &= _mask(document["mask"], len(timestamps), len(sensors))[..., None]
    _check_limits(values, observed, sensors, run)
    if run.null_value is not None:
        observed &= values != run.null_value
    series = SensorSeries(
        values=np.where(observed, values, 0.0),
        mask=observed,
        timestamps=timestamps,
        sensor_ids=sensors,
        feature_names=run.features,
        interval=run.interval,
        source="request",
    )
    return series.align(run.sensor_ids, other="the run's sensors")


def parse_csv(data: bytes, run: ServedRun) -> SensorSeries:
    """An uploaded readings table -> the series in the run's sensor order (as ``stgraph predict``)."""
    features = run.features
    try:
        series = load_series(
            InMemoryFile(UPLOAD_NAME, data),
            null_value=run.null_value,
            features=features if len(features) == 1 else None,
        )
        series = check_series(run.model, series, "this server")
        series.feature_index(features)
    except SensorDataError as error:
        raise RequestError(str(error)) from None
    _check_steps(series.num_steps, run, f"{UPLOAD_NAME}: ")
    return series


# --- fields ------------------------------------------------------------------------------------
def _timestamps(items: Any, run: ServedRun) -> pd.DatetimeIndex:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        position = _first(items, lambda item: isinstance(item, str)) if isinstance(items, list) else None
        where = "timestamps" if position is None else f"timestamps[{position}]"
        found = _kind(items) if position is None else _kind(items[position])
        raise RequestError(f"{where}: expected ISO 8601 strings such as '2012-03-08T07:00:00'; got {found}")
    _check_steps(len(items), run, "timestamps: ")
    parsed = []
    for position, item in enumerate(items):
        try:
            parsed.append(pd.Timestamp(item))
        except (ValueError, TypeError, OverflowError):
            raise RequestError(f"timestamps[{position}]: {_short(item)} is not an ISO 8601 timestamp") from None
        if parsed[-1] is pd.NaT:
            raise RequestError(f"timestamps[{position}]: {_short(item)} is not an ISO 8601 timestamp")
    zones = {str(stamp.tzinfo) for stamp in parsed}
    if len(zones) > 1:
        position = next(i for i, stamp in enumerate(parsed) if str(stamp.tzinfo) != str(parsed[0].tzinfo))
        raise RequestError(
            f"timestamps[{position}]: {items[position]!r} has another UTC offset than timestamps[0] {items[0]!r}; "
            "use one offset (or none) for all"
        )
    index = pd.DatetimeIndex(parsed).as_unit("ns")
    steps = np.diff(index.asi8)
    interval = run.interval
    backwards = np.flatnonzero(steps <= 0)
    if backwards.size:
        i = int(backwards[0])
        raise RequestError(
            f"timestamps[{i + 1}]: {items[i + 1]!r} does not come after timestamps[{i}] {items[i]!r}; timestamps must increase"
        )
    off = np.flatnonzero(steps != interval.value)
    if off.size:
        i = int(off[0])
        raise RequestError(
            f"timestamps[{i + 1}]: {items[i + 1]!r} is {interval_text(index[i + 1] - index[i])} after timestamps[{i}]; "
            f"the run's interval is {interval_text(interval)} (send consecutive steps, null for a missing reading)"
        )
    return index


def _sensors(items: Any, run: ServedRun) -> list[str]:
    if not isinstance(items, list) or not items:
        raise RequestError(f"sensors: expected a list of sensor ids; got {_kind(items)}")
    position = _first(items, lambda item: isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool)))
    if position is not None:
        raise RequestError(f"sensors[{position}]: expected a sensor id (a string); got {_kind(items[position])}")
    ids = [str(item) for item in items]
    seen: dict[str, int] = {}
    for position, sensor in enumerate(ids):
        if sensor in seen:
            raise RequestError(f"sensors[{position}]: sensor {sensor!r} appears twice (also sensors[{seen[sensor]}])")
        seen[sensor] = position
    known = set(run.sensor_ids)
    unknown = [sensor for sensor in ids if sensor not in known]
    if unknown:
        raise RequestError(f"sensors: {_count(unknown, 'sensor')} the run does not know: {_listed(unknown)}")
    absent = [sensor for sensor in run.sensor_ids if sensor not in seen]
    if absent:
        raise RequestError(
            f"sensors: {_count(absent, 'run sensor')} missing ({_listed(absent)}); send every sensor of the run, "
            "null where it has no reading"
        )
    return ids


def _values(items: Any, steps: int, sensors: int, features: int) -> np.ndarray:
    """``[steps][sensors]`` (or ``[...][features]``) of numbers and nulls -> float64 ``[steps, sensors, features]``."""
    cell_shape = "a number or null" if features == 1 else f"a list of {features} numbers (the run's features)"
    expected = f"[{steps} steps][{sensors} sensors]" + ("" if features == 1 else f"[{features} features]")
    if not isinstance(items, list) or len(items) != steps:
        got = f"{len(items)} rows" if isinstance(items, list) else _kind(items)
        raise RequestError(f"values: expected {expected} (one row per timestamp); got {got}")
    rows = []
    for t, row in enumerate(items):
        if not isinstance(row, list) or len(row) != sensors:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise RequestError(f"values[{t}]: expected {sensors} values, one per sensor; got {got}")
        cells = row if features == 1 else _flatten(row, t, features, cell_shape)
        if not set(map(type, cells)) <= _READING_TYPES:  # one pass in C; the loop below only names the cell
            n = next(n for n, cell in enumerate(cells) if not _is_reading(cell))
            where = f"values[{t}][{n}]" if features == 1 else f"values[{t}][{n // features}][{n % features}]"
            raise RequestError(f"{where}: {_short(cells[n])} is not a number; expected {cell_shape} (null = missing)")
        rows.append(cells)
    try:
        values = np.array(rows, dtype=np.float64).reshape(steps, sensors, features)
    except OverflowError:
        raise RequestError("values: a number too large for a reading (beyond float64)") from None
    infinite = np.isinf(values)
    if infinite.any():
        t, n, f = (int(i) for i in np.argwhere(infinite)[0])
        where = f"values[{t}][{n}]" + ("" if features == 1 else f"[{f}]")
        raise RequestError(f"{where}: {values[t, n, f]} is not a finite reading")
    return values


def _flatten(row: list[Any], t: int, features: int, cell_shape: str) -> list[Any]:
    flat: list[Any] = []
    for n, cell in enumerate(row):
        if not isinstance(cell, list) or len(cell) != features:
            raise RequestError(f"values[{t}][{n}]: expected {cell_shape}; got {_kind(cell)}")
        flat.extend(cell)
    return flat


def _mask(items: Any, steps: int, sensors: int) -> np.ndarray:
    if not isinstance(items, list) or len(items) != steps:
        got = f"{len(items)} rows" if isinstance(items, list) else _kind(items)
        raise RequestError(f"mask: expected [{steps} steps][{sensors} sensors] booleans (true = observed); got {got}")
    for t, row in enumerate(items):
        if not isinstance(row, list) or len(row) != sensors:
            got = f"{len(row)} values" if isinstance(row, list) else _kind(row)
            raise RequestError(f"mask[{t}]: expected {sensors} booleans, one per sensor; got {got}")
        position = _first(row, lambda cell: isinstance(cell, bool))
        if position is not None:
            raise RequestError(f"mask[{t}][{position}]: expected true or false; got {_short(row[position])}")
    return np.array(items, dtype=bool)


def _check_limits(values: np.ndarray, observed: np.ndarray, sensors: list[str], run: ServedRun) -> None:
    """Negative readings are impossible (speeds, flows, occupancies), as the file readers say."""
    bad = observed & (values < 0)
    if run.null_value is not None:
        bad &= values != run.null_value
    if bad.any():
        t, n, f = (int(i) for i in np.argwhere(bad)[0])
        raise RequestError(
            f"values[{t}][{n}] (sensor {sensors[n]!r}, {run.features[f]!r}): {values[t, n, f]:g} is below 0, "
            f"which no reading can be ({int(bad.sum())} such values)"
        )


def _check_steps(steps: int, run: ServedRun, where: str) -> None:
    if steps < run.lookback:
        raise RequestError(
            f"{where}{steps} steps, but the model needs at least the last {run.lookback} "
            f"({interval_text(run.interval * run.lookback)} at {interval_text(run.interval)})"
        )


# --- helpers -------------------------------------------------------------------------------------
_READING_TYPES = {int, float, type(None)}  # what json.loads makes of numbers and null (bool is not int here)


def _is_reading(cell: Any) -> bool:
    return cell is None or (isinstance(cell, (int, float)) and not isinstance(cell, bool))


def _first(items: list[Any], good: Any) -> int | None:
    for position, item in enumerate(items):
        if not good(item):
            return position
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(items: list[str], what: str) -> str:
    return f"{len(items)} {what}{'s' if len(items) != 1 else ''}"


def _listed(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
