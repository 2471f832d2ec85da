"""The sidecar ``<artifact>.json``: what a consumer of an artifact needs to feed it and read it.

Keys: ``format``, ``artifact`` (file name) and its ``sha256``, ``stgraph_version``, ``model``
(registry name), ``sensor_ids`` (the node order of inputs and outputs), ``lookback``,
``horizon``, ``interval``, ``features``, ``targets``, ``covariates``, ``null_value``, ``missing_inputs``,
``units``, ``inputs`` and ``outputs`` (name, shape with ``"batch"`` for the dynamic axis,
dtype), ``dtype`` and ``quantize`` (the model's precision inside: ``float32`` and null unless
reduced), ``quantiles`` (the levels, or null), ``coverage`` (nominal coverage of
``lower``/``upper``, or null), ``interval_method`` (``split``, ``cqr`` or null) and
``parity`` (the check's maximum relative error against the eager model, or null when skipped).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import stgraph
from stgraph.export.artifact import ForecastArtifact
from stgraph.io.atomic import atomic_write
from stgraph.pipeline.model_file import RunModel

__all__ = ["SIDECAR_FORMAT", "sha256", "sidecar", "sidecar_path", "write_sidecar"]

SIDECAR_FORMAT = "stgraph.export/1"


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    path = Path(artifact)
    return path.with_name(path.name + ".json")


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar(
    run: RunModel, artifact: ForecastArtifact, format: str, path: str | os.PathLike[str], *, parity: float | None = None
) -> dict[str, Any]:
    """The sidecar's contents for the artifact written to ``path``."""
    data = run.state["data"]
    sensors, channels = artifact.sensors, len(artifact.targets)
    point = {"shape": ["batch", artifact.horizon, sensors, channels], "dtype": "float32"}
    outputs = [{"name": "forecast", **point}]
    if artifact.coverage is not None:
        outputs += [{"name": "lower", **point}, {"name": "upper", **point}]
    if artifact.quantile_levels is not None:
        shape = [*point["shape"], len(artifact.quantile_levels)]
        outputs.append({"name": "quantiles", "shape": shape, "dtype": "float32"})
    method = None if artifact.coverage is None else ("split" if artifact.bounds is None else "cqr")
    return {
        "format": format,
        "sidecar": SIDECAR_FORMAT,
        "artifact": Path(path).name,
        "sha256": sha256(path),
        "stgraph_version": stgraph.__version__,
        "model": run.state["model"]["name"],
        "sensor_ids": run.sensor_ids,
        "lookback": artifact.lookback,
        "horizon": artifact.horizon,
        "interval": str(data["interval"]),
        "features": artifact.features,
        "targets": artifact.targets,
        "covariates": artifact.covariates,
        "null_value": artifact.null_value,
        "missing_inputs": artifact.missing_inputs,
        "units": data.get("units", ""),
        "inputs": [
            {"name": "readings", "shape": ["batch", artifact.lookback, sensors, len(artifact.features)], "dtype": "float32"},
            {"name": "timestamps", "shape": ["batch", artifact.lookback], "dtype": "int64"},
        ],
        "outputs": outputs,
        "quantiles": None if artifact.quantile_levels is None else list(artifact.quantile_levels),
        "coverage": artifact.coverage,
        "interval_method": method,
        "interval_scale": None if artifact.coverage is None else artifact.scale_kind,
        "parity": parity,
    }


def write_sidecar(path: str | os.PathLike[str], contents: dict[str, Any]) -> Path:
    """Write ``contents`` as indented JSON atomically; returns the path."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(contents, handle, indent=2)
        handle.write("\n")
    return Path(path)
