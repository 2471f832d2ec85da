"""Parse the text files sensor graphs are published in; every error names the file and line.

Layouts read here:

* sensor-id lists: DCRNN's ``graph_sensor_ids.txt`` (one line, comma-separated) or one id per
  line (PEMS03's ``PEMS03.txt``);
* edge rows ``from,to,value``: DCRNN's ``distances_*.csv`` (headerless or with a
  ``from,to,cost`` header) and the PEMS0x edge lists (``from,to,cost`` / ``from,to,distance``);
* sensor locations: METR-LA's ``index,sensor_id,latitude,longitude``, PEMS-BAY's headerless
  ``id,latitude,longitude`` and PeMSD7(M)'s station table (``ID ... Latitude, Longitude``);
* dense matrices in CSV, headerless or with a header row of sensor ids.

Sensor ids are kept as strings, exactly as written (surrounding spaces removed).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stgraph.errors import GraphError

__all__ = [
    "DISTANCE_COLUMNS",
    "WEIGHT_COLUMNS",
    "EdgeRows",
    "column_meaning",
    "order_sensor_ids",
    "read_dense_csv",
    "read_edge_rows",
    "read_locations",
    "read_sensor_ids",
]

_FROM_COLUMNS = ("from", "source", "src", "origin")
#: words in an edge file's third-column header that make it a distance (or travel time, a cost)
DISTANCE_COLUMNS = ("distance", "distances", "dist", "cost", "length", "km", "m", "metres", "meters", "miles", "mi", "time")
#: words that make it an edge weight, taken as given
WEIGHT_COLUMNS = ("weight", "weights", "w", "strength", "adjacency")
_ID_COLUMNS = ("sensor_id", "sensor", "id", "station_id", "station")
_LATITUDE_COLUMNS = ("latitude", "lat")
_LONGITUDE_COLUMNS = ("longitude", "lon", "lng", "long")


@dataclass
class EdgeRows:
    """Rows ``from, to[, value]`` of an edge file, in file order.

    ``lines[r]`` is the 1-based line of row ``r`` in ``source``; ``values`` is None when the
    file has two columns; ``value_column`` is the header of the third column, None when the
    file has no header row.
    """

    source: str
    sources: list[str]
    targets: list[str]
    values: np.ndarray | None
    lines: np.ndarray
    value_column: str | None = None


def column_meaning(header: str | None) -> str | None:
    """``"distance"`` or ``"weight"``: what an edge file's third column holds, by its header.

    The header is split into words (``travel_time``, ``length_km``, ``distance (m)``); it is a
    distance when a word is in :data:`DISTANCE_COLUMNS` and none in :data:`WEIGHT_COLUMNS`, a
    weight in the opposite case, and None (unknown) when neither or both, or without a header.
    """
    words = set(re.split(r"[^a-z]+", (header or "").lower()))
    distance, weight = bool(words & set(DISTANCE_COLUMNS)), bool(words & set(WEIGHT_COLUMNS))
    if distance != weight:
        return "distance" if distance else "weight"
    return None


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line number, cells stripped."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for row in reader:
            cells = [cell.strip() for cell in row]
            if any(cells):
                yield reader.line_num, cells


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GraphError(f"{where}: {what} {text!r} is not a number") from None
    if math.isnan(value):
        raise GraphError(f"{where}: {what} is NaN")
    return value


def read_sensor_ids(path: str | os.PathLike[str]) -> list[str]:
    """Sensor ids from a text file, comma- and/or newline-separated, in file order.

    Raises:
        GraphError: the file holds no id, or an id twice (naming it and both positions).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    ids = [token.strip() for line in text.splitlines() for token in line.split(",")]
    ids = [token for token in ids if token]
    if not ids:
        raise GraphError(f"{path}: no sensor ids found")
    seen: dict[str, int] = {}
    for position, sensor in enumerate(ids):
        if sensor in seen:
            raise GraphError(f"{path}: sensor id {sensor!r} is listed twice (positions {seen[sensor]} and {position})")
        seen[sensor] = position
    return ids


def order_sensor_ids(ids: list[str]) -> list[str]:
    """Default sensor order for a file that names sensors but gives no list.

    Numeric ascending when every id is an integer (PeMS station ids: the order of DCRNN's
    PEMS-BAY pickle; 0-based indices: the column order of the PEMS0x signal arrays),
    otherwise the order of first appearance.
    """
    unique = list(dict.fromkeys(ids))
    if all(sensor.lstrip("-").isdigit() for sensor in unique):
        return sorted(unique, key=int)
    return unique


