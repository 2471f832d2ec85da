"""What every forecasting model shares: its recorded constructor arguments, its capabilities,
input checks, graph operators and the sequence-to-sequence decoding loop with scheduled
sampling."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.graph import SensorGraph
from stgraph.graph.sampling import SensorSubgraph
from stgraph.ops import Operator

__all__ = ["ForecastModel"]

_CONTRACT = ("num_sensors", "in_features", "out_channels", "lookback", "horizon")

# What a decoder carries from one step to the next (an LSTM's (h, c), a stack's states, ...).
_State = TypeVar("_State")


class ForecastModel(nn.Module):
    """Base class: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``.

    **Constructor arguments.** A model's ``__init__`` takes keyword-only arguments, the
    contract's ``num_sensors, in_features, out_channels, lookback, horizon`` first, and calls
    ``super().__init__()`` with none. The base class records the arguments of the outermost
    constructor call, defaults filled in, as :attr:`init_kwargs`, so a checkpoint holding the
    registry name and ``init_kwargs`` rebuilds the model with
    ``stgraph.models.create(name, **init_kwargs)``. It checks the contract's values (as the
    constructor calling ``super().__init__()`` received them) and sets them as attributes
    (``self.num_sensors`` ...).

    **Capabilities** (class attributes the trainer reads instead of checking classes):

    - ``accepts_teacher_forcing``: the model decodes step by step and, in training mode, feeds
      the true previous value with probability ``teacher_forcing`` (scheduled sampling, see
      :meth:`_decode`). False: ``target`` and ``teacher_forcing`` are accepted for the common
      ``forward`` signature and unused.
    - ``sensor_subsets``: the model runs on a :class:`~stgraph.graph.sampling.SensorSubgraph`
      (sensor-batched training, ``training.sensor_batch``): ``x`` then has the subgraph's
      sensors on its node axis and the model indexes its per-sensor parameters with the
      subgraph's ``positions`` (:meth:`_per_sensor`). False: ``sensor_subsets_reason`` says why
      not, in the error a subgraph meets.

    ``graph`` may be a :class:`~stgraph.SensorGraph` or a scipy/numpy/torch adjacency
    (:meth:`SensorGraph.coerce`). Pass a SensorGraph in training loops: it keeps its normalised
    operators cached per device and dtype, where a plain adjacency is normalised again on
    every call.
    """

    accepts_teacher_forcing: ClassVar[bool] = False
    sensor_subsets: ClassVar[bool] = False
    sensor_subsets_reason: ClassVar[str] = "it has not been made to forecast a subset of its sensors"
    # Set by the wrapped constructor (_recording_arguments) in the instance's __dict__.
    _init_kwargs: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            setattr(cls, "__init__", _recording_arguments(cls.__init__))  # noqa: B010 (mypy rejects assigning to a method)

    def __init__(self) -> None:
        super().__init__()
        arguments = self.__dict__.pop("_arguments", None)
        if arguments is None:
            raise TypeError(f"{type(self).__name__}: ForecastModel is a base class; build a registered model")
        for key in _CONTRACT:
            value = arguments.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{type(self).__name__}: {key} must be a positive integer, got {value!r}")
        self.num_sensors: int = arguments["num_sensors"]
        self.in_features: int = arguments["in_features"]
        self.out_channels: int = arguments["out_channels"]
        self.lookback: int = arguments["lookback"]
        self.horizon: int = arguments["horizon"]

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """The constructor's keyword arguments, defaults included (a copy)."""
        return copy.deepcopy(self._init_kwargs)

    # --- checks at the model's entry ---------------------------------------------------------
    def _check_input(self, x: Tensor, graph: Any = None) -> None:
        """ShapeError unless ``x`` is ``[batch, lookback, num_sensors, in_features]`` (or, with a
        :class:`SensorSubgraph` as ``graph``, the subgraph's sensors on the node axis)."""
        name = type(self).__name__
        nodes = self._nodes(graph)
        got = list(x.shape)
        layout = "[batch, time, nodes, features]"
        if x.ndim != 4:
            raise ShapeError(f"{name} expects x as {layout} with time == lookback ({self.lookback}); got {got}")
        checks = [
            ("time == lookback", self.lookback),
            ("nodes == num_sensors" if nodes == self.num_sensors else "nodes == the subgraph's sensors", nodes),
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
        expected = [x.shape[0], self.horizon, x.shape[2], self.out_channels]
        if list(target.shape) != expected:
            raise ShapeError(
                f"{type(self).__name__} expects target as [batch, horizon, nodes, channels] = {expected}; "
                f"got {list(target.shape)}"
            )

    def _nodes(self, graph: Any) -> int:
        """Sensors on the node axis: ``num_sensors``, or a :class:`SensorSubgraph`'s, which a
        model without ``sensor_subsets`` refuses with its reason."""
        if not isinstance(graph, SensorSubgraph):
            return self.num_sensors
        if not self.sensor_subsets:
            raise ShapeError(f"{type(self).__name__} cannot train on a sensor subgraph: {self.sensor_subsets_reason}")
        if graph.parent_sensors != self.num_sensors:
            raise ShapeError(
                f"{type(self).__name__} was built for {self.num_sensors} sensors; the subgraph was drawn from a graph "
                f"of {graph.parent_sensors}"
            )
        return graph.num_sensors

    def _per_sensor(self, parameter: Tensor, graph: Any) -> Tensor:
        """``parameter`` (``[num_sensors, ...]``) at the sensors of ``graph``: all of it, or the
        rows of a :class:`SensorSubgraph`'s ``positions``, so only those rows get a gradient.

        Shapes:
            parameter: ``[num_sensors, ...]`` -> ``[nodes, ...]``
        """
        if not isinstance(graph, SensorSubgraph):
            return parameter
        return parameter.index_select(0, graph.torch_positions(parameter.device))

    def _positions(self, graph: Any, x: Tensor) -> Tensor | None:
        """``[nodes]`` int64 rows of a :class:`SensorSubgraph`'s sensors on ``x``'s device; None
        on the full graph."""
        return graph.torch_positions(x.device) if isinstance(graph, SensorSubgraph) else None

    def _graph(self, graph: Any) -> SensorGraph:
        """The :class:`SensorGraph` behind ``graph``, checked against ``num_sensors`` (a
        :class:`SensorSubgraph` against the graph it was drawn from)."""
        sensor_graph = SensorGraph.coerce(graph)
        if isinstance(sensor_graph, SensorSubgraph):
            self._nodes(sensor_graph)
        elif sensor_graph.num_sensors != self.num_sensors:
            where = f" ({sensor_graph.source})" if sensor_graph.source else ""
            raise ShapeError(
                f"{type(self).__name__} was built for {self.num_sensors} sensors; the graph{where} has {sensor_graph.num_sensors}"
            )
        return sensor_graph

    def _operators(self, graph: Any, x: Tensor, *kinds: str) -> list[Operator]:
        """``graph``'s normalised operators of ``kinds`` (``"forward"``, ``"laplacian"``, ...; see
        :meth:`SensorGraph.torch_operator`) on ``x``'s device and dtype, cached by the graph."""
        sensor_graph = self._graph(graph)
        return [sensor_graph.torch_operator(kind, device=x.device, dtype=x.dtype) for kind in kinds]

    def _per_step(self, out: Tensor) -> Tensor:
        """Forecasts emitted all at once, ``horizon * out_channels`` values per sensor, laid out
        per step.

        Shapes:
            out: ``[batch, nodes, horizon * out_channels]`` (or with a time axis of 1 after
            ``batch``) -> ``[batch, horizon, nodes, out_channels]``
        """
        return out.reshape(out.shape[0], -1, self.horizon, self.out_channels).transpose(1, 2)

    # --- sequence-to-sequence decoding -----------------------------------------------------
    def _decode(
        self,
        step: Callable[[Tensor, _State], tuple[Tensor, _State]],
        first_input: Tensor,
        state: _State,
        target: Tensor | None,
        teacher_forcing: float,
    ) -> Tensor:
        r"""Run a decoder for ``horizon`` steps, feeding back its own forecasts.

        In training mode, with a ``target``, each next input is the true value of the previous
        step with probability ``teacher_forcing`` (one draw per step for the whole batch, as in
        DCRNN's code), else the forecast: scheduled sampling (Bengio et al., NeurIPS 2015). In
        evaluation mode the forecast is always fed back. A model decoding with this loop sets
        ``accepts_teacher_forcing = True``.

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
        # The target where it may be fed in (training, with a positive probability), else None.
        truth = target if self.training and teacher_forcing > 0.0 else None
        forecasts = []
        inputs = first_input
        for t in range(self.horizon):
            forecast, state = step(inputs, state)
            forecasts.append(forecast)
            if t == self.horizon - 1:
                break
            # One draw per step on the CPU generator: no device synchronisation.
            if truth is not None and (teacher_forcing >= 1.0 or float(torch.rand(())) < teacher_forcing):
                inputs = truth[:, t]
            else:
                inputs = forecast
        return torch.stack(forecasts, dim=1)


def _recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model's ``__init__`` so that each call binds its keyword arguments, defaults
    filled in, before the body runs: the outermost call's are kept as ``_init_kwargs``; the
    innermost call's (the constructor that calls ``ForecastModel.__init__``) are what the base
    checks."""
    signature = inspect.signature(init)
    positional = [name for name, p in list(signature.parameters.items())[1:] if p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    if positional:
        raise TypeError(f"{init.__qualname__}: model constructors take keyword-only arguments; {positional} are not")

    @functools.wraps(init)
    def __init__(self: ForecastModel, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            init(self, *args, **kwargs)  # raises Python's own message, naming the constructor
            raise
        bound.apply_defaults()
        arguments: dict[str, Any] = {}
        for name, value in list(bound.arguments.items())[1:]:
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[name] = value
        # Set in __dict__ directly: nn.Module.__init__ has not run yet.
        self.__dict__.setdefault("_init_kwargs", copy.deepcopy(arguments))
        self.__dict__["_arguments"] = arguments
        init(self, *args, **kwargs)

    return __init__
