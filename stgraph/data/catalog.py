"""The datasets stgraph knows: what they hold, where to get them, how to check the files.

Facts only: every entry states sensors, steps, sampling interval, start, units, the value that
marks a missing reading, the source, the papers to cite, and for each file its layout,
download address (a raw GitHub URL pinned to a commit), size and checksum. A checksum is a
sha256 or, where only that is known, the git blob id of the file in the repository it comes
from (what ``git hash-object`` prints). Where neither is known the entry says so, and such
files are used unverified, with a warning (:func:`stgraph.data.store.verify_files`).

Files live in ``<data root>/<dataset key>/`` (see :mod:`stgraph.io.paths`); the committed
sample lives in the checkout's ``datasets/sample``. What is on disk, and whether it is
verified, is :mod:`stgraph.data.store`'s job.

Example:
    >>> from stgraph.data.catalog import get_dataset
    >>> get_dataset("METR-LA").sensors
    207
    >>> get_dataset("Los-loop").layout()
    {'features': ['speed'], 'start': '2012-03-01 00:00', 'interval': '5min'}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stgraph.errors import SensorDataError
from stgraph.io.paths import checkout_datasets_dir, data_root

__all__ = [
    "CHECKSUM_UNKNOWN",
    "DATASETS",
    "LARGEST_PROTOCOL",
    "Citation",
    "DataFile",
    "Dataset",
    "Protocol",
    "SensorSubset",
    "get_dataset",
    "normalise_name",
]

CHECKSUM_UNKNOWN = "checksum not yet known"


@dataclass(frozen=True)
class Citation:
    """A paper to cite; ``str()`` gives the reference line ``stgraph datasets NAME`` prints."""

    authors: str
    title: str
    venue: str
    year: int

    def __str__(self) -> str:
        return f'{self.authors}, "{self.title}", {self.venue}, {self.year}'


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Attributes:
        name: file name inside the dataset folder.
        role: ``"readings"`` (the signal), ``"adjacency"``, ``"distances"``, ``"locations"``,
            ``"sensor_ids"`` or ``"attributes"``.
        description: layout of the file (header, shape, units).
        url: download address, pinned to a commit; ``None`` for committed files.
        size: bytes, or ``None`` if not yet known.
        sha256, git_blob: checksums; either may be ``None`` (not yet known).
        has_timestamps: readings files: whether the file carries its own timestamps (a
            column or index); without them the dataset's ``start`` and ``interval`` date the rows.
    """

    name: str
    role: str
    description: str
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    git_blob: str | None = None
    has_timestamps: bool = False

    @property
    def checksum(self) -> str:
        """``"sha256 <hex>"``, ``"git blob <hex>"`` or ``"checksum not yet known"``."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.git_blob:
            return f"git blob {self.git_blob}"
        return CHECKSUM_UNKNOWN


@dataclass(frozen=True)
class Protocol:
    """The benchmark protocol of a published table on this dataset: what ``stgraph train
    --dataset KEY`` follows unless a config file or ``--set`` says otherwise.

    Attributes:
        interval: the interval the benchmark forecasts at; finer raw readings are aggregated
            to it (:func:`stgraph.data.aggregate.aggregate`: mean of the observed readings).
        decimals: the aggregated means are rounded to this many decimals (``None``: not rounded).
        split: train/validation/test shares, chronological.
        lookback, horizon: input and output steps (at ``interval``).
        report_steps: the horizon steps the published table reports (besides the average).
        metrics: how the table scores forecasts.
        source: where each of these facts was read.
    """

    interval: str
    decimals: int | None
    split: tuple[float, float, float]
    lookback: int
    horizon: int
    report_steps: tuple[int, ...]
    metrics: str
    source: str

    def data_options(self) -> dict[str, Any]:
        """The ``data`` section this protocol sets (layered by :func:`stgraph.pipeline.resolve_config`)."""
        return {"split": list(self.split), "lookback": self.lookback, "horizon": self.horizon}


@dataclass(frozen=True)
class SensorSubset:
    """The sensors a dataset keeps of its locations file, in that file's order, chosen by a column.

    Attributes:
        column: column of the locations file (``"District"``).
        values: the values of ``column`` that select a sensor (PeMS districts ``(7, 8, 12)``);
            ``None``: every sensor of the file.
        adjacency_rows: column of the locations file giving each sensor's row (and column) in
            the adjacency file (``"ID2"``); ``None``: the sensor's line in the locations file.
    """

    column: str
    values: tuple[int, ...] | None
    adjacency_rows: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A traffic dataset: the readings, the sensor graph, and what is known about them.

    Attributes:
        key: folder name under the data root and the name ``stgraph download`` takes.
        name: the name papers use (``"PeMSD7(M)"``).
        description: one sentence on what and where.
        sensors, steps: readings table size ``[steps, sensors]``.
        interval: sampling interval (``"5min"``).
        start: timestamp of the first step; ``calendar`` says whether steps are contiguous.
        features: reading channels, in file order; ``units`` maps each to its unit.
        null_value: the reading that means "missing" (``0.0`` for METR-LA speeds), or ``None``.
        missing_share: fraction of readings missing, where measured; ``None`` otherwise.
        source: who collected the readings.
        citations: papers to cite for the data and the release used here.
        files: the files, readings first.
        bundled: committed with the source (the sample), nothing to download.
        licence: the licence of the data, where the release states one.
        obtain: how to get files that have no download address (``url`` is ``None``).
        protocol: the published benchmark protocol (:class:`Protocol`), where the catalog has one.
        subset: the sensors this dataset keeps of its locations file, and their rows in the
            adjacency file (:class:`SensorSubset`); ``None``: the readings' sensors.
        folder_key: read the files from this dataset's folder (a subset shares its parent's
            files) instead of ``<root>/<key>``.
    """

    key: str
    name: str
    description: str
    sensors: int
    steps: int
    interval: str
    start: str
    calendar: str
    features: tuple[str, ...]
    units: dict[str, str]
    null_value: float | None
    missing_share: float | None
    source: str
    citations: tuple[Citation, ...]
    files: tuple[DataFile, ...]
    notes: str = ""
    bundled: bool = False
    licence: str = ""
    obtain: str = ""
    protocol: Protocol | None = None
    subset: SensorSubset | None = None
    folder_key: str | None = None

    def folder(self, root: str | os.PathLike[str] | None = None) -> Path:
        """Where this dataset's files live: ``<root>/<key>`` (``<root>/<folder_key>`` for a subset
        that shares its parent's files); the sample stays in the checkout."""
        if self.bundled:
            checkout = checkout_datasets_dir()
            if checkout is not None:
                return checkout / self.key
        return data_root(root) / (self.folder_key or self.key)

    def how_to_get(self, root: str | os.PathLike[str] | None = None) -> str:
        """One sentence on how to put this dataset's files in place."""
        if self.bundled:
            return "run python datasets/build_sample.py in a checkout"
        where = "" if root is None else f" --root {root}"
        if any(f.url is None for f in self.files) and self.obtain:
            return f"{self.obtain}; place them in {self.folder(root)} (`stgraph datasets {self.key}` lists them)"
        return f"run `stgraph download {self.key}{where}`"

    @property
    def readings(self) -> DataFile:
        """The readings file: the first file of the entry."""
        return self.files[0]

    def layout(self) -> dict[str, Any]:
        """What :func:`stgraph.data.load_series` needs to know about :attr:`readings`, as its
        keyword arguments: the feature names and, for a file without timestamps, the start
        and interval that date its rows.

        Raises:
            SensorDataError: the file has no timestamps and the steps are not contiguous
                (PeMSD7(M): weekdays only), so no start and interval can date them.
        """
        options: dict[str, Any] = {"features": list(self.features)}
        if self.readings.has_timestamps:
            return options
        if self.calendar != "contiguous":
            raise SensorDataError(
                f"{self.readings.name}: no timestamps, and a start and an interval cannot date "
                f"the rows of {self.name} ({self.calendar})"
            )
        return options | {"start": self.start, "interval": self.interval}


