r"""Layer normalisation over sensors and channels with a gain and bias per sensor (STGCN)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SensorLayerNorm"]


class SensorLayerNorm(nn.LayerNorm):
    r"""``nn.LayerNorm([num_sensors, features])`` that also normalises a subset of its sensors.

    .. math::
        \mathrm{out}_{n,c} = \frac{x_{n,c} - \mu}{\sqrt{\sigma^2 + \epsilon}}\,\gamma_{p(n),c} + \beta_{p(n),c}

    with :math:`\mu, \sigma^2` over the sensors and channels of ``x`` and :math:`p(n)` the row
    of sensor :math:`n` among the ``num_sensors`` (the identity on the full graph). On a
    sensor subgraph (``positions`` given) the statistics are those of the sampled sensors,
    not of the whole network: sensor-batched training of a model with this layer approximates
    its full-graph statistics by a connected region's. Parameters and state-dict keys are
    :class:`torch.nn.LayerNorm`'s.

    Args:
        num_sensors: sensors :math:`N` of the full graph.
        features: channels per sensor.
        eps: :math:`\epsilon`.

    Shapes:
        x: ``[..., nodes, features]`` -> the same; positions: ``[nodes]`` int64 or None
        (``nodes == num_sensors``).
    """

    def __init__(self, num_sensors: int, features: int, eps: float = 1e-5) -> None:
        super().__init__([num_sensors, features], eps=eps)

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        if positions is None:
            return super().forward(x)
        return F.layer_norm(
            x, x.shape[-2:], self.weight.index_select(0, positions), self.bias.index_select(0, positions), self.eps
        )
