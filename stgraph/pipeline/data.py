"""From a data configuration to model-ready windows: load, validate, build the graph, split, scale.

Everything that can be wrong with a user's files is found here, before a run directory exists
or a model is built: a missing sensor column, text in a numeric column, an irregular interval,
sensors on one side only of readings and graph. Every error names the file (and the column,
line or sensor).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from stgraph.data.aggregate import aggregate
from stgraph.data.catalog import Dataset as CatalogDataset
from stgraph.data.catalog import get_dataset
from stgraph.data.covariates import time_covariates
from stgraph.data.load import load_series
from stgraph.data.memmap import is_series_dir
from stgraph.data.scaling import StandardScaler, masked_moments
from stgraph.data.series import SensorSeries
from stgraph.data.splits import PARTS, Split, split_by_fraction
from stgraph.data.store import verify_files
from stgraph.data.windows import MISSING_INPUTS, WindowDataset
from stgraph.errors import ConfigError, GraphError, SensorDataError
from stgraph.graph import (
    SensorGraph,
    from_distances,
    from_edge_list,
    from_locations,
    from_matrix,
    graph_diagnostics,
    read_sensor_ids,
)
from stgraph.graph.ordering import LOCALITY_MIN_SENSORS, locality_order
from stgraph.graph.readers import read_locations
from stgraph.graph.statistics import graph_statistics
from stgraph.pipeline.config import DataConfig

__all__ = [
    "SCALE_SPREAD",
    "EpochShuffle",
    "PreparedData",
    "RankBatches",
    "choose_covariates",
    "choose_scaling",
    "interval_text",
    "load_readings_and_graph",
    "prepare_data",
    "prepare_series",
    "window_loader",
]

logger = logging.getLogger(__name__)

#: sensors whose scales (standard deviations) spread more than this get their own z-scores
SCALE_SPREAD = 10.0


@dataclass
class PreparedData:
    """A dataset ready for training and evaluation.

    Attributes:
        series: readings aligned to the graph's sensor order.
        graph: the sensor graph.
        split: window starts of train/val/test.
        scaler: scaling statistics of the features: z-score, fitted on the training steps only
            (:func:`prepare_data`), or another fitted scaler (:class:`~stgraph.data.scaling.MaxScaler`).
        input_features, target_features: feature names in ``x`` (before covariates) and ``y``.
        covariates: calendar covariates appended to ``x``.
        null_value: the reading treated as missing besides NaN (None: NaN only).
        name: a label for messages and plots (dataset name or readings file stem).
        units: unit of the target readings (``"mph"``, ``"vehicles"``), or empty.
        missing_inputs: how missing input readings enter ``x``: ``zero`` (the stored 0, scaled)
            or ``mask`` (0 in scaled units plus one observed channel per input feature, after
            the covariates); :func:`~stgraph.data.windows.fill_missing_inputs`.
    """

    series: SensorSeries
    graph: SensorGraph
    split: Split
    scaler: StandardScaler
    input_features: list[str]
    target_features: list[str]
    covariates: list[str]
    null_value: float | None
    name: str
    units: str = ""
    missing_inputs: str = "zero"

    def windows(self, part: str, *, limit: int | None = None) -> WindowDataset:
        """The windows of ``part`` (``train``, ``val``, ``test``): ``x`` scaled, ``y`` in original units;
        at most ``limit`` of them, evenly spaced, when given."""
        starts = self.split.starts(part)
        if limit is not None and len(starts) > limit:
            starts = starts[np.linspace(0, len(starts) - 1, limit).round().astype(np.int64)]
        return WindowDataset(
            self.series,
            lookback=self.split.lookback,
            horizon=self.split.horizon,
            starts=starts,
            input_features=self.input_features,
            target_features=self.target_features,
            scaler=self.scaler,
            covariates=self.covariates or None,
            missing_inputs=self.missing_inputs,
        )

    @property
    def in_features(self) -> int:
        """Features per sensor in ``x``: input features plus covariate columns (plus one observed
        channel per input feature with ``missing_inputs == "mask"``)."""
        observed = len(self.input_features) if self.missing_inputs == "mask" else 0
        return len(self.input_features) + int(time_covariates(self.series.timestamps[:1], self.covariates).shape[1]) + observed

    def covariate_positions(self) -> dict[str, int]:
        """Where each calendar covariate starts among ``x``'s features: ``{"time_of_day": 1, ...}``."""
        positions, position = {}, len(self.input_features)
        for name in self.covariates:
            positions[name] = position
            position += int(time_covariates(self.series.timestamps[:1], [name]).shape[1])
        return positions

    def graph_diagnostics(self) -> list[str]:
        """How the graph's file was read and what its builder lost, with the remedy
        (:func:`stgraph.graph.graph_diagnostics`); empty when there is nothing to say."""
        return graph_diagnostics(self.graph)

    def describe(self) -> list[str]:
        """Lines for the console: readings, graph statistics (then :meth:`graph_diagnostics`) and
        split sizes."""
        s = self.series
        g = graph_statistics(self.graph.adjacency, self.graph.sensor_ids)
        sizes = self.split.sizes()
        between = g["edges"] - g["self_loops"]
        return [
            f"readings: {s.num_steps} steps x {s.num_sensors} sensors, every {interval_text(s.interval)}, "
            f"{s.timestamps[0]} .. {s.timestamps[-1]}, {s.missing_share():.1%} missing",
            f"graph:    {g['sensors']} sensors, {between} edges between sensors + {g['self_loops']} self-loops, "
            f"density {g['density']:.2%}, {g['weak_components']} weakly connected component(s) "
            f"(largest {g['largest_weak_component']}), {g['isolated_sensors']} isolated, "
            f"weights {g['weight_min']:.3g} .. {g['weight_max']:.3g}",
            *self.graph_diagnostics(),
            f"windows:  lookback {self.split.lookback}, horizon {self.split.horizon}; "
            + ", ".join(f"{part} {sizes[part]}" for part in PARTS),
        ]


