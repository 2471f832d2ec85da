"""The one-way import rule: a package imports only from packages listed above it (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stgraph"
LIGHTNING = ("lightning", "pytorch_lightning", "lightning.pytorch")
MATPLOTLIB = ("matplotlib", "matplotlib.pyplot")

# Top to bottom: each layer may import itself and the layers above it, never one below.
# report (exports, plots) sits above the pipeline, which writes a run's forecasts and plots;
# anomalies (faulty-sensor checks) score readings with a run's model, above the pipeline;
# the pipeline sits above train, which is the only package importing Lightning.
LAYERS = [
    "errors",
    "ops",
    "io",
    "graph",
    "data",
    "nn",
    "models",
    "metrics",
    "baselines",
    "impute",
    "report",
    "pipeline",
    "anomalies",
    "export",
    "train",
    "serve",
    "cli",
]


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "stgraph" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_packages_import_only_from_layers_above():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0].removesuffix(".py")
        if own not in LAYERS:
            continue
        for line, module in _imports(path):
            target = _layer_of(module)
            if target is not None and LAYERS.index(target) > LAYERS.index(own):
                violations.append(f"stgraph/{relative}:{line} imports {module} (layer '{target}' is below '{own}')")
    assert not violations, "\n".join(violations)


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages - set(LAYERS) == set()


def run_blocked(code: str, blocked: tuple[str, ...] = LIGHTNING) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which importing any of ``blocked`` raises ImportError."""
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "module",
    [
        "stgraph",
        "stgraph.models",
        "stgraph.metrics",
        "stgraph.nn",
        "stgraph.data",
        "stgraph.pipeline",
        "stgraph.report",
        "stgraph.export",
    ],
)
def test_library_imports_without_lightning_or_matplotlib(module):
    result = run_blocked(f"import {module}\n", LIGHTNING + MATPLOTLIB)
    assert result.returncode == 0, result.stderr


def test_blocking_works():
    # the check above would pass vacuously if a blocked import did not fail
    result = run_blocked("import stgraph.train.run\n")
    assert result.returncode != 0 and "lightning" in result.stderr


def test_training_schedules_import_without_lightning():
    result = run_blocked(
        "from stgraph.train.schedules import inverse_sigmoid_decay\nassert inverse_sigmoid_decay(0, 2000) > 0.99\n"
    )
    assert result.returncode == 0, result.stderr


def test_cli_commands_run_without_lightning_or_matplotlib(tmp_path):
    sample = PACKAGE.parent / "datasets" / "sample"
    out = tmp_path / "graph.npz"
    code = "from stgraph.cli.main import main\nmain(['--help'])\n"
    result = run_blocked(code, LIGHTNING + MATPLOTLIB)
    assert result.returncode == 0 and "datasets" in result.stdout, result.stderr
    for argv in (
        ["datasets"],
        ["datasets", "sample"],
        ["graph", "--adjacency", str(sample / "adjacency.npz"), "--out", str(out)],
    ):
        result = run_blocked(f"from stgraph.cli.main import main\nraise SystemExit(main({argv!r}))\n", LIGHTNING + MATPLOTLIB)
        assert result.returncode == 0, f"stgraph {' '.join(argv)}: {result.stderr}"
    assert out.is_file()