def _raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_DCRNN = ("liyaguang/DCRNN", "602afd9d767d3aa1c9b3eac51710d6aeee12c227")
_TGCN = ("lehaifeng/T-GCN", "219a2346f5bf68d54d91a948e7a41a08f9edc46b")
_ASTGNN = ("guoshnBJTU/ASTGNN", "9c2e19b98c4cedf1f35214d8789685b6381b3aad")
_HAZDZZ = ("hazdzz/STGCN", "34a1cbd3485751a7fc4745a948946f459abeae11")
_HAZDZZ_PEMSM = ("hazdzz/STGCN", "2fd880c885fb655e63ff038e26f1c4356af0cfe2")
_STGCN = ("VeritasYin/STGCN_IJCAI-18", "747007ab01d56762c1a6bad89b255700cedf204d")

_JAGADISH = Citation(
    "H. V. Jagadish, J. Gehrke, A. Labrinidis, Y. Papakonstantinou, J. M. Patel, R. Ramakrishnan, C. Shahabi",
    "Big data and its technical challenges",
    "Communications of the ACM 57(7)",
    2014,
)
_DCRNN_PAPER = Citation(
    "Y. Li, R. Yu, C. Shahabi, Y. Liu",
    "Diffusion Convolutional Recurrent Neural Network: Data-Driven Traffic Forecasting",
    "ICLR",
    2018,
)
_ASTGCN_PAPER = Citation(
    "S. Guo, Y. Lin, N. Feng, C. Song, H. Wan",
    "Attention Based Spatial-Temporal Graph Convolutional Networks for Traffic Flow Forecasting",
    "AAAI",
    2019,
)
_STSGCN_PAPER = Citation(
    "C. Song, Y. Lin, S. Guo, H. Wan",
    "Spatial-Temporal Synchronous Graph Convolutional Networks: A New Framework for Spatial-Temporal Network Data Forecasting",
    "AAAI",
    2020,
)
_ASTGNN_PAPER = Citation(
    "S. Guo, Y. Lin, H. Wan, X. Li, G. Cong",
    "Learning Dynamics and Heterogeneity of Spatial-Temporal Graph Data for Traffic Forecasting",
    "IEEE Transactions on Knowledge and Data Engineering",
    2021,
)
_STGCN_PAPER = Citation(
    "B. Yu, H. Yin, Z. Zhu",
    "Spatio-Temporal Graph Convolutional Networks: A Deep Learning Framework for Traffic Forecasting",
    "IJCAI",
    2018,
)
_TGCN_PAPER = Citation(
    "L. Zhao, Y. Song, C. Zhang, Y. Liu, P. Wang, T. Lin, M. Deng, H. Li",
    "T-GCN: A Temporal Graph Convolutional Network for Traffic Prediction",
    "IEEE Transactions on Intelligent Transportation Systems 21(9)",
    2020,
)
_ASTGCN_ATTR_PAPER = Citation(
    "J. Zhu, Q. Wang, C. Tao, H. Deng, L. Zhao, H. Li",
    "AST-GCN: Attribute-Augmented Spatiotemporal Graph Convolutional Network for Traffic Forecasting",
    "IEEE Access 9",
    2021,
)

