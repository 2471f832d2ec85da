"""The training run's callbacks: best-model export, epoch summaries, saving on interruption, time budget.

Each is checked twice: hook by hook against a stand-in trainer (exact numbers, edge cases such
as NaN or the sanity check), and inside a real ``lightning.Trainer`` on the 3-sensor toy data.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch import nn

from stgraph import models
from stgraph.pipeline.config import TrainingConfig
from stgraph.pipeline.data import window_loader
from stgraph.train.callbacks import BestModelExport, EpochSummary, SaveOnInterrupt, TimeBudget
from stgraph.train.module import ForecastModule

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]

BATCH = 8
METADATA = {"model": {"name": "tgcn", "kwargs": {}}, "sensor_ids": ["a", "b", "c"]}


# --- a real trainer on the toy data ---------------------------------------------------------------
def _module(data, **training) -> ForecastModule:
    torch.manual_seed(0)
    split = data.split
    model = models.create("tgcn", num_sensors=3, in_features=1, lookback=split.lookback, horizon=split.horizon, hidden=4)
    target = data.scaler.subset(data.target_features)
    config = TrainingConfig(lr=0.01, **training)
    return ForecastModule(model, data.graph, torch.from_numpy(target.mean_), torch.from_numpy(target.std_), config)


def _trainer(tmp_path, callbacks, epochs=2, **kwargs) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        num_sanity_val_steps=0,
        callbacks=callbacks,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _loaders(data):
    train = window_loader(data.windows("train"), batch_size=BATCH, shuffle=True, seed=0)  # 31 windows: 4 batches
    val = window_loader(data.windows("val"), batch_size=BATCH, shuffle=False)
    return train, val


class _Fail(Callback):
    """Raises at the start of training batch ``at`` (counted from 0 over the whole fit), or in validation."""

    def __init__(self, at: int | None = None, in_validation: bool = False) -> None:
        self.at, self.in_validation = at, in_validation

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError(f"failure at step {self.at}")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.in_validation:
            raise RuntimeError("failure in validation")


# --- stand-ins -------------------------------------------------------------------------------------
def _state(val_mae=None, *, epoch=0, step=0, sanity=False, global_zero=True, max_epochs=3, lr=0.01):
    metrics = {} if val_mae is None else {"val_mae": torch.tensor(val_mae)}
    optimizer = SimpleNamespace(param_groups=[{"lr": lr}])
    return SimpleNamespace(
        callback_metrics=metrics,
        current_epoch=epoch,
        global_step=step,
        sanity_checking=sanity,
        is_global_zero=global_zero,
        max_epochs=max_epochs,
        optimizers=[optimizer],
    )


def _validated(callback, pl_module, val_mae, **state):
    trainer = _state(val_mae, **state)
    callback.on_train_epoch_start(trainer, pl_module)
    callback.on_validation_end(trainer, pl_module)


# --- BestModelExport ---------------------------------------------------------------------------------
def test_best_model_export_writes_only_on_improvement(tmp_path):
    path = tmp_path / "model.pt"
    export = BestModelExport(path, METADATA)
    net = nn.Linear(2, 1)
    pl_module = SimpleNamespace(model=net)

    _validated(export, pl_module, 5.0, epoch=0, step=4)
    saved = torch.load(path, weights_only=True)
    assert (saved["val_mae"], saved["epoch"], saved["global_step"]) == (5.0, 0, 4)
    assert saved["format"] == "stgraph.forecast/2" and saved["sensor_ids"] == ["a", "b", "c"]
    torch.testing.assert_close(saved["state_dict"]["weight"], net.weight.detach())
    assert (export.best, export.best_epoch) == (5.0, 0)

    path.unlink()  # every write from now on would bring it back
    _validated(export, pl_module, 6.0, epoch=1, step=8)  # worse
    _validated(export, pl_module, 5.0, epoch=2, step=12)  # equal is no improvement
    _validated(export, pl_module, math.nan, epoch=3, step=16)  # diverged
    _validated(export, pl_module, None, epoch=4, step=20)  # no val_mae logged
    _validated(export, pl_module, 1.0, epoch=5, step=20, sanity=True)  # sanity check, not an epoch
    assert not path.exists() and (export.best, export.best_epoch) == (5.0, 0)

    with torch.no_grad():
        net.weight.fill_(0.25)
    _validated(export, pl_module, 4.5, epoch=6, step=28)
    saved = torch.load(path, weights_only=True)
    assert (saved["val_mae"], saved["epoch"], saved["global_step"]) == (4.5, 6, 28)
    torch.testing.assert_close(saved["state_dict"]["weight"], torch.full((1, 2), 0.25))
    assert (export.best, export.best_epoch) == (4.5, 6)


def test_best_model_export_tracks_the_best_on_every_rank_but_writes_on_rank_zero(tmp_path):
    export = BestModelExport(tmp_path / "model.pt", METADATA)
    _validated(export, SimpleNamespace(model=nn.Linear(2, 1)), 3.0, epoch=2, global_zero=False)
    assert (export.best, export.best_epoch) == (3.0, 2)
    assert not (tmp_path / "model.pt").exists()


def test_best_model_export_state_round_trip_keeps_the_bar(tmp_path):
    path = tmp_path / "model.pt"
    first = BestModelExport(path, METADATA)
    pl_module = SimpleNamespace(model=nn.Linear(2, 1))
    _validated(first, pl_module, 7.0, epoch=0)
    _validated(first, pl_module, 4.0, epoch=1)
    assert first.state_dict() == {"best": 4.0, "best_epoch": 1, "epoch": 1}

    path.unlink()
    resumed = BestModelExport(path, METADATA)
    resumed.load_state_dict(first.state_dict())
    _validated(resumed, pl_module, 4.5, epoch=2)  # better than a fresh start, worse than the best before
    assert not path.exists() and (resumed.best, resumed.best_epoch) == (4.0, 1)
    _validated(resumed, pl_module, 3.5, epoch=3)
    assert torch.load(path, weights_only=True)["epoch"] == 3


def test_best_model_export_in_a_real_run_saves_the_weights_it_scored(data, tmp_path):
    module = _module(data)
    export = BestModelExport(tmp_path / "model.pt", METADATA)
    history = EpochSummary(write=lambda line: None)
    train, val = _loaders(data)
    _trainer(tmp_path, [export, history], epochs=3).fit(module, train, val)

    scores = [row["val_mae"] for row in history.history]
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    best = min(range(3), key=scores.__getitem__)
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert (export.best_epoch, saved["epoch"], saved["global_step"]) == (best, best, 4 * (best + 1))
    assert saved["val_mae"] == pytest.approx(min(scores)) == pytest.approx(export.best)
    # the saved weights, validated again, give the score they were saved with
    module.model.load_state_dict(saved["state_dict"])
    again = _trainer(tmp_path, []).validate(module, val, verbose=False)[0]["val_mae"]
    assert again == pytest.approx(saved["val_mae"], rel=1e-5)


def test_best_model_export_state_travels_in_the_lightning_checkpoint(data, tmp_path):
    train, val = _loaders(data)
    first = BestModelExport(tmp_path / "model.pt", METADATA)
    last = ModelCheckpoint(dirpath=tmp_path, filename="last", save_top_k=0, save_last=True, enable_version_counter=False)
    _trainer(tmp_path, [first, last], epochs=1).fit(_module(data), train, val)
    assert first.best_epoch == 0

    class Probe(Callback):
        def on_train_start(self, trainer, pl_module):
            self.seen = (resumed.best, resumed.best_epoch)

    resumed, probe = BestModelExport(tmp_path / "model.pt", METADATA), Probe()
    again = ModelCheckpoint(dirpath=tmp_path, filename="last", save_top_k=0, save_last=True, enable_version_counter=False)
    _trainer(tmp_path, [resumed, probe, again], epochs=2).fit(_module(data), train, val, ckpt_path=tmp_path / "last.ckpt")
    assert probe.seen == (first.best, 0)


# --- EpochSummary ---------------------------------------------------------------------------------------
def test_epoch_summary_rows_and_lines():
    lines = []
    summary = EpochSummary(units="km/h", write=lines.append)
    pl_module = SimpleNamespace(print=pytest.fail)

    def epoch(index, losses, val_mae, step, lr):
        trainer = _state(val_mae, epoch=index, step=step, lr=lr)
        summary.on_train_epoch_start(trainer, pl_module)
        for i, loss in enumerate(losses):
            summary.on_train_batch_end(trainer, pl_module, loss, None, i)
        summary.on_validation_end(trainer, pl_module)

    epoch(0, [torch.tensor(1.0), {"loss": torch.tensor(3.0)}, None], 5.0, step=2, lr=0.01)  # None: a skipped batch
    epoch(1, [torch.tensor(0.5)], 6.25, step=3, lr=0.005)
    epoch(2, [torch.tensor(0.25)], 4.0, step=4, lr=0.005)
    epoch(3, [], math.nan, step=4, lr=0.001)
    assert summary.history[:3] == [
        {"epoch": 1, "step": 2, "train_loss": 2.0, "val_mae": 5.0, "lr": 0.01},
        {"epoch": 2, "step": 3, "train_loss": 0.5, "val_mae": 6.25, "lr": 0.005},
        {"epoch": 3, "step": 4, "train_loss": 0.25, "val_mae": 4.0, "lr": 0.005},
    ]
    last = summary.history[3]
    assert last["epoch"] == 4 and math.isnan(last["train_loss"]) and math.isnan(last["val_mae"])
    assert lines == [
        "epoch   1/3  step      2  loss 2.0000  val MAE 5.000 km/h *  lr 1.00e-02",
        "epoch   2/3  step      3  loss 0.5000  val MAE 6.250 km/h  lr 5.00e-03",
        "epoch   3/3  step      4  loss 0.2500  val MAE 4.000 km/h *  lr 5.00e-03",
        "epoch   4/3  step      4  loss nan  val MAE nan km/h  lr 1.00e-03",
    ]


def test_epoch_summary_skips_the_sanity_check_and_prints_through_the_module():
    printed = []
    summary = EpochSummary()
    pl_module = SimpleNamespace(print=printed.append)
    _validated(summary, pl_module, 1.0, sanity=True)
    assert summary.history == [] and printed == []
    trainer = _state(2.0, step=1)
    trainer.optimizers = []  # validating before any optimiser exists: no learning rate to show
    summary.on_train_epoch_start(trainer, pl_module)
    summary.on_validation_end(trainer, pl_module)
    assert printed == ["epoch   1/3  step      1  loss nan  val MAE 2.000 *  lr nan"]  # no units, no rate

    restored = EpochSummary()
    restored.load_state_dict(summary.state_dict())
    assert restored.history == summary.history and restored.history is not summary.history


def test_epoch_summary_in_a_real_run_reports_each_epochs_loss_and_rate(data, tmp_path):
    class Losses(Callback):
        def __init__(self):
            self.by_epoch = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.by_epoch.setdefault(trainer.current_epoch, []).append(float(outputs["loss"]))

    lines, losses = [], Losses()
    summary = EpochSummary(units="km/h", write=lines.append)
    train, val = _loaders(data)
    module = _module(data, scheduler="step", step_size=1, gamma=0.5)  # the rate halves every epoch
    _trainer(tmp_path, [summary, losses], epochs=2).fit(module, train, val)
    assert [row["epoch"] for row in summary.history] == [1, 2]
    assert [row["step"] for row in summary.history] == [4, 8]
    assert [row["lr"] for row in summary.history] == pytest.approx([0.01, 0.005])
    for row, epoch in zip(summary.history, (0, 1)):
        assert len(losses.by_epoch[epoch]) == 4
        assert row["train_loss"] == pytest.approx(sum(losses.by_epoch[epoch]) / 4)
    assert len(lines) == 2 and lines[0].startswith("epoch   1/2  step      4  loss ") and "km/h" in lines[0]


# --- SaveOnInterrupt ----------------------------------------------------------------------------------------
def test_save_on_interrupt_saves_the_state_after_the_first_step(data, tmp_path):
    train, val = _loaders(data)
    path = tmp_path / "saved" / "last.ckpt"
    with pytest.raises(RuntimeError, match="failure at step 2"):
        _trainer(tmp_path, [SaveOnInterrupt(path), _Fail(at=2)]).fit(_module(data), train, val)
    state = torch.load(path, weights_only=True)
    assert state["global_step"] == 2 and state["epoch"] == 0
    assert "optimizer_states" in state and "state_dict" in state


def test_save_on_interrupt_saves_nothing_before_the_first_step(data, tmp_path):
    train, val = _loaders(data)
    path = tmp_path / "last.ckpt"
    with pytest.raises(RuntimeError, match="failure at step 0"):
        _trainer(tmp_path, [SaveOnInterrupt(path), _Fail(at=0)]).fit(_module(data), train, val)
    assert not path.exists()


def test_save_on_interrupt_ignores_failures_outside_fit(data, tmp_path):
    train, val = _loaders(data)
    path = tmp_path / "last.ckpt"
    fail = _Fail()
    trainer = _trainer(tmp_path, [SaveOnInterrupt(path), fail], epochs=1)
    module = _module(data)
    trainer.fit(module, train, val)
    assert not path.exists() and trainer.global_step == 4  # a clean fit leaves nothing either
    fail.in_validation = True
    with pytest.raises(RuntimeError, match="failure in validation"):
        trainer.validate(module, val, verbose=False)
    assert not path.exists()


def test_save_on_interrupt_reports_a_failed_save_and_keeps_the_original_error(data, tmp_path, capsys):
    train, val = _loaders(data)
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "last.ckpt"  # its parent is a file: the save must fail
    with pytest.raises(RuntimeError, match="failure at step 1"):
        _trainer(tmp_path, [SaveOnInterrupt(path), _Fail(at=1)]).fit(_module(data), train, val)
    assert f"could not save {path} after the interruption: " in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_callbacks_label_the_epoch_resumed_in_its_middle(data, tmp_path):
    train, val = _loaders(data)
    with pytest.raises(RuntimeError, match="failure at step 6"):  # two batches into the second epoch
        callbacks = [EpochSummary(write=lambda line: None), BestModelExport(tmp_path / "model.pt", METADATA)]
        _trainer(tmp_path, [*callbacks, SaveOnInterrupt(tmp_path / "last.ckpt"), _Fail(at=6)]).fit(_module(data), train, val)
    summary = EpochSummary(write=lambda line: None)
    export = BestModelExport(tmp_path / "model.pt", METADATA)
    _trainer(tmp_path, [summary, export]).fit(_module(data), train, val, ckpt_path=tmp_path / "last.ckpt")
    assert [(row["epoch"], row["step"]) for row in summary.history] == [(1, 4), (2, 8)]
    assert [row["lr"] for row in summary.history] == [0.01, 0.01]
    assert export.best_epoch in (0, 1) and export.best == min(row["val_mae"] for row in summary.history)
    assert export.best_epoch == [row["val_mae"] for row in summary.history].index(export.best)


# --- TimeBudget ------------------------------------------------------------------------------------------------
ONE_PROCESS = SimpleNamespace(broadcast=lambda value, src=0: value)  # a strategy: rank 0's decision is everyone's


class _Clock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def _epochs(budget: TimeBudget, trainer, epochs: int) -> list[bool]:
    """Run ``epochs`` epochs' hooks; ``should_stop`` after each."""
    budget.on_train_start(trainer, None)
    stops = []
    for epoch in range(epochs):
        trainer.current_epoch = epoch
        budget.on_train_epoch_start(trainer, None)
        budget.on_train_epoch_end(trainer, None)
        stops.append(trainer.should_stop)
    return stops


