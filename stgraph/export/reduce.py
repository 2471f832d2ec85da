"""Smaller and faster artifacts: a model in float16 / bfloat16, or its linear layers in int8.

``dtype``: the model's weights, and what flows between its layers (graph operators included,
:func:`stgraph.ops.propagate` casts them to the features' dtype), are ``float16`` or
``bfloat16``; the artifact's inputs and outputs stay float32 in original units, and the scaling
and calendar stay float32 around the model (:class:`~stgraph.export.artifact.ForecastArtifact`).

``float16`` is refused for ``onnx`` with an ``nn.LSTM`` inside (FC-LSTM): onnxruntime's CPU
provider crashes (segmentation fault) loading such a file. ``bfloat16`` is refused for ``onnx``: the file would be valid, but ``onnxruntime``'s CPU
provider has no bfloat16 ``MatMul`` to run it.

``quantize="int8"``: dynamic quantisation of every ``nn.Linear`` (``torch.ao.quantization.
quantize_dynamic``: int8 weights, activations quantised per batch at run time). It makes
TorchScript-only packed operators, so it is offered for ``torchscript``; for ``onnx`` the float32
ONNX file is quantised instead by ``onnxruntime.quantization.quantize_dynamic`` (int8 weights of
``MatMul`` / ``Gemm``, the same idea in the ONNX runtime's own operators); ``torch.export``
has no dynamic int8 form of an eager module (the PT2E flow needs a calibrated, static recipe),
so ``exported`` refuses it, naming the formats that work.

The parity check compares a reduced artifact with the float32 eager model and allows the
rounding its precision implies (:data:`TOLERANCE`); the change in test MAE is what
``python -m benchmarks.export`` measures.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from stgraph.export.artifact import ForecastArtifact
from stgraph.export.formats import ExportError, quiet_logging
from stgraph.pipeline.calibration import Calibration
from stgraph.pipeline.model_file import RunModel

__all__ = [
    "DTYPES",
    "QUANTIZE",
    "TOLERANCE",
    "check_reduction",
    "model_dtype",
    "quantize_linear",
    "quantize_onnx",
    "reduced_artifact",
    "tolerance",
]

#: --dtype values and their torch dtypes
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: --quantize values -> the formats that offer them
QUANTIZE: dict[str, tuple[str, ...]] = {"int8": ("torchscript", "onnx")}
#: largest relative error of the parity check for each precision (float32 rounding, 11 and 8
#: significand bits, int8 weights; measured on the sample with random weights: at most about a
#: quarter of these)
TOLERANCE: dict[str, float] = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2, "int8": 5e-2}


def check_reduction(format: str, dtype: str = "float32", quantize: str | None = None) -> None:
    """A one-line :class:`ExportError` unless ``format`` offers this ``dtype`` and ``quantize``."""
    if dtype not in DTYPES:
        raise ExportError(f"unknown --dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if dtype == "bfloat16" and format == "onnx":
        raise ExportError(
            "--dtype bfloat16 is not available for onnx: onnxruntime's CPU provider has no bfloat16 MatMul "
            "(formats that offer it: torchscript, exported; or --dtype float16)"
        )
    if quantize is None:
        return
    if quantize not in QUANTIZE:
        raise ExportError(f"unknown --quantize {quantize!r}; expected one of {', '.join(QUANTIZE)}")
    if dtype != "float32":
        raise ExportError(f"--quantize {quantize} quantises float32 weights; it does not combine with --dtype {dtype}")
    if format not in QUANTIZE[quantize]:
        raise ExportError(
            f"--quantize {quantize} is not available for {format}: torch.export has no dynamic int8 quantisation "
            f"of an eager model (formats that offer it: {', '.join(QUANTIZE[quantize])})"
        )


def tolerance(dtype: str = "float32", quantize: str | None = None) -> float:
    """The parity check's bound for this precision."""
    return TOLERANCE[quantize or dtype]


def model_dtype(model: nn.Module, dtype: str) -> nn.Module:
    """A copy of ``model`` with its floating-point weights and buffers in ``dtype``."""
    return copy.deepcopy(model).to(DTYPES[dtype])


def reduced_artifact(
    run: RunModel, calibration: Calibration | None, format: str, *, dtype: str = "float32", quantize: str | None = None
) -> ForecastArtifact:
    """The artifact to write for ``format`` at this precision (checked by :func:`check_reduction`).

    For ``onnx`` with ``quantize`` it is the float32 artifact: the ONNX file is quantised after
    export (:func:`quantize_onnx`).
    """
    check_reduction(format, dtype, quantize)
    if format == "onnx" and dtype == "float16" and any(isinstance(m, nn.LSTM) for m in run.model.modules()):
        raise ExportError(
            f"--dtype float16 is not available for onnx with model {run.state['model']['name']!r}: onnxruntime's CPU provider "
            "crashes loading a float16 LSTM (formats that offer it: torchscript, exported; or float32 onnx)"
        )
    artifact = ForecastArtifact(run, calibration)
    if quantize is not None and format != "onnx":
        return ForecastArtifact(run, calibration, model=quantize_linear(artifact))
    if dtype != "float32":
        return ForecastArtifact(run, calibration, model=model_dtype(run.model, dtype))
    return artifact


def quantize_linear(artifact: ForecastArtifact) -> nn.Module:
    """The artifact's model with its ``nn.Linear`` layers dynamically quantised to int8 (a copy).

    Only layers that are *called* are quantised: a few layers keep an ``nn.Linear`` as the store
    of a weight they reshape themselves (``ChebConv``, ``DiffusionConv``, the fused GRU's
    readout read ``linear.weight``), which a quantised layer no longer has; one example forward
    pass with hooks tells them apart.
    """
    called: set[str] = set()
    names = {module: name for name, module in artifact.model.named_modules() if isinstance(module, nn.Linear)}
    hooks = [module.register_forward_hook(lambda module, inputs, output: called.add(names[module])) for module in names]
    try:
        with torch.no_grad():
            artifact(*artifact.example_inputs(1))
    finally:
        for hook in hooks:
            hook.remove()
    quantize: Callable[..., nn.Module] = torch.ao.quantization.quantize_dynamic  # unannotated in torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notes that quantised tensors move to torchao
        return quantize(artifact.model, called, dtype=torch.qint8)


def quantize_onnx(path: str | os.PathLike[str]) -> None:
    """Quantise the weights of the ONNX file at ``path`` to int8 in place (``onnxruntime``)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ExportError("--quantize int8 for onnx needs onnxruntime: pip install 'stgraph-traffic[export]'") from None
    path = Path(path)
    source = path.with_name(path.name + ".float32")
    os.replace(path, source)
    try:
        with quiet_logging():
            quantize_dynamic(
                str(source),
                str(path),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Gemm"],  # the linear layers; other ops failed on STGCN
                extra_options={"MatMulConstBOnly": True},  # a MatMul with the graph operator keeps float32
            )
    finally:
        source.unlink(missing_ok=True)
