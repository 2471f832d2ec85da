r"""A learned imputer: a residual over linear interpolation, trained by hiding observed readings.

The model sees each sensor's readings filled by :func:`~stgraph.impute.baselines.linear_in_time`
**and the mask** (with, per cell, the distance in steps to the previous and next observed
reading), and predicts a correction to the linear fill:

.. math::
    \hat x = \ell(x, m) + f_\theta\big(\ell(x, m), m, g^-, g^+\big)

where :math:`\ell` is linear interpolation, :math:`m` the mask and :math:`g^\mp` the gap
distances. :math:`f_\theta` alternates dilated temporal convolutions (per sensor) with
diffusion over the forward and backward transitions :math:`P_f = D_{out}^{-1}A`,
:math:`P_b = D_{in}^{-1}A^\top` (through :func:`stgraph.ops.propagate`), so a gap is filled
from the sensor's own history and from how its neighbours deviate from *their* interpolation
at that time. Its last layer starts at zero: before training the imputer *is* linear
interpolation.

Training follows the GRIN / SPIN protocol of Torch Spatiotemporal: at every step a random
share of the observed readings is hidden again (point or block pattern,
:mod:`stgraph.impute.masking`), the input is rebuilt from what is left, and the loss is the
MAE on the re-hidden readings only. Readings hidden for evaluation are never inputs nor
targets. Readings are z-scored with the mean and standard deviation of the observed inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from stgraph.graph.sensor_graph import SensorGraph
from stgraph.impute.baselines import _checked, _latest_observed, _next_observed, linear_in_time
from stgraph.impute.masking import block_missing, point_missing
from stgraph.ops import Operator, propagate

__all__ = ["DEFAULT_SETTINGS", "ImputerSettings", "ResidualImputer", "TrainedImputer", "fit_imputer", "learned_impute"]

logger = logging.getLogger(__name__)

_GAP_SCALE = 48.0  # gap distances are given in units of 48 steps (4 h at 5 minutes), clipped at 1


@dataclass(frozen=True)
class ImputerSettings:
    """Training settings: ``steps`` optimiser steps on crops of ``crop`` time steps, Adam at ``lr``."""

    hidden: int = 32
    layers: int = 3
    steps: int = 150
    crop: int = 288
    lr: float = 3e-3
    seed: int = 0


DEFAULT_SETTINGS = ImputerSettings()


class ResidualImputer(nn.Module):
    """:math:`f_\\theta`: ``layers`` blocks of dilated temporal convolution + forward/backward diffusion.

    Args:
        hidden: channels per sensor.
        layers: blocks; block ``k`` has temporal dilation ``2**k``.

    Shapes:
        features: ``[time, nodes, 4]`` -> correction ``[time, nodes]``
    """

    def __init__(self, *, hidden: int = 32, layers: int = 3) -> None:
        super().__init__()
        self.encode = nn.Linear(4, hidden)
        self.temporal = nn.ModuleList(
            nn.Conv1d(hidden, hidden, kernel_size=3, dilation=2**k, padding=2**k) for k in range(layers)
        )
        self.spatial = nn.ModuleList(nn.Linear(3 * hidden, hidden) for _ in range(layers))
        self.decode = nn.Linear(hidden, 1)
        nn.init.zeros_(self.decode.weight)
        nn.init.zeros_(self.decode.bias)

    def forward(self, features: torch.Tensor, forward_op: Operator, backward_op: Operator) -> torch.Tensor:
        hidden = torch.relu(self.encode(features))  # [time, nodes, hidden]
        for temporal, spatial in zip(self.temporal, self.spatial, strict=True):
            # per sensor over time: Conv1d wants [nodes, hidden, time]
            hidden = hidden + torch.relu(temporal(hidden.permute(1, 2, 0)).permute(2, 0, 1))
            mixed = torch.cat([hidden, propagate(forward_op, hidden), propagate(backward_op, hidden)], dim=-1)
            hidden = hidden + torch.relu(spatial(mixed))
        correction: torch.Tensor = self.decode(hidden)[..., 0]
        return correction


def _features(values: np.ndarray, mask: np.ndarray, mean: float, std: float) -> tuple[np.ndarray, np.ndarray]:
    """``(linear fill z-scored [time, sensors], features [time, sensors, 4])`` for the model."""
    linear = (linear_in_time(values, mask) - mean) / std
    steps = np.arange(mask.shape[0])[:, None]
    before = _latest_observed(mask)
    after = _next_observed(mask)
    since = np.where(before >= 0, steps - before, _GAP_SCALE) / _GAP_SCALE
    until = np.where(after < mask.shape[0], after - steps, _GAP_SCALE) / _GAP_SCALE
    features = np.stack([linear, mask.astype(np.float64), np.minimum(since, 1.0), np.minimum(until, 1.0)], axis=-1)
    return linear, features.astype(np.float32)


def _operators(adjacency: sp.spmatrix | np.ndarray, sensors: int) -> tuple[Operator, Operator]:
    graph = SensorGraph(sp.csr_matrix(adjacency), [str(i) for i in range(sensors)])
    return graph.torch_operator("forward", dtype=torch.float32), graph.torch_operator("backward", dtype=torch.float32)


@dataclass
class TrainedImputer:
    """A trained :class:`ResidualImputer` with what it needs to fill a series of the same sensors.

    Attributes:
        model: the network; mean, std: the z-score it was trained with.
        adjacency: float64 CSR ``[sensors, sensors]`` in ``sensor_ids`` order.
        sensor_ids, interval: the sensors and sampling interval it was trained on.
        settings: the training settings.
    """

    model: ResidualImputer
    mean: float
    std: float
    adjacency: sp.csr_matrix
    sensor_ids: list[str]
    interval: pd.Timedelta
    settings: ImputerSettings

    @torch.no_grad()
    def fill(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill the missing readings of ``values`` (the trained sensors, in their order).

        Shapes:
            values, mask: ``[time, sensors]`` -> float64 ``[time, sensors]``
        """
        values, mask = _checked(values, mask, self.sensor_ids)
        linear, features = _features(values, mask, self.mean, self.std)
        forward_op, backward_op = _operators(self.adjacency, values.shape[1])
        correction = self.model.eval()(torch.from_numpy(features), forward_op, backward_op).double().numpy()
        filled: np.ndarray = np.where(mask, values, (linear + correction) * self.std + self.mean)
        return filled


