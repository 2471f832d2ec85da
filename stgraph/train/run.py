"""Train a model from a resolved configuration into a finished run directory (with Lightning).

The run directory's layout and lifecycle (built in ``<out>.partial``, renamed when complete,
kept for ``--resume`` when interrupted, locked while this process writes it) are
:mod:`stgraph.pipeline.run_dir`'s; bad input fails in :func:`stgraph.pipeline.prepare_data`,
before the directory is created.

``last.ckpt`` is replaced after every epoch and every ``training.checkpoint_every`` seconds
within one (:class:`~stgraph.train.callbacks.RollingCheckpoint`), so a run killed at any moment
(SIGKILL, out of memory, power cut) continues with ``stgraph train --resume``. Each epoch's
shuffle is a function of the seed and the epoch, and a resume in the middle of an epoch skips
the batches already trained: on CPU the resumed run computes the weights of an uninterrupted one.

Several processes (``training.strategy: ddp`` with ``devices`` x ``num_nodes`` > 1, Lightning's
DDP over gloo on CPU or NCCL on GPUs) train one run. ``data.batch_size`` stays the global batch:
each process takes ``batch_size / processes`` windows of every one-process batch
(:class:`~stgraph.pipeline.data.RankBatches`) and takes the loss of the whole global batch
(:mod:`stgraph.train.global_batch`), so the steps, gradients, learning rate and schedule are
those of one process (docs/guide/several-processes.md). The validation MAE is summed
over the processes' shares of the windows (:class:`~stgraph.train.module.ForecastModule`); rank 0
alone writes the run directory, the checkpoints, and evaluates and calibrates the best model on
the whole test and validation parts, as one process does. Lightning's launcher starts the other
processes by re-running the command; ``torchrun`` and SLURM's ``srun`` start them all, with the
same ``--out``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from stgraph.errors import ConfigError
from stgraph.metrics.masked import HorizonMetrics
from stgraph.metrics.report import intervals_caption, intervals_table, metrics_summary
from stgraph.ops.memory import reuse_freed_memory
from stgraph.pipeline.calibration import CALIBRATION_FILE, save_calibration
from stgraph.pipeline.compare import Comparison, compare_split
from stgraph.pipeline.config import ExperimentConfig
from stgraph.pipeline.data import EpochShuffle, PreparedData, RankBatches, interval_text, prepare_data, window_loader
from stgraph.pipeline.evaluate import (
    calibrate_run,
    interval_entries,
    update_metrics_file,
)
from stgraph.pipeline.model_file import load_model_file
from stgraph.pipeline.run_dir import (
    LAST_CHECKPOINT,
    METRICS_FILE,
    MODEL_FILE,
    build_model,
    building,
    check_new_run,
    cpu_threads,
    default_run_dir,
    partial_dir,
    run_metadata,
)
from stgraph.pipeline.run_report import write_run_report
from stgraph.pipeline.scoring import score_split
from stgraph.train.callbacks import (
    BestModelExport,
    EpochSummary,
    RollingCheckpoint,
    SaveOnInterrupt,
    ShardWindows,
    TimeBudget,
)
from stgraph.train.module import ForecastModule

__all__ = ["RunResult", "is_rank_zero", "train"]

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`train` produced: the finished directory, the test metrics and their comparison
    with the baselines (both None if there is no test part), and ``metrics.json``'s content."""

    run_dir: Path
    test: HorizonMetrics | None
    summary: dict[str, Any]
    comparison: Comparison | None = None


def _silent(line: str) -> None:
    """An ``echo`` that prints nothing."""


_RANKS = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def is_rank_zero() -> bool:
    """Rank 0 of a (possibly distributed) launch, from the environment Lightning's launcher
    (``LOCAL_RANK``, ``NODE_RANK``), ``torchrun`` (``RANK``) or SLURM's ``srun`` (``SLURM_PROCID``) set."""
    return all(os.environ.get(name, "0") == "0" for name in _RANKS)


def _launched_together() -> bool:
    """Started as one of several processes by ``torchrun`` or ``srun``, each running the command."""
    return any(int(os.environ.get(name, "1")) > 1 for name in ("WORLD_SIZE", "SLURM_NTASKS"))


