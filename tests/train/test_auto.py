"""``train_auto`` (``--model auto``): the chosen candidate, the ranking files, failures, the budget's
shares, refusals before anything is written; and ``candidate_configs``' layering.

Training on the 3-sensor toy data with a 4-unit T-GCN and a 4-unit FC-LSTM, 3 steps each; the
configurations on the committed sample (resolved only, nothing trained).
"""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from stgraph.errors import ConfigError, RunError
from stgraph.pipeline.config import ModelConfig
from stgraph.pipeline.model_file import load_model_file
from stgraph.train import auto
from stgraph.train.auto import AUTO_CANDIDATES, candidate_configs, train_auto

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
]

NOT_FINITE = "validation masked MAE was never finite (last NaN); no model to keep. Lower training.lr?"


@pytest.fixture
def candidates(make_config):
    """tgcn and fc_lstm on the toy data, 3 steps each; ``candidates(fc_lstm={"lr": ...})``."""

    def make(**training):
        tgcn = make_config(max_steps=3, **training.get("tgcn", {}))
        fc_lstm = make_config(max_steps=3, **training.get("fc_lstm", {}))
        fc_lstm.model = ModelConfig(name="fc_lstm", options={"hidden": 4, "num_layers": 1})
        return {"tgcn": tgcn, "fc_lstm": fc_lstm}

    return make


def _quiet(line: str) -> None:
    pass


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str) -> float | None:
    return float(text) if text else None


def test_auto_keeps_the_lowest_validation_mae_and_ranks_every_candidate(candidates, data, tmp_path):
    out = tmp_path / "auto"
    result = train_auto(candidates(), out, budget_seconds=60, data=data, echo=_quiet)

    own = {name: json.loads((out / "candidates" / name / "metrics.json").read_text()) for name in ("tgcn", "fc_lstm")}
    best = min(own, key=lambda name: own[name]["best_val_mae"])
    assert result.chosen == best and result.run_dir == out
    assert not (tmp_path / "auto.partial").exists()
    # the top level is the chosen candidate's run, for evaluate and predict
    assert (out / "model.pt").read_bytes() == (out / "candidates" / best / "model.pt").read_bytes()
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["name"] == best
    assert not (out / "last.ckpt").exists()
    top = json.loads((out / "metrics.json").read_text())
    assert top["test"] == own[best]["test"] and top["best_val_mae"] == own[best]["best_val_mae"]
    assert top["auto"]["chosen"] == best and top["auto"]["budget_seconds"] == 60
    ranked = [row["model"] for row in top["auto"]["candidates"]]
    assert ranked == [*sorted(own, key=lambda n: own[n]["best_val_mae"]), "historical_average", "last_value"]

    rows = _csv(out / "ranking.csv")
    assert [row["model"] for row in rows] == ranked
    for row in rows[2:]:  # the baselines, from the chosen run's metrics.json
        assert row["status"] == "baseline" and row["val_mae"] == ""
        assert float(row["test_mae"]) == own[best]["baselines"][row["model"]]["average"]["mae"]
    for row in rows[:2]:
        metrics = own[row["model"]]
        model = load_model_file(out / "candidates" / row["model"] / "model.pt").model
        assert row["status"] == "trained" and row["reason"] == ""
        assert int(row["parameters"]) == sum(p.numel() for p in model.parameters())
        assert int(row["epochs"]) == len(metrics["history"]) == 1 and int(row["best_epoch"]) == metrics["best_epoch"]
        assert float(row["train_seconds"]) == metrics["train_seconds"]
        assert float(row["val_mae"]) == metrics["best_val_mae"]
        assert float(row["test_mae"]) == metrics["test"]["average"]["mae"]
        assert float(row["test_rmse"]) == metrics["test"]["average"]["rmse"]
        assert row["test_mae_step_3"] == ""  # horizon 2: no report step within it
    assert result.rows == top["auto"]["candidates"]
    assert result.test is not None and result.test.average()["mae"] == pytest.approx(own[best]["test"]["average"]["mae"])
    markdown = (out / "ranking.md").read_text().splitlines()
    assert markdown[0] == "| rank | model | parameters | epochs | train s | val MAE (km/h) | test MAE | test RMSE | note |"
    assert markdown[2].startswith(f"| 1 | {best} | ")


