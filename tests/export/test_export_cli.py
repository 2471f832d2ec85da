"""``stgraph export`` (stgraph/cli/export_cmd.py) end to end on one run: files, sidecar, refusals."""

from __future__ import annotations

import hashlib
import json

import pytest

import stgraph
from stgraph.cli.main import main


@pytest.fixture(scope="module")
def run_dir(make_run):
    return make_run("stgcn", coverage=0.9)


def test_export_writes_the_artifact_and_its_sidecar_and_prints_the_parity(run_dir, capsys):
    assert main(["export", str(run_dir), "--format", "torchscript"]) == 0
    artifact = run_dir / "export" / "model.ts.pt"
    out = capsys.readouterr().out
    assert f"{artifact}: torchscript artifact" in out
    assert "parity: largest relative error" in out and "synthetic readings" in out
    side = json.loads((run_dir / "export" / "model.ts.pt.json").read_text())
    assert side["format"] == "torchscript" and side["model"] == "stgcn"
    assert side["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert side["stgraph_version"] == stgraph.__version__
    assert (side["lookback"], side["horizon"], side["interval"]) == (12, 12, "5min")
    assert len(side["sensor_ids"]) == 12 and side["features"] == ["value"] and side["targets"] == ["value"]
    assert side["covariates"] == ["time_of_day", "day_of_week"] and side["missing_inputs"] == "zero"
    assert [o["name"] for o in side["outputs"]] == ["forecast", "lower", "upper"]
    assert side["inputs"][0] == {"name": "readings", "shape": ["batch", 12, 12, 1], "dtype": "float32"}
    assert side["inputs"][1] == {"name": "timestamps", "shape": ["batch", 12], "dtype": "int64"}
    assert side["coverage"] == 0.9 and side["interval_method"] == "split" and side["quantiles"] is None
    assert 0.0 <= side["parity"] <= 1e-4


def test_export_refuses_to_overwrite_without_force(run_dir, tmp_path, capsys):
    out = tmp_path / "a.pt2"
    assert main(["export", str(run_dir), "--format", "exported", "--out", str(out), "--no-check"]) == 0
    before = out.read_bytes()
    assert main(["export", str(run_dir), "--format", "exported", "--out", str(out), "--no-check"]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert json.loads((tmp_path / "a.pt2.json").read_text())["parity"] is None
    assert main(["export", str(run_dir), "--format", "exported", "--out", str(out), "--no-check", "--force"]) == 0


def test_export_never_replaces_model_pt(run_dir, capsys):
    model = run_dir / "model.pt"
    before = model.read_bytes()
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(model), "--force", "--no-check"]) == 1
    assert "model.pt" in capsys.readouterr().err
    assert model.read_bytes() == before


def test_an_unknown_format_is_one_line_naming_the_formats(run_dir, capsys):
    assert main(["export", str(run_dir), "--format", "tflite"]) == 2
    err = capsys.readouterr().err
    assert "'tflite'" in err and "torchscript, onnx, exported" in err


def test_the_check_runs_on_a_readings_file(run_dir, sample, tmp_path, capsys):
    series, _ = sample
    readings = tmp_path / "recent.csv"
    frame = series.to_frame()
    frame.iloc[-40:].to_csv(readings)
    out = tmp_path / "m.ts.pt"
    assert main(["export", str(run_dir), "--format", "torchscript", "--out", str(out), "--readings", str(readings)]) == 0
    assert "recent.csv" in capsys.readouterr().out


def test_a_quantile_run_exports_its_levels_and_cqr_interval(make_run, tmp_path):
    run_dir = make_run("stid", quantiles=[0.1, 0.5, 0.9], coverage=0.8)
    out = tmp_path / "q.pt2"
    assert main(["export", str(run_dir), "--format", "exported", "--out", str(out), "--windows", "2"]) == 0
    side = json.loads((tmp_path / "q.pt2.json").read_text())
    assert [o["name"] for o in side["outputs"]] == ["forecast", "lower", "upper", "quantiles"]
    assert side["outputs"][-1]["shape"] == ["batch", 12, 12, 1, 3]
    assert side["quantiles"] == [0.1, 0.5, 0.9] and side["interval_method"] == "cqr"