def _quiet_lightning() -> None:
    """Keep the console to our progress bar and summary: no GPU/TPU banners or worker hints."""
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.seed",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*is smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*`srun` command is available.*")
    # val_mae is summed over processes by hand before it is logged (ForecastModule)
    warnings.filterwarnings("ignore", message=r".*use `self.log\('val_mae', \.\.\., sync_dist=True\)`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    # a mid-epoch resume: Lightning cannot see that RollingCheckpoint positions the training sampler
    warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch ended.*")


def train(
    config: ExperimentConfig,
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    data: PreparedData | None = None,
    callbacks: Sequence[Callback] = (),
    echo: Callable[[str], None] = print,
    show_table: bool = True,
) -> RunResult:
    """Train, pick the best epoch on validation, evaluate on test and write the run directory.

    With ``training.coverage`` (0.9 by default) the best model's validation forecasts calibrate
    conformal intervals (:mod:`stgraph.pipeline.calibration`, written to ``calibration.npz``),
    scored on test in ``metrics.json``'s ``"intervals"`` block and the printed table.

    Args:
        config: the resolved experiment configuration.
        out: the run directory (must not exist); default :func:`default_run_dir`.
        resume: continue the interrupted run ``<out>.partial`` from its ``last.ckpt``.
        data: already prepared data (the demo reuses it); prepared from ``config.data`` if None.
        callbacks: extra Lightning callbacks.
        echo: where the console lines go.
        show_table: print the test table beside the baselines at the end, and a warning line for
            each reported lead time where the model does not beat them
            (:mod:`stgraph.pipeline.compare`); the demo prints its own.

    Raises:
        SensorDataError, GraphError: bad readings or graph, before anything is written.
        RunError: ``out`` exists, or another process is writing it, or (``resume``) there is
            nothing to resume.
    """
    _quiet_lightning()
    if out is None and "STGRAPH_RUN_DIR" not in os.environ and _launched_together():
        raise ConfigError("processes started by torchrun or srun write one run: give them all the same --out DIR")
    run_dir = Path(os.environ.get("STGRAPH_RUN_DIR") or out or default_run_dir(config))
    rank_zero = is_rank_zero()
    if not rank_zero:
        echo = _silent  # other processes of a distributed run train, but only rank 0 talks and writes
    else:
        check_new_run(run_dir, resume=resume)
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

    # the workers Lightning starts re-run the command (with this environment): the same directory
    os.environ["STGRAPH_RUN_DIR"] = str(run_dir)
    directory = building(run_dir, config, resume=resume, echo=echo) if rank_zero else contextlib.nullcontext(partial_dir(run_dir))
    try:
        with directory as work, cpu_threads(config.training.threads):
            resume_from = work / LAST_CHECKPOINT if resume else None
            summary = _fit_and_report(config, data, model, metadata, work, resume_from, callbacks, echo, show_table)
    finally:
        os.environ.pop("STGRAPH_RUN_DIR", None)
    comparison = summary.pop("_comparison", None)
    test = comparison.model if comparison is not None else None
    return RunResult(run_dir=run_dir, test=test, summary=summary, comparison=comparison)


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
        enable_checkpointing=False,  # last.ckpt is RollingCheckpoint's
        enable_model_summary=False,
        enable_progress_bar=t.progress_bar,
        num_sanity_val_steps=0,
        default_root_dir=work,
        log_every_n_steps=10,
        use_distributed_sampler=False,  # ShardWindows shares out the one-process batches
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
    export = BestModelExport(work / MODEL_FILE, metadata)
    history = EpochSummary(units=data.units, write=echo)
    eval_batch = config.data.eval_batch_size or config.data.batch_size
    train_loader = window_loader(
        data.windows("train"), batch_size=config.data.batch_size, shuffle=True, num_workers=config.data.num_workers, seed=t.seed
    )
    val_loader = window_loader(data.windows("val"), batch_size=eval_batch, shuffle=False, num_workers=config.data.num_workers)
    train_batches, val_batches = cast(RankBatches, train_loader.batch_sampler), cast(RankBatches, val_loader.batch_sampler)
    sampler = train_batches.sampler if isinstance(train_batches.sampler, EpochShuffle) else None
    checkpoint = RollingCheckpoint(work / LAST_CHECKPOINT, t.checkpoint_every, sampler=sampler, batch_size=config.data.batch_size)
    callbacks: list[Callback] = [
        export,
        history,
        checkpoint,  # after the two above: their state of each batch and epoch goes into last.ckpt
        SaveOnInterrupt(work / LAST_CHECKPOINT),
        ShardWindows(train_batches, val_batches),
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
    train_batches.check_split(trainer.num_devices * trainer.num_nodes)  # before Lightning starts the processes
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
    comparison = None
    intervals = None
    if data.split.sizes()["test"]:
        device = trainer.strategy.root_device
        calibration = None
        if t.coverage is not None:
            calibration = calibrate_run(
                best.model,
                data,
                t.coverage,
                per_sensor=t.coverage_per_sensor,
                scale=t.coverage_scale,
                batch_size=eval_batch,
                device=device,
            )
            save_calibration(work / CALIBRATION_FILE, calibration)
        # a block of windows at a time: the test split of a state-sized network does not fit in memory whole
        scores = score_split(best.model, data, "test", work, calibration=calibration, batch_size=eval_batch, device=device)
        if calibration is not None and scores.intervals is not None:
            intervals = scores.intervals
            summary.update(interval_entries(intervals, calibration, "test", data.series.interval))
        test_metrics = scores.metrics
        summary["test"] = metrics_summary(test_metrics, data.series.interval)
        comparison = compare_split(data, "test", test_metrics)
        summary.update(comparison.metrics_entries())
    else:
        # no test windows (data.split gives the test part nothing): nothing to compare on
        summary.update({"baselines": None, "beats_baselines": None, "shortfalls": []})
    update_metrics_file(work / METRICS_FILE, summary)
    write_run_report(work, data)
    echo("")
    if budget is not None and budget.stopped_early:
        echo(f"stopped after {trainer.current_epoch} epochs: the next would have exceeded the time budget of {t.time_budget:g} s")
    echo(
        f"best epoch {summary['best_epoch']} of {len(history.history)} validated: val MAE {export.best:.3f}"
        f"{' ' + data.units if data.units else ''}; {trainer.global_step} steps in {seconds:.0f} s"
    )
    if comparison is not None and show_table:
        echo(f"test ({data.split.sizes()['test']} windows), masked metrics in original units, beside the baselines:")
        echo(comparison.table(config.model.name))
        if intervals is not None:
            echo(intervals_caption("test", intervals.nominal))
            echo(intervals_table(intervals, interval=data.series.interval))
        for line in comparison.warning_lines():  # last: the run ends on what is wrong with it
            echo(line)
    summary["_comparison"] = comparison
    return summary


def _last(history: EpochSummary) -> str:
    if not history.history:
        return "no epoch validated"
    value = history.history[-1]["val_mae"]
    return f"last {value}" if not math.isnan(value) else "last NaN"
