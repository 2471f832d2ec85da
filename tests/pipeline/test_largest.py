"""LargeST through the data preparation, on a tiny stand-in for the Kaggle files: the subset's
sensors, adjacency rows, the 15-minute aggregation, and the one-line error without the files."""

import numpy as np
import pandas as pd
import pytest

import stgraph.data.store
from stgraph.cli.main import main
from stgraph.pipeline.config import DataConfig, resolve_config
from stgraph.pipeline.data import load_readings_and_graph, prepare_data

IDS = ["1101", "401", "1102", "701", "1103"]
DISTRICTS = [11, 4, 11, 7, 11]
ID2 = [4, 3, 2, 1, 0]  # adjacency rows in reverse of the file's lines


@pytest.fixture
def largest_root(tmp_path, monkeypatch):
    """``<root>/largest-ca`` with ca_his_raw_2019.h5 (two days at 5 min), ca_meta.csv, ca_rn_adj.npy."""
    monkeypatch.setattr(stgraph.data.store, "_WARNED", set())
    folder = tmp_path / "largest-ca"
    folder.mkdir()
    index = pd.date_range("2019-01-01", periods=2 * 288, freq="5min")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(1, 50, size=(len(index), len(IDS))).astype(float), index=index, columns=IDS)
    frame.iloc[0:3, 0] = [3.0, np.nan, 6.0]  # sensor 1101, first bucket: mean of 3 and 6 = 4.5 -> 4 (half to even)
    frame.iloc[3:6, 2] = np.nan  # sensor 1102, second bucket: nothing observed -> masked
    frame.iloc[6:9, 4] = [0.0, 0.0, 1.0]  # sensor 1103, third bucket: 0.33 -> 0 -> masked as LargeST does
    frame.to_hdf(folder / "ca_his_raw_2019.h5", key="t", mode="w")
    meta = pd.DataFrame(
        {
            "ID": [int(i) for i in IDS],
            "Lat": [32.7, 37.7, 32.8, 34.0, 32.9],
            "Lng": [-117.1, -122.4, -117.2, -118.2, -117.3],
            "District": DISTRICTS,
            "County": "x",
            "Fwy": "I-5",
            "Lane": 3,
            "Type": "Mainline",
            "Direction": "N",
            "ID2": ID2,
        }
    )
    meta.to_csv(folder / "ca_meta.csv", index=False)
    adjacency = np.arange(25, dtype=np.float32).reshape(5, 5) / 25 + np.eye(5, dtype=np.float32)
    np.save(folder / "ca_rn_adj.npy", adjacency)
    return tmp_path, frame, adjacency


def test_sd_is_district_11_aggregated_to_15_minutes(largest_root):
    root, frame, adjacency = largest_root
    series, graph, null_value, name, units = load_readings_and_graph(DataConfig(dataset="largest-sd"), root=root)
    sd = ["1101", "1102", "1103"]
    assert (graph.sensor_ids, series.sensor_ids, null_value, name) == (sd, sd, 0.0, "largest-sd")
    assert series.interval == pd.Timedelta("15min") and series.num_steps == 2 * 96
    assert units == "vehicles per 5 min"
    assert series.values[0, 0, 0] == 4.0 and series.mask[0, 0, 0]
    assert not series.mask[1, 1, 0] and not series.mask[2, 2, 0]
    expected = frame[sd].resample("15min").mean().round(0).to_numpy()
    observed = series.mask[:, :, 0]
    np.testing.assert_array_equal(series.values[:, :, 0][observed], expected[observed])
    rows = [4, 2, 0]  # ID2 of the SD sensors
    dense = graph.adjacency.toarray() if hasattr(graph.adjacency, "toarray") else np.asarray(graph.adjacency)
    np.testing.assert_allclose(dense, adjacency[np.ix_(rows, rows)], rtol=1e-6)
    assert graph.coordinates is not None and np.allclose(graph.coordinates[0], [32.7, -117.1])


def test_ca_keeps_every_sensor_in_the_meta_order(largest_root):
    root, _, _ = largest_root
    series, graph, *_ = load_readings_and_graph(DataConfig(dataset="largest-ca"), root=root)
    assert graph.sensor_ids == IDS and series.num_sensors == 5


def test_the_protocol_prepares_windows_of_12_and_a_60_20_20_split(largest_root):
    root, _, _ = largest_root
    config = resolve_config(model="stgcn", dataset="largest-sd")
    data = prepare_data(config.data, root=root)
    assert (data.split.lookback, data.split.horizon) == (12, 12)
    steps = {part: data.split.steps(part) for part in ("train", "val", "test")}
    assert steps["train"].stop == round(0.6 * 192) and steps["test"].start == 192 - round(0.2 * 192)


def test_train_without_the_files_is_one_line_naming_the_file_and_kaggle(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STGRAPH_DATA", str(tmp_path))
    assert main(["train", "--dataset", "largest-sd", "--no-progress", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert "ca_his_raw_2019.h5 not found" in err and "kaggle.com/datasets/liuxu77/largest" in err
    assert str(tmp_path / "largest-ca") in err
    assert not (tmp_path / "run").exists()
