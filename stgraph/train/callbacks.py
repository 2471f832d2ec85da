"""Lightning callbacks of a training run: best-model export, epoch summaries, interruption.

Lightning's own ``ModelCheckpoint`` keeps ``last.ckpt`` (weights, optimiser, schedule and loop
state) for resuming; the best model goes to ``model.pt`` in stgraph's plain format
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
from lightning.pytorch.callbacks import Callback
from torch import nn

from stgraph.pipeline.model_file import save_model_file

__all__ = ["BestModelExport", "EpochSummary", "SaveOnInterrupt", "TimeBudget"]


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
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = state_dict["best_epoch"]


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
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])


class SaveOnInterrupt(Callback):
    """On Ctrl-C or a crash during fit, save the exact training state to ``path`` for ``--resume``.

    Unlike Lightning's ``OnExceptionCheckpoint`` it keeps the file after teardown.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit" or trainer.global_step == 0:
            return
        try:
            trainer.save_checkpoint(self.path)
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
        if now - self._start + self._longest > self.seconds and epochs_left:
            trainer.should_stop = True
            self.stopped_early = True
