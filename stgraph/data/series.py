"""SensorSeries: traffic readings ``[time, sensors, features]`` with timestamps and a mask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

if TYPE_CHECKING:  # pragma: no cover
    from stgraph.graph import SensorGraph

__all__ = ["SensorSeries", "feature_positions"]


@dataclass(eq=False, init=False)
class SensorSeries:
    """Readings of ``sensors`` detectors on a regular time grid, with a mask of what was observed.

    A reading that is missing (NaN in the file, the dataset's null value such as METR-LA's
    ``0.0`` speed, or a step inserted to fill a gap) has ``mask == False`` and a stored value
    of ``0.0``: the values are always finite and the mask carries the truth.

    Args:
        values: ``[time, sensors, features]`` readings, stored as float32.
        mask: bool, same shape as ``values``; ``True`` = observed. None = all observed.
        timestamps: one per step, strictly increasing, exactly ``interval`` apart.
        sensor_ids: one id per sensor (stored as strings, unique).
        feature_names: one name per feature, e.g. ``["speed"]`` or PEMS04's
            ``["flow", "occupancy", "speed"]``.
        interval: sampling interval; inferred from ``timestamps`` when omitted.
        source: the file the readings came from, used in messages.
        trusted: the values are float32 and finite where observed already (a series on disk
            checked when converted, :mod:`stgraph.data.memmap`, or a selection of a series):
            skip the scan of every reading, which would read a memory-mapped series whole.
            Shapes, dtypes, ids and timestamps are checked either way.
    """

    values: np.ndarray
    mask: np.ndarray
    timestamps: pd.DatetimeIndex
    sensor_ids: list[str]
    feature_names: list[str]
    interval: pd.Timedelta
    source: str | None

    # written out rather than generated: the arguments are normalised (a mask of None means all
    # observed, ids become strings, the interval is inferred), so the attributes are narrower
    def __init__(
        self,
        values: np.ndarray,
        mask: np.ndarray | None,
        timestamps: pd.DatetimeIndex,
        sensor_ids: Sequence[Any],
        feature_names: Sequence[Any],
        interval: pd.Timedelta | None = None,
        source: str | None = None,
        *,
        trusted: bool = False,
    ) -> None:
        self.source = source
        where = self._where()
        values = values if isinstance(values, np.ndarray) else np.asarray(values)  # keeps a np.memmap a memmap
        if values.ndim != 3:
            raise SensorDataError(f"{where}values must be [time, sensors, features], got shape {list(values.shape)}")
        steps, sensors, features = values.shape
        if trusted and values.dtype != np.float32:
            raise SensorDataError(f"{where}values must be float32, got {values.dtype}")
        values = values.astype(np.float32, copy=False)
        if mask is None:
            mask = np.ones(values.shape, dtype=bool)
        elif not isinstance(mask, np.memmap):  # (asarray would make a memmap a plain array)
            mask = np.asarray(mask)
        if mask.shape != values.shape or mask.dtype != np.bool_:
            raise SensorDataError(
                f"{where}mask must be bool with the values' shape {list(values.shape)}, got {mask.dtype} {list(mask.shape)}"
            )
        if not trusted:
            values = _finite_where_masked(values, mask, where)
        self.values, self.mask = values, mask

        ids = [str(s) for s in sensor_ids]
        if len(ids) != sensors:
            raise SensorDataError(f"{where}{sensors} sensors in the values but {len(ids)} sensor ids")
        _check_unique(ids, "sensor id", where)
        names = [str(f) for f in feature_names]
        if len(names) != features:
            raise SensorDataError(f"{where}{features} features in the values but {len(names)} feature names")
        _check_unique(names, "feature name", where)
        self.sensor_ids, self.feature_names = ids, names

        timestamps = pd.DatetimeIndex(timestamps).as_unit("ns")
        if len(timestamps) != steps:
            raise SensorDataError(f"{where}{steps} steps in the values but {len(timestamps)} timestamps")
        if interval is None:
            if steps < 2:
                raise SensorDataError(f"{where}cannot infer the interval from {steps} timestamp(s); pass interval=")
            interval = timestamps[1] - timestamps[0]
        interval = pd.Timedelta(interval)
        if interval <= pd.Timedelta(0):
            raise SensorDataError(f"{where}interval must be positive, got {interval}")
        if steps > 1:
            off = np.flatnonzero(np.diff(timestamps.asi8) != interval.value)
            if off.size:
                i = int(off[0])
                raise SensorDataError(
                    f"{where}timestamps must be regular at {interval}: step {i + 1} ({timestamps[i + 1]}) "
                    f"follows {timestamps[i]} ({off.size} irregular steps)"
                )
        self.timestamps, self.interval = timestamps, interval

    # --- sizes -------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """Number of time steps."""
        return int(self.values.shape[0])

    @property
    def num_sensors(self) -> int:
        """Number of sensors."""
        return int(self.values.shape[1])

    @property
    def num_features(self) -> int:
        """Number of features per sensor."""
        return int(self.values.shape[2])

    def missing_share(self) -> float:
        """Share of readings that are masked (missing), in [0, 1]."""
        return float(1.0 - np.count_nonzero(self.mask) / self.mask.size) if self.mask.size else 0.0

    def __repr__(self) -> str:
        span = f"{self.timestamps[0]} .. {self.timestamps[-1]}" if self.num_steps else "empty"
        return (
            f"SensorSeries(steps={self.num_steps}, sensors={self.num_sensors}, features={self.feature_names}, "
            f"interval={self.interval}, {span}, missing={self.missing_share():.1%})"
        )

    @property
    def on_disk(self) -> bool:
        """Whether the readings are memory-mapped from disk (:mod:`stgraph.data.memmap`): read
        step by step as they are used, never whole."""
        return isinstance(self.values, np.memmap)

    # --- selections (each returns a new series) ----------------------------------------
    def align(self, sensor_ids: Sequence[Any], *, other: str = "the given sensor list") -> SensorSeries:
        """Reorder sensors to ``sensor_ids``.

        Raises:
            SensorDataError: naming the sensors present on one side only, and which side.
        """
        wanted = [str(s) for s in sensor_ids]
        _check_unique(wanted, "sensor id", f"{other}: ")
        index = {sensor: i for i, sensor in enumerate(self.sensor_ids)}
        only_other = [s for s in wanted if s not in index]
        wanted_set = set(wanted)
        only_self = [s for s in self.sensor_ids if s not in wanted_set]
        if only_other or only_self:
            parts = []
            if only_other:
                parts.append(f"{_list(only_other)} in {other} but not in the series")
            if only_self:
                parts.append(f"{_list(only_self)} in the series but not in {other}")
            raise SensorDataError(f"{self._where()}sensors do not match: " + "; ".join(parts))
        order = np.fromiter((index[s] for s in wanted), dtype=np.int64, count=len(wanted))
        if np.array_equal(order, np.arange(self.num_sensors)):
            return self
        if self.on_disk:
            raise SensorDataError(
                f"{self._where()}the series on disk holds its sensors in another order than {other}, and reordering "
                "would copy it into memory; convert readings whose columns are in that order, or set data.in_memory: true"
            )
        return self._replace(values=self.values[:, order], mask=self.mask[:, order], sensor_ids=wanted)

    def align_to(self, graph: SensorGraph) -> SensorSeries:
        """Reorder sensors to the graph's node order (``graph.sensor_ids``)."""
        name = f"graph {graph.name!r}" if getattr(graph, "name", None) else "the graph"
        return self.align(graph.sensor_ids, other=name)

    def select_features(self, names: Sequence[str] | str) -> SensorSeries:
        """Keep the features ``names`` (in that order)."""
        names = [names] if isinstance(names, str) else list(names)
        index = self.feature_index(names)
        consecutive = bool(index) and index == list(range(index[0], index[0] + len(index)))
        part: slice | list[int] = slice(index[0], index[0] + len(index)) if consecutive else index  # a slice: views
        return self._replace(values=self.values[..., part], mask=self.mask[..., part], feature_names=names)

    def with_feature_names(self, names: Sequence[str]) -> SensorSeries:
        """The same readings with the features called ``names`` (one per feature, in order)."""
        return self._replace(feature_names=list(names))

    def feature_index(self, names: Sequence[str]) -> list[int]:
        """Positions of the features ``names``; SensorDataError for an unknown name."""
        unknown = [n for n in names if n not in self.feature_names]
        if unknown:
            raise SensorDataError(f"{self._where()}no feature {_list(unknown)}; the series has {self.feature_names}")
        return [self.feature_names.index(n) for n in names]

    def slice_time(self, start: Any = None, stop: Any = None) -> SensorSeries:
        """Steps in ``[start, stop)``: integers are step positions, anything else a timestamp.

        The slices of ``values`` and ``mask`` are views of this series' arrays.
        """
        begin = self._position(start, 0)
        end = self._position(stop, self.num_steps)
        return self._replace(values=self.values[begin:end], mask=self.mask[begin:end], timestamps=self.timestamps[begin:end])

    def to_frame(self, feature: str | None = None) -> pd.DataFrame:
        """Wide table of one feature: index = timestamps, columns = sensor ids, NaN where masked."""
        if feature is None:
            if self.num_features != 1:
                raise SensorDataError(f"{self._where()}to_frame needs feature= (one of {self.feature_names})")
            feature = self.feature_names[0]
        (f,) = self.feature_index([feature])
        data = np.where(self.mask[..., f], self.values[..., f], np.nan)
        frame = pd.DataFrame(data, index=self.timestamps.copy(), columns=list(self.sensor_ids))
        frame.index.name = "timestamp"
        return frame

    # --- helpers -----------------------------------------------------------------------
    def _position(self, value: Any, default: int) -> int:
        if value is None:
            return default
        if isinstance(value, (int, np.integer)):
            return int(value)
        return int(self.timestamps.searchsorted(pd.Timestamp(value)))

    def _replace(self, **changes: Any) -> SensorSeries:
        fields = {
            "values": self.values,
            "mask": self.mask,
            "timestamps": self.timestamps,
            "sensor_ids": self.sensor_ids,
            "feature_names": self.feature_names,
            "interval": self.interval,
            "source": self.source,
        }
        fields.update(changes)
        return SensorSeries(**fields, trusted=True)  # a selection of readings already checked

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""