def interval_text(interval: pd.Timedelta) -> str:
    """``"5min"``: the pandas frequency string, which ``pd.Timedelta`` reads back."""
    text = to_offset(pd.Timedelta(interval)).freqstr
    return text if text[0].isdigit() else f"1{text}"  # "h" -> "1h"


# --- loading ----------------------------------------------------------------------------------
def _sensor_file(path: str) -> tuple[list[str], np.ndarray | None]:
    """Sensor ids (and coordinates when the file has latitude/longitude columns)."""
    try:
        ids, coordinates = read_locations(path)
    except GraphError:
        return read_sensor_ids(path), None
    return ids, coordinates


def _own_graph(config: DataConfig, sensor_ids: list[str]) -> SensorGraph:
    """The graph of a user's own files; sensors default to the readings' column order."""
    coordinates = None
    if config.sensors is not None:
        sensor_ids, coordinates = _sensor_file(config.sensors)
    if config.distances is not None:
        graph = from_distances(config.distances, sensor_ids, threshold=config.threshold)
    elif config.adjacency is not None:
        graph = from_matrix(config.adjacency, sensor_ids)
    elif config.edges is not None:
        graph = from_edge_list(config.edges, sensor_ids, threshold=config.threshold)
    elif config.sensors is not None and coordinates is not None:  # coordinates come from the sensors file
        return from_locations(config.sensors, sensor_ids, threshold=config.threshold, k=config.neighbors)
    else:
        raise GraphError(
            f"{config.sensors}: a sensor list without latitude/longitude columns cannot make a graph; "
            "give --distances, --adjacency or --edges, or a locations file (id,latitude,longitude)"
        )
    return _with_coordinates(graph, sensor_ids, coordinates)


def _with_coordinates(graph: SensorGraph, sensor_ids: list[str], coordinates: np.ndarray | None) -> SensorGraph:
    """``graph`` with the locations ``coordinates[k]`` of ``sensor_ids[k]`` attached (for the error map)."""
    if coordinates is None or graph.coordinates is not None:
        return graph
    return graph.with_coordinates(coordinates, sensor_ids)


def _check_interval(series: SensorSeries, expected: str | None, said_by: str) -> None:
    """The interval inferred from the timestamps must be the one stated, if one is."""
    if expected is not None and series.interval != pd.Timedelta(expected):
        raise SensorDataError(
            f"{series.source}, column timestamp: readings are every {interval_text(series.interval)}, "
            f"but {said_by} says every {interval_text(pd.Timedelta(expected))}"
        )


