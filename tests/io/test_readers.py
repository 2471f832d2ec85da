"""Readers: every layout from a hand-made file, and one bad file per error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stgraph.errors import SensorDataError
from stgraph.io.readers import detect_format, read_readings


def write(path, text):
    path.write_text(text)
    return path


# --- wide tables -------------------------------------------------------------------------
def test_wide_csv_with_timestamp_column(tmp_path):
    path = write(tmp_path / "speed.csv", "timestamp,717447,773869\n2012-03-01 00:00,60.5,\n2012-03-01 00:05,nan,58\n")
    readings = read_readings(path, features=["speed"])
    assert readings.sensor_ids == ["717447", "773869"]
    assert readings.feature_names == ["speed"]
    assert list(readings.timestamps) == [pd.Timestamp("2012-03-01 00:00"), pd.Timestamp("2012-03-01 00:05")]
    expected = np.array([[60.5, np.nan], [np.nan, 58.0]])[:, :, None]
    np.testing.assert_array_equal(readings.values, expected)
    assert readings.rows.tolist() == [2, 3] and readings.row_word == "line"


def test_wide_csv_first_column_detected_as_dates(tmp_path):
    path = write(tmp_path / "saved.csv", ",a,b\n2017-01-01 00:00:00,1,2\n2017-01-01 00:05:00,3,4\n")
    readings = read_readings(path)
    assert readings.sensor_ids == ["a", "b"]
    assert readings.timestamps[1] == pd.Timestamp("2017-01-01 00:05")


def test_csv_without_timestamps_needs_start_and_interval(tmp_path):
    path = write(tmp_path / "los_speed.csv", "1,2\n64.4,62.6\n65.0,61.0\n")
    message = r"los_speed\.csv: no timestamp column; give start= \(the first timestamp\) and interval= \(e\.g\. '5min'\)$"
    with pytest.raises(SensorDataError, match=message):
        read_readings(path)
    with pytest.raises(SensorDataError, match=message):  # no guessing the interval either
        read_readings(path, start="2012-03-01")
    readings = read_readings(path, start="2012-03-01", interval="5min")
    assert readings.timestamps[1] == pd.Timestamp("2012-03-01 00:05")
    assert readings.interval == pd.Timedelta("5min")


def test_text_in_value_column_names_file_column_line_and_value(tmp_path):
    lines = ["timestamp,s1,s2"] + [f"2012-03-01 00:{5 * i:02d},1.0,2.0" for i in range(4)]
    lines[3] = "2012-03-01 00:10,1.0,n/a"
    lines[4] = "2012-03-01 00:15,1.0,n/a"
    path = write(tmp_path / "readings.csv", "\n".join(lines) + "\n")
    with pytest.raises(SensorDataError, match=r"readings\.csv, column 's2': 2 non-numeric values \(first at line 4: 'n/a'\)"):
        read_readings(path)


def test_bad_timestamp_names_column_and_line(tmp_path):
    path = write(tmp_path / "bad_time.csv", "time,s1\n2012-03-01 00:00,1\nyesterday,2\n")
    with pytest.raises(
        SensorDataError, match=r"bad_time\.csv, column 'time': 1 values are not timestamps \(first at line 3: 'yesterday'\)"
    ):
        read_readings(path)


def test_duplicate_header_and_unnamed_column(tmp_path):
    path = write(tmp_path / "dup.csv", "timestamp,s1,s1\n2012-03-01,1,2\n")
    with pytest.raises(SensorDataError, match=r"dup\.csv, line 1: column 's1' appears twice \(columns 2 and 3\)"):
        read_readings(path)
    path = write(tmp_path / "index.csv", ",s1\n0,1\n1,2\n")
    with pytest.raises(SensorDataError, match=r"index\.csv: column 1 has no header"):
        read_readings(path, start="2012-03-01", interval="5min")


def test_parquet_with_datetime_index_and_bad_column(tmp_path):
    index = pd.date_range("2017-01-01", periods=3, freq="5min")
    frame = pd.DataFrame({"400001": [1.0, 2.0, 3.0], "400017": [4.0, 5.0, 6.0]}, index=index)
    frame.to_parquet(tmp_path / "bay.parquet")
    readings = read_readings(tmp_path / "bay.parquet")
    assert readings.sensor_ids == ["400001", "400017"]
    np.testing.assert_array_equal(readings.values[:, 1, 0], [4.0, 5.0, 6.0])
    frame["400017"] = ["4", "x", "6"]
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SensorDataError, match=r"bad\.parquet, column '400017': 1 non-numeric values \(first at row 1: 'x'\)"):
        read_readings(tmp_path / "bad.parquet")


def test_hdf5_frame_like_metr_la(tmp_path):
    index = pd.date_range("2012-03-01", periods=4, freq="5min")
    frame = pd.DataFrame(np.arange(8.0).reshape(4, 2), index=index, columns=["773869", "767541"])
    frame.to_hdf(tmp_path / "metr-la.h5", key="df")
    readings = read_readings(tmp_path / "metr-la.h5")
    assert readings.sensor_ids == ["773869", "767541"]
    np.testing.assert_array_equal(readings.values[:, :, 0], frame.to_numpy())
    assert readings.timestamps.equals(index)


def test_hdf5_with_two_tables_needs_key(tmp_path):
    index = pd.date_range("2012-03-01", periods=2, freq="5min")
    frame = pd.DataFrame({"a": [1.0, 2.0]}, index=index)
    frame.to_hdf(tmp_path / "two.h5", key="speed")
    (frame * 2).to_hdf(tmp_path / "two.h5", key="flow")
    with pytest.raises(SensorDataError, match=r"two\.h5: holds 2 tables .*pass key="):
        read_readings(tmp_path / "two.h5")
    assert read_readings(tmp_path / "two.h5", key="flow").values[1, 0, 0] == 4.0


# --- long tables -------------------------------------------------------------------------
def test_long_csv_pivots_with_missing_pairs_as_nan(tmp_path):
    text = "timestamp,sensor,flow,speed\n2018-01-01 00:05,b,11,61\n2018-01-01 00:00,a,10,60\n2018-01-01 00:00,b,12,62\n"
    readings = read_readings(write(tmp_path / "long.csv", text))
    assert readings.sensor_ids == ["b", "a"]  # order of first appearance
    assert readings.feature_names == ["flow", "speed"]
    assert list(readings.timestamps) == list(pd.date_range("2018-01-01", periods=2, freq="5min"))
    np.testing.assert_array_equal(readings.values[0], [[12, 62], [10, 60]])
    np.testing.assert_array_equal(readings.values[1, 0], [11, 61])
    assert np.isnan(readings.values[1, 1]).all()
    assert readings.rows.tolist() == [3, 2]  # first line of each timestamp
    only_speed = read_readings(tmp_path / "long.csv", value_columns=["speed"])
    assert only_speed.feature_names == ["speed"] and only_speed.values.shape == (2, 2, 1)


def test_long_csv_keeps_sensor_ids_as_text(tmp_path):
    text = "timestamp,sensor_id,value\n2018-01-01 00:00,0400001,1\n2018-01-01 00:00,,2\n"
    with pytest.raises(SensorDataError, match=r"ids\.csv, column 'sensor_id': 1 rows have no sensor id \(first at line 3\)"):
        read_readings(write(tmp_path / "ids.csv", text))
    readings = read_readings(write(tmp_path / "ok.csv", "timestamp,sensor_id,value\n2018-01-01,0400001,1\n"))
    assert readings.sensor_ids == ["0400001"]


def test_long_csv_duplicate_pair_names_lines(tmp_path):
    text = "timestamp,sensor,value\n2018-01-01 00:00,a,1\n2018-01-01 00:00,b,2\n2018-01-01 00:00,a,3\n"
    with pytest.raises(
        SensorDataError,
        match=r"long_dup\.csv: 2 rows repeat a \(timestamp, sensor\) pair; first: sensor 'a' at 2018-01-01 00:00:00 on lines 2, 4",
    ):
        read_readings(write(tmp_path / "long_dup.csv", text))


# --- arrays ------------------------------------------------------------------------------
def test_pems04_npz_takes_start_interval_and_feature_names_from_the_caller(tmp_path):
    data = np.arange(3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    np.savez(tmp_path / "PEMS04.npz", data=data)
    with pytest.raises(SensorDataError, match=r"PEMS04\.npz: no timestamps; give start="):  # not guessed from the name
        read_readings(tmp_path / "PEMS04.npz")
    readings = read_readings(
        tmp_path / "PEMS04.npz", start="2018-01-01", interval="5min", features=["flow", "occupancy", "speed"]
    )
    assert readings.feature_names == ["flow", "occupancy", "speed"]
    assert readings.timestamps[0] == pd.Timestamp("2018-01-01 00:00")
    assert readings.timestamps[2] == pd.Timestamp("2018-01-01 00:10")
    assert readings.sensor_ids is None
    np.testing.assert_array_equal(readings.values, data)
    assert read_readings(tmp_path / "PEMS04.npz", start="2018-01-01", interval="5min").feature_names == [
        "feature_0",
        "feature_1",
        "feature_2",
    ]


def test_npz_errors_name_the_file(tmp_path):
    np.savez(tmp_path / "mine.npz", data=np.zeros((4, 3, 1)))
    with pytest.raises(SensorDataError, match=r"mine\.npz: 1 features in 'data' but features=\['flow', 'speed'\]"):
        read_readings(tmp_path / "mine.npz", start="2018-01-01", interval="5min", features=["flow", "speed"])
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 3)))
    with pytest.raises(SensorDataError, match=r"wrong\.npz: no array 'data' .*keys are \['x'\]"):
        read_readings(tmp_path / "wrong.npz")
    np.savez(tmp_path / "flat.npz", data=np.zeros(4))
    with pytest.raises(SensorDataError, match=r"flat\.npz, array 'data': expected \[time, sensors, features\], got shape \[4\]"):
        read_readings(tmp_path / "flat.npz", start="2018-01-01", interval="5min")


def test_stgraph_json_reads_speed_and_flags_bad_entries(tmp_path):
    document = {"time_periods": 2, "0": [[60.0, 0.0], [0.0, 0.0]], "1": [[61.0, 1 / 288], [59.0, 1 / 288]]}
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SensorDataError, match=r"sample\.json: no timestamps; give start="):
        read_readings(path)
    readings = read_readings(path, start="2012-03-01", interval="5min")
    np.testing.assert_array_equal(readings.values[:, :, 0], [[60.0, 0.0], [61.0, 59.0]])
    assert readings.feature_names == ["speed"]
    document["1"][1] = ["n/a", 0.1]
    path.write_text(json.dumps(document))
    with pytest.raises(SensorDataError, match=r"sample\.json, key '1', sensor 1: expected \[speed, time_of_day\]"):
        read_readings(path, start="2012-03-01", interval="5min")
    document["1"] = document["1"][:1]
    path.write_text(json.dumps(document))
    with pytest.raises(SensorDataError, match=r"sample\.json, key '1': 1 sensors, expected 2"):
        read_readings(path, start="2012-03-01", interval="5min")


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(SensorDataError, match=r"data\.xlsx: cannot tell the format"):
        detect_format(tmp_path / "data.xlsx")
    assert detect_format("metr-la.csv.gz") == "csv"
    with pytest.raises(SensorDataError, match=r"absent\.csv: no such file"):
        read_readings(tmp_path / "absent.csv")


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_with_another_separator_is_named_as_such(tmp_path, separator, name):
    path = tmp_path / "semi.csv"
    rows = ["timestamp", "s1", "s2"], ["2024-01-01 00:00", "1", "2"], ["2024-01-01 00:05", "3", "4"]
    path.write_text("\n".join(separator.join(row) for row in rows) + "\n")
    with pytest.raises(
        SensorDataError, match=rf"semi\.csv, line 1: the header .* is one column; the file looks separated by {name}"
    ):
        read_readings(path)
