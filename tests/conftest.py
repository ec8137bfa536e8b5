"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint written offline once per session (skips without the model extra)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_qwen import build_tiny_qwen  # pytest puts tests/ (no __init__.py) on sys.path

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))
