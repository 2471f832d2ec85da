"""Smaller artifacts (stgraph/export/reduce.py): float16 / bfloat16 models and int8 linear layers
stay within their precision's bound of the float32 eager model; the combinations a format does
not offer are refused, saying which work."""

from __future__ import annotations

import json

import pytest
from torch import nn

from stgraph.cli.main import main
from stgraph.export import ExportError, ForecastArtifact, default_out, export_run
from stgraph.export.reduce import TOLERANCE, check_reduction, quantize_linear
from stgraph.nn.chebyshev_conv import ChebConv
from stgraph.pipeline.model_file import load_model_file


@pytest.fixture(scope="module")
def run_dir(make_run):
    return make_run("stgcn", coverage=0.9)  # its ChebConv keeps an nn.Linear it never calls


@pytest.mark.parametrize(
    ("format", "dtype", "quantize"),
    [
        ("torchscript", "float32", "int8"),
        ("onnx", "float32", "int8"),
        ("torchscript", "float16", None),
        ("exported", "bfloat16", None),
        ("onnx", "float16", None),
    ],
)
def test_a_reduced_artifact_is_within_its_precision_of_the_eager_model(run_dir, sample, format, dtype, quantize, tmp_path):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    series, _ = sample
    readings = tmp_path / "recent.csv"
    series.to_frame().iloc[:60].to_csv(readings)
    out = tmp_path / f"m.{format}"
    result = export_run(run_dir, format, out, dtype=dtype, quantize=quantize, readings=readings, windows=3)
    assert result.parity is not None and result.parity <= TOLERANCE[quantize or dtype]
    side = json.loads(result.sidecar.read_text())
    assert (side["dtype"], side["quantize"]) == (dtype, quantize)


def test_only_called_linear_layers_are_quantised(run_dir):
    quantized = quantize_linear(ForecastArtifact(load_model_file(run_dir / "model.pt")))
    convs = [module for module in quantized.modules() if isinstance(module, ChebConv)]
    assert convs and all(type(conv.linear) is nn.Linear for conv in convs)  # read as a weight store
    assert any(type(module).__name__ == "Linear" and type(module) is not nn.Linear for module in quantized.modules())


@pytest.mark.parametrize(
    ("format", "dtype", "quantize", "message"),
    [
        ("exported", "float32", "int8", r"not available for exported.*formats that offer it: torchscript, onnx"),
        ("onnx", "bfloat16", None, r"bfloat16 is not available for onnx.*torchscript, exported"),
        ("torchscript", "float16", "int8", "does not combine with --dtype float16"),
        ("torchscript", "float64", None, "unknown --dtype 'float64'"),
        ("torchscript", "float32", "int4", "unknown --quantize 'int4'"),
    ],
)
def test_combinations_a_format_does_not_offer_are_refused(format, dtype, quantize, message):
    with pytest.raises(ExportError, match=message):
        check_reduction(format, dtype, quantize)


def test_a_reduced_artifact_names_its_precision_by_default(run_dir):
    assert default_out(run_dir, "onnx", quantize="int8") == run_dir / "export" / "model.int8.onnx"
    assert default_out(run_dir, "exported", dtype="float16") == run_dir / "export" / "model.float16.pt2"
    assert default_out(run_dir, "torchscript", dtype="float32") == run_dir / "export" / "model.ts.pt"


def test_the_command_reports_the_bound_of_the_precision(run_dir, tmp_path, capsys):
    out = tmp_path / "q.ts.pt"
    assert main(["export", str(run_dir), "--format", "torchscript", "--quantize", "int8", "--out", str(out)]) == 0
    assert "(at most 0.05;" in capsys.readouterr().out
    assert main(["export", str(run_dir), "--format", "exported", "--quantize", "int8", "--out", str(tmp_path / "q.pt2")]) == 1
    assert "formats that offer it" in capsys.readouterr().err


def test_a_float16_lstm_is_refused_for_onnx(make_run, tmp_path):
    run_dir = make_run("fc_lstm")
    with pytest.raises(ExportError, match="float16 LSTM"):
        export_run(run_dir, "onnx", tmp_path / "m.onnx", dtype="float16")
    assert not (tmp_path / "m.onnx").exists()