def read_edge_rows(path: str | os.PathLike[str], *, value_name: str = "distance", require_value: bool = True) -> EdgeRows:
    """Read ``from,to[,value]`` rows; a first row starting ``from``/``source``, or ending in a
    distance or weight column name (:func:`column_meaning`), is a header.

    Args:
        path: CSV file.
        value_name: what the third column holds, used in messages ("distance", "weight").
        require_value: whether the third column is mandatory.

    Raises:
        GraphError: wrong number of columns, non-numeric, NaN or negative value, naming the
        file and line.
    """
    path = Path(path)
    sources: list[str] = []
    targets: list[str] = []
    values: list[float] = []
    lines: list[int] = []
    width = None
    value_column = None
    for line, cells in _rows(path):
        where = f"{path}, line {line}"
        if width is None:
            width = len(cells)
            allowed = (3,) if require_value else (2, 3)
            if width not in allowed:
                raise GraphError(f"{where}: expected columns from,to,{value_name}, got {width} columns: {','.join(cells)}")
            named = cells[0].lower() in _FROM_COLUMNS or (width == 3 and column_meaning(cells[2]) is not None)
            if named and not _is_number(cells[-1]):
                value_column = cells[2] if width == 3 else None
                continue  # header row: from,to,cost / from,to,distance / from,to / stop_a,stop_b,weight
        if len(cells) != width:
            raise GraphError(f"{where}: expected {width} columns, got {len(cells)}")
        if not cells[0] or not cells[1]:
            raise GraphError(f"{where}: empty sensor id")
        sources.append(cells[0])
        targets.append(cells[1])
        lines.append(line)
        if width == 3:
            value = _number(cells[2], where, value_name)
            if value < 0:
                raise GraphError(f"{where}: negative {value_name} {value:g} between sensors {cells[0]} and {cells[1]}")
            values.append(value)
    if not sources:
        raise GraphError(f"{path}: no from,to,{value_name} rows found")
    return EdgeRows(
        source=str(path),
        sources=sources,
        targets=targets,
        values=np.asarray(values, dtype=np.float64) if width == 3 else None,
        lines=np.asarray(lines, dtype=np.int64),
        value_column=value_column,
    )


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [cell.lower() for cell in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def read_locations(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Sensor ids and ``[sensors, 2]`` latitude, longitude (degrees) from a locations CSV.

    A header row is recognised by its column names (``sensor_id``/``id``/``station``,
    ``latitude``/``lat``, ``longitude``/``lon``); without one the columns are ``id, lat, lon``.

    Raises:
        GraphError: missing columns, non-numeric or out-of-range coordinates, or a sensor
        listed twice, naming the file and line.
    """
    path = Path(path)
    rows = _rows(path)
    try:
        first_line, first = next(rows)
    except StopIteration:
        raise GraphError(f"{path}: no sensor locations found") from None
    if len(first) >= 3 and _is_number(first[-1]) and _is_number(first[-2]):
        columns = (0, 1, 2)
        data = [(first_line, first)]
    else:
        id_column = _find_column(first, _ID_COLUMNS)
        latitude_column = _find_column(first, _LATITUDE_COLUMNS)
        longitude_column = _find_column(first, _LONGITUDE_COLUMNS)
        if id_column is None or latitude_column is None or longitude_column is None:
            raise GraphError(
                f"{path}, line {first_line}: expected columns for the sensor id, latitude and longitude "
                f"(e.g. sensor_id,latitude,longitude), got header {','.join(first)}"
            )
        columns = (id_column, latitude_column, longitude_column)
        data = []
    data.extend(rows)
    ids: list[str] = []
    coordinates: list[tuple[float, float]] = []
    seen: dict[str, int] = {}
    for line, cells in data:
        where = f"{path}, line {line}"
        if len(cells) <= max(columns):
            raise GraphError(f"{where}: expected at least {max(columns) + 1} columns, got {len(cells)}")
        sensor = cells[columns[0]]
        latitude = _number(cells[columns[1]], where, "latitude")
        longitude = _number(cells[columns[2]], where, "longitude")
        if not -90.0 <= latitude <= 90.0 or not -180.0 <= longitude <= 180.0:
            raise GraphError(
                f"{where}: sensor {sensor} has latitude {latitude:g}, longitude {longitude:g} outside [-90, 90] x [-180, 180]"
            )
        if sensor in seen:
            raise GraphError(f"{where}: sensor {sensor} already located on line {seen[sensor]}")
        seen[sensor] = line
        ids.append(sensor)
        coordinates.append((latitude, longitude))
    if not ids:
        raise GraphError(f"{path}: no sensor locations found")
    return ids, np.asarray(coordinates, dtype=np.float64)


def read_dense_csv(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str] | None]:
    """A dense ``[sensors, sensors]`` matrix from CSV and its sensor ids when a header row names them.

    Accepted: headerless rows of numbers; a header row of ids (recognised when it is not
    numeric, or when there is one more row than columns, as with numeric PeMS ids); a header
    row of ids with an empty first cell above a first column of the same ids
    (``DataFrame.to_csv`` layout).

    Raises:
        GraphError: ragged rows, non-numeric or NaN cells (file, line and column), a
        non-square matrix, or row labels that differ from the header.
    """
    path = Path(path)
    rows = list(_rows(path))
    if not rows:
        raise GraphError(f"{path}: no matrix rows found")
    first = rows[0][1]
    header: list[str] | None = None
    if not all(_is_number(cell) for cell in first) or len(rows) == len(first) + 1:
        header, rows = first, rows[1:]
    ids: list[str] | None
    if header is not None and header[0] == "":
        labelled, ids = True, header[1:]
    else:
        labelled, ids = False, header
    row_labels: list[str] = []
    values: list[list[float]] = []
    width = len(header) if header is not None else len(first)
    for line, cells in rows:
        where = f"{path}, line {line}"
        if len(cells) != width:
            raise GraphError(f"{where}: expected {width} values, got {len(cells)}")
        if labelled:
            row_labels.append(cells[0])
            cells = cells[1:]
        values.append(
            [_number(cell, f"{where}, column {column}", "weight") for column, cell in enumerate(cells, start=1 + labelled)]
        )
    if not values:
        raise GraphError(f"{path}: no matrix rows found below the header")
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.shape[0] != matrix.shape[1]:
        raise GraphError(
            f"{path}: adjacency must be square [sensors, sensors], got {matrix.shape[0]} rows x {matrix.shape[1]} columns"
        )
    if row_labels and row_labels != ids:
        raise GraphError(f"{path}: row labels (first column) differ from the header's sensor ids")
    return matrix, ids