def _catalog_dataset(
    dataset: str, config: DataConfig, root: str | os.PathLike[str] | None = None
) -> tuple[SensorSeries, SensorGraph, float | None, str, str]:
    """Catalog dataset ``dataset`` (``config.dataset``) from its folder under ``root`` (default: the
    data root; the sample from the checkout).

    The graph is the published adjacency where the release has one (DCRNN's ``adj_mx.pkl``
    for METR-LA and PEMS-BAY, as DCRNN and Graph WaveNet used), else DCRNN's thresholded
    Gaussian kernel of the road distances, else of the great-circle distances between the
    sensor locations. Locations, where known, are attached for the error map.

    Every file read is first checked against the catalog's size and checksum
    (:func:`stgraph.data.store.verify_files`): a damaged or different file stops here with a
    :class:`~stgraph.errors.DataFileError`, not with a wrong graph later.
    """
    info = get_dataset(dataset)
    folder = info.folder(root)
    files: dict[str, Path] = {}
    for file in info.files:
        files.setdefault(file.role, folder / file.name)
    readings = files.get("readings")
    if readings is None or not readings.is_file():
        raise SensorDataError(f"{info.name}: readings file {readings} not found; {info.how_to_get(root)}")
    null_value = config.null_value if config.null_value is not None else info.null_value
    present = {role: path for role, path in files.items() if path.is_file()}
    graph_file = next((role for role in ("adjacency", "distances") if role in present), None)
    if info.subset is not None:
        needed = [files[role] for role in ("locations", "adjacency") if role not in present and role in files]
        if needed:
            raise SensorDataError(f"{info.name}: {needed[0]} not found; {info.how_to_get(root)}")
    used = [present[role].name for role in ("readings", "sensor_ids", "locations", graph_file) if role in present]
    verify_files(info, used, root)  # size and checksum of each file read below, before anything is built
    if info.subset is not None:
        return _catalog_subset(info, config, readings, present, null_value)
    ids = read_sensor_ids(present["sensor_ids"]) if "sensor_ids" in present else None
    series = load_series(readings, null_value=null_value, sensor_ids=ids, **info.layout())
    _check_interval(series, config.interval or info.interval, f"the catalog entry of {info.name}")
    ids = ids or series.sensor_ids
    coordinates = None
    if "locations" in present:
        location_ids, location_table = read_locations(present["locations"])
        position = {sensor: i for i, sensor in enumerate(location_ids)}
        if all(sensor in position for sensor in ids):
            coordinates = location_table[[position[sensor] for sensor in ids]]
    if "adjacency" in present:
        graph = from_matrix(present["adjacency"], ids)
    elif "distances" in present:
        graph = from_distances(present["distances"], ids, threshold=config.threshold)
    elif coordinates is not None:
        graph = from_locations(present["locations"], ids, threshold=config.threshold, k=config.neighbors)
    else:
        raise GraphError(f"{info.name}: no adjacency, distances or locations file in {folder}; run `stgraph download {info.key}`")
    graph = _with_coordinates(graph, ids, coordinates)
    series = series.align_to(graph)
    target = (config.targets or config.features or list(series.feature_names))[0]
    return series, graph, null_value, info.key, info.units.get(target, "")


