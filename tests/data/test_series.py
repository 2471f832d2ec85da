"""SensorSeries and load_series: masks, time grid checks, alignment, real files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from stgraph import SensorGraph
from stgraph.data import SensorSeries, load_series
from stgraph.errors import SensorDataError


def make_series(steps=4, sensors=("a", "b", "c"), features=("speed",)):
    values = np.arange(steps * len(sensors) * len(features), dtype=np.float32).reshape(steps, len(sensors), len(features))
    timestamps = pd.date_range("2012-03-01", periods=steps, freq="5min")
    return SensorSeries(
        values=values, mask=None, timestamps=timestamps, sensor_ids=list(sensors), feature_names=list(features), source="toy.csv"
    )


def write_csv(path, rows, header="timestamp,s1,s2"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


# --- SensorSeries ------------------------------------------------------------------------
def test_series_sizes_interval_and_default_mask():
    series = make_series(steps=5)
    assert (series.num_steps, series.num_sensors, series.num_features) == (5, 3, 1)
    assert series.interval == pd.Timedelta("5min")
    assert series.mask.all() and series.missing_share() == 0.0


def test_series_rejects_irregular_timestamps_and_bad_shapes():
    timestamps = pd.DatetimeIndex(["2012-03-01 00:00", "2012-03-01 00:05", "2012-03-01 00:15"])
    with pytest.raises(SensorDataError, match=r"toy\.csv: timestamps must be regular at 0 days 00:05:00: step 2"):
        SensorSeries(np.zeros((3, 1, 1)), None, timestamps, ["a"], ["speed"], source="toy.csv")
    with pytest.raises(SensorDataError, match=r"3 sensors in the values but 2 sensor ids"):
        SensorSeries(
            np.zeros((3, 3, 1)), None, timestamps[:2].append(pd.DatetimeIndex(["2012-03-01 00:10"])), ["a", "b"], ["speed"]
        )
    with pytest.raises(SensorDataError, match=r"sensor id 'a' appears twice"):
        make_series(sensors=("a", "a"))


def test_series_masked_nan_becomes_zero_but_observed_nan_is_an_error():
    values = np.array([[[1.0], [np.nan]]], dtype=np.float32).repeat(2, axis=0)
    mask = np.array([[[True], [False]]]).repeat(2, axis=0)
    timestamps = pd.date_range("2012-03-01", periods=2, freq="5min")
    series = SensorSeries(values, mask, timestamps, ["a", "b"], ["speed"])
    assert series.values[:, 1, 0].tolist() == [0.0, 0.0]
    assert series.missing_share() == 0.5
    with pytest.raises(SensorDataError, match=r"2 observed readings are not finite \(first at step 0, sensor index 1"):
        SensorSeries(values, None, timestamps, ["a", "b"], ["speed"])


def test_align_reorders_and_names_sensors_on_each_side():
    series = make_series()
    aligned = series.align(["c", "a", "b"])
    assert aligned.sensor_ids == ["c", "a", "b"]
    np.testing.assert_array_equal(aligned.values[:, 0], series.values[:, 2])
    with pytest.raises(
        SensorDataError,
        match=r"toy\.csv: sensors do not match: x in the given sensor list but not in the series; b in the series but not in",
    ):
        series.align(["c", "a", "x"])


def test_align_to_graph_uses_graph_order_and_name():
    series = make_series()
    graph = SensorGraph(sp.eye(3, format="csr"), ["b", "c", "a"], name="toy-graph")
    assert series.align_to(graph).sensor_ids == ["b", "c", "a"]
    other = SensorGraph(sp.eye(2, format="csr"), ["b", "z"], name="toy-graph")
    with pytest.raises(
        SensorDataError, match=r"z in graph 'toy-graph' but not in the series; a, c in the series but not in graph 'toy-graph'"
    ):
        series.align_to(other)


def test_select_features_slice_time_and_to_frame():
    series = make_series(steps=6, features=("flow", "occupancy", "speed"))
    speed = series.select_features(["speed", "flow"])
    np.testing.assert_array_equal(speed.values[..., 0], series.values[..., 2])
    with pytest.raises(SensorDataError, match=r"no feature volume"):
        series.select_features("volume")
    window = series.slice_time("2012-03-01 00:05", "2012-03-01 00:20")
    assert window.num_steps == 3 and window.timestamps[0] == pd.Timestamp("2012-03-01 00:05")
    assert np.shares_memory(window.values, series.values)
    assert series.slice_time(2, 4).timestamps[0] == pd.Timestamp("2012-03-01 00:10")
    # values[t, n, f] = 9 t + 3 n + f, so the reading 3 is the flow of sensor b at step 0.
    masked = SensorSeries(series.values, series.values != 3, series.timestamps, series.sensor_ids, series.feature_names)
    frame = masked.to_frame("flow")
    assert list(frame.columns) == ["a", "b", "c"] and frame.index.equals(series.timestamps)
    assert np.isnan(frame.loc[series.timestamps[0], "b"])
    assert frame.loc[series.timestamps[1], "a"] == 9.0
    assert int(frame.isna().sum().sum()) == 1
    with pytest.raises(SensorDataError, match=r"to_frame needs feature="):
        series.to_frame()


# --- load_series: missing data and time grid ----------------------------------------------
def test_null_value_and_nan_are_masked_and_stored_as_zero(tmp_path):
    path = write_csv(tmp_path / "speed.csv", ["2012-03-01 00:00,0.0,61", "2012-03-01 00:05,,62.5", "2012-03-01 00:10,60,0"])
    series = load_series(path, null_value=0.0, features=["speed"])
    np.testing.assert_array_equal(series.mask[..., 0], [[False, True], [False, True], [True, False]])
    np.testing.assert_array_equal(series.values[..., 0], [[0.0, 61.0], [0.0, 62.5], [60.0, 0.0]])
    assert series.values.dtype == np.float32 and series.source == str(path)
    assert load_series(path).mask[0, 0, 0]  # without null_value a 0.0 is a reading


def test_gaps_are_reindexed_masked_and_logged(tmp_path, caplog):
    rows = ["2012-03-01 00:00,1,2", "2012-03-01 00:05,3,4", "2012-03-01 00:20,5,6", "2012-03-01 00:25,7,8"]
    path = write_csv(tmp_path / "gappy.csv", rows)
    with caplog.at_level(logging.INFO, logger="stgraph.data.load"):
        series = load_series(path)
    assert "inserted 2 missing steps" in caplog.text
    assert series.num_steps == 6 and series.interval == pd.Timedelta("5min")
    assert series.mask[:, 0, 0].tolist() == [True, True, False, False, True, True]
    assert series.values[4, 1, 0] == 6.0


def test_duplicate_timestamps_name_the_lines(tmp_path):
    rows = ["2012-03-01 00:00,1,2", "2012-03-01 00:05,3,4", "2012-03-01 00:05,5,6"]
    with pytest.raises(SensorDataError, match=r"dups\.csv: 2 rows share a timestamp; first: 2012-03-01 00:05:00 on lines 3, 4"):
        load_series(write_csv(tmp_path / "dups.csv", rows))


def test_backward_timestamps_name_the_lines(tmp_path):
    rows = ["2012-03-01 00:00,1,2", "2012-03-01 00:10,3,4", "2012-03-01 00:05,5,6"]
    with pytest.raises(
        SensorDataError,
        match=r"back\.csv: timestamps go backwards 1 time\(s\); first: 2012-03-01 00:05:00 on line 4 follows 2012-03-01 00:10:00 on line 3",
    ):
        load_series(write_csv(tmp_path / "back.csv", rows))


def test_off_grid_timestamps_name_the_lines(tmp_path):
    times = ["00:00", "00:05", "00:07", "00:10", "00:15", "00:20"]  # most common step: 5 min
    rows = [f"2012-03-01 {t},1,2" for t in times]
    with pytest.raises(
        SensorDataError,
        match=r"offgrid\.csv: 1 timestamps are off the 0 days 00:05:00 grid .*first: 2012-03-01 00:07:00 on line 4",
    ):
        load_series(write_csv(tmp_path / "offgrid.csv", rows))
    # A given interval that the data does not follow is reported the same way.
    rows = ["2012-03-01 00:00,1,2", "2012-03-01 00:05,3,4"]
    with pytest.raises(SensorDataError, match=r"coarse\.csv: 1 timestamps are off the 0 days 00:10:00 grid"):
        load_series(write_csv(tmp_path / "coarse.csv", rows), interval="10min")


def test_long_table_gap_and_sensor_order(tmp_path):
    text = "timestamp,sensor,value\n2018-01-01 00:10,b,3\n2018-01-01 00:00,a,1\n2018-01-01 00:00,b,2\n"
    (tmp_path / "long.csv").write_text(text)
    series = load_series(tmp_path / "long.csv", sensor_ids=["a", "b"], interval="5min")
    assert series.sensor_ids == ["a", "b"] and series.num_steps == 3
    np.testing.assert_array_equal(series.mask[..., 0], [[True, True], [False, False], [False, True]])
    np.testing.assert_array_equal(series.values[..., 0], [[1, 2], [0, 0], [0, 3]])


def test_npz_sensor_ids_name_nodes(tmp_path):
    np.savez(tmp_path / "PEMS04.npz", data=np.ones((3, 2, 3)))
    timing = {"start": "2018-01-01", "interval": "5min"}
    series = load_series(tmp_path / "PEMS04.npz", sensor_ids=[10, 11], features=["flow", "occupancy", "speed"], **timing)
    assert series.sensor_ids == ["10", "11"] and series.feature_names == ["flow", "occupancy", "speed"]
    assert load_series(tmp_path / "PEMS04.npz", **timing).sensor_ids == ["0", "1"]


def test_hdf5_round_trip_through_to_frame(tmp_path):
    index = pd.date_range("2017-01-01", periods=5, freq="5min")
    frame = pd.DataFrame(
        np.array([[60.0, 0.0], [61, 62], [0, 63], [64, 65], [66, 67]]), index=index, columns=["400001", "400017"]
    )
    frame.to_hdf(tmp_path / "pems-bay.h5", key="speed")
    series = load_series(tmp_path / "pems-bay.h5", null_value=0.0, features=["speed"])
    assert series.missing_share() == pytest.approx(0.2)
    expected = frame.where(frame != 0.0).set_axis(index.as_unit("ns"), axis=0)
    pd.testing.assert_frame_equal(series.to_frame(), expected.astype(np.float32), check_names=False, check_freq=False)


# --- real files --------------------------------------------------------------------------
@pytest.mark.realdata
def test_los_loop_needs_start_then_matches_metr_la_order(shared_data):
    path = shared_data / "los-loop" / "los_speed.csv"
    with pytest.raises(
        SensorDataError, match=r"los_speed\.csv: no timestamp column; give start= \(the first timestamp\) and interval="
    ):
        load_series(path)
    series = load_series(path, start="2012-03-01", interval="5min", features=["speed"])
    assert (series.num_steps, series.num_sensors) == (2016, 207)
    assert series.timestamps[-1] == pd.Timestamp("2012-03-07 23:55")
    ids = (shared_data / "metr-la-graph" / "graph_sensor_ids.txt").read_text().strip().split(",")
    assert series.sensor_ids == ids
    assert series.missing_share() == 0.0
    assert series.values.min() == pytest.approx(1.0) and series.values.max() == pytest.approx(70.0)


@pytest.mark.realdata
def test_metr_la_sample_zeros_are_masked_and_agree_with_los_loop(shared_data):
    sample = load_series(shared_data / "metr-la-sample100" / "METRLA.json", null_value=0.0, start="2012-03-01", interval="5min")
    assert (sample.num_steps, sample.num_sensors) == (100, 207)
    assert sample.timestamps[0] == pd.Timestamp("2012-03-01 00:00") and sample.timestamps[-1] == pd.Timestamp("2012-03-01 08:15")
    assert sample.missing_share() == pytest.approx(0.031, abs=5e-4)
    los = load_series(shared_data / "los-loop" / "los_speed.csv", start="2012-03-01", interval="5min")
    observed = sample.mask[..., 0]
    np.testing.assert_array_equal(sample.values[..., 0][observed], los.values[:100, :, 0][observed])
