"""``python -m benchmarks.accuracy``: train models under a paper's protocol, print our table beside
the published one, and write Markdown + JSON (with the protocol card) to benchmarks/results/.

Examples::

    python -m benchmarks.accuracy --dataset los-loop --protocol tgcn --seeds 3
    python -m benchmarks.accuracy --dataset los-loop --protocol tgcn --models stgcn --epochs 30 --shared-model
    python -m benchmarks.accuracy --dataset metr-la --protocol dcrnn --models stgcn dcrnn graph_wavenet --epochs 100
    python -m benchmarks.accuracy --protocol dcrnn --seeds 3 --epochs 30 --model-epochs dcrnn=8
    python -m benchmarks.accuracy --protocol dcrnn --recipe common --models stid mtgnn --epochs 20

Under the DCRNN protocol every model trains with its own recipe (``--recipe paper``, the
default: ``stgraph/configs/<model>.yaml``, see benchmarks/accuracy/recipes.py) or all with one
shared setup (``--recipe common``: the flags below); the protocol card says which.
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from benchmarks.accuracy.card import RESULTS, write_result
from benchmarks.accuracy.protocols import TGCN_HORIZONS
from benchmarks.accuracy.recipes import RECIPES
from benchmarks.accuracy.report import beats_baselines, card_markdown, dcrnn_document, tgcn_markdown
from benchmarks.accuracy.run import run_dcrnn_protocol, run_tgcn_protocol
from benchmarks.accuracy.training import TrainingSetup
from benchmarks.data_root import default_data_root
from benchmarks.options import per_model_counts
from benchmarks.published import TGCN_PAPER
from stgraph import models
from stgraph.data.catalog import get_dataset
from stgraph.ops import reuse_freed_memory

DEFAULT_MODELS = {"tgcn": ["tgcn", "stgcn", "graph_wavenet"], "dcrnn": models.available()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="los-loop", help="catalog key (default los-loop)")
    parser.add_argument("--protocol", choices=("tgcn", "dcrnn"), default="tgcn")
    parser.add_argument(
        "--models",
        nargs="+",
        help=f"registry names (default: tgcn protocol {DEFAULT_MODELS['tgcn']}, "
        f"dcrnn protocol {DEFAULT_MODELS['dcrnn']}); available: {models.available()}",
    )
    parser.add_argument(
        "--recipe",
        choices=RECIPES,
        default="paper",
        help="dcrnn protocol: each model's own recipe (paper, default) or one shared setup from the flags below (common)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...); mean +- std is reported")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (default 100 tgcn, 50 dcrnn common); with --recipe paper a cap on each recipe's epochs",
    )
    parser.add_argument(
        "--model-epochs",
        nargs="*",
        default=[],
        metavar="MODEL=EPOCHS",
        help="epochs (or the cap) for one model, e.g. dcrnn=8 gman=10 (dcrnn protocol)",
    )
    parser.add_argument("--tag", default="", help="suffix of the result files' names, e.g. cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 (T-GCN) / 64 (DCRNN common)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eps", type=float, default=1e-8, help="Adam epsilon (DCRNN's code: 1e-3)")
    parser.add_argument(
        "--milestones",
        type=int,
        nargs="*",
        default=[],
        help="epochs after which the learning rate is multiplied by --gamma (DCRNN: 20 30 40 50)",
    )
    parser.add_argument("--gamma", type=float, default=0.1)
    parser.add_argument(
        "--weight-decay", type=float, default=None, help="default 0 (T-GCN protocol) / 1e-4 (DCRNN protocol, as Graph WaveNet)"
    )
    parser.add_argument(
        "--no-teacher-forcing",
        action="store_true",
        help="DCRNN: the decoder always reads its own forecasts (default: scheduled sampling, decaying over the run)",
    )
    parser.add_argument(
        "--shared-model",
        action="store_true",
        help="tgcn protocol: one 12-step model scored on its first 3/6/9/12 steps instead of one model per horizon",
    )
    parser.add_argument(
        "--horizons",
        type=int,
        nargs="+",
        default=None,
        help="tgcn protocol: pre_len values to run (default 3 6 9 12 = 15/30/45/60 min)",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder holding <dataset>/ (default $STGRAPH_DATA, else ../shared/data when it exists, else stgraph's data root)",
    )
    parser.add_argument("--out", default=str(RESULTS), help="folder for the Markdown + JSON results")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu", help="torch device to train on: cpu (default), cuda, cuda:1, ...")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="model options, e.g. stgcn.dropout=0.1 graph_wavenet.dropout=0.3 (values parsed as Python literals)",
    )
    return parser.parse_args(argv)


def registry_name(name: str) -> str:
    """The registry name of ``name`` or one of its aliases (``"gwnet"`` -> ``"graph_wavenet"``), so
    that ``--models``, ``--set`` and ``--model-epochs`` agree; ValueError for an unknown model."""
    return models.name_of(models.get(name))


def model_options(pairs: list[str]) -> dict[str, dict]:
    """``["stgcn.dropout=0.1"]`` -> ``{"stgcn": {"dropout": 0.1}}``."""
    import ast

    options: dict[str, dict] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        name, _, option = key.partition(".")
        if not option or not text:
            raise SystemExit(f"--set expects MODEL.KEY=VALUE, got {pair!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        options.setdefault(registry_name(name), {})[option] = value
    return options


def epoch_counts(pairs: list[str]) -> dict[str, int]:
    """``["dcrnn=8"]`` -> ``{"dcrnn": 8}``."""
    return per_model_counts(pairs, "--model-epochs", "EPOCHS")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as stgraph train: large CPU tensors reuse freed memory instead of page-faulting each step
    names = [registry_name(m) for m in (args.models or DEFAULT_MODELS[args.protocol])]
    seeds = list(range(args.seeds))
    tgcn = args.protocol == "tgcn"
    paper = not tgcn and args.recipe == "paper"
    setup = TrainingSetup(
        epochs=args.epochs or (100 if tgcn else 0 if paper else 50),
        batch_size=args.batch_size or (32 if tgcn else 64),
        lr=args.lr,
        eps=args.eps,
        milestones=tuple(args.milestones),
        gamma=args.gamma,
        weight_decay=args.weight_decay if args.weight_decay is not None else (0.0 if tgcn else 1e-4),
        loss="mse" if tgcn else "mae",
        device=args.device,
        teacher_forcing=not args.no_teacher_forcing,
    )
    info = get_dataset(args.dataset)
    root = args.data_root or default_data_root()
    options = model_options(args.set)
    name = f"accuracy-{info.key}-{args.protocol}" + ("-shared" if tgcn and args.shared_model else "")
    name += "" if tgcn else f"-{args.recipe}"
    name += f"-{args.tag}" if args.tag else ""
    if tgcn:
        outcome = run_tgcn_protocol(
            info.key,
            root,
            names,
            seeds,
            setup,
            shared_model=args.shared_model,
            model_options=options,
            horizons=tuple(args.horizons or TGCN_HORIZONS),
        )
        body = [
            f"# Accuracy: T-GCN protocol on {info.name}",
            "",
            f"Published: {TGCN_PAPER}. † = figure not verified against the paper here (benchmarks/published.py).",
            "",
            "## Last epoch",
            "",
            tgcn_markdown(outcome),
            "",
            "## Epoch with the lowest test RMSE (the official code's selection; optimistic)",
            "",
            tgcn_markdown(outcome, selected=True),
        ]
        markdown = "\n".join([*body, "", "## Protocol card", "", card_markdown(outcome["card"])])
    else:
        outcome = run_dcrnn_protocol(
            info.key,
            root,
            names,
            seeds,
            setup,
            recipe=args.recipe,
            model_epochs=epoch_counts(args.model_epochs),
            model_options=options,
        )
        outcome["beats_baselines"] = beats_baselines(outcome)
        markdown = dcrnn_document(outcome, info.name)
    md, js = write_result(name, markdown, outcome, args.out)
    print(markdown)
    print(f"\nwritten: {md} and {js}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
