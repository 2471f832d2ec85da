r"""The Lightning module that trains any registered forecasting model.

The model works in scaled units (z-scores fitted on the training period). This module owns
everything the model must not see: the target scaler, the loss, the learning-rate schedule, the
curriculum over horizons and the scheduled-sampling probability of models that decode step by
step (``accepts_teacher_forcing``, e.g. DCRNN).

Loss (``training.loss: mae``, masked MAE over the observed target entries :math:`\Omega`):

.. math::
    \mathcal{L} = \frac{1}{|\Omega_{\le k}|} \sum_{(h, i) \in \Omega,\ h \le k} |\hat z_{h,i} - z_{h,i}|,
    \quad z = (y - \mu) / \sigma

with ``loss_units: scaled`` (the default), or the same on :math:`\hat y = \hat z \sigma + \mu`
against :math:`y` with ``loss_units: original`` (what DCRNN's and Graph WaveNet's code
compute). ``mse`` squares the error instead of taking its absolute value (T-GCN's code),
``mae_rmse`` adds the masked RMSE (:meth:`ForecastModule.loss`). :math:`h` is the horizon
step (1..H), :math:`i` a sensor and channel, :math:`\Omega_{\le k}` the observed entries of
the first :math:`k` steps. A quantile model (``model.quantiles``, :class:`~stgraph.nn.QuantileHead`)
is trained with the masked pinball loss over its levels instead
(:func:`~stgraph.metrics.intervals.pinball_loss`, in the same ``loss_units``; ``training.loss``
does not apply), and validated on its median. Without a curriculum :math:`k = H`, the whole horizon; with
``training.curriculum_every`` :math:`= s` the loss covers the first
:math:`k = \min(H, 1 + \lfloor t / s \rfloor)` steps (:class:`~stgraph.nn.curriculum.HorizonCurriculum`;
MTGNN), with :math:`t` = optimiser steps done + 1 (``curriculum_unit: steps``, MTGNN counts
iterations from 1) or epochs done (``epochs``), read from Lightning's ``global_step`` and
``current_epoch``, which a checkpoint restores: a resumed run continues the curriculum where
it stopped. Validation and test metrics are always masked MAE
over the whole horizon in original units (km/h, vehicles per interval), summed exactly over
the whole split, not averaged over batches.

**Sensor batches** (``training.sensor_batch``): each training step draws a connected subgraph
(:class:`~stgraph.graph.sampling.SubgraphSampler`, seeded by ``training.seed`` and the step,
so a resumed run draws the same ones), runs the model on the batch's columns of its sensors and
takes the loss above on its seeds only, the sensors whose ``hops``-hop neighbourhood lies
inside it: :math:`\Omega` is restricted to them. Validation runs on the full graph.
**Checkpointing** (``training.checkpointing``): the training forward runs under
:func:`~stgraph.nn.checkpointing.checkpointed_blocks`.
"""

from __future__ import annotations

import contextlib
import logging

import lightning as L
import torch
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor, nn

from stgraph.graph import SensorGraph
from stgraph.graph.sampling import SubgraphSampler
from stgraph.metrics.intervals import pinball_loss
from stgraph.metrics.masked import masked_mae, masked_mse, masked_rmse
from stgraph.nn.checkpointing import block_lists, checkpointed_blocks
from stgraph.nn.curriculum import HorizonCurriculum
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.config import TrainingConfig
from stgraph.train.global_batch import gather_batch
from stgraph.train.schedules import inverse_sigmoid_decay

__all__ = ["ForecastModule"]

logger = logging.getLogger(__name__)


