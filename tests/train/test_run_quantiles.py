"""``model.quantiles``: any registered model trained with the pinball loss through QuantileHead,
its median scored as the point forecast, rebuilt from ``model.pt``; bad levels refused.

On the 3-sensor toy data with a 4-unit T-GCN (:mod:`tests.train.conftest`), CPU, one thread.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stgraph.errors import ConfigError
from stgraph.metrics.conformal import conformal_quantile
from stgraph.metrics.intervals import pinball_loss
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import load_calibration
from stgraph.pipeline.evaluate import predict_split
from stgraph.pipeline.model_file import load_model_file
from stgraph.pipeline.run_dir import build_model
from stgraph.report.export import load_predictions
from stgraph.train.module import ForecastModule
from stgraph.train.run import train

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)` but the `self.trainer` reference"),
]


def _quantile_config(make_config, quantiles, **training):
    config = make_config(**training)
    config.model.options["quantiles"] = quantiles
    return config


def test_the_model_is_built_with_channels_times_levels_and_wrapped(data, make_config):
    model, kwargs = build_model(_quantile_config(make_config, [0.1, 0.5, 0.9]), data)
    assert isinstance(model, QuantileHead) and kwargs["out_channels"] == 3 and model.quantiles == (0.1, 0.5, 0.9)


def test_training_minimises_the_pinball_loss_of_the_levels(data, make_config):
    config = _quantile_config(make_config, [0.1, 0.5, 0.9])
    model, _ = build_model(config, data)
    target = data.scaler.subset(data.target_features)
    module = ForecastModule(model, data.graph, torch.from_numpy(target.mean_), torch.from_numpy(target.std_), config.training)
    x, y, mask = next(iter(torch.utils.data.DataLoader(data.windows("train"), batch_size=8)))
    loss = module.training_step((x, y, mask), 0)
    expected = pinball_loss(model.quantile_forecast(x, data.graph), module.scale_target(y), [0.1, 0.5, 0.9], mask=mask)
    assert loss.item() == pytest.approx(expected.item())


def test_a_quantile_run_scores_its_median_and_rebuilds_from_model_pt(data, make_config, tmp_path):
    out = tmp_path / "run"
    train(_quantile_config(make_config, [0.1, 0.5, 0.9], epochs=1), out, data=data, echo=lambda line: None)
    best = load_model_file(out / "model.pt")
    assert isinstance(best.model, QuantileHead) and best.state["model"]["quantiles"] == [0.1, 0.5, 0.9]
    saved = load_predictions(out / "predictions_test.npz")
    again = predict_split(best.model, data, "test", batch_size=8)
    np.testing.assert_allclose(saved.prediction, again.prediction, rtol=1e-5)
    x = next(iter(torch.utils.data.DataLoader(data.windows("test"), batch_size=7)))[0]
    with torch.no_grad():
        levels = best.model.quantile_forecast(x, best.graph)
    scaled_median = levels[..., 1]
    np.testing.assert_allclose(
        data.windows("test").target_scaler.inverse_transform(scaled_median).numpy(), saved.prediction, rtol=1e-5
    )
    assert (levels[..., 0] <= levels[..., 1]).all() and (levels[..., 1] <= levels[..., 2]).all()


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ([0.05, 0.5, 1.2], r"model.quantiles must lie in \(0, 1\), got 1.2 in \[0.05, 0.5, 1.2\]"),
        ([0.95, 0.5, 0.05], r"model.quantiles must be sorted increasing without repeats, got 0.5 after 0.95"),
        ([0.05, 0.95], r"model.quantiles must include 0.5"),
    ],
)
def test_bad_levels_stop_before_training(make_config, quantiles, message):
    with pytest.raises(ConfigError, match=message):
        _quantile_config(make_config, quantiles).validate()


def test_a_quantile_run_is_calibrated_by_cqr_and_scored_on_its_levels(data, make_config, tmp_path):
    out = tmp_path / "cqr"
    train(
        _quantile_config(make_config, [0.1, 0.5, 0.9], epochs=1, coverage=0.8, coverage_scale="none"),
        out,
        data=data,
        echo=lambda line: None,
    )
    best = load_model_file(out / "model.pt")
    calibration = load_calibration(out / "calibration.npz")
    assert (calibration.method, calibration.bounds) == ("cqr", (0, 2))  # 0.1 and 0.9: the levels of an 80 % interval

    # the margin: the ceil(0.8 (n + 1))-th smallest max(q_0.1 - y, y - q_0.9) over the validation readings
    validation = predict_split(best.model, data, "val", batch_size=8)
    scores = np.maximum(validation.quantiles[..., 0] - validation.target, validation.target - validation.quantiles[..., 2])
    scores = np.where(validation.mask, scores, np.nan)
    expected = [conformal_quantile(scores[:, step].ravel(), 0.8) for step in range(2)]
    np.testing.assert_allclose(calibration.margin[:, 0, 0], expected, rtol=1e-5, atol=1e-6)

    test = load_predictions(out / "predictions_test.npz")
    assert test.levels == (0.1, 0.5, 0.9) and test.quantiles.shape == (7, 2, 3, 1, 3)
    np.testing.assert_allclose(test.lower, test.quantiles[..., 0] - calibration.margin[None, :, :, :], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(test.prediction, test.quantiles[..., 1])
    # CRPS from the model's own three levels: twice their mean pinball loss, per step
    metrics = json.loads((out / "metrics.json").read_text())
    for step in range(2):
        pinball = pinball_loss(test.quantiles[:, step], test.target[:, step], test.levels, mask=test.mask[:, step])
        assert metrics["intervals"]["per_step"]["crps"][step] == pytest.approx(2 * pinball, rel=1e-5)
    assert metrics["calibration"]["method"] == "cqr"
