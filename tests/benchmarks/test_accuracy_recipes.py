"""The DCRNN-protocol benchmark's recipes: each model's own training, adapted to a short run,
the training loop's recipe options, per-seed verdicts and combining separate runs."""

import json
from dataclasses import asdict

import pytest
import torch
from torch import nn

from benchmarks.accuracy.__main__ import epoch_counts, main
from benchmarks.accuracy.combine import combine
from benchmarks.accuracy.combine import main as combine_main
from benchmarks.accuracy.protocols import dcrnn_data
from benchmarks.accuracy.recipes import common_plan, paper_plan
from benchmarks.accuracy.report import beats_baselines, dcrnn_document
from benchmarks.accuracy.training import TrainingSetup, fit
from benchmarks.published import D2STGNN_PAPER, GMAN_PAPER, dcrnn_protocol_rows
from stgraph.pipeline.config import ExperimentConfig


def test_paper_plan_reads_the_models_yaml_and_drops_an_unlearnable_day_of_week():
    plan = paper_plan("stid", dataset="los-loop", train_days=4.9, train_windows=1388, epochs=20)
    setup = plan.setup
    # stgraph/configs/stid.yaml: Adam 0.002, weight decay 1e-4, MultiStepLR [1, 50, 80] x0.5, batch 32
    assert (setup.optimizer, setup.lr, setup.weight_decay, setup.batch_size) == ("adam", 2e-3, 1e-4, 32)
    assert setup.milestones == (1, 50, 80) and setup.gamma == 0.5 and setup.epochs == 20
    assert plan.covariates == ["time_of_day"]
    assert plan.recipe_epochs is not None and plan.recipe_epochs > 20
    notes = " ".join(plan.notes)
    assert "day_of_week left out" in notes and "4.9 days" in notes
    assert "milestones [50, 80] lie beyond the last epoch" in notes
    card = plan.card()
    assert card["inputs"] == ["speed", "time_of_day"] and card["schedule"] == "MultiStepLR [1, 50, 80] x0.5"


def test_paper_plan_keeps_day_of_week_with_two_weeks_of_training():
    plan = paper_plan("stid", dataset="los-loop", train_days=14.0, train_windows=4000)
    assert plan.covariates == ["time_of_day", "day_of_week"] and plan.setup.epochs == plan.recipe_epochs
    assert not any("day_of_week" in note for note in plan.notes)


def _recipe_with_curriculum(every: int, unit: str, epochs: int, batch: int):
    config = ExperimentConfig.from_dict(
        {
            "model": {"name": "stgcn"},
            "data": {"covariates": [], "batch_size": batch},
            "training": {"epochs": epochs, "curriculum_every": every, "curriculum_unit": unit},
        }
    )
    return lambda **_: config


def test_a_step_count_curriculum_keeps_its_place_in_the_run(monkeypatch):
    # MTGNN: one more step every 2,500 iterations of 375 (METR-LA, batch 64) for 100 epochs: the
    # whole horizon after 11 * 2500 / 375 = 73.3 epochs = 73.3 % of the run. Here 10 epochs of
    # ceil(1388 / 64) = 22 steps = 220 steps: 11 steps of round(0.7333 * 220 / 11) = 15.
    monkeypatch.setattr("benchmarks.accuracy.recipes.resolve_config", _recipe_with_curriculum(2500, "steps", 100, 64))
    plan = paper_plan("stgcn", dataset="los-loop", train_days=4.9, train_windows=1388, epochs=10)
    assert (plan.setup.curriculum_every, plan.setup.curriculum_unit) == (15, "steps")
    assert any("after 73% of its run" in note for note in plan.notes)


def test_an_epoch_count_curriculum_keeps_its_place_in_the_run(monkeypatch):
    # D2STGNN-like: every 6 epochs of 100: whole horizon after 66 %; 20 epochs of 44 steps:
    # round(0.66 * 880 / 11) = 53 steps a horizon step.
    monkeypatch.setattr("benchmarks.accuracy.recipes.resolve_config", _recipe_with_curriculum(6, "epochs", 100, 32))
    plan = paper_plan("stgcn", dataset="los-loop", train_days=4.9, train_windows=1388, epochs=20)
    assert (plan.setup.curriculum_every, plan.setup.curriculum_unit) == (53, "steps")


def test_common_plan_uses_the_shared_setup_on_speed_and_time_of_day():
    plan = common_plan("stgcn", TrainingSetup(epochs=7, lr=5e-4), epochs=3)
    assert plan.covariates == ["time_of_day"] and plan.setup.epochs == 3 and plan.setup.lr == 5e-4
    assert plan.card()["recipe"] == "common" and plan.notes == []


