"""Self-contained forecasters from a run: TorchScript, ONNX and ``torch.export`` artifacts.

:class:`ForecastArtifact` bakes the graph operators, the scaling, the missing readings, the
calendar and the intervals into one module; :func:`export_artifact` writes it in a format;
:func:`check_artifact` compares it with the eager pipeline; :func:`export_run` does all three
for a run directory (``stgraph export``).
"""

from stgraph.export.artifact import ForecastArtifact, seconds_since_epoch
from stgraph.export.check import check_artifact, load_artifact, relative_error
from stgraph.export.formats import FORMATS, UNSUPPORTED, ExportError, export_artifact, working_formats
from stgraph.export.run import PARITY_TOLERANCE, ExportResult, default_out, export_run
from stgraph.export.sidecar import sidecar, sidecar_path, write_sidecar

__all__ = [
    "FORMATS",
    "PARITY_TOLERANCE",
    "UNSUPPORTED",
    "ExportError",
    "ExportResult",
    "ForecastArtifact",
    "check_artifact",
    "default_out",
    "export_artifact",
    "export_run",
    "load_artifact",
    "relative_error",
    "seconds_since_epoch",
    "sidecar",
    "sidecar_path",
    "working_formats",
    "write_sidecar",
]
