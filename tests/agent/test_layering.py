"""Imports point one way: actions ← policies ← agent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
