"""Experiment configuration: a data, a model and a training section, as typed dataclasses.

A resolved configuration is layered, later layers winning:

1. the dataclass defaults below;
2. the model's YAML shipped with stgraph (``stgraph/configs/<model>.yaml``): the paper's
   hyperparameters and training schedule, plus a ``datasets:`` block of per-dataset
   differences where a paper used different settings on different datasets; with no model
   named, STID's (the default recipe's model);
   then, for one's own readings (``data.readings``) and for the default recipe, the own-data
   recipe ``stgraph/configs/recipes/own_data.yaml`` (calendar inputs and scaling chosen from
   the data, MAE + RMSE loss in the readings' units, a time budget with early stopping), and
   with no model named the default recipe ``recipes/default.yaml``; then, for a catalog
   dataset with a published benchmark protocol (LargeST), its split, lookback and horizon
   (:class:`stgraph.data.catalog.Protocol`);
3. a user's YAML (``--config FILE``), with the same sections;
4. command-line overrides ``section.key=value`` (``--set model.hidden=32 training.lr=0.01``);
   values are parsed as YAML, so ``training.milestones=[10,20]`` and ``data.null_value=null``
   work.

n models and m datasets cost n small files, never n x m: dataset facts (null value,
interval) come from :mod:`stgraph.data.catalog`, not from YAML.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stgraph.data.catalog import DATASETS, normalise_name
from stgraph.data.covariates import COVARIATES
from stgraph.data.windows import MISSING_INPUTS
from stgraph.errors import ConfigError
from stgraph.metrics.intervals import check_coverage
from stgraph.nn.curriculum import CURRICULUM_UNITS
from stgraph.nn.quantile_head import check_quantiles
from stgraph.pipeline.calibration import SCALES

if TYPE_CHECKING:
    from stgraph.models import ForecastModel

__all__ = [
    "DEFAULT_RECIPE",
    "LOSSES",
    "OWN_DATA_RECIPE",
    "QUANTILES",
    "SCALINGS",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "TrainingConfig",
    "canonical_model_name",
    "check_model_options",
    "default_model_name",
    "packaged_models",
    "parse_overrides",
    "resolve_config",
]


#: layered over a model's YAML for one's own readings and under the default recipe (under ``stgraph/configs``)
OWN_DATA_RECIPE = "recipes/own_data.yaml"
#: the model and settings when no model is named, layered over its YAML and the own-data recipe
DEFAULT_RECIPE = "recipes/default.yaml"

#: values of ``data.scaling``
SCALINGS = ("auto", "global", "per_sensor")

#: the model option that makes any model a quantile forecaster (:class:`stgraph.nn.QuantileHead`)
QUANTILES = "quantiles"

#: values of ``training.loss`` (:meth:`stgraph.train.module.ForecastModule.loss`)
LOSSES = ("mae", "mse", "mae_rmse")


@dataclass
class DataConfig:
    """Where the readings and the graph come from, and how they are windowed and split.

    Attributes:
        dataset: a catalog name (``metr-la``, ``pems-bay``, ...) or ``sample`` (the committed
            sample); exclusive with ``readings``.
        readings: a readings file of one's own (wide CSV/Parquet/HDF5, long CSV, ``.npz``).
        sensors: sensor list or locations file (``id,latitude,longitude``) for own data.
        distances: road distances ``from,to,distance`` -> thresholded Gaussian kernel graph.
        adjacency: an adjacency matrix file (CSV, ``.npy``, ``.npz``, DCRNN pickle).
        edges: an edge list ``from,to[,weight]``.
        null_value: the reading that means "missing" besides NaN. ``None``: the dataset's own
            convention for catalog datasets (0.0 for METR-LA/PEMS-BAY speeds), NaN only for own
            data (a count of 0 vehicles is a real reading).
        interval: the sampling interval the readings must have (``"5min"``); inferred from
            the timestamps when None. A timestamp off this grid is an error naming its row.
        features: reading features fed to the model; ``None`` = all.
        targets: features forecast; ``None`` = the first feature.
        covariates: calendar inputs appended to the features (:mod:`stgraph.data.covariates`):
            ``time_of_day`` (fraction of the day in [0, 1), as DCRNN and Graph WaveNet),
            ``day_of_week`` (0 = Monday .. 6), ``day_of_week_onehot`` (7 columns); ``[auto]``: those
            the readings can teach (:func:`~stgraph.pipeline.data.choose_covariates`).
        scaling: how readings are z-scored (statistics from the training steps): ``global``
            (one mean and standard deviation per feature, pooled over sensors, as DCRNN and
            Graph WaveNet), ``per_sensor`` (one per sensor and feature), or ``auto``: the
            published recipe (``global``) for catalog datasets; for one's own readings
            ``per_sensor`` when the sensors' scales differ by more than
            :data:`~stgraph.pipeline.data.SCALE_SPREAD` times (see
            :func:`~stgraph.pipeline.data.choose_scaling`), else ``global``.
        missing_inputs: how a missing input reading enters the model
            (:func:`~stgraph.data.windows.fill_missing_inputs`): ``zero`` (default; DCRNN's data
            convention, kept for the paper protocols) feeds its stored value 0, scaled like any
            reading, so a detector that dropped out reads as a standstill; ``mask`` feeds 0 in
            scaled units (the training mean) plus one ``observed`` channel (1/0) per input
            feature, after the calendar covariates. The own-data recipe sets it (see
            ``recipes/own_data.yaml``). Targets are scored only where observed either way.
        lookback, horizon: input and output steps.
        split: train/validation/test fractions of the time axis, chronological.
        batch_size: training windows per batch; ``eval_batch_size`` for evaluation (default:
            the same).
        threshold: kernel weights below it are dropped when building from distances/locations.
        neighbors: when the graph comes from sensor locations alone, link each sensor to its
            ``neighbors`` nearest sensors (great-circle distance, Gaussian-kernel weights);
            ``None`` keeps every pair whose kernel weight reaches ``threshold``, which over a
            whole metropolitan area links about half of all sensor pairs.
        reorder_sensors: renumber the sensors in reverse Cuthill-McKee order
            (:mod:`stgraph.graph.ordering`) so that neighbours have nearby indices, which makes
            graph propagation read memory locally; ``None`` (default) does it for graphs of
            1,000 sensors or more. Forecasts are unchanged (up to float rounding) and every
            output is labelled by sensor ID.
        num_workers: DataLoader workers (0 = load in the main process).
        in_memory: with ``readings`` a directory from ``stgraph convert``, copy the series into
            memory instead of reading windows from disk; refused when it would take more than
            half the memory available (:func:`~stgraph.data.memmap.open_series`).
    """

    dataset: str | None = None
    readings: str | None = None
    sensors: str | None = None
    distances: str | None = None
    adjacency: str | None = None
    edges: str | None = None
    null_value: float | None = None
    interval: str | None = None
    features: list[str] | None = None
    targets: list[str] | None = None
    covariates: list[str] = field(default_factory=lambda: ["time_of_day"])
    scaling: str = "auto"
    missing_inputs: str = "zero"
    lookback: int = 12
    horizon: int = 12
    split: list[float] = field(default_factory=lambda: [0.7, 0.1, 0.2])
    batch_size: int = 64
    eval_batch_size: int | None = None
    threshold: float = 0.1
    neighbors: int | None = 8
    reorder_sensors: bool | None = None
    num_workers: int = 0
    in_memory: bool = False

    def validate(self) -> None:
        for name in ("features", "targets"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, [getattr(self, name)])
        if (self.dataset is None) == (self.readings is None):
            raise ConfigError("give exactly one of data.dataset (a catalog name) or data.readings (a file)")
        graph_sources = [k for k in ("distances", "adjacency", "edges") if getattr(self, k) is not None]
        if len(graph_sources) > 1:
            raise ConfigError(f"give at most one graph source, got {', '.join('data.' + k for k in graph_sources)}")
        if self.readings is not None and not graph_sources and self.sensors is None:
            raise ConfigError(
                "own readings need a graph: data.distances, data.adjacency, data.edges or a locations file as data.sensors"
            )
        unknown = [c for c in self.covariates if c not in COVARIATES]
        if self.covariates == ["auto"]:
            unknown = []
        if unknown:
            raise ConfigError(f"data.covariates: unknown {unknown}; known: {list(COVARIATES)}, or [auto]")
        if self.scaling not in SCALINGS:
            raise ConfigError(f"data.scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        if self.missing_inputs not in MISSING_INPUTS:
            raise ConfigError(f"data.missing_inputs must be one of {', '.join(MISSING_INPUTS)}, got {self.missing_inputs!r}")
        for name in ("lookback", "horizon", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.neighbors is not None and (not isinstance(self.neighbors, int) or self.neighbors < 1):
            raise ConfigError(f"data.neighbors must be a positive integer or null, got {self.neighbors!r}")
        if (
            len(self.split) != 3
            or any(not isinstance(s, (int, float)) or s < 0 for s in self.split)
            or abs(sum(self.split) - 1) > 1e-6
        ):
            raise ConfigError(f"data.split must be three non-negative fractions summing to 1, got {self.split}")


@dataclass
class ModelConfig:
    """A registered model (:func:`stgraph.models.create`) and its keyword arguments.

    In YAML the section is flat: ``model: {name: dcrnn, hidden: 64, order: 2}``.
    ``num_sensors``, ``in_features``, ``out_channels``, ``lookback`` and ``horizon`` are filled
    in from the data and must not be set here. ``quantiles`` (``[0.05, 0.5, 0.95]``) is not
    the model's: any model forecasts those levels through :class:`stgraph.nn.QuantileHead`,
    trained with the pinball loss; 0.5 must be one of them (the point forecast).
    """

    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    def quantiles(self) -> tuple[float, ...] | None:
        """The checked ``quantiles`` option, or None for a point forecast."""
        levels = self.options.get(QUANTILES)
        if levels is None:
            return None
        try:
            checked = check_quantiles(levels)
        except ValueError as error:
            raise ConfigError(f"model.{error}") from None
        if 0.5 not in checked:
            raise ConfigError(f"model.quantiles must include 0.5 (the median is the point forecast), got {list(checked)}")
        return checked


@dataclass
class TrainingConfig:
    """Optimiser, schedule, stopping and hardware.

    Attributes:
        epochs: maximum epochs; ``max_steps`` stops earlier (-1 = no step limit).
        time_budget: seconds of training; stops before an epoch that would end later
            (whole, validated epochs only); ``null`` = no limit.
        optimizer: ``adam`` or ``rmsprop``; ``lr``, ``weight_decay``, ``eps`` and (RMSprop)
            ``alpha`` are passed to it.
        scheduler: ``null``, ``multistep`` (``milestones``, ``gamma``; DCRNN) or ``step``
            (``step_size``, ``gamma``; STGCN), stepped once per epoch.
        gradient_clip: max global gradient norm (DCRNN and Graph WaveNet use 5); ``null`` = off.
        patience: epochs without a better validation masked MAE before stopping; ``null`` = off.
        loss: ``mae`` (masked MAE, most papers'), ``mse`` (masked mean squared error; T-GCN's
            code) or ``mae_rmse`` (masked MAE plus masked RMSE; see
            :meth:`stgraph.train.module.ForecastModule.loss`).
        loss_units: ``scaled`` (the loss on z-scored targets) or ``original`` (the loss after
            inverse scaling, as DCRNN's and Graph WaveNet's code compute it). Metrics are always
            reported in original units.
        teacher_forcing_decay: DCRNN's scheduled sampling: the probability of feeding the
            observed value to the decoder is ``tau / (tau + exp(step / tau))`` with ``tau`` this
            value (2000 in DCRNN); ``null`` = no teacher forcing.
        curriculum_every: curriculum over horizons (:class:`stgraph.nn.curriculum.HorizonCurriculum`):
            the training loss covers the first forecast step, and one more every this many
            ``curriculum_unit`` (MTGNN: 2,500 ``steps``; D2STGNN: 6 ``epochs``); ``null`` = the
            whole horizon from the start. Validation and test metrics always cover the whole
            horizon; a resumed run continues the curriculum where it stopped.
        curriculum_unit: ``steps`` (optimiser steps) or ``epochs``.
        seed: seeds Python, NumPy and torch (and DataLoader workers).
        accelerator, devices, strategy, precision, num_nodes: passed to ``lightning.Trainer``
            (``gpu``/``cpu``/``auto``; ``devices: 4``; ``strategy: ddp``; ``precision: bf16-mixed``).
        progress_bar: show Lightning's progress bar.
        val_every: run validation every this many epochs.
        checkpoint_every: seconds between saves of ``last.ckpt`` within an epoch (it is also
            saved after every epoch); a killed run resumes from it with ``--resume``, losing at
            most this much training. ``null``: at epoch ends only.
        threads: CPU threads per operation (``torch.set_num_threads``) while training;
            ``null`` keeps torch's default. On a machine other processes keep busy, 1 thread
            can be several times faster than 2: the threads of each small operation wait
            for each other.
        coverage: nominal coverage of the prediction intervals calibrated on the validation
            split after training (:mod:`stgraph.pipeline.calibration`; ``--coverage``), a
            fraction in (0, 1); ``null``: no intervals.
        coverage_per_sensor: one conformal margin per sensor and horizon step instead of one
            per step pooled over sensors.
        coverage_scale: what the interval's width follows besides the horizon step: the
            locally weighted scores of :mod:`stgraph.pipeline.calibration`, scaled by the
            training split's typical error at the forecast step's hour of day and sensor
            (``sensor_time_of_day``, default), by one of them (``time_of_day``, ``sensor``), or
            ``none`` (one width per step, plain split conformal).
        sensor_batch: sensor-batched training, ``{sensors: 2000, hops: 2}``: each training
            step runs the model on a connected subgraph of ``sensors`` sensors grown from a
            random one, and takes the loss on the sensors whose ``hops``-hop neighbourhood
            lies inside it (:class:`~stgraph.graph.sampling.SubgraphSampler`; ``hops``
            defaults to 2), so a step's memory is bounded by ``sensors``, not the graph.
            Validation, calibration and test run on the full graph. Only models with
            ``sensor_subsets`` (STGCN, DCRNN, T-GCN, FC-LSTM, Graph WaveNet, STID); ``null``: off.
        checkpointing: activation checkpointing in training: each block of the model's
            top-level block lists is recomputed in the backward pass instead of keeping its
            activations (:func:`~stgraph.nn.checkpointing.checkpointed_blocks`); the same
            gradients, less memory, about one more forward pass of time.
    """

    epochs: int = 100
    max_steps: int = -1
    time_budget: float | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    eps: float = 1e-8
    alpha: float = 0.99
    scheduler: str | None = None
    milestones: list[int] = field(default_factory=list)
    step_size: int = 1
    gamma: float = 0.1
    gradient_clip: float | None = None
    patience: int | None = None
    loss: str = "mae"
    loss_units: str = "scaled"
    teacher_forcing_decay: float | None = None
    curriculum_every: int | None = None
    curriculum_unit: str = "steps"
    seed: int = 0
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    precision: Any = "32-true"
    num_nodes: int = 1
    progress_bar: bool = True
    val_every: int = 1
    checkpoint_every: float | None = 600.0
    threads: int | None = None
    coverage: float | None = 0.9
    coverage_per_sensor: bool = False
    coverage_scale: str = "sensor_time_of_day"
    sensor_batch: dict[str, Any] | None = None
    checkpointing: bool = False

    def sensor_batch_size(self) -> tuple[int, int] | None:
        """``(sensors, hops)`` of ``sensor_batch``, checked; None when it is off.

        Raises:
            ConfigError: not a mapping of a positive ``sensors`` and a ``hops`` >= 0.
        """
        raw = self.sensor_batch
        if raw is None:
            return None
        example = "e.g. training.sensor_batch={sensors: 2000, hops: 2}"
        if not isinstance(raw, dict):
            raise ConfigError(f"training.sensor_batch must be a mapping with sensors and hops ({example}) or null, got {raw!r}")
        unknown = sorted(set(raw) - {"sensors", "hops"})
        if unknown:
            raise ConfigError(f"training.sensor_batch has unknown key(s) {', '.join(map(str, unknown))}; keys: sensors, hops")
        sensors, hops = raw.get("sensors"), raw.get("hops", 2)
        if not (isinstance(sensors, int) and not isinstance(sensors, bool) and sensors >= 1):
            raise ConfigError(f"training.sensor_batch.sensors must be a positive integer ({example}), got {sensors!r}")
        if not (isinstance(hops, int) and not isinstance(hops, bool) and hops >= 0):
            raise ConfigError(f"training.sensor_batch.hops must be an integer >= 0, got {hops!r}")
        return sensors, hops

    def validate(self) -> None:
        if self.optimizer not in ("adam", "rmsprop"):
            raise ConfigError(f"training.optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.scheduler not in (None, "multistep", "step"):
            raise ConfigError(f"training.scheduler must be null, multistep or step, got {self.scheduler!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"training.loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss_units not in ("scaled", "original"):
            raise ConfigError(f"training.loss_units must be scaled or original, got {self.loss_units!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"training.epochs must be a positive integer, got {self.epochs!r}")
        if self.checkpoint_every is not None and (
            not isinstance(self.checkpoint_every, (int, float)) or self.checkpoint_every <= 0
        ):
            raise ConfigError(f"training.checkpoint_every must be positive seconds or null, got {self.checkpoint_every!r}")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            raise ConfigError(f"training.threads must be a positive integer or null, got {self.threads!r}")
        if not isinstance(self.max_steps, int) or (self.max_steps < 1 and self.max_steps != -1):
            raise ConfigError(f"training.max_steps must be a positive integer or -1 (no limit), got {self.max_steps!r}")
        budget = self.time_budget
        if budget is not None and not (isinstance(budget, (int, float)) and 0 < budget < float("inf")):
            raise ConfigError(f"training.time_budget must be a positive number of seconds or null, got {budget!r}")
        every = self.curriculum_every
        if every is not None and not (isinstance(every, int) and not isinstance(every, bool) and every >= 1):
            raise ConfigError(f"training.curriculum_every must be a positive integer or null, got {every!r}")
        if self.curriculum_unit not in CURRICULUM_UNITS:
            raise ConfigError(
                f"training.curriculum_unit must be one of {', '.join(CURRICULUM_UNITS)}, got {self.curriculum_unit!r}"
            )
        if self.coverage is not None:
            try:
                check_coverage(self.coverage)
            except ValueError as error:
                raise ConfigError(f"training.{error}; or null for no intervals") from None
        if self.coverage_scale not in SCALES:
            raise ConfigError(f"training.coverage_scale must be one of {', '.join(SCALES)}; got {self.coverage_scale!r}")
        if self.teacher_forcing_decay is not None and self.teacher_forcing_decay <= 0:
            raise ConfigError(f"training.teacher_forcing_decay must be positive or null, got {self.teacher_forcing_decay}")
        self.sensor_batch_size()


@dataclass
class ExperimentConfig:
    """One experiment: ``data`` + ``model`` + ``training``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (str, numbers, lists, dicts, None): YAML- and ``weights_only``-safe."""
        return {
            "data": dataclasses.asdict(self.data),
            "model": self.model.to_dict(),
            "training": dataclasses.asdict(self.training),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> ExperimentConfig:
        """Build from a plain dict with the three sections; unknown keys are errors."""
        config = cls()
        _apply(config, raw, source)
        return config

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def validate(self) -> None:
        self.data.validate()
        self.training.validate()
        self.model.quantiles()
        from stgraph import models

        if not self.model.name:
            raise ConfigError(
                f"say which model to train: --model NAME ({', '.join(models.available())}), or model.name in a --config file"
            )
        if self.training.sensor_batch is not None and not (model_class := models.get(self.model.name)).sensor_subsets:
            raise ConfigError(
                f"training.sensor_batch: {self.model.name} cannot train on sensor subgraphs: {model_class.sensor_subsets_reason}"
            )


def packaged_models() -> list[str]:
    """Model names with a YAML shipped in ``stgraph/configs``."""
    folder = resources.files("stgraph") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def default_model_name() -> str:
    """The model of the default recipe (``stgraph/configs/recipes/default.yaml``): what
    ``stgraph train`` trains when no model is named."""
    return str(_packaged_file(DEFAULT_RECIPE)["model"]["name"])


def _packaged_yaml(model: str) -> dict[str, Any]:
    return _packaged_file(f"{model.lower()}.yaml")


def _packaged_file(name: str) -> dict[str, Any]:
    """``stgraph/configs/<name>`` as a dict ({} when there is no such file)."""
    path = resources.files("stgraph") / "configs" / name
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _has_readings(user: list[tuple[str, dict[str, Any]]], cli: dict[str, Any]) -> bool:
    return _last_value([*user, ("--set", cli)], "data", "readings") is not None


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with sections data/model/training, got {type(raw).__name__}")
    return raw


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["model.hidden=32", "training.lr=0.01"]`` -> ``{"model": {"hidden": 32}, "training": {"lr": 0.01}}``.

    Values are parsed as YAML scalars/lists; a value that is not valid YAML stays a string.
    """
    nested: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or "." not in key:
            raise ConfigError(f"--set expects section.key=value (e.g. model.hidden=32), got {pair!r}")
        section, _, name = key.partition(".")
        if not name or "." in name:
            raise ConfigError(f"--set expects section.key=value with one dot, got {pair!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)  # YAML 1.1 reads "1e-3" as a string
        nested.setdefault(section, {})[name] = value
    return nested


def resolve_config(
    *,
    model: str | None = None,
    dataset: str | None = None,
    files: list[str | Path] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> ExperimentConfig:
    """The fully resolved configuration of one experiment (see the module docstring for layers).

    Args:
        model: registry name; selects ``stgraph/configs/<model>.yaml``. May instead come from
            a config file or an override.
        dataset: catalog name, applied before the model YAML's ``datasets:`` block is read.
        files: user YAML files, applied in order.
        overrides: ``section.key=value`` strings or an already nested dict.
        base: a starting dict (e.g. the saved config of a run being resumed) replacing the
            packaged layers.
    """
    config = ExperimentConfig()
    layers: list[tuple[str, dict[str, Any]]] = []
    user = [(str(f), _read_yaml(f)) for f in files or []]
    cli = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    if base is not None:
        layers.append(("saved config", base))
    else:
        name = model or _last_value([*user, ("--set", cli)], "model", "name")
        recipe = None
        if not name and (dataset or _last_value([*user, ("--set", cli)], "data", "dataset") or _has_readings(user, cli)):
            recipe = _packaged_file(DEFAULT_RECIPE)
            name = recipe["model"]["name"]
        if name:
            name = canonical_model_name(name)
            packaged = _packaged_yaml(name)
            per_dataset = packaged.pop("datasets", None) or {}
            layers.append((f"stgraph/configs/{name.lower()}.yaml", packaged))
            layers.append(("arguments", {"model": {"name": name}}))
            data_name = dataset or _last_value([*user, ("--set", cli)], "data", "dataset")
            if data_name:
                layers.append(("arguments", {"data": {"dataset": data_name}}))
                key = next((k for k in per_dataset if normalise_name(k) == normalise_name(str(data_name))), None)
                if key is not None:
                    layers.append((f"stgraph/configs/{name.lower()}.yaml datasets.{key}", per_dataset[key]))
            if recipe is not None or _has_readings(user, cli):
                layers.append((f"stgraph/configs/{OWN_DATA_RECIPE}", _packaged_file(OWN_DATA_RECIPE)))
            if recipe is not None:
                layers.append((f"stgraph/configs/{DEFAULT_RECIPE}", recipe))
        elif dataset:
            layers.append(("arguments", {"data": {"dataset": dataset}}))
        protocol_layer = _protocol_layer(dataset or _last_value([*user, ("--set", cli)], "data", "dataset"))
        if protocol_layer is not None:
            layers.append(protocol_layer)
    layers.extend(user)
    layers.append(("--set", cli))
    for source, raw in layers:
        _apply(config, raw, source)
    config.validate()
    return config


def _protocol_layer(dataset: Any) -> tuple[str, dict[str, Any]] | None:
    """The benchmark protocol of catalog dataset ``dataset`` (split, lookback, horizon) as a
    config layer over the model's YAML, where the catalog states one (LargeST)."""
    if not dataset:
        return None
    wanted = normalise_name(str(dataset))
    entry = next((d for d in DATASETS.values() if wanted in (normalise_name(d.key), normalise_name(d.name))), None)
    if entry is None or entry.protocol is None:
        return None
    return (f"the benchmark protocol of {entry.name} (stgraph.data.catalog)", {"data": entry.protocol.data_options()})


def check_model_options(config: ExperimentConfig, model_class: type[ForecastModel]) -> None:
    """Reject model options the model's constructor does not take, naming the valid ones."""
    params = inspect.signature(model_class.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    filled = {"self", "num_sensors", "in_features", "out_channels", "lookback", "horizon"}
    valid = [p for p in params if p not in filled]
    for key in config.model.options:
        if key == QUANTILES:  # the head's, not the model's
            continue
        if key in filled - {"self"}:
            raise ConfigError(f"model.{key} is set from the data (data.lookback/horizon/features); do not set it here")
        if key not in valid:
            raise ConfigError(f"model {config.model.name!r} has no option {key!r}; options: {', '.join(valid)}")


def canonical_model_name(name: str) -> str:
    """The registry name of model ``name`` (``"gwnet"`` -> ``"graph_wavenet"``)."""
    from stgraph import models

    try:
        return models.name_of(models.get(name))
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _last_value(layers: list[tuple[str, dict[str, Any]]], section: str, key: str) -> Any:
    value = None
    for _, raw in layers:
        part = raw.get(section) if isinstance(raw, dict) else None
        if isinstance(part, dict) and part.get(key) is not None:
            value = part[key]
    return value


_SECTIONS = {"data": DataConfig, "training": TrainingConfig}


def _apply(config: ExperimentConfig, raw: dict[str, Any], source: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    for section, values in raw.items():
        if section not in ("data", "model", "training"):
            raise ConfigError(f"{source}: unknown section {section!r}; sections are data, model, training")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping, got {values!r}")
        if section == "model":
            values = dict(values)
            if "name" in values:
                new_name = canonical_model_name(str(values.pop("name")))
                if config.model.name and new_name != config.model.name:
                    config.model.options = {}  # another model: the previous model's options do not apply
                config.model.name = new_name
            config.model.options.update(values)
            continue
        target = getattr(config, section)
        known = {f.name: f for f in dataclasses.fields(_SECTIONS[section])}
        for key, value in values.items():
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=2)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ConfigError(f"{source}: unknown key {section}.{key}{hint}; keys: {', '.join(known)}")
            setattr(target, key, _coerce(value, getattr(target, key), f"{source}: {section}.{key}"))


def _coerce(value: Any, current: Any, where: str) -> Any:
    """Accept ints where floats are expected, and a scalar where a list is expected."""
    if value is None:
        return None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(current, list) and not isinstance(value, list):
        return [value]
    if isinstance(current, (int, float)) and not isinstance(current, bool) and isinstance(value, str):
        try:
            number = float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        return int(number) if isinstance(current, int) and number.is_integer() else number
    return value
