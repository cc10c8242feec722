"""No import cycle anywhere in the project: every module's imports, function-level ones
included (only `if TYPE_CHECKING:` blocks are left out: they never run), form a graph without
cycles. Also checked: a cycle added to a copy of the graph is found."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "api", "bench", "standins")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    modules = {"function_app": ROOT / "function_app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "node_modules" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name `tree` imports when it runs (at any depth, relative ones resolved)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), module,
                                    is_package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_package else parent[:-1]
                parent = parent[:len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from package import module` needs the module (its package is imported first
            # anyway, as for any submodule); `from module import name`, the module.
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(node, module, is_package)


Graph = dict[str, set[str]]


def import_graph() -> Graph:
    """Each project module and the project modules it imports."""
    modules = _project_modules()
    graph: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {target for target in targets if target in modules and target != name
                       and not (name.startswith(f"{target}.") and any(
                           t.startswith(f"{target}.") for t in targets if t in modules))}
    return graph


def cycle(graph: Graph) -> list[str]:
    """An import cycle of the graph (its modules, the first repeated at the end), or []."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as found:
        return list(found.args[1])
    return []


def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph()
    assert sum(len(targets) for targets in graph.values()) > 100  # the imports are seen
    assert cycle(graph) == []


def test_a_cycle_added_is_found() -> None:
    graph = import_graph()
    assert "api.openapi" in graph["api.routes"]
    graph["api.openapi"].add("api.routes")  # what the route table once did, lazily
    assert set(cycle(graph)) == {"api.openapi", "api.routes"}


def test_function_level_imports_count() -> None:
    tree = ast.parse("def f():\n    from api import app\n")
    assert "api.app" in set(_imports(tree, "api.routes", False))
