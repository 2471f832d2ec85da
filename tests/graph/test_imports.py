"""stgraph/graph has no import circle, and the SensorGraph type knows no builder.

Every import of a ``stgraph.graph`` module counts: module-level, inside functions and under
``TYPE_CHECKING``, because a lazy import that closes a circle is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from stgraph.graph import SensorGraph

GRAPH = Path(__file__).resolve().parents[2] / "stgraph" / "graph"
PACKAGE = "stgraph.graph"
MODULES = {path.stem: path for path in GRAPH.glob("*.py")}  # "__init__" is the package itself
BUILDERS = {"build", "loaders", "storage", "readers"}


def _name(module: str) -> str | None:
    """``"build"`` for ``stgraph.graph.build``, ``"__init__"`` for ``stgraph.graph``, else None."""
    if module == PACKAGE:
        return "__init__"
    prefix = PACKAGE + "."
    if module.startswith(prefix):
        return module[len(prefix) :].split(".")[0]
    return None


def _imports(stem: str) -> set[str]:
    """The stgraph/graph modules that module ``stem`` imports anywhere in its file."""
    tree = ast.parse(MODULES[stem].read_text(), filename=str(MODULES[stem]))
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_name(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = PACKAGE + (f".{node.module}" if node.module else "") if node.level else node.module
            target = _name(module or "")
            found.add(target)
            if target == "__init__":  # from stgraph.graph import build
                found.update(alias.name for alias in node.names if alias.name in MODULES)
    return {name for name in found if name is not None and name != stem}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle ``[a, b, ..., a]`` in ``edges``, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(edges.get(node, ())):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_cycle_finder_on_hand_made_graphs():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_graph_modules_import_no_circle():
    edges = {stem: _imports(stem) for stem in MODULES}
    circle = _cycle(edges)
    assert circle is None, "import circle in stgraph/graph: " + " -> ".join(circle)


def test_sensor_graph_imports_no_builder():
    builders = _imports("sensor_graph") & (BUILDERS | {"__init__"})
    assert not builders, f"sensor_graph.py imports {sorted(builders)}"


def test_sensor_graph_has_no_builder_methods():
    # the module functions stgraph.graph.from_matrix, load_graph, ... are the one way to build
    builders = [name for name in vars(SensorGraph) if name.startswith("from_") or name in ("load", "save")]
    assert not builders, f"SensorGraph has builder methods {builders}"
