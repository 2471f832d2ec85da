"""Write a :class:`~stgraph.export.artifact.ForecastArtifact` as TorchScript, ONNX or a ``torch.export`` program.

``torchscript``  ``torch.jit.trace`` then ``torch.jit.save`` (``.ts.pt``); loads with
                 ``torch.jit.load`` in Python or libtorch (C++), without stgraph.
``onnx``         ``torch.onnx.export(..., dynamo=True)`` (``.onnx``, opset 18): the
                 ``torch.export`` graph translated to ONNX, for ``onnxruntime`` and other runtimes.
                 The older TorchScript-based exporter fails on D2STGNN's ``unfold`` with a dynamic
                 batch, on ``Tensor.mT`` (Graph WaveNet) and on STGCN's negative transpose
                 permutation, and is deprecated; the dynamo exporter handles every registered
                 model, so it is the only one used.
``exported``     ``torch.export.export`` then ``torch.export.save`` (``.pt2``); loads with
                 ``torch.export.load`` (and AOTInductor can compile it).

Every format has a dynamic batch axis (traced at batch 2, any batch runs). The graph operators
become constants of the artifact: :func:`stgraph.ops.export_mode` switches propagation to plain
tensor ops, and one eager call under it first builds the operators' dense forms outside any
tracer. Loading a TorchScript or ``.pt2`` artifact runs the code it holds: load only artifacts
you made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from stgraph.errors import RunError
from stgraph.export.artifact import ForecastArtifact
from stgraph.io.atomic import atomic_path
from stgraph.ops import export_mode

__all__ = ["FORMATS", "UNSUPPORTED", "ExportError", "export_artifact", "quiet_logging", "working_formats"]

#: format -> file extension of the artifact
FORMATS: dict[str, str] = {"torchscript": ".ts.pt", "onnx": ".onnx", "exported": ".pt2"}

#: (model, format) -> why that model cannot be written in that format; empty: every registered
#: model exports in every format (tests/export checks each pair)
UNSUPPORTED: dict[tuple[str, str], str] = {}

_TRACE_BATCH = 2


class ExportError(RunError):
    """A model that cannot be written in a format (the message says which and why)."""


def working_formats(model: str) -> list[str]:
    """The formats ``model`` exports in (all of :data:`FORMATS` but those in :data:`UNSUPPORTED`)."""
    return [name for name in FORMATS if (model, name) not in UNSUPPORTED]


def export_artifact(artifact: ForecastArtifact, format: str, path: str | os.PathLike[str], *, model: str = "model") -> Path:
    """Write ``artifact`` as ``format`` to ``path`` atomically (a temp file, then a rename).

    Raises:
        ExportError: unknown format, or one ``model`` cannot use (one line: which format, why,
            and the formats that work).
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    others = ", ".join(name for name in working_formats(model) if name != format) or "none"
    if (model, format) in UNSUPPORTED:
        raise ExportError(
            f"model {model!r} cannot be exported as {format}: {UNSUPPORTED[model, format]} (formats that work: {others})"
        )
    artifact = artifact.eval()
    example = artifact.example_inputs(_TRACE_BATCH)
    path = Path(path)
    with torch.no_grad(), export_mode(), warnings.catch_warnings(), quiet_logging():
        warnings.simplefilter("ignore")  # tracer and exporter notes about constants: nothing a user can act on
        artifact(*example)  # builds the operators' dense forms outside the tracer
        try:
            with atomic_path(path, suffix=FORMATS[format]) as tmp:
                _WRITERS[format](artifact, example, tmp)
        except (RuntimeError, TypeError, ValueError, NotImplementedError, AssertionError) as error:
            raise ExportError(
                f"model {model!r} cannot be exported as {format}: {_first_line(error)} (formats that work: {others})"
            ) from error
    return path


@contextlib.contextmanager
def quiet_logging() -> Iterator[None]:
    """Drop log records below ERROR inside the block: the ONNX exporter and quantiser log every
    rewrite at INFO, which the ``stgraph`` command would print."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def _dynamic_shapes() -> dict[str, dict[int, torch.export.Dim]]:
    batch = torch.export.Dim("batch", min=1)
    return {"readings": {0: batch}, "timestamps": {0: batch}}


def _torchscript(artifact: ForecastArtifact, example: tuple[Tensor, Tensor], path: Path) -> None:
    trace: Callable[..., torch.jit.ScriptModule] = torch.jit.trace  # unannotated in torch
    traced = trace(artifact, example, check_trace=False)
    torch.jit.save(traced, str(path))


def _onnx(artifact: ForecastArtifact, example: tuple[Tensor, Tensor], path: Path) -> None:
    torch.onnx.export(
        artifact,
        example,
        str(path),
        input_names=["readings", "timestamps"],
        output_names=artifact.output_names,
        dynamic_shapes=_dynamic_shapes(),
        opset_version=18,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def _exported(artifact: ForecastArtifact, example: tuple[Tensor, Tensor], path: Path) -> None:
    program = torch.export.export(artifact, example, dynamic_shapes=_dynamic_shapes(), strict=False)
    torch.export.save(program, str(path))


_WRITERS: dict[str, Callable[[ForecastArtifact, tuple[Tensor, Tensor], Path], None]] = {
    "torchscript": _torchscript,
    "onnx": _onnx,
    "exported": _exported,
}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
