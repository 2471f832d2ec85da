r"""How each model is trained in the DCRNN-protocol benchmark: its own recipe, or one shared setup.

``--recipe paper`` (the default) trains every model with its authors' METR-LA recipe, read from
``stgraph/configs/<model>.yaml`` (the same file ``stgraph train --model <model>`` uses): the
architecture, the inputs (covariates), the batch size, the optimiser and its learning rate,
weight decay and epsilon, the learning-rate schedule, gradient clipping, the loss and its
units, early stopping and the curriculum over horizons. ``--recipe common`` trains every model
with one setup (:class:`~benchmarks.accuracy.training.TrainingSetup`: Adam 1e-3, weight decay
1e-4, clip 5, masked MAE on scaled targets, batch 64) on speed plus time of day, as earlier
versions of this benchmark did.

Three things of a recipe cannot carry over unchanged to a short run on a small dataset, so
:func:`paper_plan` adapts them and records each change in the plan's ``notes`` (printed in the
protocol card):

- **Day of week** is dropped from the inputs when the training part spans fewer than 14 days
  (the rule of :func:`stgraph.pipeline.data.choose_covariates`): Los-loop's 4.9 training days
  leave the test days' weekdays unseen, so their embeddings would stay at their random start.
- **Curriculum over horizons** keeps its place in the run, not its step count. MTGNN adds a
  horizon step every 2,500 iterations on METR-LA (23,974 training windows, 375 batches of 64 a
  epoch: the whole horizon after 27,500 of 37,500 iterations, 73 % of the run); on Los-loop's
  22 batches an epoch the same count would never add a second step. The plan converts the
  recipe's interval into the fraction :math:`f` of the recipe's run after which the loss covers
  the whole horizon, :math:`f = (H - 1)\, s_e / E_0` with :math:`s_e` the interval in METR-LA
  epochs and :math:`E_0` the recipe's epochs, and spaces the steps so that this run reaches the
  whole horizon after the same fraction of its own optimiser steps.
- **Scheduled sampling** (DCRNN's decay constant 2,000 steps) is rescaled the same way by
  :func:`~benchmarks.accuracy.training.curriculum_tau`: the probability of feeding the truth
  falls to one half at the middle of the run.

The epoch cap (``--epochs``, ``--model-epochs``) is this machine's limit, not the recipe's; the
card states it beside the recipe's epochs. Learning-rate milestones stay at the recipe's epochs
(a milestone beyond the cap is never reached, and the card says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.accuracy.training import TrainingSetup
from stgraph.pipeline.config import ExperimentConfig, resolve_config
from stgraph.pipeline.data import DAY_OF_WEEK_MIN_DAYS

__all__ = ["METR_LA_TRAIN_WINDOWS", "RECIPES", "Plan", "common_plan", "paper_plan"]

#: The two ways the benchmark trains models.
RECIPES = ("paper", "common")

#: Training windows of DCRNN's METR-LA split (``train.npz``: 70 % of 34,272 steps, 12 -> 12), the
#: data the recipes' step counts were tuned on.
METR_LA_TRAIN_WINDOWS = 23_974


@dataclass
class Plan:
    """One model's training in the benchmark.

    Attributes:
        model: registry name.
        config: model name and options, and the data section's covariates, as
            :func:`stgraph.pipeline.run_dir.build_model` reads them.
        setup: the training loop's settings.
        recipe: ``"paper"`` or ``"common"``.
        recipe_epochs: the recipe's epoch count (None for ``common``).
        notes: every place where this run departs from the recipe, as sentences.
    """

    model: str
    config: ExperimentConfig
    setup: TrainingSetup
    recipe: str
    recipe_epochs: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def covariates(self) -> list[str]:
        return list(self.config.data.covariates)

    def card(self) -> dict[str, Any]:
        """What the protocol card prints for this model."""
        setup = self.setup
        entry: dict[str, Any] = {
            "recipe": self.recipe,
            "inputs": ["speed", *self.covariates],
            "epochs": setup.epochs,
            "batch_size": setup.batch_size,
            "optimizer": setup.optimizer,
            "lr": setup.lr,
            "weight_decay": setup.weight_decay,
            "eps": setup.eps,
            "schedule": f"StepLR every {setup.step_size} x{setup.gamma}"
            if setup.step_size
            else (f"MultiStepLR {list(setup.milestones)} x{setup.gamma}" if setup.milestones else "constant"),
            "clip": setup.clip,
            "loss": f"{setup.loss} ({setup.loss_units} units)",
            "patience": setup.patience,
        }
        if setup.curriculum_every is not None:
            entry["curriculum"] = f"one more horizon step every {setup.curriculum_every} {setup.curriculum_unit}"
        if self.recipe_epochs is not None:
            entry["recipe_epochs"] = self.recipe_epochs
        if self.config.model.options:
            entry["model_options"] = dict(self.config.model.options)
        if self.notes:
            entry["notes"] = list(self.notes)
        return entry


def _model_config(name: str, options: dict[str, Any], covariates: list[str]) -> ExperimentConfig:
    return ExperimentConfig.from_dict(
        {"model": {"name": name, **options}, "data": {"covariates": covariates, "lookback": 12, "horizon": 12}},
        source=f"benchmark plan for {name}",
    )


def common_plan(name: str, setup: TrainingSetup, *, options: dict[str, Any] | None = None, epochs: int | None = None) -> Plan:
    """``name`` with the shared ``setup`` (``epochs`` overrides its epoch count) on speed plus time of day."""
    config = _model_config(name, options or {}, ["time_of_day"])
    return Plan(name, config, replace(setup, epochs=epochs or setup.epochs), "common")


def paper_plan(
    name: str,
    *,
    dataset: str,
    train_days: float,
    train_windows: int,
    horizon: int = 12,
    epochs: int | None = None,
    options: dict[str, Any] | None = None,
    device: str = "cpu",
    teacher_forcing: bool = True,
) -> Plan:
    """``name`` with its own recipe (``stgraph/configs/<name>.yaml`` for ``dataset``), adapted as
    the module docstring says.

    Args:
        name: registry name.
        dataset: catalog key (selects the YAML's per-dataset block, if any).
        train_days: days the training part spans (decides the day-of-week input).
        train_windows: training windows of this run (spaces the curriculum).
        horizon: forecast steps.
        epochs: cap on the recipe's epochs (None: the recipe's).
        options: model options that replace the recipe's (``--set``).
        device: where the model trains.
        teacher_forcing: False turns DCRNN's scheduled sampling off.
    """
    recipe = resolve_config(model=name, dataset=dataset)
    training, data = recipe.training, recipe.data
    notes: list[str] = []
    covariates = list(data.covariates)
    if "day_of_week" in covariates and train_days < DAY_OF_WEEK_MIN_DAYS:
        covariates.remove("day_of_week")
        notes.append(
            f"day_of_week left out of the inputs: the training part spans {train_days:.1f} days "
            f"(< {DAY_OF_WEEK_MIN_DAYS:.0f}), so some test weekdays never occur in training"
        )
    run_epochs = min(epochs, training.epochs) if epochs else training.epochs
    if run_epochs < training.epochs:
        notes.append(f"{run_epochs} of the recipe's {training.epochs} epochs (this machine's limit)")
    milestones = tuple(training.milestones) if training.scheduler == "multistep" else ()
    unreached = [m for m in milestones if m >= run_epochs]
    if unreached:
        notes.append(f"learning-rate milestones {unreached} lie beyond the last epoch")
    setup = TrainingSetup(
        epochs=run_epochs,
        batch_size=data.batch_size,
        optimizer=training.optimizer,
        lr=training.lr,
        weight_decay=training.weight_decay,
        eps=training.eps,
        alpha=training.alpha,
        milestones=milestones,
        step_size=training.step_size if training.scheduler == "step" else None,
        gamma=training.gamma,
        clip=training.gradient_clip,
        loss=training.loss,
        loss_units=training.loss_units,
        patience=training.patience,
        device=device,
        teacher_forcing=teacher_forcing and training.teacher_forcing_decay is not None,
    )
    if setup.teacher_forcing:
        notes.append(
            f"scheduled sampling's decay constant {training.teacher_forcing_decay:g} steps rescaled to the run "
            "(the probability of feeding the truth is 1/2 at mid-run)"
        )
    every = training.curriculum_every
    if every is not None and horizon > 1:
        unit = training.curriculum_unit
        recipe_epochs_per_step = every / math.ceil(METR_LA_TRAIN_WINDOWS / data.batch_size) if unit == "steps" else every
        fraction = min(1.0, (horizon - 1) * recipe_epochs_per_step / training.epochs)
        run_steps = run_epochs * math.ceil(train_windows / data.batch_size)
        spaced = max(1, round(fraction * run_steps / (horizon - 1)))
        setup = replace(setup, curriculum_every=spaced, curriculum_unit="steps")
        notes.append(
            f"curriculum: the recipe's one step every {every} {unit} covers the whole horizon after "
            f"{fraction:.0%} of its run; here one step every {spaced} optimiser steps does the same"
        )
    merged = {**recipe.model.options, **(options or {})}
    return Plan(name, _model_config(name, merged, covariates), setup, "paper", training.epochs, notes)
