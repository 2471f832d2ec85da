"""Own-data test networks: sensor networks unlike METR-LA, built from the real data we hold.

A user's own network is rarely a 5-minute freeway speed table. These networks stand in for the
ones ``stgraph train`` must handle without tuning (issue 13), each written as the files a user
would bring (a wide readings CSV with a timestamp column, and a graph file):

``transit-hourly``
    Hourly passenger-like counts at PEMS03's 358 sensors over 31 days, on PEMS03's real road
    links (``from,to,distance``; the 0.1 kernel threshold leaves part of the network isolated).
    Sensor scales differ by 400x (0.05 to 20 boardings an hour at the median hour), a third of
    the readings are 0, days have morning and evening peaks of their own per sensor, weekends
    are quieter, and occasional events triple a stop's counts for a few hours.
``counts-daily``
    Daily counts at PEMS08's 170 sensors over two years on PEMS08's real links
    (``from,to,cost``): a weekly cycle, a yearly cycle and slow day-to-day persistence.
``losloop-rescaled``
    Los-loop's real 5-minute speeds (one week, METR-LA's sensors) at 150 sensors, each sensor
    multiplied by its own factor between 0.1 and 10, with Los-loop's published adjacency: a
    network whose sensors' scales differ by 100x, where one global z-score fails.
``losloop-15min``
    Los-loop's 207 sensors averaged to 15-minute steps (672 steps), with METR-LA's sensor
    locations as the graph (8 nearest sensors): coarser steps, fewer windows.

The counts are synthetic (Poisson draws from a stated rate model) because no real count data
is on these machines; the graphs and the Los-loop speeds are real. Everything is a function of
the seed. :func:`build` writes one network into a folder; ``python -m benchmarks.own_data``
builds all of them and trains on each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["NETWORKS", "Network", "build"]


@dataclass(frozen=True)
class Network:
    """One test network: how it is made and which files a user would pass."""

    name: str
    description: str
    needs: tuple[str, ...]  # data folders under the data root
    make: Callable[[Path, Path, int], dict[str, str]]


def _pems_graph(root: Path, name: str) -> tuple[list[str], pd.DataFrame]:
    """Sensor ids (in order of first appearance, or the .txt list) and the link table of a PEMS0x graph."""
    folder = root / f"{name.lower()}-graph"
    links = pd.read_csv(folder / f"{name}.csv")
    listed = folder / f"{name}.txt"
    if listed.is_file():
        ids = listed.read_text().split()
    else:
        ids = sorted({str(v) for v in pd.concat([links.iloc[:, 0], links.iloc[:, 1]])}, key=int)
    return ids, links


def _smooth_on_links(ids: list[str], links: pd.DataFrame, noise: np.ndarray) -> np.ndarray:
    """Average each sensor's noise with its linked neighbours' (both directions), row by row.

    Shapes:
        noise: ``[time, sensors]`` -> ``[time, sensors]``
    """
    position = {sensor: i for i, sensor in enumerate(ids)}
    n = len(ids)
    neighbour = np.eye(n)
    for a, b in zip(links.iloc[:, 0].astype(str), links.iloc[:, 1].astype(str), strict=True):
        if a in position and b in position:
            neighbour[position[a], position[b]] = neighbour[position[b], position[a]] = 1.0
    neighbour /= neighbour.sum(axis=1, keepdims=True)
    smoothed: np.ndarray = noise @ neighbour.T
    return smoothed


def _ar1(rng: np.random.Generator, steps: int, sensors: int, rho: float, scale: float) -> np.ndarray:
    """A stationary AR(1) process per sensor, ``[steps, sensors]``, standard deviation ``scale``."""
    shocks = rng.normal(0.0, scale * np.sqrt(1 - rho**2), size=(steps, sensors))
    path = np.empty_like(shocks)
    path[0] = rng.normal(0.0, scale, size=sensors)
    for t in range(1, steps):
        path[t] = rho * path[t - 1] + shocks[t]
    return path


def _write_readings(folder: Path, timestamps: pd.DatetimeIndex, ids: list[str], values: np.ndarray, fmt: str) -> str:
    frame = pd.DataFrame(values, columns=ids)
    frame.insert(0, "timestamp", timestamps.strftime("%Y-%m-%d %H:%M"))
    path = folder / "readings.csv"
    frame.to_csv(path, index=False, float_format=fmt)
    return str(path)


def _transit_hourly(root: Path, folder: Path, seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    ids, links = _pems_graph(root, "PEMS03")
    n, days = len(ids), 31
    timestamps = pd.date_range("2024-05-01", periods=days * 24, freq="h")
    hour = timestamps.hour.to_numpy()[:, None]
    rate = 10 ** rng.uniform(np.log10(0.05), np.log10(20.0), size=n)
    morning, evening, daytime = rng.uniform(0, 1, size=(3, n))
    shape = (
        0.02
        + morning * np.exp(-0.5 * ((hour - rng.normal(8, 0.7, n)) / 1.2) ** 2)
        + evening * np.exp(-0.5 * ((hour - rng.normal(17.5, 0.7, n)) / 1.8) ** 2)
        + 0.4 * daytime * ((hour >= 6) & (hour <= 22))
    )
    shape /= shape.mean(axis=0, keepdims=True)
    weekend = np.where(timestamps.day_of_week.to_numpy()[:, None] >= 5, rng.uniform(0.2, 0.9, n), 1.0)
    day = np.arange(len(timestamps)) // 24
    daily = np.exp(rng.normal(0, 0.12, days)[day][:, None] + rng.normal(0, 0.1, (days, n))[day])
    latent = _smooth_on_links(ids, links, _ar1(rng, len(timestamps), n, 0.85, 0.35))
    events = np.ones((len(timestamps), n))
    for _ in range(n // 4):
        start, sensor = rng.integers(0, len(timestamps) - 4), rng.integers(0, n)
        events[start : start + rng.integers(2, 5), sensor] = 3.0
    counts = rng.poisson(rate * shape * weekend * daily * np.exp(latent) * events).astype(np.float64)
    links.to_csv(folder / "distances.csv", index=False)
    return {"readings": _write_readings(folder, timestamps, ids, counts, "%.0f"), "distances": str(folder / "distances.csv")}


def _counts_daily(root: Path, folder: Path, seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    ids, links = _pems_graph(root, "PEMS08")
    n = len(ids)
    timestamps = pd.date_range("2022-01-03", periods=2 * 364, freq="D")
    rate = 10 ** rng.uniform(1.0, 3.0, size=n)
    dow = timestamps.day_of_week.to_numpy()[:, None]
    weekly = np.where(dow >= 5, rng.uniform(0.3, 0.8, n), 1.0 + 0.1 * np.sin(dow + rng.uniform(0, 6, n)))
    yearly = 1 + rng.uniform(0.05, 0.3, n) * np.sin(2 * np.pi * timestamps.day_of_year.to_numpy()[:, None] / 365.25)
    latent = _smooth_on_links(ids, links, _ar1(rng, len(timestamps), n, 0.7, 0.15))
    counts = rng.poisson(rate * weekly * yearly * np.exp(latent)).astype(np.float64)
    links.to_csv(folder / "links.csv", index=False)
    return {"readings": _write_readings(folder, timestamps, ids, counts, "%.0f"), "distances": str(folder / "links.csv")}


def _los_loop(root: Path) -> tuple[pd.DatetimeIndex, pd.DataFrame]:
    speeds = pd.read_csv(root / "los-loop" / "los_speed.csv")
    return pd.date_range("2012-03-01", periods=len(speeds), freq="5min"), speeds


def _losloop_rescaled(root: Path, folder: Path, seed: int) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    timestamps, speeds = _los_loop(root)
    keep = np.sort(rng.choice(speeds.shape[1], size=150, replace=False))
    factor = 10 ** rng.uniform(-1.0, 1.0, size=len(keep))
    ids = [str(speeds.columns[i]) for i in keep]
    adjacency = np.loadtxt(root / "los-loop" / "los_adj.csv", delimiter=",")[np.ix_(keep, keep)]
    pd.DataFrame(adjacency, columns=ids).to_csv(folder / "adjacency.csv", index=False, float_format="%.6g")
    values = speeds.to_numpy()[:, keep] * factor
    return {"readings": _write_readings(folder, timestamps, ids, values, "%.5g"), "adjacency": str(folder / "adjacency.csv")}


def _losloop_15min(root: Path, folder: Path, seed: int) -> dict[str, str]:
    timestamps, speeds = _los_loop(root)
    coarse = speeds.set_axis(timestamps).resample("15min").mean()
    locations = pd.read_csv(root / "metr-la-graph" / "graph_sensor_locations.csv")
    locations[["sensor_id", "latitude", "longitude"]].to_csv(folder / "locations.csv", index=False)
    values = coarse.to_numpy()
    ids = [str(c) for c in coarse.columns]
    return {"readings": _write_readings(folder, coarse.index, ids, values, "%.4f"), "sensors": str(folder / "locations.csv")}


NETWORKS: dict[str, Network] = {
    network.name: network
    for network in (
        Network(
            "transit-hourly", "hourly counts, 358 sensors, 31 days, scales 400x, PEMS03 links", ("pems03-graph",), _transit_hourly
        ),
        Network("counts-daily", "daily counts, 170 sensors, 2 years, PEMS08 links", ("pems08-graph",), _counts_daily),
        Network("losloop-rescaled", "Los-loop speeds x 0.1..10 per sensor, 150 sensors, 5 min", ("los-loop",), _losloop_rescaled),
        Network(
            "losloop-15min",
            "Los-loop speeds averaged to 15 min, 207 sensors, locations graph",
            ("los-loop", "metr-la-graph"),
            _losloop_15min,
        ),
    )
}


def build(name: str, root: Path, folder: Path, *, seed: int = 0) -> dict[str, str]:
    """Write network ``name`` into ``folder`` from the real data under ``root``.

    Returns:
        the ``stgraph train`` options naming its files, e.g. ``{"readings": ..., "distances": ...}``.

    Raises:
        FileNotFoundError: a data folder the network needs is not under ``root``.
    """
    network = NETWORKS[name]
    missing = [need for need in network.needs if not (root / need).is_dir()]
    if missing:
        raise FileNotFoundError(f"{name}: needs {', '.join(missing)} under {root}")
    folder.mkdir(parents=True, exist_ok=True)
    return network.make(root, folder, seed)