def _catalog_subset(
    info: CatalogDataset, config: DataConfig, readings: Path, present: dict[str, Path], null_value: float | None
) -> tuple[SensorSeries, SensorGraph, float | None, str, str]:
    """A catalog dataset whose sensors are rows of its locations file (LargeST: the CA files, or
    the districts of GLA, GBA, SD), aggregated to its protocol's interval.

    As the LargeST notebooks build them (data/{gla,gba,sd}/generate_*_dataset.ipynb): the rows
    of ``ca_meta.csv`` in the chosen districts, the readings columns of their IDs, and the
    adjacency rows and columns of their ID2. Aggregation follows data/ca/process_ca_his.ipynb:
    the raw readings with NaN as the only missing value are averaged per 15 minutes and
    rounded, and only then the null value (0) is masked, so a raw zero counts in the mean as it
    does there. Sensors with no reading in the raw file are dropped (logged by the loader).
    """
    subset = info.subset
    assert subset is not None
    protocol = info.protocol
    table = pd.read_csv(present["locations"])
    for column in ["ID", subset.column, *([subset.adjacency_rows] if subset.adjacency_rows else [])]:
        if column not in table.columns:
            raise SensorDataError(f"{present['locations']}: no column {column!r} (columns: {', '.join(map(str, table.columns))})")
    chosen = table if subset.values is None else table[table[subset.column].isin(subset.values)]
    rows = chosen[subset.adjacency_rows].to_numpy() if subset.adjacency_rows else np.flatnonzero(table.index.isin(chosen.index))
    ids = chosen["ID"].astype(str).tolist()
    aggregated = protocol is not None and pd.Timedelta(protocol.interval) != pd.Timedelta(info.interval)
    series = load_series(readings, null_value=None if aggregated else null_value, drop_empty_sensors=True, **info.layout())
    _check_interval(series, info.interval, f"the catalog entry of {info.name}")
    position = {sensor: i for i, sensor in enumerate(series.sensor_ids)}
    absent = [sensor for sensor in ids if sensor not in position]
    if absent:
        logger.warning(
            "%s: %d sensor(s) of %s have no readings and are left out", info.name, len(absent), present["locations"].name
        )
    keep = [i for i, sensor in enumerate(ids) if sensor in position]
    ids = [ids[i] for i in keep]
    columns = [position[sensor] for sensor in ids]
    series = SensorSeries(
        series.values[:, columns],
        series.mask[:, columns],
        series.timestamps,
        ids,
        series.feature_names,
        interval=series.interval,
        source=series.source,
    )
    if aggregated:
        assert protocol is not None
        series = aggregate(series, protocol.interval, decimals=protocol.decimals, null_value=null_value)
    if config.interval is not None:
        _check_interval(series, config.interval, "--interval / data.interval")
    matrix = np.load(present["adjacency"], mmap_mode="r")
    rows = rows[keep]
    graph = from_matrix(np.asarray(matrix[np.ix_(rows, rows)], dtype=np.float32), ids)
    location_ids, location_table = read_locations(present["locations"])
    where = {sensor: i for i, sensor in enumerate(location_ids)}
    graph = _with_coordinates(graph, ids, location_table[[where[sensor] for sensor in ids]])
    target = (config.targets or config.features or list(series.feature_names))[0]
    return series.align_to(graph), graph, null_value, info.key, info.units.get(target, "")


def load_readings_and_graph(
    config: DataConfig, *, root: str | os.PathLike[str] | None = None
) -> tuple[SensorSeries, SensorGraph, float | None, str, str]:
    """Readings aligned to the graph, the null value in force, a name and the units.

    Catalog datasets (and ``sample``) come from :mod:`stgraph.data.catalog` with their own null
    value unless ``config.null_value`` overrides it; own readings treat only empty/NaN cells as
    missing unless ``config.null_value`` is given. ``root`` is the data root catalog datasets are
    read from (default :func:`stgraph.io.paths.data_root`).
    """
    if config.dataset is not None:
        return _catalog_dataset(config.dataset, config, root)
    if config.readings is None:
        raise ConfigError("give exactly one of data.dataset (a catalog name) or data.readings (a file)")
    path = Path(config.readings)
    if not path.is_file() and not is_series_dir(path):
        raise SensorDataError(f"{path}: readings file not found")
    series = load_series(path, null_value=config.null_value, in_memory=config.in_memory)
    _check_interval(series, config.interval, "--interval / data.interval")
    graph = _own_graph(config, series.sensor_ids)
    missing_sensors = [s for s in graph.sensor_ids if s not in set(series.sensor_ids)]
    if missing_sensors:
        shown = ", ".join(missing_sensors[:10]) + (f" and {len(missing_sensors) - 10} more" if len(missing_sensors) > 10 else "")
        raise SensorDataError(f"{path}: no column for sensor(s) {shown} of the graph ({graph.source or 'sensor list'})")
    series = series.align_to(graph)
    return series, graph, config.null_value, path.stem, ""


def prepare_data(
    config: DataConfig, *, scaler: StandardScaler | None = None, root: str | os.PathLike[str] | None = None
) -> PreparedData:
    """Load, validate, split (chronologically) and fit the scaler on the training steps.

    Args:
        config: the data section.
        scaler: reuse these statistics (evaluating a finished run) instead of fitting anew.
        root: the data root of catalog datasets (default :func:`stgraph.io.paths.data_root`).
    """
    series, graph, null_value, name, units = load_readings_and_graph(config, root=root)
    # a series on disk keeps its stored order unless asked: reordering it would copy it into memory
    automatic = config.reorder_sensors is None and graph.num_sensors >= LOCALITY_MIN_SENSORS
    if automatic and series.on_disk:
        logger.info("%s: the series is on disk; sensors keep their stored order (no locality renumbering)", series.source)
        automatic = False
    if config.reorder_sensors or automatic:
        graph = graph.permute(locality_order(graph))
        series = series.align_to(graph)
    return prepare_series(
        series,
        graph,
        lookback=config.lookback,
        horizon=config.horizon,
        fractions=config.split,
        features=config.features,
        targets=config.targets,
        covariates=config.covariates,
        null_value=null_value,
        name=name,
        units=units,
        scaler=scaler,
        scaling="global" if config.scaling == "auto" and config.dataset is not None else config.scaling,
        missing_inputs=config.missing_inputs,
    )


