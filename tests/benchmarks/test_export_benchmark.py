"""``python -m benchmarks.export`` (benchmarks/export) end to end on a tiny run: a row per format
and variant, the ones a format does not offer said so, float32 artifacts scoring the eager MAE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from benchmarks.export.__main__ import main, masked_mae
from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.graph import from_matrix
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.model_file import save_model_file
from stgraph.pipeline.run_dir import build_model, run_metadata

SENSORS = 6


@pytest.fixture(scope="module")
def tiny(sample_dir, tmp_path_factory):
    """A T-GCN run over the sample's first sensors, and a day of their readings as a CSV."""
    full = load_series(sample_dir / "readings.csv.gz", null_value=0.0)
    ids = full.sensor_ids[:SENSORS]
    series = SensorSeries(full.values[:288, :SENSORS], full.mask[:288, :SENSORS], full.timestamps[:288], ids, full.feature_names)
    graph = from_matrix(sp.load_npz(sample_dir / "adjacency.npz").toarray()[:SENSORS, :SENSORS], ids)
    data = prepare_series(series, graph, covariates=["time_of_day"], null_value=0.0, name="sample")
    config = ExperimentConfig(
        data=DataConfig(readings="readings.csv", adjacency="adjacency.npz", lookback=12, horizon=12),
        model=ModelConfig(name="tgcn", options={"hidden": 8}),
    )
    torch.manual_seed(0)
    model, kwargs = build_model(config, data)
    folder = tmp_path_factory.mktemp("bench")
    save_model_file(folder / "run" / "model.pt", {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
    series.to_frame().to_csv(folder / "readings.csv")
    return folder


def test_the_benchmark_writes_a_row_per_format_and_variant(tiny, capsys):
    results = tiny / "results"
    argv = ["--run", str(tiny / "run"), "--readings", str(tiny / "readings.csv"), "--formats", "torchscript,exported"]
    argv += ["--variants", "float32,int8", "--windows", "4", "--repeats", "1", "--results", str(results)]
    assert main(argv) == 0
    assert "| tgcn | torchscript | int8 |" in capsys.readouterr().out
    payload = json.loads((results / "export.json").read_text())
    rows = {(row["format"], row["variant"]): row for row in payload["rows"]}
    assert set(rows) == {
        ("eager", "float32"),
        ("torchscript", "float32"),
        ("torchscript", "int8"),
        ("exported", "float32"),
        ("exported", "int8"),
    }
    assert "not available for exported" in rows["exported", "int8"]["error"]
    for key in [("torchscript", "float32"), ("exported", "float32")]:
        assert rows[key]["bytes"] > 0 and rows[key]["batch_1_ms"] > 0 and rows[key]["batch_64_ms"] > 0
        assert abs(rows[key]["delta_mae"]) < 1e-3 * rows["eager", "float32"]["test_mae"]
    assert np.isfinite(rows["torchscript", "int8"]["test_mae"])
    assert "cpu" in payload["machine"] and "Machine:" in (results / "export.md").read_text()
    assert main(argv) == 1  # results exist: refused without --force
    assert main([*argv, "--force"]) == 0


def test_unknown_names_are_refused(tiny, capsys):
    assert main(["--run", str(tiny / "run"), "--variants", "int4"]) == 2
    assert "int4" in capsys.readouterr().err


def test_masked_mae_counts_observed_targets_only():
    forecast, targets = np.array([1.0, 5.0, 9.0]), np.array([2.0, 5.0, 0.0])
    assert masked_mae(forecast, targets, np.array([True, True, False])) == 0.5
    assert np.isnan(masked_mae(forecast, targets, np.zeros(3, dtype=bool)))
