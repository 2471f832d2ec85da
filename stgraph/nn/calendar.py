r"""Calendar slots from the pipeline's covariates, for models that embed the time of day and the
day of week (STID, STAEformer, GMAN).

The covariates come from :mod:`stgraph.data.covariates`: the time of day as a fraction
:math:`\tau \in [0, 1)` and the day of week as an index 0 (Monday) .. 6. A model is told where
they sit among its input features (``time_of_day_feature``, ``day_of_week_feature``, filled in
by :func:`stgraph.pipeline.run_dir.calendar_arguments`).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_calendar_features", "day_of_week_index", "extend_calendar", "time_of_day_slot"]


def check_calendar_features(
    model: str, in_features: int, time_of_day_feature: int | None, day_of_week_feature: int | None
) -> None:
    """Raise ``ValueError`` naming ``model`` when a calendar position is not one of the ``in_features``."""
    for name, position in (("time_of_day_feature", time_of_day_feature), ("day_of_week_feature", day_of_week_feature)):
        if position is not None and not 0 <= position < in_features:
            raise ValueError(f"{model}: {name} {position} is not a feature position (0..{in_features - 1})")


def time_of_day_slot(fraction: Tensor, steps_per_day: int) -> Tensor:
    r"""Slot of the day :math:`\mathrm{round}(\tau S) \bmod S` (``S`` = ``steps_per_day``), int64.

    Rounded rather than truncated: a float32 fraction just below a slot boundary
    (:math:`k/S - \epsilon`) stays in slot :math:`k`.

    Shapes:
        fraction: any shape -> the same shape.
    """
    return (fraction * steps_per_day).round().long() % steps_per_day


def day_of_week_index(day: Tensor) -> Tensor:
    """Day of week 0..6 as int64, rounded and clamped into range.

    Shapes:
        day: any shape -> the same shape.
    """
    return day.round().long().clamp(0, 6)


def extend_calendar(slot: Tensor, day: Tensor, horizon: int, steps_per_day: int) -> tuple[Tensor, Tensor]:
    r"""The slots and days of the ``horizon`` steps after each window, appended to the window's own.

    Step :math:`h` after the last slot :math:`s` has slot :math:`(s + h) \bmod S` and day
    :math:`(d + \lfloor (s + h) / S \rfloor) \bmod 7` (``S`` = ``steps_per_day``, :math:`d` the
    last day).

    Shapes:
        slot, day: int64 ``[batch, lookback]`` -> each ``[batch, lookback + horizon]``
    """
    ahead = slot[:, -1:] + torch.arange(1, horizon + 1, device=slot.device)
    return (
        torch.cat([slot, ahead % steps_per_day], dim=1),
        torch.cat([day, (day[:, -1:] + ahead // steps_per_day) % 7], dim=1),
    )
