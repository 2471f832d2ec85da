"""Export a finished run: load ``model.pt`` (and ``calibration.npz``), write the artifact and its
sidecar, check parity. What ``stgraph export`` does, as a function."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stgraph.data.load import load_series
from stgraph.export.check import check_artifact, synthetic_series
from stgraph.export.formats import FORMATS, ExportError, export_artifact
from stgraph.export.reduce import check_reduction, quantize_onnx, reduced_artifact, tolerance
from stgraph.export.sidecar import sidecar, sidecar_path, write_sidecar
from stgraph.io.outputs import check_output
from stgraph.pipeline.calibration import CALIBRATION_FILE, load_calibration
from stgraph.pipeline.forecast import check_series
from stgraph.pipeline.model_file import load_model_file

__all__ = ["PARITY_TOLERANCE", "ExportResult", "default_out", "export_run"]

#: largest relative error of a float32 artifact against the eager model that the check accepts
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote.

    Attributes:
        artifact: the artifact file.
        sidecar: its JSON description (``<artifact>.json``).
        parity: largest relative error against the eager pipeline (None: not checked).
        windows_source: where the checked windows came from (a readings file or "synthetic readings").
    """

    artifact: Path
    sidecar: Path
    parity: float | None
    windows_source: str | None


def default_out(run_dir: str | os.PathLike[str], format: str, *, dtype: str = "float32", quantize: str | None = None) -> Path:
    """``RUN_DIR/export/model.ts.pt`` (torchscript), ``model.onnx``, ``model.pt2`` (exported);
    a reduced artifact names its precision, ``model.int8.onnx``, ``model.float16.pt2``."""
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    variant = quantize or (dtype if dtype != "float32" else None)
    return Path(run_dir) / "export" / f"model{'.' + variant if variant else ''}{FORMATS[format]}"


def export_run(
    run_dir: str | os.PathLike[str],
    format: str,
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    check: bool = True,
    readings: str | os.PathLike[str] | None = None,
    windows: int = 4,
    dtype: str = "float32",
    quantize: str | None = None,
) -> ExportResult:
    """Export the run in ``run_dir`` as ``format`` to ``out`` (default :func:`default_out`).

    With ``check``, the artifact runs on ``windows`` windows of ``readings`` (the run's sensors;
    synthetic readings around the training statistics when None) against the eager pipeline.
    ``dtype`` (``float16``, ``bfloat16``) and ``quantize`` (``int8``) make a smaller artifact
    (:mod:`stgraph.export.reduce`), checked against the float32 eager model with the bound of
    its precision (:data:`~stgraph.export.reduce.TOLERANCE`).

    Raises:
        OutputError: ``out`` or its sidecar exists (without ``force``), or is ``model.pt`` or
            another file of the run.
        ExportError: unknown format, a model/format pair that does not export, or a parity
            error above :data:`PARITY_TOLERANCE` (the artifact is then removed).
    """
    path = Path(out) if out is not None else default_out(run_dir, format, dtype=dtype, quantize=quantize)
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    check_reduction(format, dtype, quantize)
    model_file = Path(run_dir) / "model.pt"
    protected = {"model.pt": model_file, "calibration.npz": Path(run_dir) / CALIBRATION_FILE}
    if readings is not None:
        protected["--readings"] = Path(readings)
    check_output(path, inputs=protected, force=force)
    check_output(sidecar_path(path), inputs=protected, force=force, flag="--out (its sidecar)")
    run = load_model_file(model_file)
    calibration_file = Path(run_dir) / CALIBRATION_FILE
    calibration = load_calibration(calibration_file) if calibration_file.is_file() else None
    artifact = reduced_artifact(run, calibration, format, dtype=dtype, quantize=quantize)
    name = str(run.state["model"]["name"])
    export_artifact(artifact, format, path, model=name)
    if quantize is not None and format == "onnx":
        try:
            quantize_onnx(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    parity: float | None = None
    source: str | None = None
    if check:
        if readings is None:
            series = synthetic_series(run, steps=max(artifact.lookback * 4, 48))
        else:
            data = run.state["data"]
            features = list(data["features"])
            loaded = load_series(readings, null_value=data["null_value"], features=features if len(features) == 1 else None)
            series = check_series(run, loaded, str(run_dir))
        source = str(series.source)
        parity = check_artifact(run, calibration, path, format, series, count=windows)
        bound = tolerance(dtype, quantize)
        if not parity <= bound:
            path.unlink(missing_ok=True)
            raise ExportError(
                f"{path}: the {format} artifact of {name!r} differs from the eager model by {parity:.3g} "
                f"(relative; at most {bound:g} allowed for {quantize or dtype}); removed"
            )
    contents = sidecar(run, artifact, format, path, parity=parity)
    contents.update(dtype=dtype, quantize=quantize)
    written = write_sidecar(sidecar_path(path), contents)
    return ExportResult(artifact=path, sidecar=written, parity=parity, windows_source=source)