_PEMS_FLOW_NOTE = (
    "Readings are flow aggregated to 5 minutes from Caltrans PeMS detectors. 0 is treated as "
    "missing, the convention of the benchmark code that masks zero targets; note that a zero "
    "flow can also be a genuinely empty road at night. Edge costs in the graph CSV have no "
    "documented unit."
)


def _pems_flow(
    number: str,
    sensors: int,
    steps: int,
    start: str,
    features: tuple[str, ...],
    npz_blob: str,
    csv_size: int,
    csv_sha256: str,
    citation: Citation,
    extra_files: tuple[DataFile, ...] = (),
) -> Dataset:
    units = {"flow": "vehicles per 5 min", "occupancy": "fraction of time occupied", "speed": "mph"}
    edge_columns = "from,to,distance with raw PeMS station ids" if number == "03" else "from,to,cost with 0-based node indices"
    return Dataset(
        key=f"pems{number}",
        name=f"PEMS{number}",
        description=f"Caltrans PeMS District {number.lstrip('0')} traffic {'flow' if len(features) == 1 else 'flow, occupancy and speed'}.",
        sensors=sensors,
        steps=steps,
        interval="5min",
        start=start,
        calendar="contiguous",
        features=features,
        units={f: units[f] for f in features},
        null_value=0.0,
        missing_share=None,
        source=f"Caltrans Performance Measurement System (PeMS), District {number.lstrip('0')}",
        citations=(citation, _ASTGNN_PAPER),
        files=(
            DataFile(
                f"PEMS{number}.npz",
                "readings",
                f"NumPy archive, key 'data': float array [{steps}, {sensors}, {len(features)}] ({', '.join(features)}).",
                _raw(*_ASTGNN, f"data/PEMS{number}/PEMS{number}.npz"),
                git_blob=npz_blob,
            ),
            DataFile(
                f"PEMS{number}.csv",
                "distances",
                f"Edge list with header ({edge_columns}).",
                _raw(*_ASTGNN, f"data/PEMS{number}/PEMS{number}.csv"),
                size=csv_size,
                sha256=csv_sha256,
            ),
            *extra_files,
        ),
        notes=_PEMS_FLOW_NOTE,
    )


