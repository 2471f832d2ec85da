"""Lightning callbacks of a training run: best-model export, epoch summaries, checkpoints.

:class:`RollingCheckpoint` keeps ``last.ckpt`` (Lightning's full state: weights, optimiser,
schedule, loop progress and these callbacks' state) for resuming, replaced atomically after
every epoch and every few minutes within one, so that a killed process loses at most that much
work. The best model goes to ``model.pt`` in stgraph's plain format
(:mod:`stgraph.pipeline.model_file`), which loads with ``weights_only=True`` and without Lightning.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from stgraph.pipeline.data import EpochShuffle, RankBatches
from stgraph.pipeline.model_file import save_model_file

__all__ = [
    "BestModelExport",
    "EpochSummary",
    "RollingCheckpoint",
    "SaveOnInterrupt",
    "ShardWindows",
    "TimeBudget",
    "save_checkpoint",
]


def _metric(trainer: L.Trainer, name: str) -> float:
    value = trainer.callback_metrics.get(name)
    return math.nan if value is None else float(value)


class BestModelExport(Callback):
    """Write ``model.pt`` whenever the validation masked MAE improves (rank 0 only).

    Args:
        path: where ``model.pt`` goes.
        metadata: everything but the weights (see :mod:`stgraph.pipeline.model_file`); plain values.
    """

    def __init__(self, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.best = math.inf
        self.best_epoch: int | None = None
        self._epoch = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning has already advanced current_epoch when a max_steps stop validates; the
        # epoch whose batches were trained is the one that last started.
        self._epoch = trainer.current_epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = _metric(trainer, "val_mae")
        if not score < self.best:  # also false for NaN
            return
        self.best, self.best_epoch = score, self._epoch
        if trainer.is_global_zero:
            model = getattr(pl_module, "model", None)
            if not isinstance(model, nn.Module):
                raise TypeError(f"BestModelExport saves pl_module.model, which {type(pl_module).__name__} does not have")
            weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            save_model_file(
                self.path,
                {
                    **self.metadata,
                    "state_dict": weights,
                    "epoch": self._epoch,
                    "global_step": trainer.global_step,
                    "val_mae": score,
                },
            )

    def state_dict(self) -> dict[str, Any]:
        # the epoch too: Lightning does not call on_train_epoch_start again when it resumes mid-epoch
        return {"best": self.best, "best_epoch": self.best_epoch, "epoch": self._epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = state_dict["best_epoch"]
        self._epoch = int(state_dict.get("epoch", 0))


class EpochSummary(Callback):
    """One line per epoch (epoch, mean training loss, validation MAE, best so far, learning rate),
    kept in :attr:`history` for ``metrics.json``.

    Args:
        write: prints a line; default ``pl_module.print`` (rank 0 only).
        units: unit label of the validation MAE (``"km/h"``), or empty.
    """

    def __init__(self, units: str = "", write: Callable[[str], None] | None = None) -> None:
        self.units = units
        self.write = write
        self.history: list[dict[str, Any]] = []
        self._loss_sum, self._loss_count = 0.0, 0
        self._lr = math.nan
        self._epoch = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch = trainer.current_epoch  # see BestModelExport.on_train_epoch_start
        self._loss_sum, self._loss_count = 0.0, 0
        # the rate this epoch trains with (schedulers may step before validation reports)
        self._lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._loss_sum += float(loss)
            self._loss_count += 1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        val = _metric(trainer, "val_mae")
        # mean training loss of this epoch's batches so far (validation runs before the epoch ends)
        loss = self._loss_sum / self._loss_count if self._loss_count else math.nan
        lr = self._lr
        best = min([h["val_mae"] for h in self.history if not math.isnan(h["val_mae"])] + [val], default=val)
        row = {"epoch": self._epoch + 1, "step": trainer.global_step, "train_loss": loss, "val_mae": val, "lr": lr}
        self.history.append(row)
        mark = " *" if val == best and not math.isnan(val) else ""
        unit = f" {self.units}" if self.units else ""
        line = (
            f"epoch {row['epoch']:>3}/{trainer.max_epochs}  step {row['step']:>6}  loss {loss:.4f}  "
            f"val MAE {val:.3f}{unit}{mark}  lr {lr:.2e}"
        )
        (self.write or pl_module.print)(line)

    def state_dict(self) -> dict[str, Any]:
        # the running epoch's too: a mid-epoch resume does not call on_train_epoch_start again
        return {
            "history": self.history,
            "epoch": self._epoch,
            "lr": self._lr,
            "loss_sum": self._loss_sum,
            "loss_count": self._loss_count,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
        self._epoch = int(state_dict.get("epoch", 0))
        self._lr = float(state_dict.get("lr", math.nan))
        self._loss_sum = float(state_dict.get("loss_sum", 0.0))
        self._loss_count = int(state_dict.get("loss_count", 0))


def save_checkpoint(trainer: L.Trainer, path: str | os.PathLike[str]) -> None:
    """``trainer.save_checkpoint(path)``, atomically: a reader (or a resume after a kill) finds
    the previous checkpoint or the new one, never a half-written file.

    Lightning writes through fsspec, whose local "transaction" stages the file in the system's
    temporary folder and moves it, which is a copy (not atomic) when that folder is on another
    file system. Here the checkpoint goes to a temporary file beside ``path``, is flushed to disk
    and replaces ``path`` with ``os.replace``. Call it on every process of a distributed run (the
    strategy writes on rank 0 only).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")  # the same name on every rank
    trainer.save_checkpoint(tmp, weights_only=False)
    if not trainer.is_global_zero:
        return
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)


