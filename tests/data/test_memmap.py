"""A series on disk: opened as memory maps, checked against meta.json, windows read per batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data.convert import convert_readings
from stgraph.data.load import load_series
from stgraph.data.memmap import open_series
from stgraph.data.scaling import MaxScaler, StandardScaler
from stgraph.data.windows import WindowDataset
from stgraph.errors import SensorDataError


@pytest.fixture
def converted(tmp_path):
    """Three 5-minute features at 6 sensors over 60 steps, some missing, converted from an NPZ."""
    rng = np.random.default_rng(3)
    data = rng.uniform(0, 100, (60, 6, 3)) * np.array([1.0, 10.0, 0.1])
    data[rng.random(data.shape) < 0.1] = np.nan
    file = tmp_path / "pems.npz"
    np.savez(file, data=data)
    options = {"start": "2018-01-01", "interval": "5min", "features": ["flow", "occupancy", "speed"]}
    convert_readings(file, tmp_path / "pems.stseries", chunk_rows=16, **options)
    return tmp_path / "pems.stseries", load_series(file, **options)


def test_windows_of_the_map_equal_windows_in_memory_and_read_only_their_steps(converted):
    folder, loaded = converted
    series = open_series(folder)
    scaler = StandardScaler(per_sensor=True).fit(loaded, steps=slice(0, 40))
    options = {
        "lookback": 4, "horizon": 3, "input_features": ["flow", "speed"], "target_features": ["speed"],
        "scaler": scaler, "covariates": ["time_of_day"], "missing_inputs": "mask",
    }  # fmt: skip
    on_disk, in_memory = WindowDataset(series, **options), WindowDataset(loaded, **options)
    assert not hasattr(on_disk, "inputs")  # nothing of the series was copied into a tensor
    assert (on_disk.in_features, on_disk.num_sensors, on_disk.out_channels) == (in_memory.in_features, 6, 1) == (5, 6, 1)
    for got, expected in zip(on_disk.batch([0, 17, 52]), in_memory.batch([0, 17, 52])):
        assert torch.equal(got, expected)  # bit for bit: the same element-wise scaling
    for got, expected in zip(on_disk[31], in_memory[31]):
        assert torch.equal(got, expected)


def test_scalers_fitted_in_blocks_equal_the_whole_array(converted, monkeypatch):
    folder, loaded = converted
    import stgraph.data.scaling as scaling

    monkeypatch.setattr(scaling, "BLOCK_READINGS", 18 * 7)  # 7 steps of 6 x 3 readings a block
    series = open_series(folder)
    for per_sensor in (False, True):
        fitted = StandardScaler(per_sensor=per_sensor).fit(series, steps=slice(0, 40))
        values = np.where(loaded.mask[:40], loaded.values[:40], np.nan).astype(np.float64)
        axes = 0 if per_sensor else (0, 1)
        np.testing.assert_allclose(fitted.mean_, np.nanmean(values, axis=axes), rtol=1e-12)
        np.testing.assert_allclose(fitted.std_, np.nanstd(values, axis=axes), rtol=1e-12)
        np.testing.assert_array_equal(fitted.count_, loaded.mask[:40].sum(axis=axes))
    maximum = MaxScaler().fit(series, steps=slice(0, 40))
    np.testing.assert_array_equal(maximum.max_, np.nanmax(np.where(loaded.mask[:40], loaded.values[:40], np.nan), axis=(0, 1)))


def test_selections_stay_on_disk(converted):
    series = open_series(converted[0])
    assert series.slice_time(10, 20).on_disk and series.select_features(["occupancy", "speed"]).on_disk
    assert series.missing_share() == pytest.approx(1 - series.mask.mean())
    assert series.align(series.sensor_ids) is series
    with pytest.raises(SensorDataError, match=r"pems.stseries: the series on disk holds its sensors in another order"):
        series.align(list(reversed(series.sensor_ids)))


def test_in_memory_mode_copies_and_refuses_a_series_over_the_limit(converted, monkeypatch):
    folder, loaded = converted
    series = open_series(folder, in_memory=True)
    assert not series.on_disk and np.array_equal(series.values, loaded.values)
    size = 60 * 6 * 3 * 5  # float32 values + bool mask
    assert open_series(folder, in_memory=True, memory_limit=size).num_steps == 60
    with pytest.raises(
        SensorDataError, match=r"pems.stseries: the series takes 0.00 GB in memory, more than the 0.00 GB allowed"
    ):
        open_series(folder, in_memory=True, memory_limit=size - 1)
    monkeypatch.setattr("stgraph.data.memmap.memory_available", lambda: 2 * size - 2)
    with pytest.raises(SensorDataError, match=r"pems.stseries: .* allowed for in-memory mode \(half the memory available\)"):
        load_series(folder, in_memory=True)


def test_a_missing_member_is_named(converted):
    folder, _ = converted
    (folder / "mask.npy").unlink()
    with pytest.raises(SensorDataError, match=r"mask.npy: missing; the converted series is incomplete"):
        open_series(folder)
    (folder / "meta.json").unlink()
    with pytest.raises(SensorDataError, match=r"pems.stseries: not a converted series \(no meta.json\)"):
        load_series(folder)


def test_a_truncated_array_is_named(converted):
    folder, _ = converted
    file = folder / "values.npy"
    file.write_bytes(file.read_bytes()[:-40])
    with pytest.raises(SensorDataError, match=r"values.npy: truncated \(\d+ bytes, expected \d+\)"):
        open_series(folder)


def test_an_array_whose_shape_or_dtype_differs_from_the_metadata_is_named(converted):
    folder, _ = converted
    np.save(folder / "values.npy", np.zeros((60, 6, 3), dtype=np.float64))
    with pytest.raises(SensorDataError, match=r"values.npy: holds float64 \[60, 6, 3\] but meta.json says float32 \[60, 6, 3\]"):
        open_series(folder)
    np.save(folder / "values.npy", np.zeros((60, 5, 3), dtype=np.float32))
    with pytest.raises(SensorDataError, match=r"values.npy: holds float32 \[60, 5, 3\] but meta.json says float32 \[60, 6, 3\]"):
        open_series(folder)


def test_metadata_of_another_layout_or_version_is_refused(converted):
    folder, _ = converted
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(SensorDataError, match=r"meta.json: layout version 99; this stgraph reads version 1"):
        open_series(folder)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(SensorDataError, match=r"meta.json: not valid JSON"):
        open_series(folder)


def test_load_series_of_a_directory_refuses_another_null_value(converted):
    folder, _ = converted
    assert load_series(folder, features=["q", "o", "v"]).feature_names == ["q", "o", "v"]
    with pytest.raises(
        SensorDataError, match=r"pems.stseries: converted with null value None, not 0; convert the readings again"
    ):
        load_series(folder, null_value=0.0)


def test_irregular_timestamps_on_disk_are_refused(converted):
    folder, _ = converted
    stamps = pd.date_range("2018-01-01", periods=60, freq="5min").as_unit("ns").asi8.copy()
    stamps[30] += 1
    np.save(folder / "timestamps.npy", stamps)
    with pytest.raises(SensorDataError, match=r"pems.stseries: timestamps must be regular at 0 days 00:05:00: step 30"):
        open_series(folder)
