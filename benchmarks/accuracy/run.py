"""Both protocols end to end: train each model for each seed, score, and build the tables and cards."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import pandas as pd
import torch

from benchmarks.accuracy.card import library_versions, machine
from benchmarks.accuracy.protocols import TGCN_HORIZONS, dcrnn_data, tgcn_data
from benchmarks.accuracy.recipes import RECIPES, common_plan, paper_plan
from benchmarks.accuracy.tgcn_metrics import METRICS, tgcn_metrics
from benchmarks.accuracy.training import TrainingSetup, fit
from benchmarks.published import TGCN_LOS_LOOP, dcrnn_protocol_rows
from stgraph import models
from stgraph.baselines import HistoricalAverage, last_value
from stgraph.metrics import REPORT_STEPS, horizon_label, horizon_metrics
from stgraph.pipeline import DataConfig
from stgraph.pipeline.data import load_readings_and_graph
from stgraph.pipeline.evaluate import forecast_windows
from stgraph.pipeline.run_dir import build_model

__all__ = ["run_dcrnn_protocol", "run_tgcn_protocol"]

logger = logging.getLogger(__name__)


def _build(name: str, *, num_sensors: int, in_features: int, horizon: int, options: dict[str, Any], seed: int, device: str):
    torch.manual_seed(seed)
    model = models.create(name, num_sensors=num_sensors, in_features=in_features, horizon=horizon, **options.get(name, {}))
    return model.to(device)


# --- T-GCN protocol ---------------------------------------------------------------------------
def run_tgcn_protocol(
    dataset: str,
    root: str | os.PathLike | None,
    model_names: Sequence[str],
    seeds: Sequence[int],
    setup: TrainingSetup,
    *,
    shared_model: bool = False,
    horizons: Sequence[int] = TGCN_HORIZONS,
    model_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """T-GCN's protocol (see :mod:`benchmarks.accuracy.protocols`) for each model and seed, on
    catalog dataset ``dataset`` read from the data root ``root`` (None: the library's).

    ``shared_model=False`` (the protocol) trains one model per ``pre_len`` in ``horizons``;
    ``shared_model=True`` trains one model of horizon ``max(horizons)`` and scores its first
    ``pre_len`` steps, on the test windows of that longest ``pre_len`` (4x cheaper; a deviation,
    recorded in the card).

    Returns a JSON-ready dict: ``results[model][horizon label]`` -> metric -> list over seeds,
    plus ``selected`` (the T-GCN code's lowest-test-RMSE epoch), the card and the published rows.
    """
    options = model_options or {}
    series, graph, _, key, _ = load_readings_and_graph(DataConfig(dataset=dataset), root=root)
    interval = series.interval
    labels = {h: horizon_label(h, interval) for h in horizons}
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    selected: dict[str, dict[str, dict[str, list[float]]]] = {}
    seconds: dict[str, list[float]] = {}
    plans = [(max(horizons), list(horizons))] if shared_model else [(h, [h]) for h in horizons]
    windows = {}
    for pre_len, _ in plans:
        data = tgcn_data(series, graph, pre_len, name=key)
        windows[pre_len] = (data.windows("train"), data.windows("test"))

    # Last value: no training; scored on the same test windows as the models.
    for pre_len, scored in plans:
        test = windows[pre_len][1]
        forecast = last_value(series, test.starts.numpy(), lookback=12, horizon=pre_len)
        _, target, _ = test.batch(torch.arange(len(test)))
        target = target.numpy()
        for h in scored:
            scores = tgcn_metrics(target[:, :h], forecast[:, :h])
            for metric in METRICS:
                results.setdefault("last value", {}).setdefault(labels[h], {}).setdefault(metric, []).append(scores[metric])

    for name in model_names:
        for seed in seeds:
            for pre_len, scored in plans:
                train, test = windows[pre_len]
                model = _build(
                    name,
                    num_sensors=graph.num_sensors,
                    in_features=1,
                    horizon=pre_len,
                    options=options,
                    seed=seed,
                    device=setup.device,
                )
                per_epoch: list[dict[int, dict[str, float]]] = []

                def score() -> dict[int, dict[str, float]]:
                    forecast, target, _ = forecast_windows(model, graph, test, batch_size=setup.batch_size, device=setup.device)
                    return {h: tgcn_metrics(target[:, :h], forecast[:, :h]) for h in scored}

                log = fit(
                    model,
                    graph,
                    train,
                    TrainingSetup(**{**asdict(setup), "seed": seed}),
                    on_epoch=lambda epoch: per_epoch.append(score()),
                )
                seconds.setdefault(name, []).append(log.seconds)
                for h in scored:
                    last = per_epoch[-1][h]
                    best = min((epoch[h] for epoch in per_epoch), key=lambda s: s["rmse"])
                    for metric in METRICS:
                        results.setdefault(name, {}).setdefault(labels[h], {}).setdefault(metric, []).append(last[metric])
                        selected.setdefault(name, {}).setdefault(labels[h], {}).setdefault(metric, []).append(best[metric])
                logger.info(
                    "%s seed %d pre_len %d: %s",
                    name,
                    seed,
                    pre_len,
                    {labels[h]: round(per_epoch[-1][h]["rmse"], 4) for h in scored},
                )

    card = {
        "protocol": "T-GCN (Zhao et al., IEEE T-ITS 2020; lehaifeng/T-GCN main.py, input_data.py)",
        "dataset": key,
        "split": "80 % train / 20 % test of the steps, chronological, no validation (int(time_len * 0.8))",
        "scaling": "speed divided by its maximum over the whole series (all steps, as the official code)",
        "null_value": "none: Los-loop has no missing readings; no masking",
        "windows": "12 input steps; starts 0 .. len(part) - 12 - pre_len - 1 inside each part",
        "horizons": f"one model per pre_len {'/'.join(map(str, horizons))} ({' / '.join(labels[h] for h in horizons)})"
        if not shared_model
        else f"DEVIATION: one model of horizon {max(horizons)}, scored on its first pre_len steps (test windows of pre_len {max(horizons)})",
        "scoring": "RMSE, MAE, accuracy, R^2, explained variance over all pre_len steps pooled (T-GCN's evaluation())",
        "reported_epoch": "last epoch (table); the official code's choice, the epoch with the lowest test RMSE, is under 'selected'",
        "inputs": "speed only (in_features=1)",
        "seeds": list(seeds),
        "aggregate": "mean +- sample std over seeds",
        "training": {**asdict(setup), "optimizer": "Adam", "loss_note": "MSE on max-scaled speed"},
        "model_options": options,
        "train_seconds": seconds,
        "machine": machine(),
        "versions": library_versions(),
    }
    published = {label: TGCN_LOS_LOOP[label] for label in labels.values() if label in TGCN_LOS_LOOP}
    return {
        "results": results,
        "selected": selected,
        "card": card,
        "published": {label: asdict(row) for label, row in published.items()} if key == "los-loop" else {},
        "horizons": [labels[h] for h in horizons],
    }


# --- DCRNN protocol ---------------------------------------------------------------------------
def run_dcrnn_protocol(
    dataset: str,
    root: str | os.PathLike | None,
    model_names: Sequence[str],
    seeds: Sequence[int],
    setup: TrainingSetup,
    *,
    recipe: str = "common",
    model_epochs: dict[str, int] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    steps: Sequence[int] = REPORT_STEPS,
) -> dict[str, Any]:
    """DCRNN's protocol for each model and seed, with historical average and last value, on
    catalog dataset ``dataset`` read from the data root ``root`` (None: the library's).

    ``recipe="paper"`` trains each model with its own recipe (:func:`~benchmarks.accuracy.recipes.paper_plan`;
    ``setup.epochs`` caps the recipe's epochs, ``setup.device`` and ``setup.teacher_forcing``
    apply); ``recipe="common"`` trains each with ``setup``. ``model_epochs`` sets the epoch cap
    per model. Returns ``results[model][label]`` -> ``mae/rmse/mape`` -> list over seeds, for
    ``label`` in the lead times of ``steps`` and ``"average"`` (mean over all 12 steps), plus the
    card and the published rows for the dataset, if any.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    options = model_options or {}
    epochs = model_epochs or {}
    data = dcrnn_data(dataset, root)
    series, null_value = data.series, data.null_value
    prepared = {tuple(data.covariates): data}
    test = data.windows("test")
    labels = [horizon_label(s, series.interval) for s in steps]
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    seconds: dict[str, list[float]] = {}
    epochs_used: dict[str, list[int]] = {}
    epochs_run: dict[str, list[int]] = {}
    plans: dict[str, dict[str, Any]] = {}

    def record(name: str, forecast, target, mask) -> None:
        metrics = horizon_metrics(forecast, target, null_value, mask)
        for label, step in zip(labels, steps):
            for metric, value in metrics.at(step).items():
                results.setdefault(name, {}).setdefault(label, {}).setdefault(metric, []).append(value)
        for metric, value in metrics.average().items():
            results.setdefault(name, {}).setdefault("average", {}).setdefault(metric, []).append(value)

    test_starts = test.starts.numpy()
    _, test_y, test_mask = test.batch(torch.arange(len(test)))
    train_end = data.split.boundaries[0]
    train_series = series.slice_time(0, train_end)
    average = HistoricalAverage().fit(train_series)
    record("historical average", average.predict(series, test_starts), test_y.numpy(), test_mask.numpy())
    record("last value", last_value(series, test_starts), test_y.numpy(), test_mask.numpy())
    train_days = train_end * series.interval / pd.Timedelta(days=1)

    for name in model_names:
        if recipe == "paper":
            plan = paper_plan(
                name,
                dataset=dataset,
                train_days=train_days,
                train_windows=data.split.sizes()["train"],
                epochs=epochs.get(name, setup.epochs),
                options=options.get(name),
                device=setup.device,
                teacher_forcing=setup.teacher_forcing,
            )
        else:
            plan = common_plan(name, setup, options=options.get(name), epochs=epochs.get(name))
        plans[name] = plan.card()
        key = tuple(plan.covariates)
        if key not in prepared:
            prepared[key] = dcrnn_data(dataset, root, covariates=plan.covariates)
        model_data = prepared[key]
        graph = model_data.graph
        train, val, model_test = (model_data.windows(part) for part in ("train", "val", "test"))
        for seed in seeds:
            torch.manual_seed(seed)
            model = build_model(plan.config, model_data)[0].to(plan.setup.device)
            best = {"mae": math.inf, "state": None, "epoch": -1}
            batch = plan.setup.batch_size

            def validate(epoch: int) -> float:
                forecast, target, mask = forecast_windows(model, graph, val, batch_size=batch, device=plan.setup.device)
                mae = horizon_metrics(forecast, target, null_value, mask).average()["mae"]
                if mae < best["mae"]:
                    best.update(mae=mae, epoch=epoch, state={k: v.detach().clone() for k, v in model.state_dict().items()})
                return mae

            log = fit(model, graph, train, replace(plan.setup, seed=seed), on_epoch=validate)
            seconds.setdefault(name, []).append(log.seconds)
            epochs_used.setdefault(name, []).append(best["epoch"] + 1)
            epochs_run.setdefault(name, []).append(len(log.train_loss))
            if best["state"] is not None:
                model.load_state_dict(best["state"])
            record(name, *forecast_windows(model, graph, model_test, batch_size=batch, device=plan.setup.device))
            logger.info("%s seed %d: average MAE %.4f", name, seed, results[name]["average"]["mae"][-1])

    card = {
        "protocol": "DCRNN (Li et al., ICLR 2018); as Graph WaveNet (Wu et al., IJCAI 2019)",
        "dataset": data.name,
        "split": "70 / 10 / 20 % of the steps, chronological; windows straddling a boundary are dropped",
        "split_windows": data.split.sizes(),
        "scaling": "z-score per feature, fitted on the observed readings of the training steps only",
        "null_value": f"{null_value!r}: target entries equal to it (and NaN) are masked out of every metric",
        "horizons": f"masked MAE / RMSE / MAPE at steps {list(steps)} and averaged over all 12 steps (mean of per-step values)",
        "recipe": "paper: each model's own recipe, stgraph/configs/<model>.yaml (benchmarks/accuracy/recipes.py)"
        if recipe == "paper"
        else "common: one setup for every model (training below), inputs speed + time of day",
        "model_selection": "best validation masked MAE over epochs",
        "baselines": "historical average (same time of week, training part; falls back to time of day), last value",
        "seeds": list(seeds),
        "aggregate": "mean +- sample std over seeds",
        "training": plans,
        "dcrnn_teacher_forcing": "inverse sigmoid decay, tau scaled to the run"
        if setup.teacher_forcing
        else "off: the decoder reads its own forecasts",
        "best_epoch": epochs_used,
        "epochs_run": epochs_run,
        "model_options": options,
        "train_seconds": seconds,
        "machine": machine(),
        "versions": library_versions(),
    }
    return {
        "results": results,
        "card": card,
        "published": [asdict(row) for row in dcrnn_protocol_rows(data.name)],
        "horizons": [*labels, "average"],
    }