def _finite_where_masked(values: np.ndarray, mask: np.ndarray, where: str) -> np.ndarray:
    """``values`` with non-finite masked readings set to 0; an error for an observed one."""
    finite = np.isfinite(values)
    bad = mask & ~finite
    if bad.any():
        t, n, f = np.argwhere(bad)[0]
        raise SensorDataError(
            f"{where}{int(bad.sum())} observed readings are not finite (first at step {t}, sensor index {n}, "
            f"feature index {f}); mask them instead"
        )
    return values if finite.all() else np.where(finite, values, np.float32(0.0))


def _check_unique(names: Sequence[str], what: str, where: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            raise SensorDataError(f"{where}{what} {name!r} appears twice (positions {seen[name]} and {position})")
        seen[name] = position


def feature_positions(features: Sequence[int | str], names: Sequence[str] | None, count: int, *, where: str = "") -> list[int]:
    """Positions of ``features``, each a name in ``names`` or an integer position below ``count``.

    ``where`` prefixes error messages (``"StandardScaler: "``, ``"readings.csv: "``).
    """
    positions = []
    for feature in features:
        if isinstance(feature, str):
            if names is None or feature not in names:
                raise SensorDataError(f"{where}no feature {feature!r}; the features are {list(names or [])}")
            positions.append(list(names).index(feature))
        elif 0 <= int(feature) < count:
            positions.append(int(feature))
        else:
            raise SensorDataError(f"{where}feature index {feature} out of range for {count} features")
    return positions


def _list(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return f"{shown}{more}"