def test_a_failing_candidate_is_ranked_failed_and_the_other_chosen(candidates, data, tmp_path):
    lines: list[str] = []
    out = tmp_path / "auto"
    result = train_auto(candidates(fc_lstm={"lr": math.inf}), out, budget_seconds=60, data=data, echo=lines.append)

    assert result.chosen == "tgcn"
    assert [(row["model"], row["status"], row["reason"]) for row in result.rows] == [
        ("tgcn", "trained", None),
        ("fc_lstm", "failed", NOT_FINITE),
        ("historical_average", "baseline", None),
        ("last_value", "baseline", None),
    ]
    assert sorted(p.name for p in (out / "candidates").iterdir()) == ["tgcn"]  # no fc_lstm.partial left
    rows = _csv(out / "ranking.csv")
    assert rows[1]["status"] == "failed" and rows[1]["reason"] == NOT_FINITE and rows[1]["val_mae"] == ""
    assert f"|  | fc_lstm | – | – | – | – | – | – | failed: {NOT_FINITE} |" in (out / "ranking.md").read_text()
    assert f"candidate fc_lstm failed, its partial directory removed (an auto run is not resumed): {NOT_FINITE}" in lines


def test_every_candidate_failing_is_a_run_error_that_leaves_nothing(candidates, data, tmp_path):
    out = tmp_path / "auto"
    configs = candidates(tgcn={"lr": math.inf}, fc_lstm={"lr": math.inf})
    with pytest.raises(RunError) as raised:
        train_auto(configs, out, budget_seconds=60, data=data, echo=_quiet)
    assert str(raised.value) == f"--model auto: every candidate failed (tgcn: {NOT_FINITE}; fc_lstm: {NOT_FINITE})"
    assert list(tmp_path.iterdir()) == []


def test_each_candidate_gets_the_seconds_left_over_the_candidates_left(candidates, data, tmp_path):
    configs = candidates()
    result = train_auto(configs, tmp_path / "auto", budget_seconds=20, data=data, echo=_quiet)

    def budget(name):
        saved = yaml.safe_load((result.run_dir / "candidates" / name / "config.yaml").read_text())
        return saved["training"]["time_budget"]

    assert budget("tgcn") == 10.0  # 20 s over 2 candidates
    assert 10.0 < budget("fc_lstm") < 20.0  # what is left after tgcn's (short) run
    assert configs["tgcn"].training.time_budget is None  # the caller's configurations are not changed


def test_baselines_of_metrics_json_become_rows(candidates, data, tmp_path, monkeypatch):
    """A ``"baselines"`` block (same keys as ``"test"``) in the chosen run's metrics.json."""
    baselines = {
        "historical_average": {"average": {"mae": 7.5, "rmse": 9.25, "mape": 0.2}, "step_3": {"mae": 7.0, "rmse": 9.0}},
        "last_value": {"average": {"mae": 6.5, "rmse": 8.5, "mape": 0.15}},
    }
    real_train = auto.train

    def train_with_baselines(config, out, **kwargs):
        result = real_train(config, out, **kwargs)
        path = result.run_dir / "metrics.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"baselines": baselines}))
        return result

    monkeypatch.setattr(auto, "train", train_with_baselines)
    out = tmp_path / "auto"
    result = train_auto(candidates(), out, budget_seconds=60, data=data, echo=_quiet)

    rows = _csv(out / "ranking.csv")
    assert [(row["model"], row["status"]) for row in rows[2:]] == [
        ("historical_average", "baseline"),
        ("last_value", "baseline"),
    ]
    historical, last = rows[2], rows[3]
    assert (_number(historical["test_mae"]), _number(historical["test_rmse"]), _number(historical["test_mape"])) == (
        7.5,
        9.25,
        0.2,
    )
    assert (_number(historical["test_mae_step_3"]), _number(historical["val_mae"]), historical["epochs"]) == (7.0, None, "")
    assert (_number(last["test_mae"]), last["test_mae_step_3"]) == (6.5, "")
    assert result.rows[2:] == json.loads((out / "metrics.json").read_text())["auto"]["candidates"][2:]
    assert "|  | last_value | – | – | – | – | 6.500 | 8.500 | – | baseline |" in (out / "ranking.md").read_text()


