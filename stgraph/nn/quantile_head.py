r"""Quantile forecasts from any registered model, without changing its file.

The model is built with ``out_channels = channels × Q`` for :math:`Q` quantile levels
:math:`0 < \tau_1 < \dots < \tau_Q < 1`; its output ``[batch, horizon, nodes, channels × Q]`` is
read as ``[batch, horizon, nodes, channels, Q]`` and sorted along the levels (the monotone
rearrangement of Chernozhukov, Fernández-Val & Galichon, Econometrica 2010: it never makes the
pinball loss worse and removes crossing quantiles). Trained with the pinball loss
(:func:`stgraph.metrics.intervals.pinball_loss`), output :math:`q` estimates the
:math:`\tau_q`-quantile of the reading.

:meth:`QuantileHead.forward` keeps the model contract and returns the median, the point
forecast every point metric scores; :meth:`QuantileHead.quantile_forecast` returns all levels.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor, nn

__all__ = ["QuantileHead", "check_quantiles"]


def check_quantiles(quantiles: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    """``quantiles`` as a tuple of floats, or a one-line error naming the bad value.

    Raises:
        ValueError: empty, not numbers, a level outside (0, 1), or not strictly increasing.
    """
    if isinstance(quantiles, (str, bytes)) or not isinstance(quantiles, (Sequence, np.ndarray)) or not len(quantiles):
        raise ValueError(f"quantiles must be a non-empty list of levels in (0, 1), got {quantiles!r}")
    levels = []
    for level in list(quantiles):
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
            raise ValueError(f"quantiles must lie in (0, 1), got {level!r} in {list(quantiles)}")
        levels.append(float(level))
    for low, high in itertools.pairwise(levels):
        if not low < high:
            raise ValueError(f"quantiles must be sorted increasing without repeats, got {high} after {low} in {levels}")
    return tuple(levels)


class QuantileHead(nn.Module):
    """A forecasting model read as ``channels × Q`` quantile outputs.

    Args:
        model: a model following the contract, built with ``out_channels = channels * len(quantiles)``.
        channels: target channels.
        quantiles: increasing levels in (0, 1), one of them 0.5 (the point forecast).

    Shapes:
        forward: ``x [batch, lookback, nodes, features]`` -> ``[batch, horizon, nodes, channels]`` (the median);
        quantile_forecast: -> ``[batch, horizon, nodes, channels, quantiles]``.
    """

    #: a step-by-step decoder would be fed ``channels`` values where it forecasts ``channels × Q``
    accepts_teacher_forcing = False

    def __init__(self, model: nn.Module, *, channels: int, quantiles: Sequence[float]) -> None:
        super().__init__()
        self.quantiles = check_quantiles(quantiles)
        if 0.5 not in self.quantiles:
            raise ValueError(f"quantiles must include 0.5 (the median is the point forecast), got {list(self.quantiles)}")
        self.model = model
        self.channels = channels
        self.median = self.quantiles.index(0.5)

    def quantile_forecast(self, x: Tensor, graph: Any, **kwargs: Any) -> Tensor:
        """Every level, sorted along the last axis: ``[batch, horizon, nodes, channels, quantiles]``."""
        output: Tensor = self.model(x, graph, **kwargs)
        expected = self.channels * len(self.quantiles)
        if output.shape[-1] != expected:
            raise ValueError(
                f"QuantileHead: the model forecasts {output.shape[-1]} channels; {self.channels} channels x "
                f"{len(self.quantiles)} quantiles need {expected} (build it with out_channels={expected})"
            )
        levels = output.reshape(*output.shape[:-1], self.channels, len(self.quantiles))
        return levels.sort(dim=-1).values

    def forward(self, x: Tensor, graph: Any, **kwargs: Any) -> Tensor:
        return self.quantile_forecast(x, graph, **kwargs)[..., self.median]