def choose_scaling(series: SensorSeries, steps: slice, features: Sequence[str]) -> str:
    r"""``per_sensor`` when the sensors' scales differ by more than :data:`SCALE_SPREAD` times,
    else ``global``.

    A sensor's scale is the standard deviation of its observed readings in ``steps`` (the
    training period), per feature; the spread is the ratio of the 90th to the 10th percentile
    over the sensors whose deviation is not 0,

    .. math:: \text{spread} = \max_f \frac{q_{0.9}(\sigma_{\cdot f})}{q_{0.1}(\sigma_{\cdot f})}

    so one dead or one huge sensor does not decide. Freeway speeds (METR-LA, PEMS-BAY) spread
    about 3x; counts at bus stops or counting stations of very different volume spread 100x,
    where one pooled z-score leaves the quiet sensors' readings near a constant, and the loss
    barely sees them.
    """
    positions = series.feature_index(list(features))
    count, _, deviation = masked_moments(series.values[steps], series.mask[steps], per_sensor=True)
    count, deviation = count[:, positions], deviation[:, positions]
    spread = 1.0
    for f in range(deviation.shape[1]):
        scales = deviation[(count[:, f] > 1) & (deviation[:, f] > 0), f]
        if scales.size >= 2:
            low, high = np.quantile(scales, [0.1, 0.9])
            spread = max(spread, float(high / low))
    choice = "per_sensor" if spread > SCALE_SPREAD else "global"
    logger.info("sensor scales spread %.1fx (90th / 10th percentile of standard deviations): %s scaling", spread, choice)
    return choice


#: The shortest training period, in days, from which a model can learn every day of the week
#: (each seen at least twice); shorter periods get no day-of-week input.
DAY_OF_WEEK_MIN_DAYS = 14.0


def choose_covariates(series: SensorSeries, steps: slice) -> list[str]:
    """The calendar inputs the readings can teach a model: ``time_of_day`` when a day holds
    several steps, and ``day_of_week`` when steps are a day or shorter and the training period
    ``steps`` covers every day of the week at least twice (14 days or more).

    A day of the week the training period never saw is worse than no day of week at all: its
    embedding or weight is never trained (one week of 5-minute readings split 70/10/20 tests on
    days that training never saw).
    """
    interval = series.interval
    day = pd.Timedelta(days=1)
    chosen = []
    if interval < day:
        chosen.append("time_of_day")
    train_days = (steps.stop - steps.start) * interval / day
    if interval <= day and train_days >= DAY_OF_WEEK_MIN_DAYS:
        chosen.append("day_of_week")
    logger.info(
        "calendar covariates for %s steps over %.1f training days: %s", interval_text(interval), train_days, chosen or "none"
    )
    return chosen