_ENTRIES = (
    Dataset(
        key="metr-la",
        name="METR-LA",
        description="Loop-detector speeds on Los Angeles County highways (LA Metro).",
        sensors=207,
        steps=34272,
        interval="5min",
        start="2012-03-01 00:00",
        calendar="contiguous",
        features=("speed",),
        units={"speed": "mph"},
        null_value=0.0,
        missing_share=None,
        source="Los Angeles Metropolitan Transportation Authority (LA Metro) loop detectors, via ADMS",
        citations=(_JAGADISH, _DCRNN_PAPER),
        files=(
            DataFile(
                "metr-la.h5",
                "readings",
                "pandas HDF5 frame: DatetimeIndex x 207 sensor-id columns, speed in mph, 0 = missing.",
                _raw(*_TGCN, "STGC-GNN/data/METR-LA/metr-la.h5"),
                git_blob="7df0003054d1bccd255d38949b2ef011dcadad3f",
                has_timestamps=True,
            ),
            DataFile(
                "graph_sensor_ids.txt",
                "sensor_ids",
                "One line of 207 comma-separated sensor ids: the node order.",
                _raw(*_DCRNN, "data/sensor_graph/graph_sensor_ids.txt"),
                size=1448,
                sha256="3ba026caa2e6263ab0ea54b0fa1b125dbfa7216544cd05313b555e826292b990",
            ),
            DataFile(
                "graph_sensor_locations.csv",
                "locations",
                "CSV index,sensor_id,latitude,longitude; 207 rows.",
                _raw(*_DCRNN, "data/sensor_graph/graph_sensor_locations.csv"),
                size=6341,
                sha256="eb8ea96e07358b45d0e4ba3b89c2673fa20c54af50150249e627389e749ade6f",
            ),
            DataFile(
                "adj_mx.pkl",
                "adjacency",
                "DCRNN pickle (sensor_ids, id_to_index, adj_mx float32 [207, 207]); 1722 non-zeros.",
                _raw(*_DCRNN, "data/sensor_graph/adj_mx.pkl"),
                size=680459,
                sha256="a35687c6e15aa228dc45027b0ed2a0ea0f4ec78f573deb992c595092d12f61b3",
            ),
            DataFile(
                "distances_la_2012.csv",
                "distances",
                "CSV from,to,cost: road-network distances between sensors (covers more sensors than the 207).",
                _raw(*_DCRNN, "data/sensor_graph/distances_la_2012.csv"),
                git_blob="759d2bc751c89b91fd63dc1fc8ceba904a85b1c2",
            ),
        ),
        notes="The readings file comes from the T-GCN repository, which holds the DCRNN release "
        "byte for byte (same git blob as the published metr-la.h5).",
    ),
    Dataset(
        key="pems-bay",
        name="PEMS-BAY",
        description="Caltrans PeMS speeds in the San Francisco Bay Area.",
        sensors=325,
        steps=52116,
        interval="5min",
        start="2017-01-01 00:00",
        calendar="contiguous",
        features=("speed",),
        units={"speed": "mph"},
        null_value=0.0,
        missing_share=None,
        source="Caltrans Performance Measurement System (PeMS), District 4",
        citations=(_DCRNN_PAPER,),
        files=(
            DataFile(
                "vel.csv",
                "readings",
                "STGCN csv form of the speeds: one row per 5-minute step, one column per sensor, no timestamp column.",
                _raw(*_HAZDZZ, "data/pems-bay/vel.csv"),
                git_blob="1af4f85c66d453a82fe141f3055078b9fe9fb6fe",
            ),
            DataFile(
                "graph_sensor_locations_bay.csv",
                "locations",
                "Headerless CSV sensor_id,latitude,longitude; 325 rows.",
                _raw(*_DCRNN, "data/sensor_graph/graph_sensor_locations_bay.csv"),
                size=9750,
                sha256="276ee01059610774d4e59572507f7e32eaac21f1f5882fcd9e3d7d426a4b7a6c",
            ),
            DataFile(
                "distances_bay_2017.csv",
                "distances",
                "Headerless CSV from_id,to_id,distance (road-network distance); 8358 rows.",
                _raw(*_DCRNN, "data/sensor_graph/distances_bay_2017.csv"),
                size=175771,
                sha256="e5feed06bfa1ba4c554a946d0e03d99f2018365eec5a8f28fd8504dea9d082b5",
            ),
            DataFile(
                "adj_mx_bay.pkl",
                "adjacency",
                "DCRNN pickle (sensor_ids, id_to_index, adj_mx float32 [325, 325]); 2694 non-zeros.",
                _raw(*_DCRNN, "data/sensor_graph/adj_mx_bay.pkl"),
                size=1681480,
                sha256="116275f5704d0d492018e14c047f7ae5004385b450aa907f88424055a4a97370",
            ),
        ),
        notes="The DCRNN paper describes January to May 2017; the published table has 52116 "
        "steps. The HDF5 form (pems-bay.h5, with timestamps) has no checksum known here, so the "
        "catalog uses the STGCN re-implementation's csv form, which has no timestamps.",
    ),
    _pems_flow(
        "03",
        358,
        26208,
        "2018-09-01 00:00",
        ("flow",),
        "b4487154fc9611a3bf9856b0aad34efa610ea8ae",
        11994,
        "b978bc1fee8172ac0bb02e6478f0376b68d172ee88c0c3121c60241e42c89fc6",
        _STSGCN_PAPER,
        extra_files=(
            DataFile(
                "PEMS03.txt",
                "sensor_ids",
                "358 PeMS station ids, one per line, in node order.",
                _raw(*_ASTGNN, "data/PEMS03/PEMS03.txt"),
                size=2862,
                sha256="553bd79618c1e7eb195b467b5a3114d44c5adb43f7ab8b19789fd9dfaa43c439",
            ),
        ),
    ),
    _pems_flow(
        "04",
        307,
        16992,
        "2018-01-01 00:00",
        ("flow", "occupancy", "speed"),
        "a1a39eac4b86963b1ac22874fd1cc693eb642cd2",
        4852,
        "68ffaa80447eb34428a9999dc28363c61406ec0fd714686d0582d2386ac6f5f7",
        _ASTGCN_PAPER,
    ),
    _pems_flow(
        "07",
        883,
        28224,
        "2017-05-01 00:00",
        ("flow",),
        "28c547f80eb8804d3e378168c80f77f82db2680a",
        15016,
        "f7d127ebf976f1e2d93dc7d7275cef6d8c4c1828c7c8bfbaf3ee1254491314f1",
        _STSGCN_PAPER,
    ),
    _pems_flow(
        "08",
        170,
        17856,
        "2016-07-01 00:00",
        ("flow", "occupancy", "speed"),
        "f5f3e84a00417573aa8487fe1e9e8cd13c6026c8",
        4032,
        "859d68e7583ed4e6016588eaaca494d3ece286dae361614c5c1833017f87eaa7",
        _ASTGCN_PAPER,
    ),
    Dataset(
        key="pemsd7m",
        name="PeMSD7(M)",
        description="Caltrans PeMS District 7 (Los Angeles) speeds at 228 stations, weekdays only.",
        sensors=228,
        steps=12672,
        interval="5min",
        start="2012-05-01 00:00",
        calendar="weekdays of May and June 2012 only (44 days x 288 steps); not contiguous",
        features=("speed",),
        units={"speed": "mph"},
        null_value=None,
        missing_share=None,
        source="Caltrans Performance Measurement System (PeMS), District 7",
        citations=(_STGCN_PAPER,),
        files=(
            DataFile(
                "V_228.csv",
                "readings",
                "Headerless CSV: 12672 rows (5-minute steps) x 228 stations, speed in mph.",
                _raw(*_HAZDZZ_PEMSM, "data/road_traffic/PeMS-M/V_228.csv"),
                size=72230400,
                sha256="9731c9874a05b5ca88f482062760efb0cbf38816721969a072907fe381d6adb7",
                git_blob="2a76cb181e8e917c5d9b85891d26614981024fab",
            ),
            DataFile(
                "W_228.csv",
                "distances",
                "Headerless 228 x 228 symmetric matrix of station distances in metres.",
                _raw(*_HAZDZZ_PEMSM, "data/road_traffic/PeMS-M/W_228.csv"),
                size=1299600,
                sha256="c558c602b7937fb3ecb3835938fe8f61a34efa4c51e0ae3f61ed93ecc680060e",
            ),
            DataFile(
                "PeMSD7_M_Station_Info.csv",
                "locations",
                "CSV (unnamed index), ID, Fwy, Dir, District, Latitude, Longitude; rows in W_228 order.",
                _raw(*_STGCN, "dataset/PeMSD7_M_Station_Info.csv"),
                size=9118,
                sha256="5a9744215880f2ec1a5b3efdbd6ee662eb1533b9b3d68924d85f5e45c28a02fe",
            ),
        ),
        notes="STGCN weights: w = exp(-(d/10000)^2 / 0.1), kept where w >= 0.5 (reference code). "
        "No missing-value marker is documented for this release.",
    ),
    Dataset(
        key="los-loop",
        name="Los-loop",
        description="The first week of METR-LA (same 207 sensors and order) with missing readings filled in.",
        sensors=207,
        steps=2016,
        interval="5min",
        start="2012-03-01 00:00",
        calendar="contiguous",
        features=("speed",),
        units={"speed": "mph"},
        null_value=None,
        missing_share=0.0,
        source="LA Metro loop detectors (METR-LA), gaps filled by the T-GCN authors",
        citations=(_TGCN_PAPER, _JAGADISH),
        files=(
            DataFile(
                "los_speed.csv",
                "readings",
                "CSV: a header of 207 sensor ids, then 2016 rows of speed in mph; no timestamp column "
                "(row t is 2012-03-01 00:00 + 5 min x t).",
                _raw(*_TGCN, "data/los_speed.csv"),
                size=3402125,
                sha256="7b732d86ae32b2930595becba28aff39dacbfb2197e250fc0332e1744ce2cbf4",
            ),
            DataFile(
                "los_adj.csv",
                "adjacency",
                "Headerless symmetric 207 x 207 weighted adjacency (2833 non-zeros, weights in [0.1, 1]).",
                _raw(*_TGCN, "data/los_adj.csv"),
                size=111686,
                sha256="7a6eb41e10677992b5af50f5ab187c6c05c5c3a92cb973950cfddbf857361e76",
            ),
        ),
        notes="Because gaps were filled, this is not identical to the raw METR-LA prefix; it has "
        "only one week, so a same-time-of-week average has no history for part of the week.",
    ),
    Dataset(
        key="sz-taxi",
        name="SZ-taxi",
        description="Taxi speeds on 156 major roads of Luohu District, Shenzhen, January 2015.",
        sensors=156,
        steps=2976,
        interval="15min",
        start="2015-01-01 00:00",
        calendar="contiguous",
        features=("speed",),
        units={"speed": "km/h (assumed; the source does not state the unit)"},
        null_value=None,
        missing_share=None,
        source="Shenzhen taxi GPS trajectories, aggregated per road by the T-GCN authors",
        citations=(_TGCN_PAPER, _ASTGCN_ATTR_PAPER),
        files=(
            DataFile(
                "sz_speed.csv",
                "readings",
                "CSV of 2976 rows (15-minute steps) x 156 roads.",
                _raw(*_TGCN, "data/sz_speed.csv"),
                git_blob="9f6331326e34f1e323b84fb91b781250c77a232c",
            ),
            DataFile(
                "sz_adj.csv",
                "adjacency",
                "Headerless 156 x 156 binary road-connectivity matrix (532 ones).",
                _raw(*_TGCN, "data/sz_adj.csv"),
                size=48672,
                sha256="4e40e865b29d73df8404f6cc4c1a0c5ba55aa575aef97a4e9ce4fcd30aad16d6",
            ),
            DataFile(
                "sz_poi.csv",
                "attributes",
                "Headerless 156 roads x 2976 steps; each row repeats the road's POI category code.",
                _raw(*_TGCN, "AST-GCN/data/sz_poi.csv"),
                size=928668,
                sha256="500dbde4626d85cf2000f41c5a24d2e9f964798c43bfbde6a03f8f1128bab95a",
            ),
            DataFile(
                "sz_weather.csv",
                "attributes",
                "Headerless 2976 steps x 156 roads; each row repeats the weather code (1-5).",
                _raw(*_TGCN, "AST-GCN/data/sz_weather.csv"),
                size=931488,
                sha256="fc0cfde12451e0dcd3c6c7941d01bf1aa795f63fb02c96976822dceb29b12561",
            ),
        ),
        notes="Zero speeds occur and are not documented as missing, so no null value is set.",
    ),
)

