"""``train()`` calibrates conformal intervals on the validation split and scores them on test:
``calibration.npz``, the ``"intervals"`` block of ``metrics.json``, the band in
``predictions_test.npz`` and the coverage per horizon in ``report.md``.

On the 3-sensor toy data with a 4-unit T-GCN (:mod:`tests.train.conftest`), CPU, one thread.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgraph.errors import ConfigError
from stgraph.metrics.conformal import conformal_quantile
from stgraph.pipeline.calibration import fit_scale, forecast_hours, load_calibration
from stgraph.pipeline.evaluate import predict_split
from stgraph.pipeline.model_file import load_model_file
from stgraph.report.export import load_predictions
from stgraph.train.run import train

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
]


def _quiet(line: str) -> None:
    pass


def test_intervals_are_calibrated_on_validation_and_scored_on_test(data, make_config, tmp_path):
    out = tmp_path / "run"
    result = train(make_config(epochs=1, coverage=0.8, coverage_scale="none"), out, data=data, echo=_quiet)
    best = load_model_file(out / "model.pt")

    # the margin at each step: the ceil(0.8 (n + 1))-th smallest |y - y_hat| of the 7 validation windows, 3 sensors pooled
    validation = predict_split(best.model, data, "val", batch_size=8)
    residuals = np.where(validation.mask, np.abs(validation.target - validation.prediction), np.nan)
    expected = [conformal_quantile(residuals[:, step].ravel(), 0.8) for step in range(2)]
    calibration = load_calibration(out / "calibration.npz")
    np.testing.assert_allclose(calibration.margin[:, 0, 0], expected, rtol=1e-6)
    assert (calibration.method, calibration.windows, calibration.per_sensor) == ("split", 7, False)

    # predictions_test.npz carries the band; the coverage reported is the share of observed test readings inside it
    test = load_predictions(out / "predictions_test.npz")
    np.testing.assert_allclose(
        test.upper - test.prediction, np.broadcast_to(calibration.margin[None], test.prediction.shape), rtol=1e-5
    )
    inside = (test.lower <= test.target) & (test.target <= test.upper)
    step_2 = inside[:, 1][test.mask[:, 1]].mean()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["intervals"]["per_step"]["coverage"][1] == pytest.approx(step_2)
    assert metrics["intervals"]["average"]["width"] == pytest.approx(2 * np.mean(expected), rel=1e-5)
    assert metrics["intervals"]["nominal"] == 0.8
    assert metrics["calibration"] == {"coverage": 0.8, "method": "split", "per_sensor": False, "scale": "none", "windows": 7}
    assert result.summary["intervals"] == metrics["intervals"]

    report = (out / "report.md").read_text()
    assert "| horizon | coverage (%, nominal 80) | width | Winkler | CRPS |" in report
    assert f"| average | {100 * metrics['intervals']['average']['coverage']:.2f} |" in report


def test_locally_weighted_margins_divide_validation_scores_by_the_training_scale(data, make_config, tmp_path):
    out = tmp_path / "run"
    train(make_config(epochs=1, coverage=0.8), out, data=data, echo=_quiet)  # default: sensor_time_of_day
    best = load_model_file(out / "model.pt")
    calibration = load_calibration(out / "calibration.npz")
    assert calibration.scale_kind == "sensor_time_of_day" and calibration.scale.shape == (2, 24, 3, 1)

    # the scale from the training windows' residuals, the margin from validation scores divided by it
    training = predict_split(best.model, data, "train", batch_size=8)
    hours = forecast_hours(training.first_step, 2, training.interval)
    scale = fit_scale(training.prediction, training.target, training.mask, hours, "sensor_time_of_day")
    np.testing.assert_allclose(calibration.scale, scale, rtol=1e-6)
    validation = predict_split(best.model, data, "val", batch_size=8)
    at = scale[np.arange(2)[None, :], forecast_hours(validation.first_step, 2, validation.interval)]
    scores = np.where(validation.mask, np.abs(validation.target - validation.prediction), np.nan) / at
    expected = [conformal_quantile(scores[:, step].ravel(), 0.8) for step in range(2)]
    np.testing.assert_allclose(calibration.margin[:, 0, 0], expected, rtol=1e-6)

    # each test reading's half-width is the margin times the scale at its sensor and hour
    test = load_predictions(out / "predictions_test.npz")
    width = calibration.margin[None] * scale[np.arange(2)[None, :], forecast_hours(test.first_step, 2, test.interval)]
    np.testing.assert_allclose(test.upper - test.prediction, width, rtol=1e-5)
    assert json.loads((out / "metrics.json").read_text())["calibration"]["scale"] == "sensor_time_of_day"


def test_an_unknown_scale_is_named(make_config):
    with pytest.raises(
        ConfigError, match=r"training.coverage_scale must be one of none, time_of_day, sensor, sensor_time_of_day; got 'hour'"
    ):
        make_config(coverage_scale="hour").validate()


def test_per_sensor_margins_and_no_intervals(data, make_config, tmp_path):
    train(make_config(epochs=1, coverage=0.5, coverage_per_sensor=True), tmp_path / "each", data=data, echo=_quiet)
    assert load_calibration(tmp_path / "each" / "calibration.npz").margin.shape == (2, 3, 1)
    result = train(make_config(epochs=1, coverage=None), tmp_path / "none", data=data, echo=_quiet)
    assert "intervals" not in result.summary and not (tmp_path / "none" / "calibration.npz").exists()
    assert load_predictions(tmp_path / "none" / "predictions_test.npz").lower is None


@pytest.mark.parametrize("coverage", [1.0, 0.0, 90])
def test_a_coverage_outside_the_unit_interval_is_named(make_config, coverage):
    with pytest.raises(ConfigError, match=rf"training.coverage must be a fraction in \(0, 1\), got {coverage}"):
        make_config(coverage=coverage).validate()
