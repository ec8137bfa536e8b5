"""How a caller other than the terminal takes part in a run (the daemon does): `RunHooks`.

Who is asked to confirm, which stop flag the loop watches, and callbacks told the trace directory
when the run starts and each step as the trace records it. A failing callback is ignored: the
person watching losing their view must not end or alter the run.
Not for: the run itself (`agent.runner`, `agent.loop`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.gate import Confirmer
from agent.trace import TraceWriter

if TYPE_CHECKING:
    from actions.geometry import Screenshot


@dataclass(frozen=True)
class RunHooks:
    confirmer: Confirmer | None = None
    stop: threading.Event | None = None
    on_start: Callable[[Path], None] | None = None
    on_step: Callable[[int, dict[str, Any]], None] | None = None


class ObservedTrace(TraceWriter):
    """A trace writer that tells `on_step` about each step line after it is on disk."""

    def __init__(self, directory: str | Path, png_compress_level: int,
                 on_step: Callable[[int, dict[str, Any]], None]) -> None:
        super().__init__(directory, png_compress_level)
        self._on_step = on_step

    def step(self, index: int, record: dict[str, Any], shot: Screenshot | None) -> None:
        super().step(index, record, shot)
        try:
            self._on_step(index, record)
        except Exception:  # the observer's problem, never the run's
            pass


def trace_writer(directory: Path, png_compress_level: int, hooks: RunHooks) -> TraceWriter:
    if hooks.on_step is None:
        return TraceWriter(directory, png_compress_level)
    return ObservedTrace(directory, png_compress_level, hooks.on_step)


def started(hooks: RunHooks, directory: Path) -> None:
    if hooks.on_start is not None:
        try:
            hooks.on_start(directory)
        except Exception:
            pass
