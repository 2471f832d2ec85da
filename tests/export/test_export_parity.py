"""Every registered model in every format (stgraph/export/formats.py) equals the eager pipeline
(stgraph/export/check.py) within 1e-4 relative, on real windows of the METR-LA sample with
missing readings, at a batch size other than the one traced. The models whose graph of ops is
unrolled over time are exported at lookback 6, horizon 3 (``WINDOW`` in ``conftest.py``): the
same operations, fewer of them to trace."""

from __future__ import annotations

import importlib

import pytest

from stgraph import models
from stgraph.export import FORMATS, UNSUPPORTED, ForecastArtifact, check_artifact, export_artifact
from stgraph.pipeline.calibration import load_calibration
from stgraph.pipeline.model_file import load_model_file

TOLERANCE = 1e-4
WINDOWS = 3  # traced at batch 2


@pytest.fixture(scope="module")
def runs(make_run):
    return {name: make_run(name, short=True) for name in models.available()}


@pytest.mark.parametrize("format", list(FORMATS))
@pytest.mark.parametrize("name", models.available())
def test_artifact_equals_the_eager_model(runs, sample, name, format, tmp_path):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    assert (name, format) not in UNSUPPORTED
    run = load_model_file(runs[name] / "model.pt")
    path = export_artifact(ForecastArtifact(run), format, tmp_path / f"model{FORMATS[format]}", model=name)
    assert check_artifact(run, None, path, format, sample[0], count=WINDOWS) <= TOLERANCE


@pytest.mark.parametrize("format", list(FORMATS))
def test_quantiles_and_cqr_intervals_equal_the_eager_pipeline(make_run, sample, format, tmp_path):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    run_dir = make_run("stid", quantiles=[0.05, 0.5, 0.95], coverage=0.9)
    run, calibration = load_model_file(run_dir / "model.pt"), load_calibration(run_dir / "calibration.npz")
    artifact = ForecastArtifact(run, calibration)
    assert artifact.output_names == ["forecast", "lower", "upper", "quantiles"]
    path = export_artifact(artifact, format, tmp_path / f"model{FORMATS[format]}", model="stid")
    assert check_artifact(run, calibration, path, format, sample[0], count=WINDOWS) <= TOLERANCE


@pytest.mark.parametrize("format", list(FORMATS))
def test_margins_that_follow_the_hour_of_day_equal_the_eager_pipeline(make_run, sample, format, tmp_path):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    run_dir = make_run("stid", coverage=0.9, scaled=True)
    run, calibration = load_model_file(run_dir / "model.pt"), load_calibration(run_dir / "calibration.npz")
    artifact = ForecastArtifact(run, calibration)
    assert artifact.scaled and artifact.scale.shape == (12, 24, 12, 1)
    path = export_artifact(artifact, format, tmp_path / f"model{FORMATS[format]}", model="stid")
    assert check_artifact(run, calibration, path, format, sample[0], count=WINDOWS) <= TOLERANCE


@pytest.mark.parametrize("format", list(FORMATS))
def test_a_run_that_masks_missing_inputs_feeds_the_observed_channels(make_run, sample, format, tmp_path):
    # data.missing_inputs: mask (the own-data recipe's): fill at the training mean, observed channels after the calendar
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    run = load_model_file(make_run("stid", missing_inputs="mask") / "model.pt")
    artifact = ForecastArtifact(run)
    assert artifact.missing_inputs == "mask" and run.state["model"]["kwargs"]["in_features"] == 1 + 2 + 1
    path = export_artifact(artifact, format, tmp_path / f"model{FORMATS[format]}", model="stid")
    assert check_artifact(run, None, path, format, sample[0], count=WINDOWS) <= TOLERANCE


def test_one_window_runs_too(runs, sample, tmp_path):
    run = load_model_file(runs["graph_wavenet"] / "model.pt")
    path = export_artifact(ForecastArtifact(run), "exported", tmp_path / "model.pt2")
    assert check_artifact(run, None, path, "exported", sample[0], count=1) <= TOLERANCE


@pytest.mark.parametrize("format", list(FORMATS))
def test_a_graph_above_the_dense_size_exports_its_stored_entries_only(runs, sample, format, tmp_path, monkeypatch):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    monkeypatch.setattr(importlib.import_module("stgraph.ops.propagate"), "EXPORT_DENSE_MAX_NODES", 4)  # gather + index_add
    run = load_model_file(runs["stgcn"] / "model.pt")
    path = export_artifact(ForecastArtifact(run), format, tmp_path / f"model{FORMATS[format]}", model="stgcn")
    assert check_artifact(run, None, path, format, sample[0], count=WINDOWS) <= TOLERANCE
