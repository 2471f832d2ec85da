"""What stgraph chooses when the user does not: per-sensor scaling when sensor scales spread,
calendar inputs the training period can teach, and the default recipe when no model is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph import SensorGraph
from stgraph.data.series import SensorSeries
from stgraph.errors import ConfigError
from stgraph.pipeline.config import default_model_name, resolve_config
from stgraph.pipeline.data import SCALE_SPREAD, choose_covariates, choose_scaling, prepare_data, prepare_series
from stgraph.pipeline.run_dir import build_model, calendar_arguments


def _series(scales: list[float], steps: int = 400, interval: str = "1h") -> SensorSeries:
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 1.0, (steps, len(scales), 1)) * np.asarray(scales)[None, :, None] + 100.0
    timestamps = pd.date_range("2024-01-01", periods=steps, freq=interval)
    return SensorSeries(values, None, timestamps, [f"s{i}" for i in range(len(scales))], ["count"])


def test_scales_spread_beyond_the_limit_get_per_sensor_z_scores():
    # ten sensors: deviations 1 .. 100, so the 90th / 10th percentile ratio is far above 10
    spread = _series(list(np.geomspace(1.0, 100.0, 10)))
    assert choose_scaling(spread, slice(0, 300), ["count"]) == "per_sensor"
    similar = _series([1.0, 1.5, 2.0, 2.5, 3.0])
    assert choose_scaling(similar, slice(0, 300), ["count"]) == "global"
    assert SCALE_SPREAD == 10.0


def test_one_dead_or_one_huge_sensor_does_not_decide():
    scales = [1.0] * 19 + [1000.0] + [0.0]  # one huge sensor in 20, one constant one (deviation 0, ignored)
    assert choose_scaling(_series(scales), slice(0, 300), ["count"]) == "global"


def test_prepare_series_fits_the_scaling_it_chose():
    series = _series(list(np.geomspace(1.0, 100.0, 6)))
    graph = SensorGraph(np.eye(6), series.sensor_ids)
    data = prepare_series(series, graph, scaling="auto")
    assert data.scaler.per_sensor
    np.testing.assert_allclose(data.scaler.std_[:, 0], series.values[data.split.train_steps, :, 0].std(axis=0), rtol=1e-6)
    assert not prepare_series(series, graph, scaling="global").scaler.per_sensor


@pytest.mark.parametrize(
    ("interval", "steps", "expected"),
    [
        ("1h", 24 * 30, ["time_of_day", "day_of_week"]),  # 21 training days
        ("5min", 288 * 7, ["time_of_day"]),  # one week: some days of the week are never trained
        ("1D", 730, ["day_of_week"]),  # a daily series has no time of day
        ("7D", 200, []),  # weekly: neither
    ],
)
def test_calendar_inputs_are_those_the_training_period_can_teach(interval, steps, expected):
    series = _series([1.0, 2.0], steps=steps, interval=interval)
    train = slice(0, int(steps * 0.7))
    assert choose_covariates(series, train) == expected


def test_no_model_named_gives_the_default_recipe_over_its_models_yaml(sample_dir):
    config = resolve_config(dataset="sample")
    assert config.model.name == default_model_name() == "stid"
    assert (config.training.loss, config.training.loss_units) == ("mae_rmse", "original")
    assert config.training.time_budget == 300 and config.training.patience == 20
    assert config.data.covariates == ["auto"] and config.data.scaling == "auto"
    # a named model keeps its paper's settings
    named = resolve_config(model="stid", dataset="sample")
    assert (named.training.loss, named.training.time_budget) == ("mae", None)
    assert named.data.covariates == ["time_of_day", "day_of_week"]


def test_the_sample_keeps_the_published_global_scaling_and_the_model_gets_its_calendar(sample_dir):
    config = resolve_config(dataset="sample")
    data = prepare_data(config.data)
    assert not data.scaler.per_sensor  # catalog datasets: the papers' pooled z-score
    assert data.covariates == ["time_of_day"]  # one week of readings: no day of week
    model, kwargs = build_model(config, data)
    assert (kwargs["time_of_day_feature"], kwargs["day_of_week_feature"], kwargs["steps_per_day"]) == (1, None, 288)
    assert calendar_arguments(type(model), data) == {"time_of_day_feature": 1, "day_of_week_feature": None, "steps_per_day": 288}


def test_unknown_scaling_and_loss_are_refused():
    with pytest.raises(ConfigError, match=r"data\.scaling must be one of auto, global, per_sensor, got .zscore."):
        resolve_config(model="stid", dataset="sample", overrides=["data.scaling=zscore"])
    with pytest.raises(ConfigError, match=r"training\.loss must be one of mae, mse, mae_rmse, got .huber."):
        resolve_config(model="stid", dataset="sample", overrides=["training.loss=huber"])


def test_a_named_model_on_own_readings_gets_the_own_data_recipe_over_its_yaml(tmp_path):
    own = {"data": {"readings": str(tmp_path / "r.csv"), "distances": str(tmp_path / "d.csv")}}
    config = resolve_config(model="stgcn", overrides=own)
    assert config.model.options["channels"] == [[64, 16, 64], [64, 16, 64]]  # the paper's architecture
    assert (config.training.optimizer, config.training.scheduler) == ("rmsprop", "step")  # and optimiser
    assert (config.training.loss, config.training.loss_units, config.training.patience) == ("mae_rmse", "original", 20)
    assert config.data.covariates == ["auto"]
    # the user's layers still win, and a catalog dataset keeps the paper's recipe
    assert resolve_config(model="stgcn", overrides={**own, "training": {"loss": "mae"}}).training.loss == "mae"
    catalog = resolve_config(model="stgcn", dataset="sample")
    assert (catalog.training.loss, catalog.data.covariates, catalog.training.patience) == ("mae", [], None)
