"""The daemon tests' `base`: a short private directory for sockets (a Unix socket path has ~100 bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import short_dir


@pytest.fixture
def base() -> Iterator[Path]:
    with short_dir() as path:
        yield path
