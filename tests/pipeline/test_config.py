"""Configuration layers: packaged YAML < per-dataset block < user YAML < --set."""

from __future__ import annotations

import pytest
import yaml

from stgraph.pipeline.config import ConfigError, ExperimentConfig, packaged_models, parse_overrides, resolve_config


def test_packaged_yaml_holds_the_papers_schedules():
    dcrnn = resolve_config(model="dcrnn", dataset="metr-la")
    assert (dcrnn.training.lr, dcrnn.training.eps, dcrnn.training.milestones, dcrnn.training.gamma) == (
        0.01,
        1e-3,
        [20, 30, 40, 50],
        0.1,
    )
    assert dcrnn.training.scheduler == "multistep" and dcrnn.training.gradient_clip == 5.0
    assert dcrnn.training.teacher_forcing_decay == 2000
    gwnet = resolve_config(model="gwnet", dataset="metr-la")
    assert gwnet.model.name == "graph_wavenet"  # alias resolved to the registry name
    assert (gwnet.training.lr, gwnet.training.weight_decay, gwnet.training.gradient_clip) == (1e-3, 1e-4, 5.0)
    stgcn = resolve_config(model="stgcn", dataset="metr-la")
    assert (stgcn.training.optimizer, stgcn.training.scheduler, stgcn.training.step_size, stgcn.training.gamma) == (
        "rmsprop",
        "step",
        5,
        0.7,
    )


def test_every_registered_model_has_a_yaml():
    from stgraph.models import available

    assert sorted(packaged_models()) == available()


def test_per_dataset_block_applies_only_to_its_dataset():
    assert resolve_config(model="stgcn", dataset="PeMSD7(M)").data.horizon == 9
    assert resolve_config(model="stgcn", dataset="metr-la").data.horizon == 12
    assert resolve_config(model="tgcn", dataset="sz-taxi").model.options["hidden"] == 100


def test_overrides_parse_as_yaml_and_win(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"training": {"lr": 0.5, "epochs": 7}, "model": {"hidden": 16}}))
    config = resolve_config(
        model="dcrnn",
        dataset="sample",
        files=[user],
        overrides=["model.hidden=32", "training.lr=0.01", "training.milestones=[3,4]", "data.null_value=null"],
    )
    assert config.model.options["hidden"] == 32  # --set beats the user file
    assert config.training.lr == 0.01 and config.training.epochs == 7  # user file beats the packaged YAML
    assert config.training.milestones == [3, 4]
    assert config.data.null_value is None
    assert config.model.options["num_layers"] == 2  # untouched packaged value


def test_resolved_config_round_trips_through_yaml():
    config = resolve_config(model="stgcn", dataset="sample", overrides=["training.epochs=3"])
    again = ExperimentConfig.from_dict(yaml.safe_load(config.to_yaml()))
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.lrr=0.1"], r"unknown key training\.lrr \(did you mean lr"),
        (["optimiser.lr=0.1"], "unknown section 'optimiser'"),
        (["training.lr"], "section.key=value"),
        (["training.epochs=many"], r"training\.epochs must be a number"),
        (["training.optimizer=sgd"], "adam or rmsprop"),
        (["data.covariates=[weather]"], "unknown .*weather"),
        (["data.neighbors=0"], "data.neighbors must be a positive integer"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(model="stgcn", dataset="sample", overrides=overrides)


def test_unknown_model_and_missing_data_are_errors():
    with pytest.raises(ConfigError, match="unknown model 'wavenet'"):
        resolve_config(model="wavenet", dataset="sample")
    with pytest.raises(ConfigError, match=r"exactly one of data.dataset"):
        resolve_config(model="stgcn")


def test_parse_overrides_nests_sections():
    assert parse_overrides(["model.hidden=32", "training.lr=1e-3", "data.split=[0.6, 0.2, 0.2]"]) == {
        "model": {"hidden": 32},
        "training": {"lr": 1e-3},
        "data": {"split": [0.6, 0.2, 0.2]},
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.threads=0", r"training\.threads must be a positive integer or null, got 0"),
        ("training.max_steps=-7", r"training\.max_steps must be a positive integer or -1 \(no limit\), got -7"),
        ("training.time_budget=0", r"training\.time_budget must be a positive number of seconds or null, got 0"),
    ],
)
def test_training_counts_are_checked_for_library_callers_too(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(model="stgcn", dataset="sample", overrides=[override])
