"""The own-data test networks are what their docstring says (real graphs and Los-loop, counts with
zeros and spread scales), and ``python -m benchmarks.own_data --quick`` runs end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.own_data.__main__ import main
from benchmarks.own_data.networks import NETWORKS, build


def _readings(files: dict[str, str]) -> pd.DataFrame:
    return pd.read_csv(files["readings"], index_col="timestamp", parse_dates=True)


def test_transit_network_is_zero_heavy_hourly_counts_with_scales_far_apart(shared_data, tmp_path):
    files = build("transit-hourly", shared_data, tmp_path)
    readings = _readings(files)
    assert readings.shape == (31 * 24, 358) and readings.index[1] - readings.index[0] == pd.Timedelta("1h")
    values = readings.to_numpy()
    assert np.array_equal(values, np.round(values)) and values.min() == 0
    assert (values == 0).mean() > 0.3
    means = values.mean(axis=0)
    assert np.quantile(means, 0.95) / np.quantile(means, 0.05) > 100
    links = pd.read_csv(files["distances"])
    assert list(links.columns) == ["from", "to", "distance"] and len(links) == 547  # PEMS03's published links


def test_daily_network_covers_two_years_on_pems08_links(shared_data, tmp_path):
    files = build("counts-daily", shared_data, tmp_path, seed=1)
    readings = _readings(files)
    assert readings.shape == (728, 170) and readings.index[1] - readings.index[0] == pd.Timedelta("1D")
    assert list(pd.read_csv(files["distances"]).columns) == ["from", "to", "cost"]


def test_los_loop_networks_keep_the_real_speeds(shared_data, tmp_path):
    speeds = pd.read_csv(shared_data / "los-loop" / "los_speed.csv")
    rescaled = _readings(build("losloop-rescaled", shared_data, tmp_path / "a"))
    factor = rescaled.to_numpy() / speeds[rescaled.columns].to_numpy()
    assert rescaled.shape == (2016, 150)
    np.testing.assert_allclose(factor, np.broadcast_to(factor[:1], factor.shape), rtol=1e-4)  # one factor per sensor, 0.1 .. 10
    assert factor.min() >= 0.1 and factor.max() <= 10
    coarse = _readings(build("losloop-15min", shared_data, tmp_path / "b"))
    assert coarse.shape == (672, 207)
    np.testing.assert_allclose(coarse.iloc[0].to_numpy(), speeds.iloc[:3].mean().to_numpy(), atol=1e-4)


def test_a_network_without_its_data_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="transit-hourly: needs pems03-graph under"):
        build("transit-hourly", tmp_path, tmp_path / "out")
    assert set(NETWORKS) == {"transit-hourly", "counts-daily", "losloop-rescaled", "losloop-15min"}


def test_quick_benchmark_prints_the_model_beside_both_baselines(shared_data, capsys):
    assert main(["--quick", "--networks", "losloop-15min", "--data-root", str(shared_data)]) == 0
    printed = capsys.readouterr().out
    assert "### losloop-15min, seed 0" in printed
    assert "| stid | " in printed and "| historical average | " in printed and "| last value | " in printed
    assert (
        "| | 15 min MAE / RMSE | 30 min MAE / RMSE | 45 min MAE / RMSE | 60 min MAE / RMSE | average MAE / RMSE |" not in printed
    )
    assert "| | 45 min MAE / RMSE | 90 min MAE / RMSE | 3 h MAE / RMSE | average MAE / RMSE |" in printed
