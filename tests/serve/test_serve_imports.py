"""The service's imports: ``stgraph serve`` needs FastAPI and uvicorn, nothing else does, and the
service never imports Lightning (STYLE.md, tests/test_layering.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "stgraph"
WEB = ("fastapi", "uvicorn", "starlette", "multipart", "httpx", "pydantic")


def _run_blocked(code: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_only_stgraph_serve_imports_the_web_packages_at_module_level():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "serve":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:  # module level only: the command imports the service when it runs
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            found += [f"{path.relative_to(PACKAGE)}: {name}" for name in names if name.split(".")[0] in WEB]
            found += [f"{path.relative_to(PACKAGE)}: {name}" for name in names if name.startswith("stgraph.serve")]
    assert not found


def test_stgraph_and_its_command_work_without_the_web_packages():
    result = _run_blocked("import stgraph, stgraph.serve\nfrom stgraph.cli.main import main\nmain(['serve', '--help'])\n", WEB)
    assert result.returncode == 0 and "--batch-window-ms" in result.stdout, result.stderr
    result = _run_blocked("from stgraph.cli.main import main\nraise SystemExit(main(['serve', 'runs/x']))\n", WEB)
    assert result.returncode == 1 and "pip install 'stgraph-traffic[serve]'" in result.stderr, result.stderr


def test_the_service_imports_without_lightning_or_matplotlib():
    blocked = ("lightning", "pytorch_lightning", "lightning.pytorch", "matplotlib", "matplotlib.pyplot")
    result = _run_blocked("import stgraph.serve.app, stgraph.serve.server\n", blocked)
    assert result.returncode == 0, result.stderr
