"""Chronological train/validation/test splits that drop windows straddling a boundary.

A window starting at step ``s`` reads inputs ``s .. s+lookback-1`` and targets
``s+lookback .. s+lookback+horizon-1``. The steps are cut into three consecutive parts and a
window belongs to a part only if all its ``lookback + horizon`` steps lie inside it, so no
input or target of one part is ever seen by another.

Difference from DCRNN: its ``generate_training_data.py`` first builds every window, then
gives the first ``round(0.7 n)`` *windows* to training, the last ``round(0.2 n)`` to test and
the rest to validation. Windows next to a boundary then share steps across parts (the last
training targets are the first validation inputs). Here the *steps* are split, with the same
rounding (``round(0.7 T)`` train, ``round(0.2 T)`` test, the rest validation), and each part
loses the ``lookback + horizon - 1`` windows that would cross its end, so a part of ``P``
steps yields ``P - lookback - horizon + 1`` windows (with ``stride`` 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

__all__ = ["PARTS", "Split", "split_by_dates", "split_by_fraction"]

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Window start indices per part, and the steps each part covers.

    Attributes:
        train, val, test: int64 window starts (first input step) of each part.
        boundaries: ``(train_end, val_end)``: train covers steps ``[0, train_end)``,
            validation ``[train_end, val_end)``, test ``[val_end, num_steps)``.
        num_steps, lookback, horizon, stride: what the split was built for.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    boundaries: tuple[int, int]
    num_steps: int
    lookback: int
    horizon: int
    stride: int = 1

    def starts(self, part: str) -> np.ndarray:
        """Window starts of ``part`` (``"train"``, ``"val"`` or ``"test"``)."""
        return (self.train, self.val, self.test)[_part_index(part)]

    def steps(self, part: str) -> slice:
        """The steps ``part`` covers; ``steps("train")`` is what a scaler may be fitted on."""
        edges = (0, *self.boundaries, self.num_steps)
        index = _part_index(part)
        return slice(edges[index], edges[index + 1])

    @property
    def train_steps(self) -> slice:
        """Steps of the training part: fit scalers on these only."""
        return self.steps("train")

    def sizes(self) -> dict[str, int]:
        """Number of windows per part."""
        return {part: len(self.starts(part)) for part in PARTS}

    @classmethod
    def from_boundaries(
        cls, num_steps: int, boundaries: tuple[int, int], *, lookback: int = 12, horizon: int = 12, stride: int = 1
    ) -> Split:
        """Split ``num_steps`` steps at ``boundaries = (train_end, val_end)``."""
        _check_window(lookback, horizon, stride)
        train_end, val_end = (int(b) for b in boundaries)
        if not 0 <= train_end <= val_end <= num_steps:
            raise SensorDataError(f"split boundaries must satisfy 0 <= train_end <= val_end <= {num_steps}, got {boundaries}")
        span = lookback + horizon
        edges = (0, train_end, val_end, num_steps)
        parts = []
        for name, begin, end in zip(PARTS, edges[:-1], edges[1:]):
            if 0 < end - begin < span:
                raise SensorDataError(
                    f"the {name} part has {end - begin} steps, fewer than lookback + horizon = {span}: "
                    "not a single window fits; use a longer series or other fractions/dates"
                )
            parts.append(np.arange(begin, end - span + 1, stride, dtype=np.int64))
        train, val, test = parts
        return cls(
            train,
            val,
            test,
            boundaries=(train_end, val_end),
            num_steps=num_steps,
            lookback=lookback,
            horizon=horizon,
            stride=stride,
        )


def split_by_fraction(
    num_steps: int,
    *,
    lookback: int = 12,
    horizon: int = 12,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    stride: int = 1,
) -> Split:
    """Chronological split by shares of the steps (default 70/10/20, as DCRNN).

    Train gets ``round(train * T)`` steps, test ``round(test * T)``, validation the rest
    (DCRNN's rounding, applied to steps rather than windows; see the module docstring).
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise SensorDataError(
            f"fractions must be three non-negative shares (train, val, test) summing to 1, got {tuple(fractions)}"
        )
    train, _, test = fractions
    train_steps = round(num_steps * train)
    test_steps = round(num_steps * test)
    return Split.from_boundaries(
        num_steps, (train_steps, num_steps - test_steps), lookback=lookback, horizon=horizon, stride=stride
    )


def split_by_dates(
    timestamps: pd.DatetimeIndex,
    *,
    val_start: Any,
    test_start: Any,
    lookback: int = 12,
    horizon: int = 12,
    stride: int = 1,
) -> Split:
    """Chronological split at dates: train before ``val_start``, validation before ``test_start``, test after."""
    timestamps = pd.DatetimeIndex(timestamps)
    val_at, test_at = pd.Timestamp(val_start), pd.Timestamp(test_start)
    if val_at > test_at:
        raise SensorDataError(f"val_start {val_at} is after test_start {test_at}")
    boundaries = (int(timestamps.searchsorted(val_at)), int(timestamps.searchsorted(test_at)))
    return Split.from_boundaries(len(timestamps), boundaries, lookback=lookback, horizon=horizon, stride=stride)


def _part_index(part: str) -> int:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS}")
    return PARTS.index(part)


def _check_window(lookback: int, horizon: int, stride: int) -> None:
    for name, value in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        if int(value) != value or value < 1:
            raise SensorDataError(f"{name} must be a positive integer, got {value!r}")