class ForecastModule(L.LightningModule):
    """Wraps a ``[batch, lookback, nodes, features] -> [batch, horizon, nodes, channels]`` model.

    Args:
        model: a plain ``torch.nn.Module`` following the model contract.
        graph: the :class:`~stgraph.SensorGraph` passed to every forward call. It is not a
            submodule: models fetch its operators with ``graph.torch_operator(kind, device)``,
            which caches them per device, so the graph reaches the device once.
        target_mean, target_std: ``[channels]`` (or ``[nodes, channels]`` for a per-sensor
            scaler) statistics of the target features in original units, from the scaler
            fitted on the training period.
        training_config: optimiser, schedule, clipping, loss, loss units, curriculum,
            teacher forcing, sensor batches and checkpointing.

    Batches are ``(x, y, mask)``: ``x [batch, lookback, nodes, features]`` scaled;
    ``y [batch, horizon, nodes, channels]`` in original units; ``mask`` bool like ``y``,
    ``True`` = observed.
    """

    # buffers (registered in __init__), declared for the type checker
    target_mean: Tensor
    target_std: Tensor

    def __init__(
        self, model: nn.Module, graph: SensorGraph, target_mean: Tensor, target_std: Tensor, training_config: TrainingConfig
    ) -> None:
        super().__init__()
        self.model = model
        self.graph = graph
        self.config = training_config
        # The decay constant of scheduled sampling; None where it is off or the model has no
        # step-by-step decoder to feed (``accepts_teacher_forcing``).
        self.forcing_decay = training_config.teacher_forcing_decay
        if self.forcing_decay is not None and not getattr(model, "accepts_teacher_forcing", False):
            logger.warning("%s does not accept teacher forcing: teacher_forcing_decay is ignored", type(model).__name__)
            self.forcing_decay = None
        self.register_buffer("target_mean", torch.as_tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.as_tensor(target_std, dtype=torch.float32))
        self._val_sums: list[Tensor] = []
        sensor_batch = training_config.sensor_batch_size()
        self.sampler = None
        if sensor_batch is not None:
            sensors, hops = sensor_batch
            self.sampler = SubgraphSampler(graph, sensors=sensors, hops=hops, seed=training_config.seed)
        if training_config.checkpointing and not block_lists(model):
            raise ValueError(f"training.checkpointing: {type(model).__name__} has no block list to checkpoint")

    # --- scaling ------------------------------------------------------------------------------
    def _statistics(self, sensors: Tensor | None) -> tuple[Tensor, Tensor]:
        """The target's mean and std, at the full-graph rows ``sensors`` for a per-sensor scaler."""
        if sensors is None or self.target_mean.ndim < 2:
            return self.target_mean, self.target_std
        return self.target_mean.index_select(0, sensors), self.target_std.index_select(0, sensors)

    def scale_target(self, y: Tensor, sensors: Tensor | None = None) -> Tensor:
        """``[..., channels]`` original units -> z-scores; ``[..., nodes, channels]`` at the
        full-graph rows ``sensors`` when given."""
        mean, std = self._statistics(sensors)
        return (y - mean) / std

    def inverse_target(self, z: Tensor, sensors: Tensor | None = None) -> Tensor:
        """``[..., channels]`` z-scores -> original units (``sensors`` as in :meth:`scale_target`)."""
        mean, std = self._statistics(sensors)
        return z * std + mean

    # --- forward ------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Forecast in original units. Shapes: ``[batch, lookback, nodes, features] -> [batch, horizon, nodes, channels]``."""
        return self.inverse_target(self.model(x, self.graph))

    def teacher_forcing(self) -> float:
        """Probability of feeding the observed value to a seq2seq decoder at the current step;
        0 for a model that does not accept teacher forcing."""
        if self.forcing_decay is None:
            return 0.0
        return float(inverse_sigmoid_decay(self.global_step, self.forcing_decay))

    def curriculum_steps(self, horizon: int) -> int:
        """Leading horizon steps the training loss covers now: all ``horizon`` without a
        curriculum (``training.curriculum_every`` null), else
        :meth:`HorizonCurriculum.steps <stgraph.nn.curriculum.HorizonCurriculum.steps>` at
        Lightning's ``global_step`` and ``current_epoch``, which a resumed run restores."""
        every = self.config.curriculum_every
        if every is None:
            return horizon
        curriculum = HorizonCurriculum(horizon=horizon, every=every, unit=self.config.curriculum_unit)
        return curriculum.steps(step=self.global_step, epoch=self.current_epoch)

    def loss(self, prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        r"""The training loss over the observed entries :math:`\Omega` (``training.loss``):
        ``mae`` :math:`\frac{1}{|\Omega|}\sum_\Omega |\hat y - y|`; ``mse``
        :math:`\frac{1}{|\Omega|}\sum_\Omega (\hat y - y)^2` (T-GCN's code minimises squared
        error); or ``mae_rmse``, the MAE plus
        :math:`\sqrt{\frac{1}{|\Omega|}\sum_\Omega (\hat y - y)^2}`: MAE alone is minimised by
        the median, which on skewed readings (counts, congestion) loses to an average on RMSE;
        the sum pulls the forecast towards the mean where errors are large.

        Shapes:
            prediction, target, mask: the same shape, e.g. ``[batch, horizon, nodes, channels]``.
        """
        if self.config.loss == "mse":
            return masked_mse(prediction, target, mask=mask)
        mae = masked_mae(prediction, target, mask=mask)
        if self.config.loss == "mae":
            return mae
        return mae + masked_rmse(prediction, target, mask=mask)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y, mask = batch
        graph: SensorGraph = self.graph
        sensors = None  # full-graph rows of the nodes in y (None: all of them)
        if self.sampler is not None:
            subgraph = self.sampler.sample(self.global_step)
            graph, sensors = subgraph, subgraph.torch_positions(x.device)
            x, y, mask = (part.index_select(2, sensors) for part in batch)  # [batch, time, nodes, ...]
        z = self.scale_target(y, sensors)
        p = self.teacher_forcing()
        with checkpointed_blocks(self.model) if self.config.checkpointing else contextlib.nullcontext():
            if isinstance(self.model, QuantileHead):  # [batch, horizon, nodes, channels, quantiles]
                z_hat = self.model.quantile_forecast(x, graph)
            elif p > 0.0:
                # masked targets enter the decoder as the training mean (z = 0), never as a null value
                forced = torch.where(mask, z, torch.zeros_like(z))
                z_hat = self.model(x, graph, target=forced, teacher_forcing=p)
            else:
                z_hat = self.model(x, graph)
        if sensors is not None:  # the loss on the seeds only: the sensors with their whole neighbourhood
            seeds = subgraph.torch_positions(x.device, seeds=True)
            y, z, z_hat, mask = (part.index_select(2, seeds) for part in (y, z, z_hat, mask))
            sensors = sensors.index_select(0, seeds)
        # under DDP, the loss of the whole global batch, as one process takes it (stgraph.train.global_batch)
        z_hat, y, z, mask = gather_batch(z_hat, y, z, mask)
        # curriculum: the loss sees the first k horizon steps only (dim 1 of [batch, horizon, nodes, channels])
        k = self.curriculum_steps(y.shape[1])
        y, z, z_hat, mask = y[:, :k], z[:, :k], z_hat[:, :k], mask[:, :k]
        if isinstance(self.model, QuantileHead):
            quantiles = self.model.quantiles
            if self.config.loss_units == "original":  # the scaler's statistics broadcast over a leading Q axis
                loss = pinball_loss(self.inverse_target(z_hat.movedim(-1, 0), sensors).movedim(0, -1), y, quantiles, mask=mask)
            else:
                loss = pinball_loss(z_hat, z, quantiles, mask=mask)
        elif self.config.loss_units == "original":
            loss = self.loss(self.inverse_target(z_hat, sensors), y, mask)
        else:
            loss = self.loss(z_hat, z, mask)
        if not mask.any():
            # a batch with no observed target has nothing to learn from; keep the graph connected
            loss = z_hat.sum() * 0.0
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=x.shape[0])
        if self.forcing_decay is not None:
            self.log("teacher_forcing", p, on_step=True, on_epoch=False, batch_size=x.shape[0])
        if self.config.curriculum_every is not None:
            self.log("curriculum_steps", float(k), on_step=True, on_epoch=False, batch_size=x.shape[0])
        return loss

    # --- validation: exact masked MAE over the split, in original units -----------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums = []

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        x, y, mask = batch
        y_hat = self(x)
        error = torch.where(mask, (y_hat - y).abs(), torch.zeros_like(y))
        self._val_sums.append(torch.stack([error.sum(dtype=torch.float64), mask.sum(dtype=torch.float64)]))

    def on_validation_epoch_end(self) -> None:
        if self._val_sums:
            total = torch.stack(self._val_sums).sum(0)
        else:
            total = torch.zeros(2, dtype=torch.float64, device=self.device)
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        mae = (total[0] / total[1]).float() if total[1] > 0 else torch.tensor(float("nan"), device=total.device)
        # already summed over all processes: no second reduction
        self.log("val_mae", mae, prog_bar=True, sync_dist=False, rank_zero_only=False)
        self._val_sums = []

    # --- optimiser ------------------------------------------------------------------------------
    def configure_optimizers(self) -> OptimizerLRScheduler:
        c = self.config
        optimizer: torch.optim.Optimizer
        if c.optimizer == "rmsprop":
            optimizer = torch.optim.RMSprop(self.parameters(), lr=c.lr, alpha=c.alpha, eps=c.eps, weight_decay=c.weight_decay)
        else:
            # fused: one kernel for all parameters instead of a Python loop (~20 % of a CPU step, benchmarks/RESULTS.md);
            # not with mixed precision and clipping, which Lightning refuses for an optimiser that unscales itself
            fused = c.gradient_clip is None or "mixed" not in str(c.precision)
            optimizer = torch.optim.Adam(self.parameters(), lr=c.lr, eps=c.eps, weight_decay=c.weight_decay, fused=fused)
        if c.scheduler is None:
            return optimizer
        scheduler: torch.optim.lr_scheduler.LRScheduler
        if c.scheduler == "multistep":
            scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(c.milestones), gamma=c.gamma)
        else:
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=c.step_size, gamma=c.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
