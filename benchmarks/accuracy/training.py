r"""A lean training loop for the accuracy benchmark: the models and the pipeline's windows, no Lightning.

Why not :mod:`stgraph.train`: the T-GCN protocol has no validation part and scales by the
maximum reading, and both protocols score every epoch on the benchmark's own metrics; the
loop below is the few lines those need. It runs either the shared setup (Adam, mini-batches of
windows drawn without replacement each epoch, gradient-norm clipping at 5 as DCRNN and Graph
WaveNet) or a model's own recipe (:mod:`benchmarks.accuracy.recipes`): its optimiser, learning
rate schedule, clipping, loss and loss units, early stopping, curriculum over horizons
(:class:`stgraph.nn.curriculum.HorizonCurriculum`) and, for models that declare
``accepts_teacher_forcing`` (DCRNN), scheduled sampling with the inverse-sigmoid decay.
Forecasting for scores is :func:`stgraph.pipeline.evaluate.forecast_windows`.

Time on a small CPU is the constraint here, so ``epochs`` is set per run and recorded in the
protocol card; the papers train for 100 (DCRNN, Graph WaveNet) to 5,000 (T-GCN) epochs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from stgraph.data import WindowDataset
from stgraph.metrics.masked import masked_mae, masked_mse, masked_rmse
from stgraph.nn.curriculum import HorizonCurriculum
from stgraph.train.schedules import inverse_sigmoid_decay

__all__ = ["TrainingLog", "TrainingSetup", "curriculum_tau", "fit"]

logger = logging.getLogger(__name__)


@dataclass
class TrainingSetup:
    """How one model is trained.

    Attributes:
        epochs: passes over the training windows.
        batch_size: windows per optimiser step.
        optimizer: ``"adam"`` or ``"rmsprop"`` (STGCN; ``alpha`` its smoothing constant).
        lr: learning rate; ``weight_decay`` the L2 penalty; ``eps`` the optimiser's epsilon
            (DCRNN's code uses 1e-3).
        milestones: epochs after which the learning rate is multiplied by ``gamma``
            (``MultiStepLR``, DCRNN's schedule); empty = constant. ``step_size``: instead, every
            this many epochs (``StepLR``, STGCN and GMAN); None = off.
        clip: gradient-norm clipping (None: off).
        loss: ``"mse"`` (T-GCN's squared error), ``"mae"`` (masked MAE, DCRNN / Graph WaveNet) or
            ``"mae_rmse"`` (masked MAE plus masked RMSE); all over observed targets only.
        loss_units: ``"scaled"`` (on the model's scaled units) or ``"original"`` (after inverse
            scaling, as DCRNN's, Graph WaveNet's and BasicTS's code compute it).
        patience: stop after this many epochs without a better epoch score (the ``on_epoch``
            callback's return value, lower is better); None: train every epoch.
        curriculum_every, curriculum_unit: curriculum over horizons
            (:class:`~stgraph.nn.curriculum.HorizonCurriculum`); None: the whole horizon throughout.
        seed: seeds the weights and the batch order.
        device: where the model trains and predicts (``"cpu"``, ``"cuda"``).
        teacher_forcing: scheduled sampling for models whose class sets
            ``accepts_teacher_forcing`` (DCRNN: the decoder reads the true previous value with a
            probability decaying over the run); False: it always reads its own forecast.
        teacher_forcing_tau: the decay constant; None: :func:`curriculum_tau` of the run's length.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    eps: float = 1e-8
    alpha: float = 0.99
    milestones: tuple[int, ...] = ()
    step_size: int | None = None
    gamma: float = 0.1
    clip: float | None = 5.0
    loss: str = "mse"
    loss_units: str = "scaled"
    patience: int | None = None
    curriculum_every: int | None = None
    curriculum_unit: str = "steps"
    seed: int = 0
    device: str = "cpu"
    teacher_forcing: bool = True
    teacher_forcing_tau: float | None = None


@dataclass
class TrainingLog:
    """Per-epoch training loss, learning rate and whatever the epoch callback returned, and wall time."""

    train_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    scores: list[Any] = field(default_factory=list)
    seconds: float = 0.0


def curriculum_tau(total_steps: int) -> float:
    r"""DCRNN's decay constant :math:`\tau` scaled to a short run: the :math:`\tau` at which
    the teacher-forcing probability :math:`\tau / (\tau + e^{i/\tau})` falls to 0.5 at half of
    ``total_steps`` (solves :math:`\tau \ln \tau = i/2`). DCRNN's 2,000 is for ~40,000 steps."""
    goal = max(total_steps / 2.0, math.e)
    tau = max(goal / math.log(goal), 1.0 + 1e-9)
    for _ in range(50):  # Newton on tau ln tau - goal
        tau -= (tau * math.log(tau) - goal) / (math.log(tau) + 1.0)
        tau = max(tau, 1.0 + 1e-9)
    return tau


def _loss(kind: str, forecast: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    if kind == "mse":
        return masked_mse(forecast, target, mask=mask.bool())
    if kind == "mae":
        return masked_mae(forecast, target, mask=mask.bool())
    if kind == "mae_rmse":
        return masked_mae(forecast, target, mask=mask.bool()) + masked_rmse(forecast, target, mask=mask.bool())
    raise ValueError(f"unknown loss {kind!r}; expected 'mse', 'mae' or 'mae_rmse'")


def _optimizer(model: nn.Module, setup: TrainingSetup) -> torch.optim.Optimizer:
    if setup.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            model.parameters(), lr=setup.lr, alpha=setup.alpha, eps=setup.eps, weight_decay=setup.weight_decay
        )
    if setup.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=setup.lr, eps=setup.eps, weight_decay=setup.weight_decay)
    raise ValueError(f"unknown optimizer {setup.optimizer!r}; expected 'adam' or 'rmsprop'")


def _schedule(optimizer: torch.optim.Optimizer, setup: TrainingSetup) -> torch.optim.lr_scheduler.LRScheduler:
    if setup.step_size is not None:
        return torch.optim.lr_scheduler.StepLR(optimizer, setup.step_size, gamma=setup.gamma)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(setup.milestones), gamma=setup.gamma)


def fit(
    model: nn.Module,
    graph: Any,
    windows: WindowDataset,
    setup: TrainingSetup,
    *,
    on_epoch: Callable[[int], Any] | None = None,
) -> TrainingLog:
    """Train ``model`` on ``windows``; call ``on_epoch(epoch)`` after each epoch.

    Args:
        model: a :class:`~stgraph.models.ForecastModel`, already on ``setup.device``.
        graph: the sensor graph the model reads.
        windows: training windows with their scaler (:meth:`stgraph.pipeline.data.PreparedData.windows`):
            ``x`` scaled, ``y`` in original units with its mask. The loss is computed in the
            model's scaled units (``windows.target_scaler.transform(y)``), as the papers do.
        setup: epochs, batch size, optimiser, loss, device.
        on_epoch: returns a score per epoch (kept in the log), e.g. test metrics; with
            ``setup.patience`` it must return a float (lower is better) that early stopping reads.

    Shapes:
        windows.batch -> x ``[B, L, N, F]``, y and mask ``[B, H, N, C]``
    """
    generator = torch.Generator().manual_seed(setup.seed)
    optimizer = _optimizer(model, setup)
    schedule = _schedule(optimizer, setup)
    steps_per_epoch = math.ceil(len(windows) / setup.batch_size)
    tau = setup.teacher_forcing_tau or curriculum_tau(steps_per_epoch * setup.epochs)
    scaler = windows.target_scaler
    curriculum = (
        HorizonCurriculum(windows.horizon, setup.curriculum_every, setup.curriculum_unit)
        if setup.curriculum_every is not None
        else None
    )
    best_score, stale = math.inf, 0
    scheduled_sampling = setup.teacher_forcing and getattr(
        type(model), "accepts_teacher_forcing", False
    )  # any nn.Module may be fitted
    log = TrainingLog()
    start = time.perf_counter()
    step = 0
    for epoch in range(setup.epochs):
        model.train()
        order = torch.randperm(len(windows), generator=generator)
        total, count = 0.0, 0
        for first in range(0, len(windows), setup.batch_size):
            x, y, mask = (t.to(setup.device) for t in windows.batch(order[first : first + setup.batch_size]))
            target = scaler.transform(y)
            forcing = inverse_sigmoid_decay(step, tau) if scheduled_sampling else 0.0
            forecast = model(x, graph, target=target, teacher_forcing=forcing)
            if setup.loss_units == "original":
                forecast, target = scaler.inverse_transform(forecast), y
            if curriculum is not None:
                k = curriculum.steps(step=step, epoch=epoch)
                forecast, target, mask = forecast[:, :k], target[:, :k], mask[:, :k]
            loss = _loss(setup.loss, forecast, target, mask.to(forecast.dtype))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if setup.clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), setup.clip)
            optimizer.step()
            total += float(loss.detach()) * len(x)
            count += len(x)
            step += 1
        log.learning_rate.append(optimizer.param_groups[0]["lr"])
        schedule.step()
        log.train_loss.append(total / max(count, 1))
        if on_epoch is not None:
            log.scores.append(on_epoch(epoch))
        logger.info(
            "epoch %d/%d: train loss %.5f (%.0f s)", epoch + 1, setup.epochs, log.train_loss[-1], time.perf_counter() - start
        )
        if setup.patience is not None and log.scores:
            score = float(log.scores[-1])
            best_score, stale = (score, 0) if score < best_score else (best_score, stale + 1)
            if stale >= setup.patience:
                logger.info("early stop after epoch %d: no better score in %d epochs", epoch + 1, setup.patience)
                break
    log.seconds = time.perf_counter() - start
    return log
