"""``stgraph train``: train a model on a catalog dataset or one's own readings, evaluate it on the
test split, and write a run directory.

Examples::

    stgraph train --dataset metr-la --model dcrnn
    stgraph train --dataset sample --model stgcn --epochs 5 --set model.dropout=0.1 training.lr=0.002
    stgraph train --readings counts.csv --sensors stations.csv --distances roads.csv
    stgraph train --readings counts.csv --distances roads.csv --model graph_wavenet
    stgraph train --resume --out runs/metr-la-dcrnn-20240101-120000
    stgraph train --dataset metr-la --model auto --set training.time_budget=3600
    stgraph train --dataset sample --model stgcn --coverage 0.8 --set training.coverage_per_sensor=true

Without ``--model``, the default recipe (``stgraph/configs/recipes/default.yaml``: STID with the
own-data recipe) is trained; one's own readings get the own-data recipe
(``recipes/own_data.yaml``) over any named model's YAML.
``--model auto`` trains a short list of models (:data:`stgraph.train.auto.AUTO_CANDIDATES`)
within ``training.time_budget`` seconds in all (default 600), keeps the one with the best
validation MAE at the top of the run directory and writes ``ranking.md``/``ranking.csv`` beside
it (:mod:`stgraph.train.auto`); ``--set <candidate>.KEY=VALUE`` sets one candidate's model
option. It cannot be resumed yet.

Layers of configuration, later ones winning: the model's packaged YAML (the paper's settings),
``--config FILE`` (repeatable), the options below, ``--set section.key=value``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stgraph.cli.arguments import check_accelerator, devices, non_negative_int, one_line, positive_int
from stgraph.errors import ConfigError, RunError

if TYPE_CHECKING:
    from stgraph.pipeline.config import ExperimentConfig

__all__ = ["add_parser", "auto_configs_from_args", "config_from_args", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a model, evaluate it on the test split and write a run directory",
        description=(
            "Train a forecasting model (masked MAE, the paper's optimiser and schedule), keep the epoch with the best "
            "validation MAE, report masked MAE/RMSE/MAPE at 15/30/60 minutes on the test split, and write config.yaml, "
            "model.pt, metrics.json, test predictions and plots into the run directory."
        ),
        epilog=(
            "Models: stid, dcrnn, graph_wavenet (gwnet), stgcn, tgcn, fc_lstm. Without --model: the default recipe "
            "(stgraph/configs/recipes/default.yaml, STID). Datasets: `stgraph datasets`."
        ),
    )
    source = parser.add_argument_group("data (one of --dataset or --readings)")
    source.add_argument("--dataset", metavar="NAME", help="catalog dataset (metr-la, pems-bay, ...) or 'sample'")
    source.add_argument("--readings", metavar="FILE", help="your readings: wide CSV/Parquet/HDF5, long CSV, or .npz")
    source.add_argument("--sensors", metavar="FILE", help="sensor ids in node order, or a locations file (id,latitude,longitude)")
    graph = source.add_mutually_exclusive_group()
    graph.add_argument("--distances", metavar="FILE", help="road distances from,to,distance (Gaussian kernel graph)")
    graph.add_argument("--adjacency", metavar="FILE", help="adjacency matrix: .csv, .npy, .npz or DCRNN .pkl")
    graph.add_argument(
        "--edges",
        metavar="FILE",
        help="edge list from,to[,value]: a third column headed distance/cost/length/time is a distance "
        "(Gaussian kernel), one headed weight (or none) a weight as given",
    )
    source.add_argument(
        "--threshold",
        type=float,
        metavar="X",
        help="Gaussian kernel weights below X become 0 (distances, distance-headed edges, locations; default 0.1)",
    )
    source.add_argument(
        "--neighbors",
        type=positive_int,
        metavar="K",
        help="a graph from sensor locations links each sensor to its K nearest (default 8)",
    )
    source.add_argument(
        "--null-value", type=float, metavar="V", help="reading that means missing (own data: only empty/NaN by default)"
    )
    source.add_argument("--interval", metavar="FREQ", help="expected sampling interval, e.g. 5min (default: inferred)")

    experiment = parser.add_argument_group("model and training")
    experiment.add_argument(
        "--model",
        metavar="NAME",
        help="registered model name (default: the default recipe, STID), or auto: the best of a short list in one "
        "time budget (no --resume)",
    )
    experiment.add_argument(
        "--config", metavar="FILE", action="append", default=[], help="YAML with data/model/training sections (repeatable)"
    )
    experiment.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        dest="overrides",
        help="override any key, e.g. --set model.hidden=32 training.lr=0.01",
    )
    experiment.add_argument("--epochs", type=positive_int, metavar="N", help="maximum epochs")
    experiment.add_argument("--max-steps", type=positive_int, metavar="N", help="stop after N optimiser steps (quick checks)")
    experiment.add_argument("--batch-size", type=positive_int, metavar="N", help="training windows per batch")
    experiment.add_argument("--seed", type=non_negative_int, metavar="N", help="random seed")
    experiment.add_argument(
        "--coverage",
        type=float,
        metavar="C",
        help="nominal coverage of the conformal intervals calibrated on validation and scored on test, "
        "a fraction in (0, 1) (default 0.9; --set training.coverage=null: none)",
    )

    hardware = parser.add_argument_group("hardware (passed to lightning.Trainer)")
    hardware.add_argument("--accelerator", metavar="NAME", help="cpu, gpu, auto, ...")
    hardware.add_argument("--devices", type=devices, metavar="N", help="number of devices or a list, e.g. 2 or 0,1")
    hardware.add_argument("--strategy", metavar="NAME", help="auto, ddp, ...")
    hardware.add_argument(
        "--num-nodes", type=positive_int, metavar="M", help="machines of a ddp run (--devices processes on each)"
    )
    hardware.add_argument("--precision", metavar="P", help="32-true, bf16-mixed, 16-mixed, ...")

    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", help="run directory (must not exist); default runs/<data>-<model>-<time>")
    output.add_argument(
        "--resume", action="store_true", help="continue the interrupted run <--out>.partial from its last checkpoint"
    )
    output.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines are still printed)")
    parser.set_defaults(func=run)
    return parser


def _flag_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The explicit options as a nested override dict (paths made absolute)."""
    data: dict[str, Any] = {}
    for key in ("readings", "sensors", "distances", "adjacency", "edges"):
        value = getattr(args, key)
        if value is not None:
            data[key] = str(Path(value).expanduser().resolve())
    if args.dataset is not None:
        data["dataset"] = args.dataset
    if args.null_value is not None:
        data["null_value"] = args.null_value
    if args.interval is not None:
        data["interval"] = args.interval
    if args.threshold is not None:
        data["threshold"] = args.threshold
    if args.neighbors is not None:
        data["neighbors"] = args.neighbors
    if args.batch_size is not None:
        data["batch_size"] = args.batch_size
    training: dict[str, Any] = {}
    for key in ("epochs", "max_steps", "seed", "coverage", "accelerator", "strategy", "precision"):
        value = getattr(args, key)
        if value is not None:
            training[key] = value
    if args.devices is not None:
        training["devices"] = args.devices
    if args.num_nodes is not None:
        training["num_nodes"] = args.num_nodes
    if args.no_progress:
        training["progress_bar"] = False
    return {"data": data, "training": training, "model": {"name": args.model} if args.model else {}}