class _HorizonBias(nn.Module):
    """Forecasts one learned value per horizon step, the same for every sensor."""

    def __init__(self, horizon: int, start: float = 0.0) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.full((horizon,), start))

    def forward(self, x, graph, *, target=None, teacher_forcing=0.0):
        return self.bias.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2], 1)


def test_curriculum_trains_only_the_steps_in_the_loss(tiny_root):
    data = dcrnn_data("los-loop", tiny_root)
    train = data.windows("train")
    model = _HorizonBias(12)
    # ceil(257 / 64) = 5 steps: k = 1 + (step + 1) // 3 -> 1, 1, 2, 2, 2: only the first two biases move
    fit(model, data.graph, train, TrainingSetup(epochs=1, loss="mae", lr=0.1, curriculum_every=3, curriculum_unit="steps"))
    moved = (model.bias.detach() != 0).tolist()
    assert moved == [True, True] + [False] * 10


def test_loss_in_original_units_is_the_masked_mae_in_mph(tiny_root):
    data = dcrnn_data("los-loop", tiny_root)
    train = data.windows("train")
    model = _HorizonBias(12, start=0.5)  # z = 0.5 for every forecast; lr 0 keeps it there
    log = fit(model, data.graph, train, TrainingSetup(epochs=1, loss="mae", lr=0.0, loss_units="original"))
    _, y, _ = train.batch(torch.arange(len(train)))
    forecast = train.target_scaler.inverse_transform(torch.full_like(y, 0.5))
    assert log.train_loss[0] == pytest.approx(float((forecast - y).abs().mean()), rel=1e-5)
    scaled = fit(_HorizonBias(12, 0.5), data.graph, train, TrainingSetup(epochs=1, loss="mse", lr=0.0))
    z = train.target_scaler.transform(y)
    assert scaled.train_loss[0] == pytest.approx(float(((0.5 - z) ** 2).mean()), rel=1e-5)


def test_patience_stops_after_that_many_epochs_without_improvement(tiny_root):
    data = dcrnn_data("los-loop", tiny_root)
    scores = iter([3.0, 2.0, 2.5, 2.1, 2.2, 1.0])
    log = fit(
        _HorizonBias(12),
        data.graph,
        data.windows("train"),
        TrainingSetup(epochs=6, loss="mae", patience=3),
        on_epoch=lambda epoch: next(scores),
    )
    assert len(log.train_loss) == 5  # best 2.0 after epoch 2; epochs 3, 4, 5 no better


def test_rmsprop_and_step_schedule(tiny_root):
    data = dcrnn_data("los-loop", tiny_root)
    setup = TrainingSetup(epochs=4, loss="mae", optimizer="rmsprop", lr=0.01, step_size=2, gamma=0.5)
    log = fit(_HorizonBias(12), data.graph, data.windows("train"), setup)
    assert log.learning_rate == pytest.approx([0.01, 0.01, 0.005, 0.005])
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        fit(_HorizonBias(12), data.graph, data.windows("train"), TrainingSetup(optimizer="sgd"))


def _outcome(model_values: dict[str, list[float]], seeds=(0, 1)) -> dict:
    def metrics(values):
        return {"mae": list(values), "rmse": [v + 1 for v in values], "mape": [0.1] * len(values)}

    labels = ["15 min", "average"]
    results = {
        "historical average": {label: metrics([5.0]) for label in labels},
        "last value": {label: metrics([4.0]) for label in labels},
    }
    results.update({name: {label: metrics(values) for label in labels} for name, values in model_values.items()})
    card = {"dataset": "los-loop", "protocol": "DCRNN", "seeds": list(seeds), "training": {}, "machine": {"cpu": "x"}}
    return {"results": results, "card": card, "published": [], "horizons": labels}


def test_beating_the_baselines_must_hold_in_every_seed():
    # a: 3.0 and 3.5 beat last value's 4.0 in both seeds; b's mean 3.75 does, its second seed 4.5 does not
    verdict = beats_baselines(_outcome({"a": [3.0, 3.5], "b": [3.0, 4.5]}))
    assert verdict == {"a": True, "b": False}
    page = dcrnn_document(_outcome({"a": [3.0, 3.5], "b": [3.0, 4.5]}), "Los-loop")
    assert "| b | 3.000 / 4.000 | 4.500 / 5.500 |" in page
    assert "in every seed: a: yes, b: no" in page and "Lowest average MAE (mean over seeds): a 3.250 < b 3.750" in page


