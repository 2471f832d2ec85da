"""The settings of ``stgraph anomalies``: thresholds of each check, from a small YAML file.

Example ``anomalies.yaml`` (every key optional; these are the defaults but for the limits)::

    stuck_minutes: 60     # the same reading for this long or longer is a stuck sensor
    zero_rate: 0.01       # a zero is a fault where the sensor's zero share at that time of day is at most this
    minimum: 0            # physical limits of the readings (None: no bound)
    maximum: 120
    coverage: 0.999       # split-conformal level of the spike threshold
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from stgraph.errors import ConfigError

__all__ = ["AnomalySettings"]


@dataclass(frozen=True)
class AnomalySettings:
    """Thresholds of the faulty-sensor checks.

    Attributes:
        stuck_minutes: a run of identical readings lasting at least this long is flagged ``stuck``.
        zero_rate: a zero is flagged ``zero`` where the sensor's share of zeros at that
            time-of-day slot, over the run's training period, is at most this.
        minimum, maximum: physical limits; readings outside are flagged ``out_of_range``.
        coverage: the split-conformal coverage of each sensor's residual threshold; a reading
            whose one-step forecast residual exceeds it is flagged ``spike``. Under
            exchangeability, about ``1 - coverage`` of healthy readings exceed it.
    """

    stuck_minutes: float = 60.0
    zero_rate: float = 0.01
    minimum: float | None = 0.0
    maximum: float | None = None
    coverage: float = 0.999

    def __post_init__(self) -> None:
        if not self.stuck_minutes > 0:
            raise ConfigError(f"stuck_minutes must be positive, got {self.stuck_minutes}")
        for name in ("zero_rate", "coverage"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise ConfigError(f"minimum ({self.minimum}) must be below maximum ({self.maximum})")

    def stuck_steps(self, interval: pd.Timedelta) -> int:
        """``stuck_minutes`` in steps of ``interval``, rounded up, at least 2."""
        steps = -(-pd.Timedelta(minutes=self.stuck_minutes) // interval)
        return max(int(steps), 2)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AnomalySettings:
        """Read a YAML mapping of the attributes; an unknown key or a bad value names the file."""
        path = Path(path)
        try:
            content: Any = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(content).__name__}")
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = [str(key) for key in content if key not in known]
        if unknown:
            raise ConfigError(f"{path}: unknown setting {', '.join(unknown)}; settings: {', '.join(known)}")
        for key, value in content.items():
            if value is None and key in ("minimum", "maximum"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{path}: {key} must be a number, got {value!r}")
        try:
            return cls(**content)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