def _merge(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The resolved configuration: packaged YAML, --config files, options, then --set."""
    from stgraph.pipeline.config import parse_overrides, resolve_config

    _check_data_source(args)
    overrides = _merge(_flag_overrides(args), parse_overrides(args.overrides))
    if args.resume:
        from stgraph.pipeline.run_dir import load_run_config, partial_dir

        if not args.out:
            raise ConfigError("--resume needs --out DIR: the run to continue (its state is in DIR.partial)")
        saved = load_run_config(partial_dir(args.out))
        config = resolve_config(base=saved, files=args.config, overrides=overrides)
        changed = [
            f"{section}.{key}"
            for section in ("data", "model")
            for key, value in config.to_dict()[section].items()
            if saved.get(section, {}).get(key) != value
        ]
        if changed:
            raise ConfigError(
                f"--resume continues the saved run; these differ from its config.yaml: {', '.join(changed)} "
                "(only training options may change)"
            )
        return config
    return resolve_config(model=args.model, dataset=args.dataset, files=args.config, overrides=overrides)


def _check_data_source(args: argparse.Namespace) -> None:
    if args.dataset is not None and args.readings is not None:
        raise ConfigError("give --dataset or --readings, not both")
    if not args.resume and args.dataset is None and args.readings is None and not args.config:
        raise ConfigError("say what to train on: --dataset NAME (see `stgraph datasets`) or --readings FILE")


def auto_configs_from_args(args: argparse.Namespace) -> dict[str, ExperimentConfig]:
    """``--model auto``: each candidate's resolved configuration (:func:`stgraph.train.auto.candidate_configs`)."""
    from stgraph.pipeline.config import parse_overrides
    from stgraph.train import auto

    if args.resume:
        raise ConfigError("--resume does not continue a --model auto run yet; train it again with another --out")
    _check_data_source(args)
    overrides = _merge(_flag_overrides(args), parse_overrides(args.overrides))
    overrides["model"].pop("name")  # "auto" itself
    return auto.candidate_configs(auto.AUTO_CANDIDATES, dataset=args.dataset, files=args.config, overrides=overrides)


def _input_files(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """The files train reads, by option: --out must be none of them."""
    files = [(f"--{key}", getattr(args, key)) for key in ("readings", "sensors", "distances", "adjacency", "edges")]
    return files + [("--config", path) for path in args.config]


def run(args: argparse.Namespace) -> int:
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from stgraph.io.outputs import check_not_input
    from stgraph.train.auto import train_auto
    from stgraph.train.run import is_rank_zero, train

    try:
        if args.out:
            check_not_input(args.out, _input_files(args))
        if args.model == "auto":
            configs = auto_configs_from_args(args)
            for config in configs.values():
                check_accelerator(config, "--accelerator" if args.accelerator else None)
            run_dir = train_auto(configs, args.out).run_dir
        else:
            config = config_from_args(args)
            check_accelerator(config, "--accelerator" if args.accelerator else None)
            run_dir = train(config, args.out, resume=args.resume).run_dir
    except (ConfigError, RunError) as error:
        print(f"stgraph train: error: {one_line(error)}", file=sys.stderr)
        return 2
    except MisconfigurationException as error:
        # Lightning refusing the hardware options (--devices 4 with one GPU, ...): the user's to fix
        print(f"stgraph train: error: {one_line(error)}", file=sys.stderr)
        return 2
    if is_rank_zero():
        print(f"\nrun written to {run_dir}")
        verdict = _verdict(run_dir)
        if verdict:
            print(verdict)
    return 0


def _verdict(run_dir: Path) -> str:
    """The run's last line when its model does not beat the baselines (``metrics.json``), else ""."""
    import json

    from stgraph.pipeline.run_dir import METRICS_FILE

    metrics = json.loads((run_dir / METRICS_FILE).read_text()) if (run_dir / METRICS_FILE).is_file() else {}
    if metrics.get("beats_baselines") is not False:
        return ""
    count = len(metrics.get("shortfalls", []))
    return (
        f"warning: this model does not beat the baselines ({count} shortfall{'s' if count != 1 else ''} listed above); "
        f"do not use its forecasts before it does (see {run_dir / 'report.md'})"
    )
