"""The house drawn from the imports: no circles, and a request's path runs downward through the layers.

Every `import` in `forecast/` and `training/` counts, at the top of a module or inside a function, and under
`TYPE_CHECKING` too: a circle there is a circle in the design.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("forecast", "training")

# Higher layers may import lower ones only (modules not listed are not ranked).
LAYERS = {
    "forecast.api": 7,
    "forecast.cli": 7,
    "forecast.serve": 7,
    "forecast.serving": 6,
    "forecast.scenarios": 5,
    "forecast.plans": 4,
    "forecast.hierarchy": 4,
    "forecast.plan_tables": 4,
    "forecast.staffing": 3,
    "forecast.beds": 2,
    "forecast.groups": 1,
    "forecast.periods": 1,
    "forecast.quantiles": 1,
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (a package's import of its own `__init__` left out)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base]).strip(".")
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _layer(module: str) -> int | None:
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    return None


def test_the_imports_have_no_circle():
    assert _cycle(import_graph()) is None, " -> ".join(_cycle(import_graph()) or [])


def test_a_circle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_imports_point_down_the_layers(module):
    mine = _layer(module)
    for target in import_graph()[module]:
        theirs = _layer(target)
        if mine is not None and theirs is not None and _layer(module) != _layer(target):
            assert mine > theirs, f"{module} (layer {mine}) imports {target} (layer {theirs})"


def test_the_core_imports_no_edge():
    for module, targets in import_graph().items():
        if module.startswith("forecast.") and not module.startswith(("forecast.api", "forecast.cli", "forecast.serve")):
            assert not any(t.startswith("forecast.api") for t in targets), module
        if module.startswith("forecast"):
            assert not any(t.startswith("training") for t in targets), module
    for path in (ROOT / "forecast" / "serving").rglob("*.py"):
        text = path.read_text()
        assert "import fastapi" not in text, path
        assert "from fastapi" not in text and "from starlette" not in text, path
