"""``--model auto``: train a short list of models within one time budget and keep the best on validation.

Each candidate of :data:`AUTO_CANDIDATES` is configured as ``stgraph train --model <candidate>``
would configure it (its packaged YAML, then the user's ``--config`` files, options and ``--set``;
:func:`candidate_configs`), and trained by :func:`~stgraph.train.run.train` into a normal run
directory of its own. The budget is shared as the run goes: each candidate gets the seconds left
divided by the candidates left, so time one did not use (early stopping, fewer epochs) goes to
the next. :class:`~stgraph.train.callbacks.TimeBudget` stops only between epochs, so a candidate
trains at least one epoch and the run can overrun by the first epochs of the last candidates.

The candidates are compared on the same validation windows: their ``data.lookback``,
``horizon``, ``split`` and ``targets`` must agree (they may read different inputs: STGCN and
T-GCN read speed only, Graph WaveNet adds the time of day). The data are prepared once per
distinct data section, before anything is written.

Layout of the run directory (``--out``, default ``runs/<data>-auto-<time>``)::

    config.yaml, model.pt, metrics.json,   the chosen candidate's (copied, not linked: ``stgraph
    predictions_test.npz,                  evaluate`` rewrites them here), so that evaluate and
    sensors_test.csv, plots/               predict read it as any run; metrics.json gains
                                           "auto": {"candidates": [ranking rows], "chosen": name,
                                           "budget_seconds": total}
    ranking.csv, ranking.md                one row per candidate and baseline (stgraph.pipeline.ranking)
    candidates/<model>/                    each trained candidate's own run directory

Each candidate trains on one device (``training.devices: auto`` means 1 here; more are refused):
a multi-device launch re-runs the command in every process.

The whole run follows the lifecycle of :mod:`stgraph.pipeline.run_dir`: built in
``<out>.partial``, renamed when complete, refused if ``<out>`` exists. It cannot be resumed yet:
an interrupted auto run is removed, and there is no top-level ``last.ckpt``.

A candidate that fails (validation never finite, out of memory, a model that does not fit the
data) is ranked as failed with its one-line reason and its partial directory removed; the
others go on. If all fail, :class:`~stgraph.errors.RunError`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stgraph import models
from stgraph.errors import ConfigError, RunError
from stgraph.metrics.masked import HorizonMetrics
from stgraph.pipeline.config import (
    ExperimentConfig,
    ModelConfig,
    canonical_model_name,
    check_model_options,
    default_model_name,
    resolve_config,
)
from stgraph.pipeline.data import PreparedData, prepare_data
from stgraph.pipeline.evaluate import update_metrics_file
from stgraph.pipeline.model_file import load_model_file
from stgraph.pipeline.ranking import baseline_rows, candidate_row, failed_row, ranking_markdown, sort_rows, write_ranking
from stgraph.pipeline.run_dir import (
    LAST_CHECKPOINT,
    METRICS_FILE,
    MODEL_FILE,
    building,
    check_new_run,
    default_run_dir,
    partial_dir,
)
from stgraph.train.run import train

__all__ = ["AUTO_CANDIDATES", "CANDIDATES_DIR", "DEFAULT_BUDGET_SECONDS", "AutoResult", "candidate_configs", "train_auto"]

AUTO_CANDIDATES: tuple[str, ...] = ("stid", "stgcn", "graph_wavenet")
DEFAULT_BUDGET_SECONDS = 600.0
CANDIDATES_DIR = "candidates"
_SECTIONS = ("data", "model", "training")
# the data keys that decide which windows are forecast and scored: equal for every candidate
_SAME_WINDOWS = ("lookback", "horizon", "split", "targets")
# the data keys prepare_data does not read: candidates differing only in these share prepared data
_LOADER_ONLY = ("batch_size", "eval_batch_size", "num_workers")


@dataclass
class AutoResult:
    """What :func:`train_auto` produced.

    Attributes:
        run_dir: the finished run directory (the chosen candidate's files at its top level).
        chosen: the registry name of the candidate with the lowest best validation MAE.
        rows: the ranking (:mod:`stgraph.pipeline.ranking` rows), best first.
        test: the chosen candidate's test metrics (None without a test part).
    """

    run_dir: Path
    chosen: str
    rows: list[dict[str, Any]]
    test: HorizonMetrics | None


def candidate_configs(
    candidates: Sequence[str] = AUTO_CANDIDATES,
    *,
    dataset: str | None = None,
    files: Sequence[str | Path] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, ExperimentConfig]:
    """Each candidate's resolved configuration, as ``stgraph train --model <candidate>`` resolves it.

    ``overrides`` is nested (``{"training": {"lr": 0.01}}``) and applies to every candidate,
    except sections named after a candidate, which hold that candidate's model options
    (``--set stgcn.channels=[[4,2,4],[4,2,4]] tgcn.hidden=8``). A shared ``model.KEY`` must be
    an option of every candidate.

    Raises:
        ConfigError: a section that is neither data/model/training nor a candidate; a model
            option a candidate does not take; ``model.name`` set by a file or an override.
    """
    names = [canonical_model_name(name) for name in candidates]
    shared: dict[str, dict[str, Any]] = {}
    own: dict[str, dict[str, Any]] = {name: {} for name in names}
    for section, values in (overrides or {}).items():
        if section in _SECTIONS:
            shared[section] = dict(values)
            continue
        name = _candidate_name(section, names)
        own[name].update(values)
    if "name" in shared.get("model", {}):
        raise ConfigError(f"--model auto trains {', '.join(names)}; model.name={shared['model']['name']} cannot be set with it")
    configs: dict[str, ExperimentConfig] = {}
    for name in names:
        layers = {**shared, "model": {**shared.get("model", {}), **own[name]}}
        # the default recipe's model is configured as `stgraph train` without --model configures it
        model = None if name == default_model_name() else name
        config = resolve_config(model=model, dataset=dataset, files=list(files), overrides=layers)
        if config.model.name != name:
            raise ConfigError(
                f"--model auto trains {', '.join(names)}; a --config file sets model.name {config.model.name}: remove it"
            )
        _check_options(config, set(shared.get("model", {})))
        configs[name] = config
    return configs


def _candidate_name(section: str, names: list[str]) -> str:
    try:
        name = canonical_model_name(section)
    except ConfigError:
        name = None
    if name not in names:
        raise ConfigError(
            f"--set {section}.KEY: {section!r} is neither a section ({', '.join(_SECTIONS)}) "
            f"nor a candidate of --model auto ({', '.join(names)})"
        )
    return str(name)


def _check_options(config: ExperimentConfig, shared: set[str]) -> None:
    """:func:`check_model_options`, with a hint when the option was set for every candidate."""
    try:
        check_model_options(config, models.get(config.model.name))
    except ConfigError as error:
        bad = next((key for key in config.model.options if key in shared and f"option {key!r}" in str(error)), None)
        if bad is None:
            raise
        hint = f"; with --model auto, set it for one candidate: --set {config.model.name}.{bad}=VALUE"
        raise ConfigError(f"{error}{hint}") from None


def train_auto(
    configs: Mapping[str, ExperimentConfig],
    out: str | os.PathLike[str] | None = None,
    *,
    budget_seconds: float | None = None,
    data: PreparedData | None = None,
    echo: Callable[[str], None] = print,
) -> AutoResult:
    """Train every candidate of ``configs`` in turn, keep the best on validation MAE, rank them all.

    Args:
        configs: candidate name -> resolved configuration (:func:`candidate_configs`), trained in
            this order; the mapping and its configurations are not changed.
        out: the run directory (must not exist); default ``runs/<data>-auto-<time>``.
        budget_seconds: training seconds for all candidates together; default the candidates'
            ``training.time_budget`` (the user's: no packaged YAML sets one), else
            :data:`DEFAULT_BUDGET_SECONDS`.
        data: already prepared data for every candidate (tests); prepared from each
            configuration's data section if None.
        echo: where the console lines go.

    Raises:
        ConfigError: no candidates, a budget that is not positive, or candidates that would be scored
            on different windows.
        SensorDataError, GraphError: bad readings or graph, before anything is written.
        RunError: ``out`` exists or is being written; or every candidate failed.
    """
    if not configs:
        raise ConfigError("--model auto needs at least one candidate")
    if budget_seconds is not None and not 0 < budget_seconds < math.inf:
        raise ConfigError(f"the time budget of --model auto must be a positive number of seconds, got {budget_seconds}")
    configs = {name: copy.deepcopy(config) for name, config in configs.items()}
    first = next(iter(configs.values()))
    run_dir = Path(out) if out is not None else default_run_dir(_labelled(first, "auto"))
    check_new_run(run_dir)
    for config in configs.values():
        config.validate()
        _one_device(config)
    _check_same_windows(configs)
    budget = budget_seconds or first.training.time_budget or DEFAULT_BUDGET_SECONDS
    prepared = _prepare(configs, data)

    rows: list[dict[str, Any]] = []
    tests: dict[str, HorizonMetrics | None] = {}
    with building(run_dir, first, echo=echo) as work:
        spent = 0.0
        for index, (name, config) in enumerate(configs.items()):
            config.training.time_budget = max((budget - spent) / (len(configs) - index), 1.0)
            started = time.monotonic()
            echo("")
            echo(f"candidate {index + 1} of {len(configs)}: {name}, time budget {config.training.time_budget:.0f} s")
            folder = work / CANDIDATES_DIR / name
            try:
                result = train(config, folder, data=prepared[name], echo=echo, show_table=False)
            except (RuntimeError, ConfigError) as error:  # torch.OutOfMemoryError is a RuntimeError
                shutil.rmtree(partial_dir(folder), ignore_errors=True)
                reason = " ".join(str(error).split()) or type(error).__name__
                echo(f"candidate {name} failed, its partial directory removed (an auto run is not resumed): {reason}")
                rows.append(failed_row(name, reason))
                continue
            finally:
                spent += time.monotonic() - started
            metrics = json.loads((folder / METRICS_FILE).read_text())
            parameters = sum(p.numel() for p in load_model_file(folder / MODEL_FILE).model.parameters())
            rows.append(candidate_row(name, metrics, parameters))
            tests[name] = result.test
        ranked = sort_rows(rows)
        if ranked[0]["status"] != "trained":
            reasons = "; ".join(f"{row['model']}: {row['reason']}" for row in ranked)
            raise RunError(f"--model auto: every candidate failed ({reasons})")
        chosen = ranked[0]["model"]
        chosen_metrics = _adopt(work / CANDIDATES_DIR / chosen, work)
        ranked += baseline_rows(chosen_metrics)
        write_ranking(work, ranked, interval=chosen_metrics.get("interval"), units=chosen_metrics.get("units") or "")
        auto = {"candidates": ranked, "chosen": chosen, "budget_seconds": budget}
        update_metrics_file(work / METRICS_FILE, chosen_metrics | {"auto": auto})
    echo("")
    echo(f"--model auto: {chosen} has the lowest validation MAE; ranking (test metrics in original units):")
    echo(ranking_markdown(ranked, interval=chosen_metrics.get("interval"), units=chosen_metrics.get("units") or ""))
    return AutoResult(run_dir=run_dir, chosen=chosen, rows=ranked, test=tests[chosen])


def _labelled(config: ExperimentConfig, name: str) -> ExperimentConfig:
    """``config`` under another model name (for the default run directory's name only)."""
    labelled = copy.copy(config)
    labelled.model = ModelConfig(name=name)
    return labelled


def _one_device(config: ExperimentConfig) -> None:
    """Train on one device: ``devices: auto`` becomes 1, more than one is refused.

    A multi-device launch re-runs the command in every process (Lightning's DDP launcher), which
    the sequence of candidates and the shared run directory do not survive.
    """
    t = config.training
    if t.devices == "auto":
        t.devices = 1
    many = (isinstance(t.devices, int) and t.devices > 1) or (isinstance(t.devices, list) and len(t.devices) > 1)
    if many or t.num_nodes > 1 or "ddp" in str(t.strategy):
        raise ConfigError(
            f"--model auto trains on one device; got training.devices {t.devices}, num_nodes {t.num_nodes}, "
            f"strategy {t.strategy}: train one model with --model NAME to use several"
        )


def _check_same_windows(configs: Mapping[str, ExperimentConfig]) -> None:
    for key in _SAME_WINDOWS:
        values = {name: getattr(config.data, key) for name, config in configs.items()}
        if len({json.dumps(value) for value in values.values()}) > 1:
            listed = ", ".join(f"{name} {value}" for name, value in values.items())
            raise ConfigError(
                f"--model auto compares the candidates on the same windows, but data.{key} differs ({listed}); "
                f"set it for all with --set data.{key}=VALUE"
            )


def _prepare(configs: Mapping[str, ExperimentConfig], data: PreparedData | None) -> dict[str, PreparedData]:
    """Each candidate's prepared data: ``data`` for all, or one :func:`prepare_data` per distinct
    data section (ignoring the batch sizes and workers, which only the loaders read)."""
    if data is not None:
        return dict.fromkeys(configs, data)
    by_section: dict[str, PreparedData] = {}
    prepared: dict[str, PreparedData] = {}
    for name, config in configs.items():
        section = {k: v for k, v in asdict(config.data).items() if k not in _LOADER_ONLY}
        key = json.dumps(section, sort_keys=True)
        if key not in by_section:
            by_section[key] = prepare_data(config.data)
        prepared[name] = by_section[key]
    return prepared


def _adopt(candidate: Path, work: Path) -> dict[str, Any]:
    """Copy the chosen candidate's run files (all but ``last.ckpt``) to the top level of ``work``;
    return its ``metrics.json``."""
    for path in candidate.iterdir():
        if path.name == LAST_CHECKPOINT:
            continue
        if path.is_dir():
            shutil.copytree(path, work / path.name, dirs_exist_ok=True)
        else:
            shutil.copy2(path, work / path.name)
    metrics: dict[str, Any] = json.loads((candidate / METRICS_FILE).read_text())
    return metrics
