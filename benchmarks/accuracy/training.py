r"""A lean training loop for the accuracy benchmark: the models and the pipeline's windows, no Lightning.

Why not :mod:`stgraph.train`: the T-GCN protocol has no validation part and scales by the
maximum reading, and both protocols score every epoch on the benchmark's own metrics; the
loop below is the few lines those need. It follows the papers' recipe: Adam, mini-batches of
windows drawn without replacement each epoch, gradient-norm clipping at 5 (DCRNN, Graph
WaveNet), and scheduled sampling with the inverse-sigmoid decay for models that declare
``accepts_teacher_forcing`` (DCRNN). Forecasting for scores is
:func:`stgraph.pipeline.evaluate.forecast_windows`.

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
from stgraph.train.schedules import inverse_sigmoid_decay

__all__ = ["TrainingLog", "TrainingSetup", "curriculum_tau", "fit"]

logger = logging.getLogger(__name__)


@dataclass
class TrainingSetup:
    """How one model is trained.

    Attributes:
        epochs: passes over the training windows.
        batch_size: windows per optimiser step.
        lr: Adam learning rate; ``weight_decay`` its L2 penalty; ``eps`` Adam's epsilon (DCRNN's
            code uses 1e-3).
        milestones: epochs after which the learning rate is multiplied by ``gamma``
            (``MultiStepLR``, DCRNN's schedule); empty = constant.
        clip: gradient-norm clipping (None: off).
        loss: ``"mse"`` (T-GCN's squared error) or ``"mae"`` (masked MAE, DCRNN / Graph WaveNet).
        seed: seeds the weights and the batch order.
        device: where the model trains and predicts (``"cpu"``, ``"cuda"``).
        teacher_forcing: scheduled sampling for models whose class sets
            ``accepts_teacher_forcing`` (DCRNN: the decoder reads the true previous value with a
            probability decaying over the run); False: it always reads its own forecast.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    eps: float = 1e-8
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    clip: float | None = 5.0
    loss: str = "mse"
    seed: int = 0
    device: str = "cpu"
    teacher_forcing: bool = True


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
        return torch.mean((forecast - target) ** 2)
    if kind == "mae":
        error = (forecast - target).abs()
        return (error * mask).sum() / mask.sum().clamp_min(1)
    raise ValueError(f"unknown loss {kind!r}; expected 'mse' or 'mae'")


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
        on_epoch: returns a score per epoch (kept in the log), e.g. test metrics.

    Shapes:
        windows.batch -> x ``[B, L, N, F]``, y and mask ``[B, H, N, C]``
    """
    generator = torch.Generator().manual_seed(setup.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr, eps=setup.eps, weight_decay=setup.weight_decay)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(setup.milestones), gamma=setup.gamma)
    steps_per_epoch = math.ceil(len(windows) / setup.batch_size)
    tau = curriculum_tau(steps_per_epoch * setup.epochs)
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
            target = windows.target_scaler.transform(y)
            forcing = inverse_sigmoid_decay(step, tau) if scheduled_sampling else 0.0
            forecast = model(x, graph, target=target, teacher_forcing=forcing)
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
    log.seconds = time.perf_counter() - start
    return log
