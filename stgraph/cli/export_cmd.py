"""``stgraph export RUN_DIR --format torchscript|onnx|exported [--out FILE]``: a self-contained forecaster.

Writes the run's model with its graph, scaling, calendar covariates and (where the run has
``calibration.npz``) intervals inside, as one file that takes readings in original units
(NaN = missing) and their timestamps and returns forecasts in original units, plus a sidecar
``<FILE>.json`` (sensor ids, lookback, horizon, interval, features, inputs and outputs, the
stgraph version, the file's sha256). The default ``--out`` is ``RUN_DIR/export/model.ts.pt``,
``model.onnx`` or ``model.pt2`` (``model.int8.onnx``, ``model.float16.pt2`` for a reduced
one); nothing is replaced without ``--force`` and ``model.pt`` never.

By default the artifact is then loaded in its runtime and compared with the eager model on a few
windows (of ``--readings``, or synthetic ones) and the largest relative error is printed.
Loading a TorchScript or ``.pt2`` artifact runs the code it holds: load only artifacts you made.
"""

from __future__ import annotations

import argparse
import sys

from stgraph.cli.arguments import positive_int

__all__ = ["add_parser", "run"]

_FORMATS = ("torchscript", "onnx", "exported")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a run's model as a self-contained TorchScript, ONNX or torch.export file",
        description="Export a finished run as one file with graph, scaling and calendar inside, and a JSON sidecar.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt)")
    parser.add_argument("--format", required=True, metavar="FORMAT", help=f"one of {', '.join(_FORMATS)}")
    parser.add_argument(
        "--out", metavar="FILE", help="artifact to write (default RUN_DIR/export/model[.<dtype>|.int8].<ext>); sidecar FILE.json"
    )
    parser.add_argument("--force", action="store_true", help="replace --out and its sidecar if they exist")
    parser.add_argument(
        "--check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compare the artifact with the eager model and print the largest relative error (default on)",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        metavar="DTYPE",
        help="the model's precision inside: float32 (default), float16, bfloat16 (inputs and outputs stay float32)",
    )
    parser.add_argument("--quantize", metavar="KIND", help="int8: dynamic quantisation of the linear layers (torchscript, onnx)")
    parser.add_argument("--readings", metavar="FILE", help="readings of the run's sensors for the check (default: synthetic)")
    parser.add_argument("--windows", type=positive_int, default=4, metavar="N", help="windows the check runs (default 4)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.format not in _FORMATS:
        print(f"stgraph export: error: --format {args.format!r}: expected one of {', '.join(_FORMATS)}", file=sys.stderr)
        return 2
    from stgraph.export.reduce import tolerance
    from stgraph.export.run import export_run

    result = export_run(
        args.run_dir,
        args.format,
        args.out,
        force=args.force,
        check=args.check,
        readings=args.readings,
        windows=args.windows,
        dtype=args.dtype,
        quantize=args.quantize,
    )
    print(f"{result.artifact}: {args.format} artifact; sidecar {result.sidecar}", file=sys.stdout)
    if result.parity is not None:
        print(
            f"parity: largest relative error {result.parity:.2e} against the eager model "
            f"(at most {tolerance(args.dtype, args.quantize):g}; windows of {result.windows_source})",
            file=sys.stdout,
        )
    return 0