def test_combine_joins_runs_and_refuses_mismatches():
    merged = combine([_outcome({"a": [3.0, 3.5]}), _outcome({"b": [3.2, 3.3]})], ["one.json", "two.json"])
    assert list(merged["results"]) == ["historical average", "last value", "a", "b"]
    assert merged["beats_baselines"] == {"a": True, "b": True} and len(merged["card"]["runs"]) == 2
    with pytest.raises(ValueError, match=r"two\.json: model 'a' is already in an earlier file"):
        combine([_outcome({"a": [3.0, 3.5]}), _outcome({"a": [3.0, 3.5]})], ["one.json", "two.json"])
    other = _outcome({"b": [3.0, 3.5]}, seeds=(0,))
    with pytest.raises(ValueError, match=r"two\.json: card entry 'seeds' differs"):
        combine([_outcome({"a": [3.0, 3.5]}), other], ["one.json", "two.json"])
    shifted = _outcome({"b": [3.0, 3.5]})
    shifted["results"]["last value"]["average"]["mae"] = [4.1]
    with pytest.raises(ValueError, match=r"two\.json: last value mae at average differs"):
        combine([_outcome({"a": [3.0, 3.5]}), shifted], ["one.json", "two.json"])


def test_epoch_counts_parse_and_reject():
    assert epoch_counts(["stgcn=3", "gwnet=2"]) == {"stgcn": 3, "graph_wavenet": 2}
    with pytest.raises(SystemExit, match="MODEL=EPOCHS"):
        epoch_counts(["stgcn=0"])


def test_cli_trains_the_paper_recipe_and_names_it(tiny_root, tmp_path):
    out = tmp_path / "results"
    common = ["--protocol", "dcrnn", "--data-root", str(tiny_root), "--out", str(out), "--threads", "1"]
    main([*common, "--models", "stgcn", "--model-epochs", "stgcn=1", "--set", "stgcn.channels=[[4,2,4],[4,2,4]]", "--tag", "t"])
    written = json.loads((out / "accuracy-los-loop-dcrnn-paper-t.json").read_text())
    training = written["card"]["training"]["stgcn"]
    # stgraph/configs/stgcn.yaml: RMSprop, batch 50, StepLR every 5 epochs x0.7, speed only
    assert training["optimizer"] == "rmsprop" and training["batch_size"] == 50 and training["inputs"] == ["speed"]
    assert training["epochs"] == 1 and written["card"]["epochs_run"] == {"stgcn": [1]}
    assert written["card"]["recipe"].startswith("paper")
    main([*common, "--recipe", "common", "--models", "stgcn", "--epochs", "1", "--set", "stgcn.channels=[[4,2,4],[4,2,4]]"])
    written = json.loads((out / "accuracy-los-loop-dcrnn-common.json").read_text())
    assert written["card"]["training"]["stgcn"]["inputs"] == ["speed", "time_of_day"]


def test_the_page_prints_each_published_row_with_its_source():
    outcome = _outcome({"d2stgnn": [3.0, 3.1]})
    outcome["published"] = [asdict(row) for row in dcrnn_protocol_rows("metr-la")]
    outcome["horizons"] = ["15 min", "average"]
    page = dcrnn_document(outcome, "METR-LA")
    assert D2STGNN_PAPER in page and GMAN_PAPER in page
    assert "| D2STGNN (paper) | 60 min | 3.35 |" in page and "| GMAN (paper) | 60 min | 3.40 |" in page


def test_combine_cli_writes_one_page_and_never_overwrites(tmp_path, capsys):
    runs = []
    for name, values in (("a", [3.0, 3.5]), ("b", [3.2, 3.3])):
        path = tmp_path / f"run-{name}.json"
        path.write_text(json.dumps(_outcome({name: values})))
        runs.append(str(path))
    args = ["--name", "zoo", "--out", str(tmp_path), "--dataset-name", "Los-loop", *runs]
    combine_main(args)
    written = json.loads((tmp_path / "zoo.json").read_text())
    assert list(written["results"])[-2:] == ["a", "b"]
    assert (tmp_path / "zoo.md").read_text().startswith("# Accuracy: DCRNN protocol on Los-loop")
    with pytest.raises(SystemExit, match=r"zoo\.md: exists; choose another --name or pass --force"):
        combine_main(args)
    combine_main([*args, "--force"])  # replaced on request
    before = (tmp_path / "run-a.json").read_text()
    with pytest.raises(SystemExit, match=r"run-a\.json: is one of the runs to combine"):
        combine_main(["--name", "run-a", "--out", str(tmp_path), "--force", *runs])
    assert (tmp_path / "run-a.json").read_text() == before
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"broken\.json: cannot read a result"):
        combine_main(["--name", "other", "--out", str(tmp_path), str(tmp_path / "broken.json")])
    (tmp_path / "copy-a.json").write_text(before)
    with pytest.raises(SystemExit, match=r"copy-a\.json: model 'a' is already in an earlier file"):
        combine_main(["--name", "twice", "--out", str(tmp_path), runs[0], str(tmp_path / "copy-a.json")])
