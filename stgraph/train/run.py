"""A training run from a resolved configuration to a finished run directory.

Run directory (``--out``, default ``runs/<data>-<model>-<time>``)::

    config.yaml            the fully resolved configuration
    model.pt               best model by validation masked MAE (loads with weights_only=True)
    last.ckpt              Lightning's state after the last epoch (for --resume)
    metrics.json           test (and later evaluate) metrics, training history, sizes
    predictions_test.npz   test forecasts with sensor ids and timestamps
    plots/                 forecasts vs observations, error by horizon, sensor error map

No half-written run: the run is built in ``<out>.partial`` beside the final directory and
renamed to ``<out>`` only when everything is written. Bad input fails before the directory is
created. If training is interrupted (Ctrl-C, a crash), ``<out>.partial`` is kept with its
``last.ckpt`` and ``stgraph train --resume --out <out>`` continues it (after an interruption in
the middle of an epoch, the rest of that epoch comes from a fresh shuffle of the training
windows); if nothing worth resuming was saved yet, it is removed.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from stgraph import models
from stgraph.io.atomic import atomic_write
from stgraph.metrics.masked import HorizonMetrics
from stgraph.metrics.report import metrics_table
from stgraph.ops.memory import reuse_freed_memory
from stgraph.train.callbacks import BestModelExport, EpochSummary, SaveOnInterrupt, TimeBudget
from stgraph.train.checkpoint import graph_state, load_model_file
from stgraph.train.config import ConfigError, ExperimentConfig, check_model_options
from stgraph.train.data import PreparedData, interval_text, prepare_data, window_loader
from stgraph.train.evaluate import metrics_summary, predict_split, update_metrics_file, write_report
from stgraph.train.module import ForecastModule

__all__ = ["RunResult", "train", "default_run_dir", "partial_dir", "build_model", "run_metadata", "RunError", "is_rank_zero", "cpu_threads"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
LAST_CHECKPOINT = "last.ckpt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"


class RunError(ValueError):
    """The run directory cannot be used as asked (exists, nothing to resume, ...)."""


@dataclass
class RunResult:
    """What :func:`train` produced: the finished directory and the test metrics (None if no test part)."""

    run_dir: Path
    test: HorizonMetrics | None
    summary: dict[str, Any]


def default_run_dir(config: ExperimentConfig, root: str | os.PathLike = "runs") -> Path:
    """``runs/<dataset or readings stem>-<model>-<YYYYmmdd-HHMMSS>``."""
    data = config.data.dataset or Path(config.data.readings).stem
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{data}-{config.model.name}-{stamp}"


def partial_dir(run_dir: str | os.PathLike) -> Path:
    """Where a run is built before it is complete: ``<run_dir>.partial``."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".partial")


def build_model(config: ExperimentConfig, data: PreparedData) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of ``config`` sized for ``data``, and the keyword arguments that rebuild it."""
    check_model_options(config, models.get(config.model.name))
    kwargs = {
        "num_sensors": data.graph.num_sensors,
        "in_features": data.in_features,
        "out_channels": len(data.target_features),
        "lookback": config.data.lookback,
        "horizon": config.data.horizon,
        **config.model.options,
    }
    try:
        model = models.create(config.model.name, **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model {config.model.name!r} with {config.model.options}: {error}") from error
    return model, kwargs


def run_metadata(config: ExperimentConfig, data: PreparedData, model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Everything ``model.pt`` holds besides the weights (plain values only)."""
    return {
        "model": {"name": config.model.name, "kwargs": model_kwargs},
        "sensor_ids": data.graph.sensor_ids,
        "graph": graph_state(data.graph),
        "scaler": data.scaler.state_dict(),
        "data": {
            "name": data.name,
            "interval": interval_text(data.series.interval),
            "features": list(data.input_features),
            "targets": list(data.target_features),
            "covariates": list(data.covariates),
            "lookback": config.data.lookback,
            "horizon": config.data.horizon,
            "null_value": data.null_value,
            "units": data.units,
        },
        "config": config.to_dict(),
    }


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


def _silent(line: str) -> None:
    """An ``echo`` that prints nothing."""