def test_an_existing_out_is_refused_before_training(candidates, data, tmp_path):
    (tmp_path / "auto").mkdir()
    with pytest.raises(RunError, match="auto already exists; choose another --out"):
        train_auto(candidates(), tmp_path / "auto", data=data, echo=_quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto"]


def test_candidates_scored_on_different_windows_are_refused(candidates, data, tmp_path):
    configs = candidates()
    configs["fc_lstm"].data.horizon = 3
    with pytest.raises(ConfigError) as raised:
        train_auto(configs, tmp_path / "auto", data=data, echo=_quiet)
    assert str(raised.value) == (
        "--model auto compares the candidates on the same windows, but data.horizon differs (tgcn 2, fc_lstm 3); "
        "set it for all with --set data.horizon=VALUE"
    )
    assert list(tmp_path.iterdir()) == []


# --- candidate_configs ------------------------------------------------------------------------------
def test_every_default_candidate_resolves_on_the_same_windows():
    configs = candidate_configs(dataset="sample", overrides={"training": {"epochs": 3}})
    assert list(configs) == list(AUTO_CANDIDATES)
    assert {name: config.model.name for name, config in configs.items()} == {name: name for name in AUTO_CANDIDATES}
    assert {(c.data.lookback, c.data.horizon, tuple(c.data.split)) for c in configs.values()} == {(12, 12, (0.7, 0.1, 0.2))}
    assert {c.training.epochs for c in configs.values()} == {3}
    # each keeps its packaged YAML: STGCN's optimiser, Graph WaveNet's time-of-day input
    assert configs["stgcn"].training.optimizer == "rmsprop" and configs["graph_wavenet"].data.covariates == ["time_of_day"]


def test_a_candidate_section_sets_that_candidate_only():
    configs = candidate_configs(
        ("tgcn", "fc_lstm"),
        dataset="sample",
        overrides={"model": {"hidden": 8}, "tgcn": {"hidden": 4}, "fc_lstm": {"num_layers": 1}},
    )
    # its own section wins over model.hidden; tgcn.yaml names its variant
    assert configs["tgcn"].model.options == {"hidden": 4, "gates": "paper", "self_loops": "unit", "own_weight": False}
    assert configs["fc_lstm"].model.options == {"hidden": 8, "num_layers": 1}
    # an alias names the candidate too
    aliased = candidate_configs(("gwnet",), dataset="sample", overrides={"graph_wavenet": {"blocks": 1}})
    assert list(aliased) == ["graph_wavenet"] and aliased["graph_wavenet"].model.options["blocks"] == 1


def test_a_shared_model_option_one_candidate_lacks_names_the_candidate_section():
    with pytest.raises(ConfigError) as raised:
        candidate_configs(("stgcn", "tgcn"), dataset="sample", overrides={"model": {"dropout": 0.1}})
    assert str(raised.value) == (
        "model 'tgcn' has no option 'dropout'; options: hidden, gates, self_loops, own_weight; "
        "with --model auto, set it for one candidate: --set tgcn.dropout=VALUE"
    )


def test_a_section_that_is_no_candidate_is_refused():
    with pytest.raises(ConfigError) as raised:
        candidate_configs(("stgcn", "tgcn"), dataset="sample", overrides={"dcrnn": {"hidden": 8}})
    assert str(raised.value) == (
        "--set dcrnn.KEY: 'dcrnn' is neither a section (data, model, training) nor a candidate of --model auto (stgcn, tgcn)"
    )


def test_model_name_cannot_be_set_with_auto(tmp_path):
    with pytest.raises(ConfigError, match=r"^--model auto trains stgcn, tgcn; model.name=dcrnn cannot be set with it$"):
        candidate_configs(("stgcn", "tgcn"), dataset="sample", overrides={"model": {"name": "dcrnn"}})
    file = tmp_path / "mine.yaml"
    file.write_text("model:\n  name: dcrnn\n")
    with pytest.raises(ConfigError, match=r"^--model auto trains stgcn, tgcn; a --config file sets model.name dcrnn: remove it$"):
        candidate_configs(("stgcn", "tgcn"), dataset="sample", files=[file])


def test_auto_trains_on_one_device(candidates, data, tmp_path):
    configs = candidates()
    configs["tgcn"].training.devices = "auto"
    configs["fc_lstm"].training.devices = 2
    with pytest.raises(ConfigError) as raised:
        train_auto(configs, tmp_path / "auto", data=data, echo=_quiet)
    assert str(raised.value) == (
        "--model auto trains on one device; got training.devices 2, num_nodes 1, strategy auto: "
        "train one model with --model NAME to use several"
    )
    assert list(tmp_path.iterdir()) == []
    configs["fc_lstm"].training.devices = "auto"
    result = train_auto(configs, tmp_path / "auto", budget_seconds=60, data=data, echo=_quiet)
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["training"]["devices"] == 1
