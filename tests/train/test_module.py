"""The Lightning module: masked loss in scaled or original units, exact validation MAE over a
split (not a mean of batch means), batches from the fast path, the papers' schedules."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from stgraph.data.windows import WindowDataset
from stgraph.graph import SensorGraph
from stgraph.pipeline.config import TrainingConfig
from stgraph.pipeline.data import window_loader
from stgraph.train.module import ForecastModule

pytestmark = pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")


class Constant(nn.Module):
    """Forecasts ``value`` (scaled units) everywhere; one parameter so optimisers have work."""

    def __init__(self, value: float, horizon: int = 2) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value))
        self.horizon = horizon

    def forward(self, x, graph, *, target=None, teacher_forcing=0.0):
        return self.value.expand(x.shape[0], self.horizon, x.shape[2], 1)


def _module(value=0.0, loss_units="scaled", mean=10.0, std=2.0):
    graph = SensorGraph(np.eye(3))
    return ForecastModule(
        Constant(value), graph, torch.tensor([mean]), torch.tensor([std]), TrainingConfig(loss_units=loss_units)
    )


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_loss_is_masked_mae_in_the_chosen_units():
    y = torch.tensor([10.0, 14.0, 100.0]).reshape(1, 1, 3, 1).expand(1, 2, 3, 1).clone()
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[..., 2, :] = False  # the 100 is a missing reading and must not count
    x = torch.zeros(1, 4, 3, 1)
    scaled = _module(value=1.0)  # forecasts z = 1, i.e. 12 in original units
    # |1 - 0| and |1 - 2| in z-scores -> mean 1.0; in original units |12 - 10|, |12 - 14| -> 2.0
    assert scaled.training_step((x, y, mask), 0).item() == pytest.approx(1.0)
    original = _module(value=1.0, loss_units="original")
    assert original.training_step((x, y, mask), 0).item() == pytest.approx(2.0)


def test_validation_mae_is_exact_over_uneven_batches():
    rng = np.random.default_rng(0)
    values = rng.normal(20, 5, size=(23, 3, 1)).astype(np.float32)
    mask = rng.random(values.shape) > 0.3
    windows = WindowDataset((values, mask), lookback=4, horizon=2)  # 18 windows
    loader = window_loader(windows, batch_size=5, shuffle=False)  # batches of 5, 5, 5, 3
    module = _module(value=0.5)  # forecasts 10 + 0.5 * 2 = 11 in original units
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    result = trainer.validate(module, loader, verbose=False)[0]
    starts = np.arange(18)
    targets = values[starts[:, None] + 4 + np.arange(2)]
    observed = mask[starts[:, None] + 4 + np.arange(2)]
    expected = np.abs(11.0 - targets)[observed].mean()
    assert result["val_mae"] == pytest.approx(expected, rel=1e-5)


def test_window_loader_fast_path_equals_stacked_windows():
    values = np.arange(30 * 2 * 1, dtype=np.float32).reshape(30, 2, 1)
    windows = WindowDataset((values, np.ones_like(values, dtype=bool)), lookback=3, horizon=2)
    x, y, mask = next(iter(window_loader(windows, batch_size=4, shuffle=False)))
    expected = [windows[i] for i in range(4)]
    torch.testing.assert_close(x, torch.stack([e[0] for e in expected]))
    torch.testing.assert_close(y, torch.stack([e[1] for e in expected]))
    assert x.shape == (4, 3, 2, 1) and mask.dtype == torch.bool


@pytest.mark.parametrize(
    ("config", "lrs"),
    [
        # DCRNN: 0.01, x0.1 at epochs 20, 30, 40, 50
        (
            TrainingConfig(lr=0.01, scheduler="multistep", milestones=[20, 30, 40, 50], gamma=0.1),
            {0: 0.01, 19: 0.01, 20: 1e-3, 30: 1e-4, 55: 1e-6},
        ),
        # STGCN: 1e-3, x0.7 every 5 epochs (staircase)
        (TrainingConfig(optimizer="rmsprop", lr=1e-3, scheduler="step", step_size=5, gamma=0.7), {4: 1e-3, 5: 7e-4, 10: 4.9e-4}),
    ],
)
def test_schedules_follow_the_papers(config, lrs):
    module = ForecastModule(Constant(0.0), SensorGraph(np.eye(2)), torch.zeros(1), torch.ones(1), config)
    setup = module.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    seen = {}
    for epoch in range(60):
        seen[epoch] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    for epoch, lr in lrs.items():
        assert seen[epoch] == pytest.approx(lr)


class Decoder(Constant):
    """A model with a step-by-step decoder: it accepts teacher forcing."""

    accepts_teacher_forcing = True


def test_teacher_forcing_follows_dcrnn_decay_for_models_that_accept_it():
    from stgraph.train.schedules import inverse_sigmoid_decay

    def module(model, **config):
        return ForecastModule(model, SensorGraph(np.eye(2)), torch.zeros(1), torch.ones(1), TrainingConfig(**config))

    assert module(Decoder(0.0), teacher_forcing_decay=2000).teacher_forcing() == pytest.approx(inverse_sigmoid_decay(0, 2000))
    assert module(Decoder(0.0)).teacher_forcing() == 0.0
    # A model without a decoder to feed never receives a probability, whatever the config says.
    assert module(Constant(0.0), teacher_forcing_decay=2000).teacher_forcing() == 0.0


def test_time_budget_stops_before_an_epoch_that_would_overrun():
    from stgraph.train import callbacks

    readings = iter(range(0, 1000, 10))  # every reading of the clock advances 10 s
    values = np.ones((20, 3, 1), dtype=np.float32)
    loader = window_loader(
        WindowDataset((values, np.ones_like(values, dtype=bool)), lookback=4, horizon=2), batch_size=8, shuffle=False
    )
    budget = callbacks.TimeBudget(45, clock=lambda: next(readings))
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=10,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[budget],
    )
    trainer.fit(_module(), loader, loader)
    # clock: start 0; epoch 1 runs 10 -> 20; epoch 2 runs 30 -> 40; 40 + 10 > 45: stop after 2 epochs
    assert trainer.current_epoch == 2 and budget.stopped_early


class AtProgress(ForecastModule):
    """A module that reads ``step`` and ``epoch`` as Lightning's counters, without a trainer."""

    step = 0
    epoch = 0

    @property
    def global_step(self) -> int:
        return self.step

    @property
    def current_epoch(self) -> int:
        return self.epoch


