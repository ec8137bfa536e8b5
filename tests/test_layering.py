"""Imports point one way: actions ← policies ← agent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"actions": {"policies", "agent"}, "policies": {"agent"}, "agent": set()}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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
