"""Malformed readings files: each is a SensorDataError naming the file and the culprit, never a crash."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pandas as pd
import pytest

from stgraph.data import load_series
from stgraph.errors import SensorDataError
from stgraph.io import readers
from stgraph.io.readers import read_readings

HEADER = "timestamp,s1,s2\n"


def csv_file(tmp_path, name, *rows, header=HEADER):
    path = tmp_path / name
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def frame(values=None, columns=("s1", "s2")):
    values = np.arange(8.0).reshape(4, 2) if values is None else values
    return pd.DataFrame(values, index=pd.date_range("2012-03-01", periods=len(values), freq="5min"), columns=list(columns))


# --- text --------------------------------------------------------------------------------
def test_rows_with_too_few_or_too_many_fields(tmp_path):
    few = csv_file(tmp_path, "few.csv", "2012-03-01 00:00,1,2", "2012-03-01 00:05,1", "2012-03-01 00:10,1")
    with pytest.raises(SensorDataError, match=r"few\.csv, line 3: 2 fields, expected 3 as in the header \(2 such lines\)"):
        read_readings(few)
    many = csv_file(tmp_path, "many.csv", "2012-03-01 00:00,1,2", "2012-03-01 00:05,1,2,3")
    with pytest.raises(SensorDataError, match=r"many\.csv, line 3: 4 fields, expected 3 as in the header"):
        read_readings(many)
    quoted = csv_file(tmp_path, "quoted.csv", '"2012-03-01 00:00",1,2', '"2012-03-01 00:05",1')
    with pytest.raises(SensorDataError, match=r"quoted\.csv, line 3: 2 fields, expected 3"):
        read_readings(quoted)


def test_blank_line_inside_the_data_but_not_at_the_end(tmp_path):
    path = csv_file(tmp_path, "blank.csv", "2012-03-01 00:00,1,2", "", "2012-03-01 00:10,1,2")
    with pytest.raises(SensorDataError, match=r"blank\.csv, line 3: blank, expected 3 as in the header"):
        read_readings(path)
    trailing = csv_file(tmp_path, "trailing.csv", "2012-03-01 00:00,1,2", "2012-03-01 00:05,3,4", "", "")
    assert read_readings(trailing).rows.tolist() == [2, 3]


def test_line_numbers_survive_windows_line_endings(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"timestamp,s1\r\n2012-03-01 00:00,1\r\n2012-03-01 00:05,x\r\n")
    with pytest.raises(SensorDataError, match=r"crlf\.csv, column 's1': 1 non-numeric values \(first at line 3: 'x'\)"):
        read_readings(path)


def test_booleans_and_dates_in_value_columns(tmp_path):
    path = csv_file(tmp_path, "bool.csv", "2012-03-01 00:00,True,2", "2012-03-01 00:05,False,2")
    with pytest.raises(SensorDataError, match=r"bool\.csv, column 's1': holds booleans \(True/False\); expected numbers"):
        read_readings(path)
    path = csv_file(tmp_path, "mixed.csv", "2012-03-01 00:00,1.0,2", "2012-03-01 00:05,true,2")
    with pytest.raises(
        SensorDataError, match=r"mixed\.csv, column 's1': 1 booleans; expected numbers \(first at line 3: 'true'\)"
    ):
        read_readings(path)
    path = csv_file(tmp_path, "dates.csv", "2012-03-01 00:00,1,2012-03-01", "2012-03-01 00:05,1,2012-03-02")
    with pytest.raises(SensorDataError, match=r"dates\.csv, column 's2': 2 dates; expected numbers .*\(first at line 2"):
        read_readings(path)
    frame(np.array([[True, False], [False, True]])).to_parquet(tmp_path / "bool.parquet")
    with pytest.raises(SensorDataError, match=r"bool\.parquet, column 's1': holds booleans"):
        read_readings(tmp_path / "bool.parquet")
    dated = frame().assign(s2=pd.date_range("2020-01-01", periods=4))
    dated.to_parquet(tmp_path / "dated.parquet")
    with pytest.raises(SensorDataError, match=r"dated\.parquet, column 's2': holds dates or durations"):
        read_readings(tmp_path / "dated.parquet")


@pytest.mark.parametrize("token", ["inf", "-inf", "1e999"])
def test_infinite_readings(tmp_path, token):
    path = csv_file(tmp_path, "inf.csv", "2012-03-01 00:00,1,2", f"2012-03-01 00:05,1,{token}")
    with pytest.raises(
        SensorDataError, match=r"inf\.csv, column 's2': 1 infinite readings \(expected finite numbers\); first at line 3"
    ):
        read_readings(path, limits=None)


def test_negative_readings_fail_unless_limits_allow_them(tmp_path, caplog):
    path = csv_file(tmp_path, "speed.csv", "2012-03-01 00:00,61,-2", "2012-03-01 00:05,60,58")
    with pytest.raises(
        SensorDataError,
        match=r"speed\.csv, column 's2': 1 readings below 0 \(impossible for 'speed'; pass limits= .*line 2: -2\.0",
    ):
        load_series(path, features=["speed"])
    assert read_readings(path, limits=None).values[0, 1, 0] == -2.0
    assert read_readings(path, limits={"value": (-5.0, None)}).values[0, 1, 0] == -2.0
    with pytest.raises(SensorDataError, match=r"speed\.csv, column 's1': 1 readings above 60"):
        read_readings(path, limits=(None, 60.0))
    # a negative missing-reading sentinel is not a reading
    sentinel = csv_file(tmp_path, "sentinel.csv", "2012-03-01 00:00,61,-1", "2012-03-01 00:05,60,58")
    series = load_series(sentinel, null_value=-1.0)
    assert not series.mask[0, 1, 0] and series.mask[1, 1, 0]
    with pytest.raises(SensorDataError, match=r"limits= names features \['flow'\]"):
        read_readings(sentinel, limits={"flow": (0.0, None)})


def test_npz_and_json_readings_are_checked_too(tmp_path):
    data = np.ones((3, 2, 2))
    data[2, 1, 1] = -4.0
    np.savez(tmp_path / "PEMS04.npz", data=data)
    with pytest.raises(SensorDataError, match=r"PEMS04\.npz, sensor 1, feature 'speed': 1 readings below 0 .*step 2: -4\.0"):
        read_readings(tmp_path / "PEMS04.npz", start="2018-01-01", interval="5min", features=["flow", "speed"])
    (tmp_path / "bool.json").write_text(json.dumps({"0": [[60.0, 0.0], [True, 0.0]]}))
    with pytest.raises(
        SensorDataError,
        match=r"bool\.json, key '0', sensor 1: expected \[speed, time_of_day\] with a numeric speed, got a boolean",
    ):
        read_readings(tmp_path / "bool.json", start="2012-03-01", interval="5min")
    (tmp_path / "huge.json").write_text('{"0": [[1e999, 0.0]]}')
    with pytest.raises(SensorDataError, match=r"huge\.json, sensor 0: 1 infinite readings"):
        read_readings(tmp_path / "huge.json", start="2012-03-01", interval="5min")


def test_mixed_time_zones_name_both_lines(tmp_path):
    path = csv_file(tmp_path, "tz.csv", "2012-03-01 00:00+00:00,1,2", "2012-03-01 00:05+00:00,1,2", "2012-03-01 00:10+01:00,1,2")
    with pytest.raises(
        SensorDataError,
        match=r"tz\.csv, column 'timestamp': timestamps in more than one time zone \(line 2: \+0000, line 4: \+0100\)",
    ):
        read_readings(path)
    naive = csv_file(tmp_path, "naive.csv", "2012-03-01 00:00,1,2", "2012-03-01 00:05Z,1,2")
    with pytest.raises(SensorDataError, match=r"naive\.csv, column 'timestamp': .*\(line 2: no time zone, line 3: \+0000\)"):
        read_readings(naive)
    same = csv_file(tmp_path, "same.csv", "2012-03-01 00:00Z,1,2", "2012-03-01 00:05+00:00,1,2")
    assert str(read_readings(same).timestamps.tz) == "UTC"


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "2012-03-01 00:00,1,2\n2012-03-01 00:05,1,2\xe9\n").encode("latin-1"))
    with pytest.raises(SensorDataError, match=r"latin1\.csv, line 3: not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        read_readings(path)
    (tmp_path / "latin1.json").write_bytes(b'{"0": [[1.0, 0.0]], "caf\xe9": 1}')
    with pytest.raises(SensorDataError, match=r"latin1\.json, line 1: not UTF-8 text"):
        read_readings(tmp_path / "latin1.json", start="2012-03-01", interval="5min")


def test_empty_header_only_and_binary_text_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SensorDataError, match=r"empty\.csv: the file is empty; expected a header line and readings"):
        read_readings(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text(HEADER)
    with pytest.raises(SensorDataError, match=r"header\.csv: holds a header but no readings"):
        read_readings(tmp_path / "header.csv")
    (tmp_path / "nul.csv").write_bytes(HEADER.encode() + b"2012-03-01 00:00,1\x00,2\n")
    with pytest.raises(SensorDataError, match=r"nul\.csv, line 2: holds a NUL byte"):
        read_readings(tmp_path / "nul.csv")
    (tmp_path / "open.csv").write_text(HEADER + '2012-03-01 00:00,1,"2\n')
    with pytest.raises(SensorDataError, match=r"open\.csv: cannot parse as CSV"):
        read_readings(tmp_path / "open.csv")


def test_truncated_and_corrupt_gzip(tmp_path):
    packed = gzip.compress((HEADER + "2012-03-01 00:00,1,2\n" * 100).encode())
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(SensorDataError, match=r"cut\.csv\.gz: truncated compressed file"):
        read_readings(tmp_path / "cut.csv.gz")
    (tmp_path / "plain.csv.gz").write_text(HEADER)
    with pytest.raises(SensorDataError, match=r"plain\.csv\.gz: corrupt compressed file \(Not a gzipped file"):
        read_readings(tmp_path / "plain.csv.gz")


# --- binary tables -------------------------------------------------------------------------
def test_multiindex_columns(tmp_path):
    table = frame()
    table.columns = pd.MultiIndex.from_tuples([("x", "s1"), ("x", "s2")])
    table.to_parquet(tmp_path / "multi.parquet")
    with pytest.raises(
        SensorDataError, match=r"multi\.parquet: columns have 2 header levels \(a pandas MultiIndex, first column \('x', 's1'\)\)"
    ):
        read_readings(tmp_path / "multi.parquet")


def test_corrupt_parquet(tmp_path):
    frame().to_parquet(tmp_path / "ok.parquet")
    data = bytearray((tmp_path / "ok.parquet").read_bytes())
    (tmp_path / "cut.parquet").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(SensorDataError, match=r"cut\.parquet: not a Parquet file \(no 'PAR1' marker"):
        read_readings(tmp_path / "cut.parquet")
    data[8:40] = bytes(32)
    (tmp_path / "zeroed.parquet").write_bytes(bytes(data))
    with pytest.raises(SensorDataError, match=r"zeroed\.parquet: "):
        read_readings(tmp_path / "zeroed.parquet")


def test_broken_npz(tmp_path):
    np.savez(tmp_path / "ok.npz", data=np.ones((3, 2, 1)))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SensorDataError, match=r"cut\.npz: corrupt \.npz archive"):
        read_readings(tmp_path / "cut.npz", start="2018-01-01", interval="5min")
    (tmp_path / "text.npz").write_text("data")
    with pytest.raises(SensorDataError, match=r"text\.npz: not an \.npz archive \(no zip signature\)"):
        read_readings(tmp_path / "text.npz", start="2018-01-01", interval="5min")
    np.savez(tmp_path / "objects.npz", data=np.array([[1, "a"]], dtype=object))
    with pytest.raises(
        SensorDataError, match=r"objects\.npz, array 'data': holds Python objects, which stgraph never unpickles"
    ) as error:
        read_readings(tmp_path / "objects.npz", start="2018-01-01", interval="5min")
    assert "allow_pickle" not in str(error.value)


def test_garbage_and_corrupt_hdf5(tmp_path):
    (tmp_path / "garbage.h5").write_bytes(b"not hdf5 at all" * 40)
    with pytest.raises(SensorDataError, match=r"garbage\.h5: not an HDF5 file \(no HDF5 signature\)"):
        read_readings(tmp_path / "garbage.h5")
    frame().to_hdf(tmp_path / "ok.h5", key="df")
    data = bytearray((tmp_path / "ok.h5").read_bytes())
    for position in range(600, len(data), 97):  # a few bytes flipped everywhere but the signature
        data[position] ^= 0xFF
    (tmp_path / "flipped.h5").write_bytes(bytes(data))
    with pytest.raises(SensorDataError, match=r"flipped\.h5: corrupt HDF5 file"):
        read_readings(tmp_path / "flipped.h5")


def test_a_crash_inside_pytables_becomes_an_error(tmp_path, monkeypatch):
    frame().to_hdf(tmp_path / "crash.h5", key="df")
    monkeypatch.setattr(readers, "_HDF5_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(SensorDataError, match=r"crash\.h5: corrupt HDF5 file \(PyTables crashed reading it, signal SIGSEGV"):
        read_readings(tmp_path / "crash.h5")


# --- sensors without a single reading --------------------------------------------------------
def test_sensors_missing_everywhere_are_named_or_dropped(tmp_path, caplog):
    path = csv_file(
        tmp_path, "speed.csv", "2012-03-01 00:00,0,61,", "2012-03-01 00:05,,62,", header="timestamp,717447,773869,767541\n"
    )
    with pytest.raises(
        SensorDataError, match=r"speed\.csv: 2 sensors 717447, 767541 have no observed reading \(every reading is missing or 0\)"
    ):
        load_series(path, null_value=0.0)
    with caplog.at_level(logging.WARNING, logger="stgraph.data.load"):
        series = load_series(path, null_value=0.0, drop_empty_sensors=True)
    assert series.sensor_ids == ["773869"]
    assert "dropped 2 sensors with no observed reading: 717447, 767541" in caplog.text
    aligned = load_series(path, null_value=0.0, drop_empty_sensors=True, sensor_ids=["767541", "773869", "717447"])
    assert aligned.sensor_ids == ["773869"]


def test_readings_too_large_for_float32(tmp_path):
    path = csv_file(tmp_path, "huge.csv", "2012-03-01 00:00,1,2", "2012-03-01 00:05,1,1e300")
    with pytest.raises(SensorDataError, match=r"huge\.csv, column 's2': 1 readings beyond float32's range .*line 3: 1e\+300"):
        read_readings(path)


def test_a_file_with_no_observed_reading_at_all(tmp_path):
    path = csv_file(tmp_path, "zeros.csv", "2012-03-01 00:00,0,0", "2012-03-01 00:05,0,")
    with pytest.raises(SensorDataError, match=r"zeros\.csv: no sensor has an observed reading"):
        load_series(path, null_value=0.0, drop_empty_sensors=True)
    np.savez(tmp_path / "PEMS04.npz", data=np.zeros((3, 2, 1)))
    with pytest.raises(SensorDataError, match=r"PEMS04\.npz: 2 sensors in the values but 3 sensor ids"):
        load_series(tmp_path / "PEMS04.npz", null_value=0.0, sensor_ids=["a", "b", "c"], start="2018-01-01", interval="5min")


def test_files_without_a_single_step_or_sensor(tmp_path):
    pd.DataFrame({"s1": []}, index=pd.DatetimeIndex([])).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(SensorDataError, match=r"empty\.parquet: holds no readings \(0 time steps, 1 sensors\)"):
        read_readings(tmp_path / "empty.parquet")
    np.savez(tmp_path / "PEMS04.npz", data=np.zeros((3, 0, 1)))
    with pytest.raises(SensorDataError, match=r"PEMS04\.npz: holds no readings \(3 time steps, 0 sensors\)"):
        read_readings(tmp_path / "PEMS04.npz", start="2018-01-01", interval="5min")
