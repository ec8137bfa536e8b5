"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint written offline once per session (skips without the model extra)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_qwen import build_tiny_qwen  # pytest puts tests/ (no __init__.py) on sys.path

    # One intra-op thread: a tiny model gains nothing from more, and on a busy 2-core machine OpenMP
    # threads spin against each other (measured 2-5x slower per token with 2 threads under load).
    torch.set_num_threads(1)
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))


@pytest.fixture(autouse=True, scope="session")
def _no_real_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`deskpilot replay`/`run` hand tasks to a daemon answering on the default socket: point the default
    at an empty private directory, so a developer's own daemon never gets (and runs) a test's task."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("xdg-runtime")))
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        yield
