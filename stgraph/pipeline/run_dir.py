"""The run directory: its layout, how it is built without ever being half-written, loading it back.

Layout (``--out``, default ``runs/<data>-<model>-<time>``)::

    config.yaml            the fully resolved configuration
    model.pt               best model by validation masked MAE (:mod:`stgraph.pipeline.model_file`)
    last.ckpt              the trainer's state after the last epoch (for --resume)
    calibration.npz        conformal interval margins from validation (:mod:`stgraph.pipeline.calibration`)
    metrics.json           test (and later evaluate) metrics and intervals, training history, sizes
    predictions_test.npz   test forecasts (and intervals, quantiles) with sensor ids and timestamps
    sensors_test.csv       per sensor: test MAE, RMSE, mean observed reading, observed entries
    plots/                 forecasts vs observations, error by horizon, sensor error map

Lifecycle: a run is built in ``<out>.partial`` beside the final directory and renamed to
``<out>`` only when everything is written (:func:`building`). A finished run is never
overwritten. If the work is interrupted, ``<out>.partial`` is kept when it holds a
``last.ckpt`` to resume from, and removed otherwise; one left without ``last.ckpt`` by a killed
process is replaced by the next training into ``<out>``.

While a process builds or resumes a run it holds ``<out>.lock`` (:func:`run_lock`): an
exclusive ``flock`` that the operating system releases when the process ends, however it ends,
so a second process writing into the same ``--out`` fails at once and changes nothing, and a
lock file left by a killed process blocks nobody.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from stgraph import models
from stgraph.errors import ConfigError, RunError
from stgraph.io.atomic import atomic_write
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.config import QUANTILES, ExperimentConfig, check_model_options
from stgraph.pipeline.data import PreparedData, interval_text
from stgraph.pipeline.model_file import graph_state

__all__ = [
    "CONFIG_FILE",
    "LAST_CHECKPOINT",
    "METRICS_FILE",
    "MODEL_FILE",
    "build_model",
    "building",
    "check_new_run",
    "cpu_threads",
    "default_run_dir",
    "load_run_config",
    "lock_path",
    "partial_dir",
    "run_lock",
    "run_metadata",
]

MODEL_FILE = "model.pt"
LAST_CHECKPOINT = "last.ckpt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"


def default_run_dir(config: ExperimentConfig, root: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<dataset or readings stem>-<model>-<YYYYmmdd-HHMMSS>``."""
    data = config.data.dataset or Path(str(config.data.readings)).stem
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{data}-{config.model.name}-{stamp}"


def partial_dir(run_dir: str | os.PathLike[str]) -> Path:
    """Where a run is built before it is complete: ``<run_dir>.partial``."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".partial")


def lock_path(run_dir: str | os.PathLike[str]) -> Path:
    """The lock file of a run being written: ``<run_dir>.lock``, beside the run (not in
    ``<run_dir>.partial``, which is renamed to ``run_dir`` while the lock is held)."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".lock")


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # no flock: runs are not locked on Windows
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    """``process PID since TIME`` as the holder wrote it, or ``another process`` before it has."""
    text = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip()
    return text or "another process"


def _locked_message(run_dir: Path, holder: str) -> str:
    return f"{run_dir} is being written by {holder}; wait for it to finish, or choose another --out"


def _lock_holder(run_dir: Path) -> str | None:
    """Who holds ``run_dir``'s lock now, or None (no lock file, or a stale one)."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return None if _try_lock(fd) else _holder(fd)  # closing the descriptor releases a probe's lock
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` (:func:`lock_path`) for the block.

    The lock file names its holder (``process 4211 since 2024-05-02 14:03:11 UTC``) for the
    message another process gets. The lock is an ``flock``: the operating system drops it when
    the holding process dies (SIGKILL, out of memory), so a lock file left behind by a dead
    process does not block. The file is removed when the block ends.

    Raises:
        RunError: another process holds the lock.
    """
    run_dir = Path(run_dir)
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise RunError(_locked_message(run_dir, holder))
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed the file between our open and our lock: lock the new one
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} since {since}\n".encode(), 0)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiting process then retries on a new file
        os.close(fd)


def check_new_run(run_dir: str | os.PathLike[str], *, resume: bool = False) -> None:
    """Refuse a run directory that is being written, would overwrite a finished run or would
    silently restart one.

    Raises:
        RunError: another process is writing ``run_dir``; or it exists; or ``resume`` and there is
            no ``last.ckpt`` to resume from; or not ``resume`` and an interrupted run with a
            ``last.ckpt`` waits in ``<run_dir>.partial``.
    """
    run_dir = Path(run_dir)
    holder = _lock_holder(run_dir)
    if holder is not None:
        raise RunError(_locked_message(run_dir, holder))
    _check_unlocked_run(run_dir, resume=resume)


def _check_unlocked_run(run_dir: Path, *, resume: bool) -> None:
    """:func:`check_new_run` but for the lock (which the caller may hold)."""
    work = partial_dir(run_dir)
    checkpoint = work / LAST_CHECKPOINT
    if run_dir.exists():
        raise RunError(f"{run_dir} already exists; choose another --out (a finished run is never overwritten)")
    if resume and not checkpoint.is_file():
        hint = "; it stopped before its first checkpoint: train it again without --resume" if work.is_dir() else ""
        raise RunError(f"nothing to resume: {checkpoint} does not exist{hint}")
    if not resume and checkpoint.is_file():
        raise RunError(f"{work} holds an interrupted run: continue it with --resume --out {run_dir}, or delete it")


