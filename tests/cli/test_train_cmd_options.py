"""``stgraph train``'s options to a resolved configuration (no training): each flag lands in its
key, --set wins over flags, and what --resume may change. tests/cli/test_train_cmd.py trains."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from stgraph.cli.train_cmd import add_parser, config_from_args
from stgraph.errors import ConfigError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_flags_land_in_their_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = config_from_args(
        _args(
            "--readings", "r.csv", "--sensors", "s.csv", "--edges", "e.csv", "--model", "stgcn",
            "--null-value", "0", "--interval", "15min", "--batch-size", "7", "--epochs", "3",
            "--max-steps", "9", "--seed", "5", "--accelerator", "cpu", "--strategy", "ddp",
            "--precision", "bf16-mixed", "--no-progress", "--coverage", "0.8",
        )
    )  # fmt: skip
    data, training = config.data, config.training
    # paths are made absolute: a DDP worker or a resumed run may start elsewhere
    assert (data.readings, data.sensors, data.edges) == tuple(str(tmp_path / name) for name in ("r.csv", "s.csv", "e.csv"))
    assert (data.null_value, data.interval, data.batch_size) == (0.0, "15min", 7)
    assert (training.epochs, training.max_steps, training.seed, training.coverage) == (3, 9, 5, 0.8)
    assert (training.accelerator, training.strategy, training.precision, training.progress_bar) == (
        "cpu",
        "ddp",
        "bf16-mixed",
        False,
    )
    assert config.model.name == "stgcn" and training.optimizer == "rmsprop"  # stgcn.yaml still applies


@pytest.mark.parametrize(("text", "devices"), [("2", 2), ("-1", -1), ("0,1", [0, 1]), ("3,", [3]), ("auto", "auto")])
def test_devices_as_a_count_a_list_or_a_word(text, devices):
    assert config_from_args(_args("--dataset", "sample", "--model", "tgcn", "--devices", text)).training.devices == devices


def test_set_wins_over_the_flags():
    config = config_from_args(_args("--dataset", "sample", "--model", "tgcn", "--epochs", "3", "--set", "training.epochs=4"))
    assert config.training.epochs == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "sample", "--readings", "r.csv"], "give --dataset or --readings, not both"),
        (["--model", "tgcn"], r"say what to train on: --dataset NAME \(see `stgraph datasets`\) or --readings FILE"),
        (["--resume"], r"--resume needs --out DIR: the run to continue \(its state is in DIR.partial\)"),
    ],
)
def test_contradictory_or_missing_options(argv, message):
    with pytest.raises(ConfigError, match=message):
        config_from_args(_args(*argv))


def test_no_model_named_trains_the_default_recipe():
    config = config_from_args(_args("--dataset", "sample", "--epochs", "7"))
    assert config.model.name == "stid"
    assert (config.training.loss, config.training.time_budget, config.training.epochs) == ("mae_rmse", 300, 7)
    assert config_from_args(_args("--dataset", "sample", "--model", "stid")).training.loss == "mae"


def _interrupted_run(tmp_path: Path) -> Path:
    """A run directory waiting for --resume: the saved config of a tgcn run on the sample."""
    out = tmp_path / "run"
    saved = config_from_args(_args("--dataset", "sample", "--model", "tgcn", "--epochs", "3"))
    (tmp_path / "run.partial").mkdir()
    (tmp_path / "run.partial" / "config.yaml").write_text(saved.to_yaml())
    return out


def test_resume_starts_from_the_saved_config_and_may_change_training(tmp_path):
    out = _interrupted_run(tmp_path)
    config = config_from_args(_args("--resume", "--out", str(out), "--epochs", "6", "--set", "training.lr=0.5"))
    saved = yaml.safe_load((tmp_path / "run.partial" / "config.yaml").read_text())
    assert config.to_dict()["data"] == saved["data"] and config.to_dict()["model"] == saved["model"]
    assert (config.training.epochs, config.training.lr) == (6, 0.5)


def test_resume_refuses_to_change_data_or_model(tmp_path):
    out = _interrupted_run(tmp_path)
    with pytest.raises(ConfigError, match=r"these differ from its config.yaml: data.batch_size, model.hidden \(only training"):
        config_from_args(_args("--resume", "--out", str(out), "--batch-size", "3", "--set", "model.hidden=5"))


def test_threshold_and_neighbors_land_in_the_data_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = config_from_args(
        _args("--readings", "r.csv", "--distances", "d.csv", "--model", "stgcn", "--threshold", "0.01", "--neighbors", "4")
    )
    assert (config.data.threshold, config.data.neighbors) == (0.01, 4)
