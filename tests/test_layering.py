"""The one-way import rule: a package imports only from packages listed above it (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stgraph"

# Top to bottom: each layer may import itself and the layers above it, never one below.
# report (plots, exports) sits above train: the trainer writes them at the end of a run.
LAYERS = ["errors", "ops", "io", "graph", "data", "nn", "models", "metrics", "baselines", "report", "train", "cli"]


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


@pytest.mark.parametrize("module", ["stgraph", "stgraph.models", "stgraph.metrics", "stgraph.nn", "stgraph.data"])
def test_library_imports_without_lightning(module):
    # Block lightning: importing it raises, so any import path reaching it fails loudly.
    code = (
        "import sys\n"
        "for name in ('lightning', 'pytorch_lightning', 'lightning.pytorch'):\n"
        "    sys.modules[name] = None\n"
        f"import {module}\n"
        "assert not any(m.startswith(('lightning', 'pytorch_lightning')) and sys.modules[m] is not None for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