# --- LargeST (Liu et al., NeurIPS 2023 Datasets and Benchmarks) ---------------------------------
# Facts from the authors' repository github.com/liuxu77/LargeST at _LARGEST_COMMIT: README.md
# (files on Kaggle, licence), data/ca/process_ca_his.ipynb (aggregation), data/{gla,gba,sd}/
# generate_*_dataset.ipynb (the subsets), data/generate_data_for_training.py (windows, split),
# src/utils/dataloader.py get_dataset_info (sensor counts), src/base/engine.py and
# src/utils/metrics.py (metrics).
_LARGEST_COMMIT = "b7c6ff5f7f0c10051ed10a319b2cfe58021312f9"
_LARGEST_PAPER = Citation(
    "X. Liu, Y. Xia, Y. Liang, J. Hu, Y. Wang, L. Bai, C. Huang, Z. Liu, B. Hooi, R. Zimmermann",
    "LargeST: A Benchmark Dataset for Large-Scale Traffic Forecasting",
    "NeurIPS Datasets and Benchmarks Track (arXiv:2306.08259)",
    2023,
)
_LARGEST_LICENCE = (
    "CC BY-NC 4.0 (Creative Commons Attribution-NonCommercial 4.0 International; "
    "https://creativecommons.org/licenses/by-nc/4.0), as the LargeST README states; the authors' code is MIT"
)
_LARGEST_OBTAIN = (
    "download from Kaggle (https://www.kaggle.com/datasets/liuxu77/largest, or `kaggle datasets download "
    "liuxu77/largest`; a free Kaggle account is needed, so stgraph cannot fetch it) and unzip ca_his_raw_2019.h5, "
    "ca_meta.csv and ca_rn_adj.npy"
)
#: The LargeST benchmark protocol, each fact with the file it was read from.
LARGEST_PROTOCOL = Protocol(
    interval="15min",
    decimals=0,
    split=(0.6, 0.2, 0.2),
    lookback=12,
    horizon=12,
    report_steps=(3, 6, 12),
    metrics="masked MAE, RMSE and MAPE in vehicles per 5 min, a target of 0 masked, per horizon step and averaged",
    source=(
        f"github.com/liuxu77/LargeST@{_LARGEST_COMMIT[:7]}: the year 2019 and the 15-minute aggregation "
        "(`ca_his.resample('15T').mean().round(0)`, then `fillna(0)`) in data/ca/process_ca_his.ipynb; "
        "12 steps in and out (--seq_length_x/--seq_length_y 12) and the 6:2:2 chronological split "
        "(round(0.6 / 0.2 x windows)) in data/generate_data_for_training.py; the masked metrics with "
        "mask value 0 per horizon step and their average in src/base/engine.py and src/utils/metrics.py; "
        "horizons 3, 6, 12 and the average are the steps the paper's tables report (arXiv:2306.08259)"
    ),
)
_LARGEST_NOTES = (
    "LargeST: 8,600 Caltrans PeMS mainline sensors of California, 2017 to 2021 (one raw file per year, "
    "ca_his_raw_<year>.h5 on Kaggle; the benchmark uses 2019). Differences from the authors' pipeline: "
    "they split windows 6:2:2 (stgraph splits the steps, see stgraph.data.splits); they fill empty "
    "15-minute buckets with 0 and then mask every 0, as stgraph masks both. The adjacency is the "
    "authors' road-network matrix (ca_rn_adj.npy, self-loops of 1 on the diagonal), rows in "
    "ca_meta.csv's ID2 order. Reading a year of CA at 5 minutes takes about 3.6 GB as float32."
)


