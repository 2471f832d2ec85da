"""The machine and protocol card every benchmark result carries, and writing it as Markdown + JSON."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stgraph.io.atomic import atomic_write

__all__ = [
    "RESULTS",
    "library_versions",
    "machine",
    "mean_std",
    "present_datasets",
    "refuse_existing",
    "write_result",
    "write_runs",
]

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model and cores, torch threads, GPU (if CUDA is available), OS, date."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "os": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def library_versions() -> dict[str, str]:
    """Python, torch, numpy and the checkout's git commit (``unknown`` outside a checkout)."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__, "stgraph_commit": commit}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def write_result(name: str, markdown: str, payload: dict[str, Any], folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``<folder>/<name>.md`` and ``<name>.json`` atomically; returns both paths."""
    folder = Path(folder) if folder is not None else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / f"{name}.md", folder / f"{name}.json"
    with atomic_write(md) as handle:
        handle.write(markdown.rstrip() + "\n")
    with atomic_write(js) as handle:
        json.dump(payload, handle, indent=2, default=_json_default)
        handle.write("\n")
    return md, js


def refuse_existing(folder: Path, name: str, force: bool) -> bool:
    """True, said on stderr, when ``<folder>/<name>.md`` exists and ``force`` is not given."""
    target = Path(folder) / f"{name}.md"
    if target.exists() and not force:
        print(f"{target} exists; pass --force to replace it", file=sys.stderr)
        return True
    return False


def present_datasets(names: Iterable[str], root: Path) -> list[str]:
    """``names`` without ``los-loop`` when its files are not under the data ``root`` (said on stdout)."""
    kept = []
    for name in names:
        if name == "los-loop" and not (Path(root) / "los-loop" / "los_speed.csv").is_file():
            print(f"skipped los-loop: its files are not under {root}")
            continue
        kept.append(name)
    return kept


def write_runs(
    name: str,
    runs: list[dict[str, Any]],
    render: Callable[[list[dict[str, Any]], dict[str, Any], str], str],
    info: dict[str, Any],
    root: Path,
    command: str,
    folder: Path | None = None,
) -> int:
    """A benchmark's last step: ``render(runs, card, command)`` and the runs with their card
    (``info`` from :func:`machine`, the library versions, the data ``root``) written by
    :func:`write_result`; the exit status, 1 when no run finished.
    """
    if not runs:
        print("no run finished; nothing written")
        return 1
    card = {"machine": info, "versions": library_versions(), "data_root": str(root)}
    md, js = write_result(name, render(runs, card, command.strip()), {**card, "runs": runs}, folder=folder)
    print(f"wrote {md} and {js}")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
