"""What every forecasting model shares: its recorded hyperparameters, input checks, graph
resolution and the sequence-to-sequence decoding loop with scheduled sampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.graph import SensorGraph

__all__ = ["ForecastModel"]

_CONTRACT = ("num_sensors", "in_features", "out_channels", "lookback", "horizon")


class ForecastModel(nn.Module):
    """Base class: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``.

    Subclasses pass every constructor argument to ``super().__init__(**hparams)``; they are kept
    in :attr:`hparams` (plain Python values) so a checkpoint holding the registry name and
    ``hparams`` rebuilds the model with ``stgraph.models.create(name, **hparams)``.

    ``graph`` may be a :class:`~stgraph.SensorGraph` or a scipy/numpy/torch adjacency
    (:meth:`SensorGraph.coerce`). Pass a SensorGraph in training loops: it keeps its normalised
    operators cached per device and dtype, where a plain adjacency is normalised again on
    every call.
    """

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        for key in _CONTRACT:
            value = hparams.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{type(self).__name__}: {key} must be a positive integer, got {value!r}")
        self.hparams: dict[str, Any] = dict(hparams)
        self.num_sensors: int = hparams["num_sensors"]
        self.in_features: int = hparams["in_features"]
        self.out_channels: int = hparams["out_channels"]
        self.lookback: int = hparams["lookback"]
        self.horizon: int = hparams["horizon"]

    # --- checks at the model's entry ---------------------------------------------------------
    def _check_input(self, x: Tensor) -> None:
        """ShapeError unless ``x`` is ``[batch, lookback, num_sensors, in_features]``."""
        name = type(self).__name__
        got = list(x.shape)
        layout = "[batch, time, nodes, features]"
        if x.ndim != 4:
            raise ShapeError(f"{name} expects x as {layout} with time == lookback ({self.lookback}); got {got}")
        checks = [
            ("time == lookback", self.lookback),
            ("nodes == num_sensors", self.num_sensors),
            ("features == in_features", self.in_features),
        ]
        for axis, (label, expected) in enumerate(checks, start=1):
            if x.shape[axis] != expected:
                raise ShapeError(f"{name} expects x as {layout} with {label} ({expected}); got {got}")
        if not x.is_floating_point():
            raise ShapeError(f"{name} expects floating-point x; got {x.dtype}")

    def _check_target(self, target: Tensor | None, x: Tensor) -> None:
        if target is None:
            return
        expected = [x.shape[0], self.horizon, self.num_sensors, self.out_channels]
        if list(target.shape) != expected:
            raise ShapeError(
                f"{type(self).__name__} expects target as [batch, horizon, nodes, channels] = {expected}; "
                f"got {list(target.shape)}"
            )

    def _graph(self, graph: Any) -> SensorGraph:
        """The :class:`SensorGraph` behind ``graph``, checked against ``num_sensors``."""
        graph = SensorGraph.coerce(graph)
        if graph.num_sensors != self.num_sensors:
            where = f" ({graph.source})" if graph.source else ""
            raise ShapeError(
                f"{type(self).__name__} was built for {self.num_sensors} sensors; the graph{where} has {graph.num_sensors}"
            )
        return graph

    # --- sequence-to-sequence decoding -----------------------------------------------------
    def _decode(
        self,
        step: Callable[[Tensor, Any], tuple[Tensor, Any]],
        first_input: Tensor,
        state: Any,
        target: Tensor | None,
        teacher_forcing: float,
    ) -> Tensor:
        r"""Run a decoder for ``horizon`` steps, feeding back its own forecasts.

        In training mode, with a ``target``, each next input is the true value of the previous
        step with probability ``teacher_forcing`` (one draw per step for the whole batch, as in
        DCRNN's code), else the forecast: scheduled sampling (Bengio et al., NeurIPS 2015). In
        evaluation mode the forecast is always fed back.

        Args:
            step: ``step(input, state) -> (forecast, state)``; ``input`` and ``forecast`` are
                ``[batch, nodes, out_channels]``.
            first_input: the GO symbol, ``[batch, nodes, out_channels]``.
            state: the encoder's final state, passed to ``step`` as it is.
            target: ``[batch, horizon, nodes, out_channels]`` or None.
            teacher_forcing: probability in ``[0, 1]`` of feeding the true previous value.

        Shapes:
            returns ``[batch, horizon, nodes, out_channels]``
        """
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be a probability in [0, 1], got {teacher_forcing}")
        forcing = self.training and target is not None and teacher_forcing > 0.0
        forecasts = []
        inputs = first_input
        for t in range(self.horizon):
            forecast, state = step(inputs, state)
            forecasts.append(forecast)
            if t == self.horizon - 1:
                break
            # One draw per step on the CPU generator: no device synchronisation.
            if forcing and (teacher_forcing >= 1.0 or float(torch.rand(())) < teacher_forcing):
                inputs = target[:, t]
            else:
                inputs = forecast
        return torch.stack(forecasts, dim=1)