def prepare_series(
    series: SensorSeries,
    graph: SensorGraph,
    *,
    lookback: int = 12,
    horizon: int = 12,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    features: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    null_value: float | None = None,
    name: str = "",
    units: str = "",
    scaler: StandardScaler | None = None,
    scaling: str = "global",
    missing_inputs: str = "zero",
) -> PreparedData:
    """Readings already in memory, aligned to ``graph``, split chronologically and scaled: what
    :func:`prepare_data` does after loading, for a :class:`SensorSeries` one built oneself.

    Args:
        series: readings whose sensors are ``graph``'s, in its order.
        lookback, horizon, fractions: the windows and the train/validation/test shares.
        features, targets: input and forecast features (default: all; the first input).
        covariates: calendar inputs appended to ``x`` (:mod:`stgraph.data.covariates`);
            ``["auto"]``: :func:`choose_covariates`.
        null_value, name, units: recorded in the result (the null value is already applied).
        scaler: reuse these statistics instead of fitting on the training steps.
        scaling: ``global``, ``per_sensor`` or ``auto`` (:func:`choose_scaling`) z-scores,
            when no ``scaler`` is given.
        missing_inputs: ``zero`` or ``mask``: how missing input readings enter ``x``
            (:func:`~stgraph.data.windows.fill_missing_inputs`).

    Raises:
        SensorDataError: an unknown feature, a target that is not an input, or a split that
            leaves no window for a part that needs one.
    """
    if missing_inputs not in MISSING_INPUTS:
        raise ConfigError(f"data.missing_inputs must be one of {', '.join(MISSING_INPUTS)}, got {missing_inputs!r}")
    input_features = list(features) if features else list(series.feature_names)
    target_features = list(targets) if targets else [input_features[0]]
    series.feature_index(input_features)  # names every unknown feature, with the file
    unknown = [t for t in target_features if t not in input_features]
    if unknown:
        raise SensorDataError(f"{series.source}: target feature(s) {unknown} must be among the input features {input_features}")
    fractions = list(fractions)
    split = split_by_fraction(series.num_steps, lookback=lookback, horizon=horizon, fractions=fractions)
    required = ["train", "val"] + (["test"] if fractions[2] > 0 else [])
    empty = [part for part in required if split.sizes()[part] == 0]
    if empty:
        raise SensorDataError(
            f"{series.source}: {series.num_steps} steps leave no window for {', '.join(empty)} "
            f"(lookback {lookback} + horizon {horizon}, split {fractions})"
        )
    covariates = list(covariates)
    if covariates == ["auto"]:
        covariates = choose_covariates(series, split.train_steps)
    if scaler is None:
        if scaling == "auto":
            scaling = choose_scaling(series, split.train_steps, input_features)
        scaler = StandardScaler(per_sensor=scaling == "per_sensor").fit(series, steps=split.train_steps)
    return PreparedData(
        series=series,
        graph=graph,
        split=split,
        scaler=scaler,
        input_features=input_features,
        target_features=target_features,
        covariates=covariates,
        null_value=null_value,
        name=name,
        units=units,
        missing_inputs=missing_inputs,
    )


# --- batches ------------------------------------------------------------------------------------
#: ``(x, y, mask)`` of one window or of a whole batch (:meth:`WindowDataset.batch`)
_Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class _Batched(Dataset[_Batch]):
    """Map-style view of a :class:`WindowDataset` whose ``__getitems__`` gathers a whole batch with
    :meth:`WindowDataset.batch` (one indexing operation per tensor) instead of stacking windows."""

    def __init__(self, windows: WindowDataset) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> _Batch:
        return self.windows[index]

    def __getitems__(self, indices: Sequence[int]) -> _Batch:
        return self.windows.batch(indices)


def _already_batched(batch: Any) -> Any:
    """The batch :meth:`_Batched.__getitems__` gathered, as it is (typed ``Any``: torch types
    ``collate_fn`` as taking a list of samples, which is what it gets without ``__getitems__``)."""
    return batch