def _largest_files() -> tuple[DataFile, ...]:
    return (
        DataFile(
            "ca_his_raw_2019.h5",
            "readings",
            "pandas HDF5 frame: DatetimeIndex of 2019 at 5 min x 8,600 sensor-id columns, flow in vehicles "
            "per 5 min, NaN = missing.",
            has_timestamps=True,
        ),
        DataFile(
            "ca_meta.csv",
            "locations",
            "CSV ID,Lat,Lng,District,County,Fwy,Lane,Type,Direction,ID2: one row per sensor (PeMS id, "
            "degrees, PeMS district; ID2 = the row in ca_rn_adj.npy).",
        ),
        DataFile(
            "ca_rn_adj.npy",
            "adjacency",
            "NumPy float array [8600, 8600]: road-network adjacency in ca_meta.csv's ID2 order.",
        ),
    )


def _largest(key: str, name: str, sensors: int, where: str, districts: tuple[int, ...] | None) -> Dataset:
    subset = SensorSubset("District", districts, adjacency_rows="ID2")
    chosen = "" if districts is None else f" (PeMS district {', '.join(map(str, districts))} of CA's ca_meta.csv)"
    return Dataset(
        key=key,
        name=name,
        description=f"LargeST {name}: Caltrans PeMS traffic flow at {sensors:,} sensors in {where}{chosen}, 2019.",
        sensors=sensors,
        steps=105120,
        interval="5min",
        start="2019-01-01 00:00",
        calendar="contiguous",
        features=("flow",),
        units={"flow": "vehicles per 5 min"},
        null_value=0.0,
        missing_share=None,
        source="Caltrans Performance Measurement System (PeMS), via the LargeST release",
        citations=(_LARGEST_PAPER,),
        files=_largest_files(),
        notes=_LARGEST_NOTES,
        licence=_LARGEST_LICENCE,
        obtain=_LARGEST_OBTAIN,
        protocol=LARGEST_PROTOCOL,
        subset=subset,
        folder_key=None if districts is None else "largest-ca",
    )


