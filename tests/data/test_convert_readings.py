"""convert_readings: CSV, HDF5 and NPZ in chunks -> a series on disk equal to load_series of the file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stgraph.data.convert import convert_readings
from stgraph.data.load import load_series
from stgraph.data.memmap import open_series
from stgraph.errors import SensorDataError
from stgraph.io.atomic import WriteError

SENSORS = ["717447", "773869", "767541", "400001"]


def _frame(steps: int = 23, gap: tuple[int, ...] = (7, 8)) -> pd.DataFrame:
    """5-minute speeds with a NaN, a 0 (the null value) and a gap of two steps at ``gap``."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-03-04", periods=steps, freq="5min", name="timestamp")
    frame = pd.DataFrame(rng.uniform(20, 70, (steps, len(SENSORS))).round(1), index=index, columns=SENSORS)
    frame.iloc[2, 1] = np.nan
    frame.iloc[4, 2] = 0.0
    return frame.drop(index[list(gap)])


def assert_same_series(converted, loaded) -> None:
    assert converted.on_disk
    np.testing.assert_array_equal(converted.values, loaded.values)
    np.testing.assert_array_equal(converted.mask, loaded.mask)
    assert converted.timestamps.equals(loaded.timestamps)
    assert converted.sensor_ids == loaded.sensor_ids and converted.feature_names == loaded.feature_names
    assert converted.interval == loaded.interval


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1000])
def test_csv_in_chunks_equals_load_series_across_a_gap_at_a_chunk_boundary(tmp_path, chunk_rows):
    file = tmp_path / "readings.csv"
    _frame().to_csv(file)  # rows 0..6 then the gap: with 7 rows a chunk, the gap falls between two chunks
    done = convert_readings(file, tmp_path / "r.stseries", null_value=0.0, chunk_rows=chunk_rows)
    assert (done.rows, done.steps, done.sensors, done.inserted) == (21, 23, 4, 2)
    converted, loaded = open_series(tmp_path / "r.stseries"), load_series(file, null_value=0.0)
    assert_same_series(converted, loaded)
    assert not converted.mask[7:9].any() and (converted.values[7:9] == 0).all()  # the inserted steps
    assert not converted.mask[2, 1, 0] and not converted.mask[4, 2, 0]  # NaN and the null value
    meta = json.loads((tmp_path / "r.stseries" / "meta.json").read_text())
    assert meta["observed"] == [[21], [20], [20], [21]] and meta["interval"] == "5min" and meta["null_value"] == 0.0


def test_csv_without_timestamps_is_dated_across_chunks(tmp_path):
    file = tmp_path / "los_speed.csv"
    _frame(gap=()).reset_index(drop=True).to_csv(file, index=False)
    options = {"start": "2012-03-01", "interval": "5min"}
    convert_readings(file, tmp_path / "r.stseries", chunk_rows=4, **options)
    assert_same_series(open_series(tmp_path / "r.stseries"), load_series(file, **options))


@pytest.mark.parametrize("layout", ["fixed", "table"])
def test_hdf5_frames_in_row_chunks_equal_load_series(tmp_path, layout):
    pytest.importorskip("tables")
    file = tmp_path / "metr-la.h5"
    frame = _frame()
    frame.index.name = None
    frame.to_hdf(file, key="df", format=layout)
    convert_readings(file, tmp_path / "r.stseries", null_value=0.0, chunk_rows=5)
    assert_same_series(open_series(tmp_path / "r.stseries"), load_series(file, null_value=0.0))


def test_npz_streamed_from_the_zip_member_equals_load_series(tmp_path):
    file = tmp_path / "PEMS04.npz"
    data = np.random.default_rng(1).uniform(0, 300, (31, 5, 3))
    data[3, 2, 1] = np.nan
    np.savez_compressed(file, data=data)
    options = {"start": "2018-01-01", "interval": "5min", "features": ["flow", "occupancy", "speed"]}
    convert_readings(file, tmp_path / "p.stseries", chunk_rows=4, **options)
    converted = open_series(tmp_path / "p.stseries")
    assert_same_series(converted, load_series(file, **options))
    assert converted.sensor_ids == ["0", "1", "2", "3", "4"]


def test_bad_readings_name_the_file_the_column_and_the_line(tmp_path):
    frame = _frame(gap=())
    frame.iloc[15, 3] = -4.0  # line 17 of the CSV (header = line 1), in the fourth chunk of 4 rows
    file = tmp_path / "readings.csv"
    frame.to_csv(file)
    with pytest.raises(SensorDataError, match=r"readings.csv, column '400001': 1 readings below 0 .*line 17: -4.0"):
        convert_readings(file, tmp_path / "r.stseries", chunk_rows=4)
    assert not list(tmp_path.glob("*.stseries*")) and not list(tmp_path.glob(".r.stseries*"))  # nothing half-written


def test_timestamps_are_checked_over_all_chunks(tmp_path):
    frame = _frame(gap=())
    frame.index = frame.index.where(np.arange(len(frame)) != 12, frame.index[3])  # row 12 repeats row 3's time
    file = tmp_path / "readings.csv"
    frame.to_csv(file)
    with pytest.raises(
        SensorDataError, match=r"readings.csv: 2 rows share a timestamp; first: 2024-03-04 00:15:00 on lines 5, 14"
    ):
        convert_readings(file, tmp_path / "r.stseries", chunk_rows=4)


def test_a_sensor_without_any_reading_is_named(tmp_path):
    frame = _frame(gap=())
    frame["773869"] = 0.0
    file = tmp_path / "readings.csv"
    frame.to_csv(file)
    with pytest.raises(SensorDataError, match=r"readings.csv: 1 sensor 773869 has no observed reading"):
        convert_readings(file, tmp_path / "r.stseries", null_value=0.0, chunk_rows=4)


def test_an_existing_directory_is_replaced_only_with_force(tmp_path):
    file = tmp_path / "readings.csv"
    _frame().to_csv(file)
    out = tmp_path / "r.stseries"
    convert_readings(file, out)
    with pytest.raises(SensorDataError, match=r"r.stseries: already exists; pass --force"):
        convert_readings(file, out)
    _frame(steps=30, gap=()).to_csv(file)
    convert_readings(file, out, force=True)
    assert open_series(out).num_steps == 30 and sorted(p.name for p in tmp_path.iterdir()) == ["r.stseries", "readings.csv"]


@pytest.mark.parametrize("out", ["readings.csv", "."])
def test_the_readings_file_is_never_the_output_even_with_force(tmp_path, out):
    file = tmp_path / "readings.csv"
    _frame().to_csv(file)
    before = file.read_bytes()
    with pytest.raises(SensorDataError, match=r"is the readings file being converted \(or holds it\); choose another --out"):
        convert_readings(file, tmp_path / out, force=True)
    assert file.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["readings.csv"]


def test_long_tables_are_refused(tmp_path):
    file = tmp_path / "long.csv"
    pd.DataFrame({"timestamp": ["2024-01-01 00:00"], "sensor": ["a"], "value": [1.0]}).to_csv(file, index=False)
    with pytest.raises(SensorDataError, match=r"long.csv: a long table .* cannot be converted in chunks"):
        convert_readings(file, tmp_path / "r.stseries")


def test_a_write_that_fails_names_the_directory_and_leaves_nothing(tmp_path, monkeypatch):
    file = tmp_path / "readings.csv"
    _frame().to_csv(file)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("stgraph.data.convert._lay_out_rows", full_disk)
    with pytest.raises(WriteError, match=r"cannot write .*r.stseries: No space left on device"):
        convert_readings(file, tmp_path / "r.stseries")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readings.csv"]
