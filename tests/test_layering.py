"""Imports point one way: actions ← policies ← agent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"actions": {"policies", "agent"}, "policies": {"agent"}, "agent": set()}


def _imports(path: Path) -> set[str]:
    return _top_level_imports(path.read_text(encoding="utf-8"), path.relative_to(ROOT).parent.parts)


def _top_level_imports(source: str, package: tuple[str, ...]) -> set[str]:
    """The top-level packages `source` (a module of `package`) imports, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - (node.level - 1)]) if node.level else []
            if node.level > len(package):  # past the top: Python refuses it at import time anyway
                base = []
            parts = base + (node.module.split(".") if node.module else [])
            # `from .. import agent` (base above the packages, no module): each name is a package
            names.update([parts[0]] if parts else [alias.name for alias in node.names])
    return names


@pytest.mark.parametrize(("source", "package", "expected"), [
    ("from ..agent import x", ("actions",), {"agent"}),
    ("from ..agent.config import Settings", ("policies", "qwen"), {"policies"}),
    ("from ...agent.config import Settings", ("policies", "qwen"), {"agent"}),
    ("from .. import agent, policies", ("actions",), {"agent", "policies"}),
    ("from . import schema", ("actions",), {"actions"}),
    ("from .schema import Key", ("actions",), {"actions"}),
    ("from agent.config import Settings\nimport policies.base", ("actions",), {"agent", "policies"}),
])
def test_relative_imports_are_resolved(source: str, package: tuple[str, ...], expected: set[str]) -> None:
    assert _top_level_imports(source, package) == expected


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = {
        f"{path.relative_to(ROOT)} imports {bad}"
        for path in (ROOT / package).rglob("*.py")
        for bad in _imports(path) & FORBIDDEN[package]
    }
    assert not offenders, sorted(offenders)


def test_no_eval_or_exec_anywhere() -> None:
    for package in FORBIDDEN:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id not in {"eval", "exec"}, f"{path}: {node.func.id}()"


def _modules() -> dict[str, Path]:
    out = {}
    for package in FORBIDDEN:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _runtime_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports when it runs (function-level imports too; `if TYPE_CHECKING:`
    blocks are not run, so they are not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for node in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_circles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    modules = _modules()
    graph = {name: _runtime_imports(path, modules) - {name} for name, path in modules.items()}
    assert not _circles(graph), _circles(graph)
