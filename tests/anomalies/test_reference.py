"""A run's calibration (stgraph/anomalies/reference.py): one-step forecasts equal ``stgraph predict``'s
first step, the spike threshold is the pooled conformal quantile worked out with NumPy, and the
zero shares count the training steps only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.anomalies import departure, load_reference, one_step_forecasts
from stgraph.cli.main import main
from stgraph.data.load import load_series
from stgraph.metrics.conformal import conformal_quantile
from stgraph.pipeline.forecast import forecast_next

STEPS = 600  # about two days at 5 minutes: train 420, validation 60, test 120


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """Three sensors with a daily cycle, sensor c at zero every night 02:00-03:00; a one-step STGCN run."""
    folder = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(7)
    index = pd.date_range("2024-05-06 00:00", periods=STEPS, freq="5min", name="timestamp")
    cycle = 10 * np.sin(2 * np.pi * np.arange(STEPS) / 288)[:, None]
    frame = pd.DataFrame((60 + cycle + rng.normal(0, 2, (STEPS, 3))).round(2), index=index, columns=["a", "b", "c"])
    frame.loc[(index.hour == 2), "c"] = 0.0
    frame.to_csv(folder / "readings.csv")
    (folder / "distances.csv").write_text("from,to,cost\na,b,400\nb,c,600\n")
    out = folder / "run"
    code = main(
        [
            "train", "--readings", str(folder / "readings.csv"), "--distances", str(folder / "distances.csv"),
            "--model", "stgcn", "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.lookback=12", "data.horizon=3",
            "data.null_value=null", "training.threads=1", "--accelerator", "cpu", "--no-progress", "--max-steps", "1",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    return out, folder / "readings.csv"


def test_one_step_forecasts_equal_the_first_step_of_predict(toy_run):
    run_dir, readings = toy_run
    reference = load_reference(run_dir, coverage=0.9)
    series = load_series(readings, null_value=None).slice_time(0, 40)
    forecast = one_step_forecasts(reference.run, series, batch_size=7)
    assert forecast.shape == (40, 3)
    assert np.isnan(forecast[:12]).all()
    for step in (12, 25, 39):  # the window of the 12 steps before `step`
        expected = forecast_next(reference.run, series.slice_time(0, step))[0, :, 0]
        np.testing.assert_allclose(forecast[step], expected, rtol=1e-5, atol=1e-4)


def test_threshold_is_each_sensors_mean_residual_times_the_pooled_conformal_quantile(toy_run):
    run_dir, readings = toy_run
    reference = load_reference(run_dir, coverage=0.9)
    series = load_series(readings, null_value=None)
    values = series.values[..., 0].astype(np.float64)
    forecast = one_step_forecasts(reference.run, series)
    val = slice(420, 480)  # split 0.7 / 0.1 / 0.2 of 600 steps
    mean_residual = np.abs(values[val] - forecast[val]).mean(axis=0)
    d = departure(values, np.ones(values.shape, dtype=bool), forecast)[val]
    pooled = np.sort((d / mean_residual).ravel())[int(np.ceil(181 * 0.9)) - 1]  # n = 180 scores
    np.testing.assert_allclose(reference.threshold, mean_residual * pooled, rtol=1e-4)
    assert pooled == pytest.approx(conformal_quantile(d / mean_residual, 0.9), rel=1e-6)


def test_zero_share_counts_the_training_steps_by_time_of_day(toy_run):
    run_dir, _ = toy_run
    share = load_reference(run_dir, coverage=0.9).zero_share
    assert share.shape == (288, 3)
    # sensor c is zero in every training step between 02:00 and 03:00 (slots 24-35), never elsewhere
    np.testing.assert_array_equal(share[24:36, 2], 1.0)
    assert share[:24, 2].max() == 0 and share[36:, 2].max() == 0
    assert share[:, :2].max() == 0


def test_forecasts_in_chunks_equal_one_pass_and_report_progress(toy_run, monkeypatch):
    run_dir, readings = toy_run
    reference = load_reference(run_dir, coverage=0.9)
    series = load_series(readings, null_value=None).slice_time(0, 40)
    whole = one_step_forecasts(reference.run, series)
    monkeypatch.setattr("stgraph.anomalies.reference.CHUNK_STEPS", 10)
    calls: list[tuple[int, int]] = []
    chunked = one_step_forecasts(reference.run, series, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-5)
    assert calls == [(10, 28), (20, 28), (28, 28)]  # 40 steps, the first 12 without a forecast