class EpochShuffle(RandomSampler):
    """A shuffle of ``size`` windows that is a function of ``(seed, epoch)`` alone, so that a
    resumed run draws the same order as an uninterrupted one.

    PyTorch's ``shuffle=True`` draws each epoch's order from one generator that advances from
    epoch to epoch; a resumed process starts that generator afresh and would repeat the first
    epoch's order. Here the trainer sets the epoch (:meth:`set_epoch`, as Lightning does for every
    sampler that has it) and :meth:`resume_at` skips the windows of an epoch that were trained
    before an interruption; ``len`` stays the whole epoch's (Lightning counts the batches already
    trained). Under DDP it stays the order of the whole run: :class:`RankBatches` cuts it into
    global batches and gives each process its share.

    Args:
        size: number of windows.
        seed: the training seed.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        super().__init__(range(size))
        self.size = size
        self.seed = seed
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, start: int) -> None:
        """Make the next pass over ``epoch`` begin at its ``start``-th window (and set the epoch)."""
        self.epoch = epoch
        self._resume = (epoch, start)

    def order(self, epoch: int) -> np.ndarray:
        """The windows of ``epoch`` in the order they are drawn.

        It is the order PyTorch's ``DataLoader(shuffle=True, generator=Generator().manual_seed(seed))``
        draws in its ``epoch``-th pass (so a seed trains on the same batches as with plain PyTorch
        and as before resuming was exact): each pass draws, from that one generator, the loader's
        worker base seed, the permutation, and at its end a permutation that ``RandomSampler``
        starts and discards. Replaying ``epoch`` passes costs ``epoch`` permutations of ``size``
        (milliseconds for 100 epochs of METR-LA's 24,000 windows).
        """
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(epoch):
            _draw_loader_pass(generator, self.size)
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # the loader's base seed
        return torch.randperm(self.size, generator=generator).numpy()

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._resume is not None and self._resume[0] == self.epoch:
            order = order[self._resume[1] :]
        self._resume = None
        return iter(order.tolist())


def _draw_loader_pass(generator: torch.Generator, size: int) -> None:
    """Advance ``generator`` as one full pass of a shuffling DataLoader does (see :meth:`EpochShuffle.order`)."""
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    torch.randperm(size, generator=generator)
    torch.randperm(size, generator=generator)


class RankBatches(Sampler[list[int]]):
    r"""Cut ``sampler``'s order into global batches of ``batch_size`` windows and yield this process's
    share of each: with :math:`R` processes (:meth:`shard`), rank :math:`r` takes windows
    :math:`r, r + R, r + 2R, \dots` of every global batch, ``batch_size / R`` of them.

    The global batches are those of one process with ``batch_size`` (the same order, the same
    windows in each step; the trainer takes the loss of the whole global batch,
    :mod:`stgraph.train.global_batch`, so the step is one process's). With ``even`` (for
    training), the last, partial global batch is cut to a multiple of :math:`R` windows
    (dropping at most :math:`R - 1` of the epoch's windows, none with one process), so that every
    process takes as many steps (a gradient all-reduce waits for all of them) and every share
    of a step is the same size. Without it (evaluation) nothing is dropped and a process may get
    one batch fewer than another.

    Args:
        sampler: the windows in the order they are drawn: an :class:`EpochShuffle` (the name
            ``sampler`` is where Lightning looks for a batch sampler's ``set_epoch``) or ``range``.
        batch_size: windows per global batch (``data.batch_size``).
        even: cut the last global batch to a multiple of the number of processes.
    """

    def __init__(self, sampler: EpochShuffle | range, batch_size: int, *, even: bool = False) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.even = even
        self.rank, self.processes = 0, 1

    def shard(self, rank: int, processes: int) -> None:
        """Yield the share of process ``rank`` of ``processes`` from now on (:meth:`check_split` first)."""
        self.check_split(processes)
        self.rank, self.processes = rank, processes

    def check_split(self, processes: int) -> None:
        """With ``even``: the shares of a global batch must be equal.

        Raises:
            ConfigError: ``batch_size`` is not a multiple of ``processes``.
        """
        if self.even and self.batch_size % processes:
            raise ConfigError(
                f"data.batch_size {self.batch_size} is the global batch, split evenly over {processes} processes: "
                f"make it a multiple of {processes} (devices x num_nodes)"
            )

    def __len__(self) -> int:
        size = len(self.sampler)
        if self.even:
            size -= size % self.processes
        return -(-size // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        windows = list(self.sampler)
        if self.even:
            windows = windows[: len(windows) - len(windows) % self.processes]
        for start in range(0, len(windows), self.batch_size):
            share = windows[start : start + self.batch_size][self.rank :: self.processes]
            if share:
                yield share


def window_loader(
    windows: WindowDataset, *, batch_size: int, shuffle: bool, num_workers: int = 0, seed: int = 0
) -> DataLoader[_Batch]:
    """A DataLoader over ``windows`` using the batch fast path, in global batches of
    ``batch_size`` (``loader.batch_sampler``, a :class:`RankBatches`: under DDP each process
    loads its share of every batch once :meth:`RankBatches.shard` is called).

    ``shuffle`` (training) draws each epoch's order with :class:`EpochShuffle`
    (``loader.batch_sampler.sampler``) and keeps the processes' steps even; otherwise the windows
    come in order.
    """
    order = EpochShuffle(len(windows), seed) if shuffle else range(len(windows))
    return DataLoader(
        _Batched(windows),
        batch_sampler=RankBatches(order, batch_size, even=shuffle),
        num_workers=num_workers,
        collate_fn=_already_batched,
        # its own generator for the workers' seeds: iterating then draws nothing from the global
        # random state, which a resumed run restores from its checkpoint
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,
    )
