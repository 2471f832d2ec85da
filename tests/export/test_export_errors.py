"""What ``export_artifact``, ``load_artifact``, ``check_artifact`` and ``export_run`` refuse, and
how they say it (stgraph/export/formats.py, check.py, run.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from stgraph.export import (
    ExportError,
    ForecastArtifact,
    check_artifact,
    default_out,
    export_artifact,
    export_run,
    load_artifact,
    relative_error,
    working_formats,
)
from stgraph.export import formats as formats_module
from stgraph.export import run as run_module
from stgraph.export.check import synthetic_series, windows
from stgraph.export.reduce import quantize_onnx
from stgraph.pipeline.calibration import load_calibration
from stgraph.pipeline.model_file import load_model_file


@pytest.fixture(scope="module")
def run_dir(make_run):
    return make_run("stid")


@pytest.fixture
def artifact(run_dir):
    return ForecastArtifact(load_model_file(run_dir / "model.pt"))


def test_an_unknown_format_names_the_known_ones(artifact, run_dir, tmp_path):
    with pytest.raises(ExportError, match="'tflite'; expected one of torchscript, onnx, exported"):
        export_artifact(artifact, "tflite", tmp_path / "m")
    with pytest.raises(ExportError, match="'tflite'"):
        default_out(run_dir, "tflite")
    with pytest.raises(ExportError, match="'tflite'"):
        export_run(run_dir, "tflite", tmp_path / "m")
    with pytest.raises(ExportError, match="'tflite'"):
        load_artifact(tmp_path / "m", "tflite")


def test_a_pair_known_not_to_work_says_why_and_what_works(artifact, tmp_path, monkeypatch):
    monkeypatch.setitem(formats_module.UNSUPPORTED, ("stid", "onnx"), "no ONNX operator for X")
    assert working_formats("stid") == ["torchscript", "exported"]
    with pytest.raises(
        ExportError,
        match=r"'stid' cannot be exported as onnx: no ONNX operator for X \(formats that work: torchscript, exported\)",
    ):
        export_artifact(artifact, "onnx", tmp_path / "m.onnx", model="stid")
    assert not (tmp_path / "m.onnx").exists()


def test_an_exporter_failure_is_one_line_and_leaves_no_file(artifact, tmp_path, monkeypatch):
    def fail(*args):
        raise RuntimeError("Dynamic control flow is not supported\nlong trace")

    monkeypatch.setitem(formats_module._WRITERS, "exported", fail)
    with pytest.raises(
        ExportError, match=r"^model 'stid' cannot be exported as exported: Dynamic control flow is not supported \(formats"
    ):
        export_artifact(artifact, "exported", tmp_path / "m.pt2", model="stid")
    assert list(tmp_path.iterdir()) == []


def test_onnx_without_onnxruntime_asks_for_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"stgraph\[export\]"):
        load_artifact(tmp_path / "m.onnx", "onnx")


def test_a_parity_failure_removes_the_artifact(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "check_artifact", lambda *args, **kwargs: 0.5)
    out = tmp_path / "m.ts.pt"
    with pytest.raises(ExportError, match=r"differs from the eager model by 0\.5"):
        export_run(run_dir, "torchscript", out)
    assert not out.exists() and not (tmp_path / "m.ts.pt.json").exists()


def test_relative_error_compares_shapes_and_infinities():
    assert relative_error(np.ones(3), np.ones(4)) == float("inf")
    assert relative_error(np.array([np.inf, 1.0]), np.array([-np.inf, 1.0])) == float("inf")
    assert relative_error(np.array([np.inf]), np.array([np.inf])) == 0.0
    assert relative_error(np.array([2.0, 101.0]), np.array([2.0, 100.0])) == pytest.approx(0.01)
    assert relative_error(np.array([1e-9, 100.0]), np.array([0.0, 100.0])) == pytest.approx(
        1e-8
    )  # 1e-9 over the floor 1e-3 x 100


def test_windows_need_the_lookback(run_dir):
    series = synthetic_series(load_model_file(run_dir / "model.pt"), steps=8)
    with pytest.raises(ExportError, match="8 steps, fewer than the lookback 12"):
        windows(series, 12, 2)


def test_an_artifact_without_the_runs_intervals_fails_the_check(make_run, sample, tmp_path):
    run_dir = make_run("stid", coverage=0.9)
    run = load_model_file(run_dir / "model.pt")
    path = export_artifact(ForecastArtifact(run), "torchscript", tmp_path / "m.ts.pt")  # without calibration
    calibration = load_calibration(run_dir / "calibration.npz")
    assert check_artifact(run, calibration, path, "torchscript", sample[0], count=2) == float("inf")


def test_a_failed_onnx_quantisation_leaves_no_artifact(run_dir, tmp_path, monkeypatch):
    def fail(path):
        raise ExportError("cannot quantise")

    monkeypatch.setattr(run_module, "quantize_onnx", fail)
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="cannot quantise"):
        export_run(run_dir, "onnx", out, quantize="int8", check=False)
    assert not out.exists()


def test_onnx_quantisation_without_onnxruntime_asks_for_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)
    with pytest.raises(ExportError, match=r"stgraph-traffic\[export\]"):
        quantize_onnx(tmp_path / "m.onnx")


def test_onnx_runs_with_the_threads_given(artifact, tmp_path):
    pytest.importorskip("onnxruntime")
    path = export_artifact(artifact, "onnx", tmp_path / "m.onnx")
    readings, timestamps = artifact.example_inputs(1)
    outputs = load_artifact(path, "onnx", threads=1)(readings.numpy(), timestamps.numpy())
    assert outputs[0].shape == (1, 12, 12, 1)
