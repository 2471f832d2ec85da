"""Big-graph options end to end on the committed sample: sensor batches, bf16-mixed precision and
activation checkpointing train from the command line, and the run is evaluated on the full graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from stgraph.cli.main import main
from stgraph.report.export import load_predictions

pytestmark = pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")

COMMON = ["--accelerator", "cpu", "--no-progress", "--max-steps", "2", "--out"]
SMALL = {
    "stgcn": ["model.channels=[[4,2,4],[4,2,4]]"],
    "graph_wavenet": ["model.residual_channels=4", "model.dilation_channels=4", "model.skip_channels=8", "model.end_channels=8"],
    "stid": ["model.embedding_dim=4", "model.sensor_dim=4", "model.layers=1"],
}


@pytest.fixture
def sample_env(sample_dir, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    return sample_dir


def _train(out, model: str, *options: str) -> dict:
    settings = ["data.batch_size=16", "training.threads=1", *SMALL[model], *options]
    argv = ["train", "--dataset", "sample", "--model", model, *COMMON, str(out), "--set", *settings]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


def test_sensor_batches_train_on_subgraphs_and_evaluate_on_the_full_graph(sample_env, tmp_path):
    metrics = _train(tmp_path / "run", "stgcn", "training.sensor_batch={sensors: 60, hops: 2}")
    assert metrics["global_step"] == 2
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["training"]["sensor_batch"] == {"sensors": 60, "hops": 2}
    predictions = load_predictions(tmp_path / "run" / "predictions_test.npz")
    assert predictions.prediction.shape == (380, 12, 207, 1) and np.isfinite(predictions.prediction).all()


@pytest.mark.parametrize("model", ["stgcn", "graph_wavenet", "stid"])
def test_bf16_mixed_precision_with_checkpointing_trains_on_the_cpu(sample_env, tmp_path, model):
    metrics = _train(tmp_path / "run", model, "training.precision=bf16-mixed", "training.checkpointing=true")
    assert metrics["global_step"] == 2 and np.isfinite(metrics["best_val_mae"])
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["training"]["precision"] == "bf16-mixed" and config["training"]["checkpointing"] is True


def test_a_model_that_cannot_take_sensor_batches_is_refused_before_training(sample_env, tmp_path, capsys):
    argv = [
        "train",
        "--dataset",
        "sample",
        "--model",
        "gman",
        "--set",
        "training.sensor_batch={sensors: 60}",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) != 0
    assert "gman cannot train on sensor subgraphs: its spatial attention spans all sensors" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