def test_time_budget_stops_before_an_epoch_that_would_overrun():
    # start 0; epoch 1 runs 0 -> 3 (3 + 3 = 6 <= 10 s: go on); epoch 2 runs 3 -> 7 (7 + 4 = 11 > 10: stop)
    budget = TimeBudget(10, clock=_Clock(0, 0, 3, 3, 7))
    trainer = SimpleNamespace(strategy=ONE_PROCESS, current_epoch=0, max_epochs=5, should_stop=False)
    assert _epochs(budget, trainer, 2) == [False, True]
    assert budget.stopped_early


def test_time_budget_estimates_by_the_longest_epoch_and_allows_an_exact_fit():
    # epoch 1: 0 -> 5, 5 + 5 = 10 ends exactly at the budget: allowed;
    # epoch 2: 5 -> 6; by the last epoch 6 + 1 = 7 would fit, by the longest 6 + 5 = 11 does not
    budget = TimeBudget(10, clock=_Clock(0, 0, 5, 5, 6))
    trainer = SimpleNamespace(strategy=ONE_PROCESS, current_epoch=0, max_epochs=5, should_stop=False)
    assert _epochs(budget, trainer, 2) == [False, True]


def test_time_budget_does_not_claim_the_last_epoch_as_an_early_stop():
    # epoch 1: 0 -> 1 fits (1 + 1 <= 10); epoch 2 runs to 20, far over, but it was the last anyway
    budget = TimeBudget(10, clock=_Clock(0, 0, 1, 1, 20))
    trainer = SimpleNamespace(strategy=ONE_PROCESS, current_epoch=0, max_epochs=2, should_stop=False)
    assert _epochs(budget, trainer, 2) == [False, False]
    assert not budget.stopped_early


def test_time_budget_stops_a_real_run_after_whole_validated_epochs(data, tmp_path):
    ticks = iter(range(100))
    budget = TimeBudget(6, clock=lambda: float(next(ticks)))  # one second per clock reading
    summary = EpochSummary(write=lambda line: None)
    train, val = _loaders(data)
    trainer = _trainer(tmp_path, [budget, summary], epochs=10)
    trainer.fit(_module(data), train, val)
    # start 0; epochs end at 2, 4, 6 with the longest 1 s: 3, 5 fit in 6 s, then 7 does not
    assert budget.stopped_early and trainer.current_epoch == 3 and trainer.global_step == 12
    assert [row["epoch"] for row in summary.history] == [1, 2, 3]
