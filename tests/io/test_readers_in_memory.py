"""``InMemoryFile``: CSV bytes already in memory (an upload) read exactly as the file on disk."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest

from stgraph.data.load import load_series
from stgraph.errors import SensorDataError
from stgraph.io.readers import InMemoryFile, read_readings

TEXT = "timestamp,717447,773869\n2012-03-01 00:00,60.5,\n2012-03-01 00:05,nan,58\n"


def test_bytes_in_memory_read_like_the_file(tmp_path):
    (tmp_path / "speed.csv").write_text(TEXT)
    from_disk = read_readings(tmp_path / "speed.csv", features=["speed"])
    in_memory = read_readings(InMemoryFile("speed.csv", TEXT.encode()), features=["speed"])
    np.testing.assert_array_equal(in_memory.values, from_disk.values)
    assert in_memory.sensor_ids == from_disk.sensor_ids and in_memory.source == "speed.csv"
    series = load_series(InMemoryFile("upload.csv", TEXT.encode()))
    assert series.sensor_ids == ["717447", "773869"] and series.mask.sum() == 2


def test_the_name_picks_the_compression():
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("speed.csv", TEXT)
    for name, data in (("speed.csv.gz", gzip.compress(TEXT.encode())), ("speed.csv.zip", zipped.getvalue())):
        assert read_readings(InMemoryFile(name, data)).sensor_ids == ["717447", "773869"]
    with pytest.raises(SensorDataError, match=r"speed\.csv\.gz: truncated compressed file"):
        read_readings(InMemoryFile("speed.csv.gz", gzip.compress(TEXT.encode())[:-8]))


def test_only_csv_is_read_from_memory_and_errors_name_the_upload():
    with pytest.raises(SensorDataError, match=r"^speed\.parquet: only CSV readings are read from memory, not parquet$"):
        read_readings(InMemoryFile("speed.parquet", b"PAR1"))
    with pytest.raises(SensorDataError, match=r"^upload\.csv, column '773869': .*'fast'"):
        read_readings(InMemoryFile("upload.csv", b"timestamp,773869\n2012-03-01 00:00,fast\n"))
