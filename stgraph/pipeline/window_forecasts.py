"""Forecasts of a split's windows in original units: whole arrays, or a block at a time.

A model reads scaled windows (:meth:`~stgraph.pipeline.data.PreparedData.windows`) and its
forecasts are inverted with the windows' target scaler; a
:class:`~stgraph.nn.QuantileHead` forecasts every level. :func:`forecast_windows` returns
whole arrays; :func:`forecast_blocks` yields consecutive blocks of windows, for a split too
large to hold (:mod:`stgraph.pipeline.scoring`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import torch

from stgraph.data.windows import WindowDataset
from stgraph.graph import SensorGraph
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.data import window_loader

__all__ = ["ForecastBlock", "forecast_blocks", "forecast_quantile_windows", "forecast_windows"]


def forecast_windows(
    model: torch.nn.Module,
    graph: SensorGraph,
    windows: WindowDataset,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts of ``model`` (in evaluation mode, moved to ``device``) for every window, in order,
    with the targets and their mask, all in original units.

    ``windows`` carries the scaler (:meth:`PreparedData.windows`): the model reads scaled inputs
    and its forecasts are inverted with ``windows.target_scaler``.

    Shapes:
        -> forecast and target float32, mask bool: ``[windows, horizon, nodes, channels]``
    """
    return _forecast_all(_point_forecaster(model, graph, device), windows, batch_size, ())


def forecast_quantile_windows(
    model: QuantileHead,
    graph: SensorGraph,
    windows: WindowDataset,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`forecast_windows` for every quantile level of a :class:`~stgraph.nn.QuantileHead`.

    Shapes:
        -> quantiles float32 ``[windows, horizon, nodes, channels, quantiles]``; target, mask
        ``[windows, horizon, nodes, channels]``
    """
    return _forecast_all(_quantile_forecaster(model, graph, device), windows, batch_size, (len(model.quantiles),))


Forecaster = Callable[[torch.Tensor], torch.Tensor]


def _point_forecaster(model: torch.nn.Module, graph: SensorGraph, device: str | torch.device) -> Forecaster:
    """``model`` in evaluation mode on ``device``, as a function of a scaled input batch."""
    device = torch.device(device)
    model = model.to(device).eval()
    return lambda x: model(x.to(device), graph)


def _quantile_forecaster(model: QuantileHead, graph: SensorGraph, device: str | torch.device) -> Forecaster:
    """:func:`_point_forecaster` for every level, levels first: ``[Q, batch, horizon, nodes, channels]``
    (the scaler's ``[channels]`` or ``[nodes, channels]`` statistics broadcast over them)."""
    device = torch.device(device)
    model = model.to(device).eval()
    return lambda x: model.quantile_forecast(x.to(device), graph).movedim(-1, 0)


@torch.no_grad()
def _forecast_batches(
    forecast: Forecaster, windows: WindowDataset, batch_size: int, *, levels_first: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``forecast`` of every batch of ``windows``, in order and in original units, with the
    batch's targets and mask (levels moved from the front to the back when ``levels_first``)."""
    scaler = windows.target_scaler
    if scaler is None:
        raise ValueError(
            "forecast_windows needs windows built with the training scaler (PreparedData.windows): "
            "the model forecasts in scaled units"
        )
    done = 0
    for x, y, mask in window_loader(windows, batch_size=batch_size, shuffle=False):
        original = scaler.inverse_transform(forecast(x).float())
        yield (original.movedim(0, -1) if levels_first else original).cpu().numpy(), y.numpy(), mask.numpy()
        done += len(y)
    if done != len(windows):  # the loader is this process's, unsharded: every window, once
        raise RuntimeError(f"forecast {done} of {len(windows)} windows")


def _forecast_all(
    forecast: Forecaster, windows: WindowDataset, batch_size: int, levels: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_forecast_batches` gathered into whole arrays (``levels``: the shape ``forecast``
    adds in front, moved to the back)."""
    count, shape = len(windows), (windows.horizon, windows.num_sensors, windows.out_channels)
    # filled batch by batch: memory holds the results once, never a list of parts and their concatenation
    forecasts = np.zeros((count, *shape, *levels), dtype=np.float32)
    targets, masks = np.zeros((count, *shape), dtype=np.float32), np.zeros((count, *shape), dtype=bool)
    done = 0
    for batch, y, mask in _forecast_batches(forecast, windows, batch_size, levels_first=bool(levels)):
        if done == 0 and batch.shape[1:] != forecasts.shape[1:]:  # a model whose horizon is not the windows' own
            forecasts = np.zeros((count, *batch.shape[1:]), dtype=np.float32)
        rows = slice(done, done + len(y))
        forecasts[rows], targets[rows], masks[rows] = batch, y, mask
        done += len(y)
    return forecasts, targets, masks


@dataclasses.dataclass(frozen=True)
class ForecastBlock:
    """Forecasts of consecutive windows ``start, start + 1, ...`` of a split, in original units.

    Attributes:
        prediction, target, mask: ``[windows, horizon, nodes, channels]`` (float32, float32, bool).
        quantiles: ``[windows, horizon, nodes, channels, levels]`` of a quantile model (whose
            median is ``prediction``), else None.
    """

    start: int
    prediction: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    quantiles: np.ndarray | None = None


def forecast_blocks(
    model: torch.nn.Module,
    graph: SensorGraph,
    windows: WindowDataset,
    *,
    rows: int,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> Iterator[ForecastBlock]:
    """:func:`forecast_windows` (or, for a :class:`~stgraph.nn.QuantileHead`, every level and
    its median) a block of about ``rows`` windows at a time (whole batches of ``batch_size``),
    so that a split too large to hold is scored in memory bounded by one block."""
    median: int | None = None
    if isinstance(model, QuantileHead):
        forecast, median = _quantile_forecaster(model, graph, device), model.median
    else:
        forecast = _point_forecaster(model, graph, device)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start = 0

    def joined() -> ForecastBlock:
        values, target, mask = (np.concatenate(column) if len(parts) > 1 else column[0] for column in zip(*parts))
        if median is None:
            return ForecastBlock(start, values, target, mask)
        return ForecastBlock(start, np.ascontiguousarray(values[..., median]), target, mask, quantiles=values)

    for batch in _forecast_batches(forecast, windows, batch_size, levels_first=median is not None):
        parts.append(batch)
        if sum(len(part[1]) for part in parts) >= rows:
            yield joined()
            start, parts = start + sum(len(part[1]) for part in parts), []
    if parts:
        yield joined()