def is_rank_zero() -> bool:
    """Rank 0 of a (possibly distributed) launch, from the environment Lightning's launchers set."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _write_config(path: Path, config: ExperimentConfig) -> None:
    with atomic_write(path) as handle:
        handle.write("# fully resolved stgraph configuration of this run\n")
        handle.write(config.to_yaml())


def load_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``config.yaml`` saved in a (finished or partial) run directory, as a plain dict."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CONFIG_FILE}; not an stgraph run directory")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _quiet_lightning() -> None:
    """Keep the console to our progress bar and summary: no GPU/TPU banners or worker hints."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*is smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*`srun` command is available.*")
    # val_mae is summed over processes by hand before it is logged (ForecastModule)
    warnings.filterwarnings("ignore", message=r".*use `self.log\('val_mae', \.\.\., sync_dist=True\)`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    # resuming after a mid-epoch interruption: the rest of that epoch is drawn from a fresh shuffle
    warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")


def train(
    config: ExperimentConfig,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    data: PreparedData | None = None,
    callbacks: Sequence[Callback] = (),
    echo: Callable[[str], None] = print,
    show_table: bool = True,
) -> RunResult:
    """Train, pick the best epoch on validation, evaluate on test and write the run directory.

    Args:
        config: the resolved experiment configuration.
        out: the run directory (must not exist); default :func:`default_run_dir`.
        resume: continue the interrupted run ``<out>.partial`` from its ``last.ckpt``.
        data: already prepared data (the demo reuses it); prepared from ``config.data`` if None.
        callbacks: extra Lightning callbacks.
        echo: where the console lines go.
        show_table: print the test table at the end (the demo prints its own, with baselines).

    Raises:
        SensorDataError, GraphError: bad readings or graph, before anything is written.
        RunError: ``out`` exists, or (``resume``) there is nothing to resume.
    """
    _quiet_lightning()
    run_dir = Path(os.environ.get("STGRAPH_RUN_DIR") or out or default_run_dir(config))
    work = partial_dir(run_dir)
    rank_zero = is_rank_zero()
    if not rank_zero:
        echo = _silent  # other processes of a distributed run train, but only rank 0 talks and writes
    checkpoint = work / LAST_CHECKPOINT
    if rank_zero:
        if run_dir.exists():
            raise RunError(f"{run_dir} already exists; choose another --out (a finished run is never overwritten)")
        if resume and not checkpoint.is_file():
            raise RunError(f"nothing to resume: {checkpoint} does not exist")
        if not resume and work.exists():
            raise RunError(f"{work} holds an interrupted run: continue it with --resume --out {run_dir}, or delete it")
    config.validate()
    reuse_freed_memory()  # large CPU tensors reuse freed memory instead of being page-faulted each step
    if data is None:
        data = prepare_data(config.data)  # every input error surfaces here, before any file is written
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    model, model_kwargs = build_model(config, data)
    metadata = run_metadata(config, data, model_kwargs)
    for line in data.describe():
        echo(line)
    parameters = sum(p.numel() for p in model.parameters())
    echo(f"model:    {config.model.name} ({parameters:,} parameters), {_training_line(config)}")

    os.environ["STGRAPH_RUN_DIR"] = str(run_dir)  # DDP workers re-run the command: same directory
    created = False
    if rank_zero:
        created = not work.exists()
        work.mkdir(parents=True, exist_ok=True)
        _write_config(work / CONFIG_FILE, config)
    try:
        with cpu_threads(config.training.threads):
            summary = _fit_and_report(
                config, data, model, metadata, work, checkpoint if resume else None, callbacks, echo, show_table
            )
        if rank_zero:
            os.replace(work, run_dir)
    except BaseException:
        if rank_zero:
            if checkpoint.is_file():
                echo(f"run interrupted; its state is in {work}: continue with `stgraph train --resume --out {run_dir}`")
            elif created:
                shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        os.environ.pop("STGRAPH_RUN_DIR", None)
    test = summary.pop("_test_metrics", None)
    return RunResult(run_dir=run_dir, test=test, summary=summary)


def _training_line(config: ExperimentConfig) -> str:
    t = config.training
    steps = f", at most {t.max_steps} steps" if t.max_steps > 0 else ""
    return f"{t.optimizer} lr {t.lr:g}, batch {config.data.batch_size}, up to {t.epochs} epochs{steps}"


def _trainer(config: ExperimentConfig, work: Path, callbacks: list[Callback]) -> L.Trainer:
    t = config.training
    return L.Trainer(
        max_epochs=t.epochs,
        max_steps=t.max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=t.precision,
        num_nodes=t.num_nodes,
        gradient_clip_val=t.gradient_clip,
        gradient_clip_algorithm="norm",
        check_val_every_n_epoch=t.val_every,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=True,
        enable_model_summary=False,
        enable_progress_bar=t.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=work,
        log_every_n_steps=10,
    )


def _fit_and_report(
    config: ExperimentConfig,
    data: PreparedData,
    model: torch.nn.Module,
    metadata: dict[str, Any],
    work: Path,
    resume_from: Path | None,
    extra: Sequence[Callback],
    echo: Callable[[str], None],
    show_table: bool,
) -> dict[str, Any]:
    t = config.training
    target = data.scaler.subset(data.target_features)
    module = ForecastModule(model, data.graph, torch.from_numpy(target.mean_), torch.from_numpy(target.std_), t)
    export = BestModelExport(work / "model.pt", metadata)
    history = EpochSummary(units=data.units, write=echo)
    callbacks: list[Callback] = [
        export,
        history,
        ModelCheckpoint(dirpath=work, filename="last", save_top_k=0, save_last=True, enable_version_counter=False),
        SaveOnInterrupt(work / LAST_CHECKPOINT),
        *extra,
    ]
    if t.patience is not None:
        # checked after validation only: a run stopped by max_steps mid-epoch has no val_mae at epoch end
        callbacks.append(
            EarlyStopping(monitor="val_mae", mode="min", patience=t.patience, check_finite=True, check_on_train_epoch_end=False)
        )
    budget = TimeBudget(t.time_budget) if t.time_budget is not None else None
    if budget is not None:
        callbacks.append(budget)
    trainer = _trainer(config, work, callbacks)
    eval_batch = config.data.eval_batch_size or config.data.batch_size
    train_loader = window_loader(
        data.windows("train"), batch_size=config.data.batch_size, shuffle=True, num_workers=config.data.num_workers, seed=t.seed
    )
    val_loader = window_loader(data.windows("val"), batch_size=eval_batch, shuffle=False, num_workers=config.data.num_workers)
    started = time.perf_counter()
    trainer.fit(module, train_loader, val_loader, ckpt_path=resume_from, weights_only=True if resume_from else None)
    if export.best_epoch is None:
        # stopped (max_steps) before the first end-of-epoch validation: validate what we have
        trainer.validate(module, val_loader, verbose=False)
    seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return {}
    if export.best_epoch is None:
        raise RuntimeError(f"validation masked MAE was never finite ({_last(history)}); no model to keep. Lower training.lr?")

    best = load_model_file(work / MODEL_FILE)
    summary: dict[str, Any] = {
        "model": config.model.name,
        "data": data.name,
        "interval": interval_text(data.series.interval),
        "units": data.units,
        "best_epoch": export.best_epoch + 1,
        "best_val_mae": export.best,
        "epochs_completed": trainer.current_epoch,
        "global_step": trainer.global_step,
        "train_seconds": round(seconds, 1),
        "windows": data.split.sizes(),
        "history": history.history,
    }
    test_metrics = None
    if data.split.sizes()["test"]:
        device = trainer.strategy.root_device
        predictions = predict_split(best.model, data, "test", batch_size=eval_batch, device=device)
        test_metrics = write_report(work, "test", predictions, data)
        summary["test"] = metrics_summary(test_metrics, data.series.interval)
    update_metrics_file(work / METRICS_FILE, summary)
    echo("")
    if budget is not None and budget.stopped_early:
        echo(f"stopped after {trainer.current_epoch} epochs: the next would have exceeded the time budget of {t.time_budget:g} s")
    echo(
        f"best epoch {summary['best_epoch']} of {len(history.history)} validated: val MAE {export.best:.3f}"
        f"{' ' + data.units if data.units else ''}; {trainer.global_step} steps in {seconds:.0f} s"
    )
    if test_metrics is not None and show_table:
        echo(f"test ({data.split.sizes()['test']} windows), masked metrics in original units:")
        echo(metrics_table({config.model.name: test_metrics}, interval=data.series.interval))
    summary["_test_metrics"] = test_metrics
    return summary


def _last(history: EpochSummary) -> str:
    if not history.history:
        return "no epoch validated"
    value = history.history[-1]["val_mae"]
    return f"last {value}" if not math.isnan(value) else "last NaN"