class RollingCheckpoint(Callback):
    """Keep ``path`` (``last.ckpt``) at most one epoch, or ``every`` seconds, behind the training.

    Saved with :func:`save_checkpoint` at the end of every training epoch (after its validation,
    so the other callbacks' state is in it) and, within an epoch, after the first batch that ends
    ``every`` seconds after the previous save (not after an epoch's last batch: the end-of-epoch
    save follows it). The checkpoint also holds torch's global random state and how far into its
    epoch the run is; on resume the ``sampler`` (:class:`~stgraph.pipeline.data.EpochShuffle`)
    skips the windows already trained, so that a resumed run sees the same batches in the same
    order as one that was never interrupted.

    Place it after the callbacks whose ``on_train_batch_end`` state it should capture.

    Args:
        path: the checkpoint file.
        every: seconds between saves within an epoch; ``None`` = at epoch ends only.
        sampler: the training loader's sampler, positioned on resume; ``None`` for an unshuffled
            loader (Lightning then draws the rest of the epoch from the loader's beginning).
        batch_size: windows per training batch.
        clock: seconds, for tests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        every: float | None = None,
        *,
        sampler: EpochShuffle | None = None,
        batch_size: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.every = every
        self.sampler = sampler
        self.batch_size = batch_size
        self.clock = clock
        self._epoch, self._batches = 0, 0
        self._saved = clock()
        self._cuda = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved = self.clock()
        self._cuda = trainer.strategy.root_device.type == "cuda"

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch, self._batches = trainer.current_epoch, 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._batches += 1
        if self.every is None or self._batches >= trainer.num_training_batches:
            return
        due = self.clock() - self._saved >= self.every
        # every process of a distributed run must take part in a save: rank 0's clock decides
        if trainer.strategy.broadcast(due, src=0):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a resume goes on with the next epoch, from its first batch
        self._epoch, self._batches = trainer.current_epoch + 1, 0
        self.save(trainer)

    def save(self, trainer: L.Trainer) -> None:
        save_checkpoint(trainer, self.path)
        self._saved = self.clock()

    def state_dict(self) -> dict[str, Any]:
        # torch's generators draw dropout and teacher forcing; stgraph uses no other global one
        state: dict[str, Any] = {"epoch": self._epoch, "batches": self._batches, "torch_rng": torch.get_rng_state()}
        if self._cuda:
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._epoch, self._batches = int(state_dict["epoch"]), int(state_dict["batches"])
        if self.sampler is not None:
            self.sampler.resume_at(self._epoch, self._batches * self.batch_size)
        torch.set_rng_state(state_dict["torch_rng"].cpu())
        cuda = state_dict.get("cuda_rng")
        if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([generator.cpu() for generator in cuda])


class ShardWindows(Callback):
    """Give each process of a distributed run its share of every global batch
    (:meth:`RankBatches.shard <stgraph.pipeline.data.RankBatches.shard>`).

    Called at ``setup``, once the processes are started and know their rank and before
    Lightning counts the loaders' batches. The trainer must run with
    ``use_distributed_sampler=False``: Lightning's ``DistributedSampler`` would draw its own
    shuffle (not the one-process order :class:`~stgraph.pipeline.data.EpochShuffle` replays on
    resume) and pad the validation windows with repeats, which would count in ``val_mae``.

    Args:
        batches: the loaders' batch samplers (training and validation).
    """

    def __init__(self, *batches: RankBatches) -> None:
        self.batches = batches

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for batches in self.batches:
            batches.shard(trainer.global_rank, trainer.world_size)


class SaveOnInterrupt(Callback):
    """On Ctrl-C or a crash during fit, save the exact training state to ``path`` for ``--resume``
    (atomically, :func:`save_checkpoint`).

    Unlike Lightning's ``OnExceptionCheckpoint`` it keeps the file after teardown.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit" or trainer.global_step == 0:
            return
        try:
            save_checkpoint(trainer, self.path)
        except Exception as error:  # the original exception matters more than this one
            pl_module.print(f"could not save {self.path} after the interruption: {error}")


class TimeBudget(Callback):
    """Stop before an epoch that would end after ``seconds`` of training.

    After each epoch the next one's duration is estimated by the longest so far; training
    stops when it would overrun. Whole epochs only, each one validated: no work is thrown
    away, unlike a hard time limit that cuts an epoch short.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self.clock = clock
        self.stopped_early = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._epoch_start = self.clock()
        self._longest = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = self.clock()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = self.clock()  # the epoch's validation, if any, has run by now
        self._longest = max(self._longest, now - self._epoch_start)
        epochs_left = trainer.max_epochs is None or trainer.current_epoch + 1 < trainer.max_epochs
        # every process of a distributed run must stop together: rank 0's clock decides
        if trainer.strategy.broadcast(now - self._start + self._longest > self.seconds and epochs_left, src=0):
            trainer.should_stop = True
            self.stopped_early = True