def _curriculum_batch():
    """Three horizon steps, three sensors; the forecast z = 1 is 12 in original units (mean 10, std 2).

    Absolute errors in original units, sensor 3 of step 1 missing:
    step 1: |12 - 10|, |12 - 14|        -> 2, 2
    step 2: |12 - 16|, |12 - 20|, |12 - 12| -> 4, 8, 0
    step 3: |12 - 2|, |12 - 12|, |12 - 13|  -> 10, 0, 1
    """
    y = torch.tensor([[10.0, 14.0, 100.0], [16.0, 20.0, 12.0], [2.0, 12.0, 13.0]]).reshape(1, 3, 3, 1)
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[0, 0, 2] = False
    return torch.zeros(1, 4, 3, 1), y, mask


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("forcing", [False, True], ids=["plain", "teacher_forcing"])
@pytest.mark.parametrize(
    ("loss_units", "by_step"),
    # mean of the errors over the first k steps, k = 1, 2, 3 (see _curriculum_batch); scaled = original / 2
    [("original", (2.0, 16 / 5, 27 / 8)), ("scaled", (1.0, 8 / 5, 27 / 16))],
)
def test_curriculum_loss_covers_the_first_k_horizon_steps(loss_units, by_step, forcing):
    model = Decoder(1.0, horizon=3) if forcing else Constant(1.0, horizon=3)
    config = TrainingConfig(
        loss_units=loss_units, curriculum_every=2, curriculum_unit="steps", teacher_forcing_decay=2000 if forcing else None
    )
    module = AtProgress(model, SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]), config)
    assert (module.teacher_forcing() > 0) == forcing
    batch = _curriculum_batch()
    # every = 2 steps, MTGNN's count from 1: k = min(3, 1 + (step + 1) // 2)
    for step, k in [(0, 1), (1, 2), (2, 2), (3, 3), (500, 3)]:
        module.step = step
        assert module.curriculum_steps(3) == k
        assert module.training_step(batch, 0).item() == pytest.approx(by_step[k - 1]), f"step {step}"


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_curriculum_in_epochs_ignores_the_step_count():
    config = TrainingConfig(loss_units="original", curriculum_every=2, curriculum_unit="epochs")
    module = AtProgress(Constant(1.0, horizon=3), SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]), config)
    module.step = 10_000
    for epoch, loss in [(0, 2.0), (1, 2.0), (2, 16 / 5), (4, 27 / 8)]:  # k = 1 + epoch // 2
        module.epoch = epoch
        assert module.training_step(_curriculum_batch(), 0).item() == pytest.approx(loss), f"epoch {epoch}"
    # without a curriculum the loss covers the whole horizon from the first step
    whole = AtProgress(Constant(1.0, horizon=3), SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]),
                       TrainingConfig(loss_units="original"))  # fmt: skip
    assert whole.curriculum_steps(3) == 3
    assert whole.training_step(_curriculum_batch(), 0).item() == pytest.approx(27 / 8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"curriculum_unit": "iterations"}, r"training\.curriculum_unit must be one of steps, epochs, got 'iterations'"),
        ({"curriculum_every": 0}, r"training\.curriculum_every must be a positive integer or null, got 0"),
        ({"curriculum_every": -5}, r"training\.curriculum_every must be a positive integer or null, got -5"),
        ({"curriculum_every": 2.5}, r"training\.curriculum_every must be a positive integer or null, got 2\.5"),
        ({"curriculum_every": True}, r"training\.curriculum_every must be a positive integer or null, got True"),
        ({"loss": "huber"}, r"training\.loss must be one of mae, mse, mae_rmse, got 'huber'"),
    ],
)
def test_bad_curriculum_and_loss_settings_are_refused(options, message):
    from stgraph.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        TrainingConfig(**options).validate()
    TrainingConfig(curriculum_every=2500, curriculum_unit="steps", loss="mse").validate()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_mse_loss_is_masked_mean_squared_error_in_the_chosen_units():
    y = torch.tensor([10.0, 16.0, 100.0]).reshape(1, 1, 3, 1).expand(1, 2, 3, 1).clone()
    mask = torch.ones_like(y, dtype=torch.bool)
    mask[..., 2, :] = False  # the 100 is missing
    x = torch.zeros(1, 4, 3, 1)

    def module(loss_units):
        config = TrainingConfig(loss="mse", loss_units=loss_units)
        return ForecastModule(Constant(1.0), SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]), config)

    # forecast 12: original errors 2, 4 -> (4 + 16) / 2 = 10; scaled errors 1, 2 -> (1 + 4) / 2 = 2.5
    assert module("original").training_step((x, y, mask), 0).item() == pytest.approx(10.0)
    scaled = module("scaled")
    loss = scaled.training_step((x, y, mask), 0)
    assert loss.item() == pytest.approx(2.5)
    loss.backward()  # mean of 2 (z_hat - z) over 4 entries (2 steps x 2 sensors): 2 * (1 - 2) * 2 / 4 = -1
    assert scaled.model.value.grad.item() == pytest.approx(-1.0)


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_curriculum_steps_are_logged_and_validation_covers_the_whole_horizon():
    from lightning.pytorch.callbacks import Callback

    rng = np.random.default_rng(1)
    values = rng.normal(20, 5, size=(30, 3, 1)).astype(np.float32)
    windows = WindowDataset((values, np.ones_like(values, dtype=bool)), lookback=4, horizon=3)  # 24 windows
    loader = window_loader(windows, batch_size=4, shuffle=False)  # 6 batches
    seen = []

    class Record(Callback):
        def on_train_batch_end(self, trainer, *args):
            seen.append(int(trainer.callback_metrics["curriculum_steps"]))

    config = TrainingConfig(curriculum_every=2, curriculum_unit="steps")
    module = ForecastModule(Constant(0.5, horizon=3), SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]), config)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[Record()], limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, loader)
    assert seen == [1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3]  # k = min(3, 1 + (step + 1) // 2), steps 0..11
    # a module whose training loss would still cover step 1 only is validated on all three steps
    early = TrainingConfig(curriculum_every=1000, curriculum_unit="steps")
    fresh = ForecastModule(Constant(0.5, horizon=3), SensorGraph(np.eye(3)), torch.tensor([10.0]), torch.tensor([2.0]), early)
    assert fresh.curriculum_steps(3) == 1  # forecasts 10 + 0.5 * 2 = 11 in original units
    evaluate = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    result = evaluate.validate(fresh, loader, verbose=False)[0]
    starts = np.arange(24)
    expected = np.abs(11.0 - values[starts[:, None] + 4 + np.arange(3)]).mean()  # all three steps
    assert result["val_mae"] == pytest.approx(expected, rel=1e-5)
