"""The run directory: names, the checks before a run starts, the ``.partial`` lifecycle of
:func:`building`, ``config.yaml`` read back, the model sized for the data and its metadata."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stgraph.data.series import SensorSeries
from stgraph.errors import ConfigError, RunError
from stgraph.graph import from_matrix
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig, TrainingConfig
from stgraph.pipeline.data import PreparedData, prepare_series
from stgraph.pipeline.model_file import graph_from_state
from stgraph.pipeline.run_dir import (
    CONFIG_FILE,
    LAST_CHECKPOINT,
    build_model,
    building,
    check_new_run,
    cpu_threads,
    default_run_dir,
    load_run_config,
    partial_dir,
    run_metadata,
)


def _config(**model_options) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(readings="toy.csv", adjacency="toy.npz", lookback=4, horizon=2, covariates=["day_of_week"]),
        model=ModelConfig(name="tgcn", options={"hidden": 4, **model_options}),
        training=TrainingConfig(epochs=3, lr=0.01),
    )


def _data() -> PreparedData:
    steps = 30
    values = (np.arange(steps)[:, None] + 10.0 * np.arange(3)).astype(np.float32)[:, :, None]
    series = SensorSeries(
        values=values,
        mask=np.ones(values.shape, dtype=bool),
        timestamps=pd.date_range("2024-01-01", periods=steps, freq="15min"),
        sensor_ids=["s1", "s2", "s3"],
        feature_names=["flow"],
    )
    adjacency = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    graph = from_matrix(adjacency, series.sensor_ids)
    return prepare_series(
        series, graph, lookback=4, horizon=2, fractions=(0.6, 0.2, 0.2), covariates=["day_of_week"], name="toy", units="vehicles"
    )


# --- names ---------------------------------------------------------------------------------------
def test_default_run_dir_names_data_model_and_time():
    by_file = default_run_dir(_config(), root="out")
    assert by_file.parent.as_posix() == "out"
    assert re.fullmatch(r"toy-tgcn-\d{8}-\d{6}", by_file.name)  # readings stem "toy" from toy.csv
    catalog = ExperimentConfig(data=DataConfig(dataset="metr-la"), model=ModelConfig(name="dcrnn"))
    assert re.fullmatch(r"runs/metr-la-dcrnn-\d{8}-\d{6}", default_run_dir(catalog).as_posix())


def test_partial_dir_is_a_sibling_with_a_suffix(tmp_path):
    assert partial_dir(tmp_path / "runs" / "a.b") == tmp_path / "runs" / "a.b.partial"
    assert partial_dir("run").as_posix() == "run.partial"


# --- check_new_run ------------------------------------------------------------------------------
def test_check_new_run_accepts_a_fresh_directory(tmp_path):
    check_new_run(tmp_path / "run")  # nothing there: no error
    (tmp_path / "run.partial").mkdir()
    (tmp_path / "run.partial" / LAST_CHECKPOINT).write_bytes(b"")
    check_new_run(tmp_path / "run", resume=True)  # an interrupted run with its checkpoint


def test_check_new_run_refuses_a_finished_run(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(RunError, match=r"run already exists; choose another --out"):
        check_new_run(tmp_path / "run")
    with pytest.raises(RunError, match="already exists"):
        check_new_run(tmp_path / "run", resume=True)


def test_check_new_run_refuses_resume_without_checkpoint(tmp_path):
    with pytest.raises(RunError, match=r"nothing to resume: .*run\.partial.last\.ckpt does not exist"):
        check_new_run(tmp_path / "run", resume=True)
    (tmp_path / "run.partial").mkdir()  # a partial directory without last.ckpt is not resumable either
    with pytest.raises(RunError, match="nothing to resume"):
        check_new_run(tmp_path / "run", resume=True)


def test_check_new_run_refuses_to_restart_an_interrupted_run(tmp_path):
    (tmp_path / "run.partial").mkdir()
    check_new_run(tmp_path / "run")  # killed before its first checkpoint: nothing to resume, may restart
    (tmp_path / "run.partial" / "last.ckpt").write_bytes(b"state")
    with pytest.raises(RunError, match=r"run\.partial holds an interrupted run: continue it with --resume --out .*run"):
        check_new_run(tmp_path / "run")


# --- building --------------------------------------------------------------------------------------
def test_building_writes_config_and_renames_on_success(tmp_path):
    run, config = tmp_path / "runs" / "run", _config()
    with building(run, config, echo=pytest.fail) as work:
        assert work == tmp_path / "runs" / "run.partial" and not run.exists()
        text = (work / CONFIG_FILE).read_text()
        (work / "model.pt").write_bytes(b"weights")
    assert not work.exists()
    assert sorted(p.name for p in run.iterdir()) == [CONFIG_FILE, "model.pt"]
    assert (run / "model.pt").read_bytes() == b"weights"
    assert text.startswith("# fully resolved stgraph configuration of this run\n")
    saved = yaml.safe_load(text)
    assert saved == config.to_dict()
    assert saved["model"] == {"name": "tgcn", "hidden": 4} and saved["data"]["lookback"] == 4
    # what was saved rebuilds the same configuration
    assert ExperimentConfig.from_dict(load_run_config(run)).to_dict() == config.to_dict()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_building_removes_what_it_created_when_nothing_can_resume(tmp_path, error):
    lines = []
    with pytest.raises(type(error)), building(tmp_path / "run", _config(), echo=lines.append) as work:
        (work / "model.pt").write_bytes(b"half")
        raise error
    assert list(tmp_path.iterdir()) == [] and lines == []


def test_building_keeps_a_resumable_run_and_says_how_to_continue(tmp_path):
    lines = []
    with pytest.raises(KeyboardInterrupt), building(tmp_path / "run", _config(), echo=lines.append) as work:
        (work / LAST_CHECKPOINT).write_bytes(b"state")
        raise KeyboardInterrupt
    assert sorted(p.name for p in work.iterdir()) == [CONFIG_FILE, LAST_CHECKPOINT]
    assert not (tmp_path / "run").exists()
    assert lines == [f"run interrupted; its state is in {work}: continue with `stgraph train --resume --out {tmp_path / 'run'}`"]


def test_building_never_removes_files_it_did_not_write(tmp_path):
    work = tmp_path / "run.partial"
    work.mkdir()
    (work / "notes.txt").write_text("the user's")
    refused = pytest.raises(RunError, match=r"run\.partial holds files a training run did not write \(notes\.txt\)")
    with refused, building(tmp_path / "run", _config(), echo=pytest.fail):
        pytest.fail("must not start")
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"]


def test_building_replaces_a_partial_run_killed_before_its_first_checkpoint(tmp_path):
    work = tmp_path / "run.partial"
    work.mkdir()
    (work / CONFIG_FILE).write_text("# an older attempt\n")
    with building(tmp_path / "run", _config(), echo=pytest.fail) as built:
        assert built == work and (work / CONFIG_FILE).read_text().startswith("# fully resolved")
    assert (tmp_path / "run" / CONFIG_FILE).is_file() and not work.exists()


# --- load_run_config ----------------------------------------------------------------------------------
def test_load_run_config_needs_a_config_file(tmp_path):
    with pytest.raises(RunError, match=r"no config\.yaml; not an stgraph run directory"):
        load_run_config(tmp_path)


def test_load_run_config_rejects_bad_yaml(tmp_path):
    (tmp_path / CONFIG_FILE).write_text("data: [unclosed\n")
    with pytest.raises(RunError, match=r"config\.yaml: not valid YAML"):
        load_run_config(tmp_path)


@pytest.mark.parametrize(("text", "kind"), [("- data\n- model\n", "list"), ("just words\n", "str"), ("", "NoneType")])
def test_load_run_config_rejects_anything_but_a_mapping(tmp_path, text, kind):
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(RunError, match=rf"config\.yaml: expected the sections data/model/training, got {kind}$"):
        load_run_config(tmp_path)


# --- the model and its metadata --------------------------------------------------------------------------
def test_build_model_sizes_the_model_for_the_data():
    data = _data()
    model, kwargs = build_model(_config(), data)
    # one input feature + the day-of-week covariate; one target; lookback and horizon from data.*
    assert kwargs == {
        "num_sensors": 3,
        "in_features": 2,
        "out_channels": 1,
        "lookback": 4,
        "horizon": 2,
        "hidden": 4,
        "gates": "paper",
        "self_loops": "unit",
        "own_weight": False,
    }
    out = model(torch.zeros(5, 4, 3, 2), data.graph)
    assert out.shape == (5, 2, 3, 1)


def test_build_model_names_the_model_and_options_of_a_bad_value():
    with pytest.raises(ConfigError, match=r"model 'tgcn' with \{'hidden': 0\}: TGCN: hidden must be >= 1, got 0"):
        build_model(_config(hidden=0), _data())
    with pytest.raises(ConfigError, match="model 'tgcn' has no option 'order'"):
        build_model(_config(order=2), _data())


def test_run_metadata_holds_what_rebuilds_the_forecast():
    data, config = _data(), _config()
    _, kwargs = build_model(config, data)
    meta = run_metadata(config, data, kwargs)
    assert meta["model"] == {"name": "tgcn", "kwargs": kwargs}
    assert meta["sensor_ids"] == ["s1", "s2", "s3"]
    assert meta["data"] == {
        "name": "toy",
        "interval": "15min",
        "features": ["flow"],
        "targets": ["flow"],
        "covariates": ["day_of_week"],
        "missing_inputs": "zero",
        "lookback": 4,
        "horizon": 2,
        "null_value": None,
        "units": "vehicles",
    }
    assert meta["config"] == config.to_dict()
    assert graph_from_state(meta["graph"], meta["sensor_ids"]).fingerprint() == data.graph.fingerprint()
    train_values = data.series.values[: data.split.train_steps.stop, :, 0]
    assert meta["scaler"]["mean"].numpy() == pytest.approx([train_values.mean()])


# --- cpu_threads ------------------------------------------------------------------------------------------
def test_cpu_threads_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with cpu_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(target):
        raise RuntimeError
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