# Subsets as data/{gla,gba,sd}/generate_*_dataset.ipynb build them: ca_meta rows of the districts,
# readings columns by ID, adjacency rows and columns by ID2.
_LARGEST = (
    _largest("largest-ca", "CA", 8600, "California", None),
    _largest("largest-gla", "GLA", 3834, "Greater Los Angeles", (7, 8, 12)),
    _largest("largest-gba", "GBA", 2352, "the Greater Bay Area", (4,)),
    _largest("largest-sd", "SD", 716, "San Diego", (11,)),
)

# The committed sample, built by datasets/build_sample.py; sha256s are of the committed bytes.
_SAMPLE = Dataset(
    key="sample",
    name="METR-LA sample",
    description="Los-loop week for the 207 METR-LA sensors, with the METR-LA graph and 100 raw steps (committed).",
    sensors=207,
    steps=2016,
    interval="5min",
    start="2012-03-01 00:00",
    calendar="contiguous",
    features=("speed",),
    units={"speed": "mph"},
    null_value=None,
    missing_share=0.0,
    source="Los-loop (T-GCN) and METR-LA (DCRNN; STGraph-Datasets), see datasets/sample/README.md",
    citations=(_TGCN_PAPER, _DCRNN_PAPER, _JAGADISH),
    files=(
        DataFile(
            "readings.csv.gz",
            "readings",
            "gzip CSV: timestamp column, then 207 sensor-id columns of speed in mph (Los-loop, gaps filled).",
            size=753691,
            sha256="d3a5a6bfcfb8653980c744f7113fe2898c359573fa8f098b2fdee5878076b6a8",
            has_timestamps=True,
        ),
        DataFile(
            "sensor_locations.csv",
            "locations",
            "CSV sensor_id,latitude,longitude; 207 rows in node order.",
            size=5618,
            sha256="32928910f9647111fa66eb9ae5f9ab1ca9d5cc296b5f9a049ec7073bf663bdcc",
        ),
        DataFile(
            "adjacency.npz",
            "adjacency",
            "scipy.sparse CSR .npz of DCRNN's adj_mx [207, 207] float32, 1722 non-zeros.",
            size=8661,
            sha256="803a0c8f95ed30dd4091658957f8b8b9f7db64448011f91a8ee3546992ca8daf",
        ),
        DataFile(
            "metr-la-raw100.csv.gz",
            "readings",
            "gzip CSV: timestamp column, 207 sensor columns; first 100 raw METR-LA steps, 0 = missing.",
            size=39464,
            sha256="560ba010885e0a60dcfc64d01b7d979256d59186ef410ea33a5b0f51ce4b00f4",
            has_timestamps=True,
        ),
    ),
    notes="Built by datasets/build_sample.py from ../shared/data; used by the demo and the tests.",
    bundled=True,
)

DATASETS: dict[str, Dataset] = {entry.key: entry for entry in (*_ENTRIES, *_LARGEST, _SAMPLE)}


def normalise_name(name: str) -> str:
    """``"PeMSD7(M)"`` -> ``"pemsd7m"``: dataset names compared without case or punctuation."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def get_dataset(name: str) -> Dataset:
    """Look a dataset up by key or paper name, ignoring case and punctuation
    (``"METR-LA"``, ``"metr_la"``, ``"pemsd7(m)"``)."""
    wanted = normalise_name(name)
    for entry in DATASETS.values():
        if wanted in (normalise_name(entry.key), normalise_name(entry.name)):
            return entry
    raise SensorDataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