def fit_imputer(
    values: np.ndarray,
    mask: np.ndarray,
    adjacency: sp.spmatrix | np.ndarray,
    interval: pd.Timedelta | str,
    *,
    settings: ImputerSettings = DEFAULT_SETTINGS,
    sensor_ids: Sequence[str] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainedImputer:
    """Train a :class:`ResidualImputer` on the observed readings of one series.

    ``on_step(step, loss)`` is called after every optimiser step (a command's progress bar).

    Shapes:
        values, mask: ``[time, sensors]``; adjacency: ``[sensors, sensors]``
    """
    values, mask = _checked(values, mask, sensor_ids)
    mean, std = float(values[mask].mean()), float(values[mask].std()) or 1.0
    adjacency = sp.csr_matrix(adjacency, dtype=np.float64)
    forward_op, backward_op = _operators(adjacency, values.shape[1])
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = ResidualImputer(hidden=settings.hidden, layers=settings.layers)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    crop = min(settings.crop, values.shape[0])
    last_loss = float("nan")  # of the latest step that trained
    for step in range(settings.steps):
        start = int(rng.integers(values.shape[0] - crop + 1))
        x, m = values[start : start + crop], mask[start : start + crop]
        seed = int(rng.integers(2**31))
        again = point_missing(m, seed=seed) if step % 2 == 0 else block_missing(m, interval, seed=seed)
        inputs = m & ~again
        if again.any() and inputs.any(axis=0).all():  # else nothing to learn, or a sensor left without readings
            linear, features = _features(x, inputs, mean, std)
            correction = model(torch.from_numpy(features), forward_op, backward_op)
            estimate = torch.from_numpy(linear.astype(np.float32)) + correction
            target = torch.from_numpy(((x - mean) / std).astype(np.float32))
            loss = (estimate - target).abs()[torch.from_numpy(again)].mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            last_loss = loss.item()
            if step % 50 == 0:
                logger.debug("learned imputer: step %d, masked MAE %.4f (z units)", step, last_loss)
        if on_step is not None:
            on_step(step, last_loss)
    ids = list(sensor_ids) if sensor_ids is not None else [str(i) for i in range(values.shape[1])]
    return TrainedImputer(model.eval(), mean, std, adjacency, ids, pd.Timedelta(interval), settings)


def learned_impute(
    values: np.ndarray,
    mask: np.ndarray,
    adjacency: sp.spmatrix | np.ndarray,
    interval: pd.Timedelta | str,
    *,
    settings: ImputerSettings = DEFAULT_SETTINGS,
    sensor_ids: Sequence[str] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> np.ndarray:
    """Train on ``values``' observed readings (:func:`fit_imputer`) and fill its missing ones.

    Shapes:
        values, mask: ``[time, sensors]``; adjacency: ``[sensors, sensors]`` -> float64 ``[time, sensors]``
    """
    imputer = fit_imputer(values, mask, adjacency, interval, settings=settings, sensor_ids=sensor_ids, on_step=on_step)
    return imputer.fill(values, mask)
