"""``predict_file`` (stgraph/pipeline/forecast.py): a readings file and a run's model.pt in, the next
``horizon`` steps out, checked against the model applied by hand; and the readings it refuses."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph import models
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.graph import from_matrix
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.forecast import predict_file
from stgraph.pipeline.model_file import graph_from_state, save_model_file
from stgraph.pipeline.run_dir import build_model, run_metadata

LOOKBACK, HORIZON = 4, 2


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-05-06 07:00", periods=30, freq="5min", name="timestamp")
    return pd.DataFrame(rng.normal(60, 8, size=(30, 3)).round(2), index=index, columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def run_dir(readings, tmp_path_factory):
    """A run directory holding the model.pt of an (untrained, seeded) T-GCN over ``readings``."""
    values = readings.to_numpy(dtype=np.float32)[:, :, None]
    series = SensorSeries(
        values=values,
        mask=np.ones(values.shape, dtype=bool),
        timestamps=readings.index,
        sensor_ids=list(readings.columns),
        feature_names=["speed"],
    )
    data = prepare_series(
        series,
        from_matrix(np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.7], [0.0, 0.7, 1.0]]), series.sensor_ids),
        lookback=LOOKBACK,
        horizon=HORIZON,
        fractions=(0.6, 0.2, 0.2),
        covariates=["time_of_day"],
        name="toy",
    )
    config = ExperimentConfig(
        data=DataConfig(readings="toy.csv", adjacency="toy.npz", lookback=LOOKBACK, horizon=HORIZON),
        model=ModelConfig(name="tgcn", options={"hidden": 4}),
    )
    torch.manual_seed(0)
    model, kwargs = build_model(config, data)
    out = tmp_path_factory.mktemp("run")
    save_model_file(out / "model.pt", {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
    return out


def test_forecast_is_the_model_applied_to_the_last_window_by_hand(run_dir, readings, tmp_path):
    recent = readings.iloc[:20]
    recent[["c", "a", "b"]].to_csv(tmp_path / "recent.csv")  # columns in another order
    frame = predict_file(run_dir, tmp_path / "recent.csv", tmp_path / "next.csv")

    state = torch.load(run_dir / "model.pt", weights_only=True)
    mean, std = state["scaler"]["mean"].item(), state["scaler"]["std"].item()
    window = recent.to_numpy()[-LOOKBACK:]  # 08:20 .. 08:35
    minutes = np.array([8 * 60 + 20 + 5 * i for i in range(LOOKBACK)])
    x = np.stack([(window - mean) / std, np.broadcast_to((minutes / 1440)[:, None], (LOOKBACK, 3))], axis=-1)
    model = models.create("tgcn", **state["model"]["kwargs"])
    model.load_state_dict(state["state_dict"])
    graph = graph_from_state(state["graph"], state["sensor_ids"])
    with torch.no_grad():
        z = model.eval()(torch.tensor(x[None], dtype=torch.float32), graph)[0, ..., 0].numpy()
    expected = z * std + mean

    assert list(frame.columns) == ["a", "b", "c"]  # the run's order
    assert list(frame.index) == [pd.Timestamp("2024-05-06 08:40"), pd.Timestamp("2024-05-06 08:45")]
    np.testing.assert_allclose(frame.to_numpy(), expected, rtol=1e-5)
    written = pd.read_csv(tmp_path / "next.csv", index_col="timestamp", parse_dates=True)
    np.testing.assert_allclose(written.to_numpy(), expected, atol=1e-4)  # 4 decimals in the CSV
    assert written.index.equals(frame.index)


def test_parquet_output_holds_the_same_table(run_dir, readings, tmp_path):
    pytest.importorskip("pyarrow")
    readings.iloc[:10].to_csv(tmp_path / "recent.csv")
    frame = predict_file(run_dir, tmp_path / "recent.csv", tmp_path / "next.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "next.parquet"), frame, check_freq=False)


def test_unknown_output_format_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(SensorDataError, match=r"next\.json: unknown output format '\.json'; use \.csv or \.parquet"):
        predict_file(tmp_path / "no-run", tmp_path / "no-readings.csv", tmp_path / "next.json")


def test_fewer_steps_than_the_lookback_are_refused(run_dir, readings, tmp_path):
    readings.iloc[:3].to_csv(tmp_path / "recent.csv")
    with pytest.raises(SensorDataError, match=r"recent\.csv: 3 steps, but the model needs the last 4"):
        predict_file(run_dir, tmp_path / "recent.csv", tmp_path / "next.csv")
    assert not (tmp_path / "next.csv").exists()


def test_another_interval_is_refused(run_dir, readings, tmp_path):
    readings.iloc[::2].to_csv(tmp_path / "recent.csv")
    with pytest.raises(SensorDataError, match=r"readings every 10min, but the run in .* was trained on readings every 5min"):
        predict_file(run_dir, tmp_path / "recent.csv", tmp_path / "next.csv")


def test_missing_recent_readings_are_counted_in_a_warning(run_dir, readings, tmp_path, caplog):
    recent = readings.iloc[:12].copy()
    recent.iloc[-1, 0] = np.nan
    recent.iloc[-3, 2] = np.nan
    recent.iloc[0, 1] = np.nan  # before the window: not counted
    recent.to_csv(tmp_path / "recent.csv")
    with caplog.at_level(logging.WARNING, logger="stgraph.pipeline.forecast"):
        frame = predict_file(run_dir, tmp_path / "recent.csv", tmp_path / "next.csv")
    assert "2 of the last 4 steps' readings are missing; they enter the model as 0" in caplog.text
    assert frame.shape == (2, 3) and np.isfinite(frame.to_numpy()).all()