@contextlib.contextmanager
def building(
    run_dir: str | os.PathLike[str],
    config: ExperimentConfig,
    *,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> Iterator[Path]:
    """Build a run in ``<run_dir>.partial`` (yielded, with ``config.yaml`` written) and rename it
    to ``run_dir`` when the block ends without an error, holding :func:`run_lock` throughout.

    Under the lock it checks :func:`check_new_run` (again: another process may have started
    since) before it writes anything. Without ``resume``, a partial directory that holds no
    ``last.ckpt`` (its process was killed before the first checkpoint) is replaced. On an error
    or interruption the partial directory is kept if it holds ``last.ckpt`` (the message says how
    to resume) and removed if it holds nothing to resume from and this call created it.

    Raises:
        RunError: as :func:`check_new_run`.
    """
    run_dir = Path(run_dir)
    work = partial_dir(run_dir)
    with run_lock(run_dir):
        _check_unlocked_run(run_dir, resume=resume)
        if not resume and work.exists():
            _discard_unresumable(work)  # left by a process killed before its first checkpoint
        created = not work.exists()
        work.mkdir(parents=True, exist_ok=True)
        with atomic_write(work / CONFIG_FILE) as handle:
            handle.write("# fully resolved stgraph configuration of this run\n")
            handle.write(config.to_yaml())
        try:
            yield work
        except BaseException:
            if (work / LAST_CHECKPOINT).is_file():
                echo(f"run interrupted; its state is in {work}: continue with `stgraph train --resume --out {run_dir}`")
            elif created:
                shutil.rmtree(work, ignore_errors=True)
            raise
        os.replace(work, run_dir)


def _discard_unresumable(work: Path) -> None:
    """Remove ``work``, a partial run without ``last.ckpt``, if it holds only files a run writes
    before its first checkpoint; refuse (RunError) if it holds anything else, which may be a
    user's."""
    ours = {CONFIG_FILE, MODEL_FILE, f".{LAST_CHECKPOINT}.tmp"}
    others = sorted(p.name for p in work.iterdir() if p.name not in ours)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise RunError(f"{work} holds files a training run did not write ({shown}); move them or choose another --out")
    shutil.rmtree(work)


def load_run_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.yaml`` saved in a (finished or partial) run directory, as a plain dict."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CONFIG_FILE}; not an stgraph run directory")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RunError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise RunError(f"{path}: expected the sections data/model/training, got {type(raw).__name__}")
    return raw


def build_model(config: ExperimentConfig, data: PreparedData) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of ``config`` sized for ``data``, and the keyword arguments that rebuild it
    (:attr:`~stgraph.models.ForecastModel.init_kwargs`: every argument, defaults included, so that
    a later change of a default does not change what an old ``model.pt`` rebuilds).

    With ``model.quantiles`` the registered model is built with ``channels × Q`` outputs and
    wrapped in :class:`~stgraph.nn.QuantileHead`; the kwargs are the inner model's."""
    model_class = models.get(config.model.name)
    check_model_options(config, model_class)
    quantiles = config.model.quantiles()
    channels = len(data.target_features)
    options = {k: v for k, v in config.model.options.items() if k != QUANTILES}
    kwargs = {
        "num_sensors": data.graph.num_sensors,
        "in_features": data.in_features,
        "out_channels": channels * (len(quantiles) if quantiles else 1),
        "lookback": config.data.lookback,
        "horizon": config.data.horizon,
        **calendar_arguments(model_class, data),
        **options,
    }
    try:
        model = models.create(config.model.name, **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model {config.model.name!r} with {options}: {error}") from error
    if quantiles is None:
        return model, model.init_kwargs
    return QuantileHead(model, channels=channels, quantiles=quantiles), model.init_kwargs


def calendar_arguments(model_class: type[models.ForecastModel], data: PreparedData) -> dict[str, Any]:
    """The calendar arguments a model's constructor takes, filled from the data: where the time
    of day and the day of week sit in ``x``'s features (``time_of_day_feature``,
    ``day_of_week_feature``; None when the covariate is not an input) and ``steps_per_day``
    (steps in a day, at least 1). Options set in the configuration win over these."""
    parameters = inspect.signature(model_class.__init__).parameters
    positions = data.covariate_positions()
    found: dict[str, Any] = {}
    for name in ("time_of_day", "day_of_week"):
        if f"{name}_feature" in parameters:
            found[f"{name}_feature"] = positions.get(name)
    if "steps_per_day" in parameters:
        found["steps_per_day"] = max(1, int(pd.Timedelta(days=1) // data.series.interval))
    return found


def run_metadata(config: ExperimentConfig, data: PreparedData, model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Everything ``model.pt`` holds besides the weights (plain values only)."""
    return {
        "model": {"name": config.model.name, "kwargs": model_kwargs, **_quantiles_entry(config)},
        "sensor_ids": data.graph.sensor_ids,
        "graph": graph_state(data.graph),
        "scaler": data.scaler.state_dict(),
        "data": {
            "name": data.name,
            "interval": interval_text(data.series.interval),
            "features": list(data.input_features),
            "targets": list(data.target_features),
            "covariates": list(data.covariates),
            "missing_inputs": data.missing_inputs,
            "lookback": config.data.lookback,
            "horizon": config.data.horizon,
            "null_value": data.null_value,
            "units": data.units,
        },
        "config": config.to_dict(),
    }


def _quantiles_entry(config: ExperimentConfig) -> dict[str, list[float]]:
    """``{"quantiles": [...]}`` for a quantile model (``model.pt`` rebuilds its head), else nothing."""
    quantiles = config.model.quantiles()
    return {} if quantiles is None else {QUANTILES: list(quantiles)}


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)`` (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
