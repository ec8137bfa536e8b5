"""How a caller other than the terminal takes part in a run (the daemon does): `RunHooks`.

Who is asked to confirm, which stop flag the loop watches, and callbacks told the trace directory
when the run starts, each step as the trace records it, the run's safety session (so the caller
can resume a paused run) and each notice the run gives (paused, resumed, ...). `resume_via` and
`stop_via` name the caller's own commands, which the pause notice offers. A failing callback is
ignored: the person watching losing their view must not end or alter the run.
Not for: the run itself (`agent.run.runner`, `agent.run.loop`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.gate import Confirmer
from agent.traces.lines import StepLine
from agent.traces.store import TraceWriter

if TYPE_CHECKING:
    from actions.geometry import Screenshot
    from agent.safety.assemble import SafetySession


@dataclass(frozen=True)
class RunHooks:
    confirmer: Confirmer | None = None
    stop: threading.Event | None = None
    on_start: Callable[[Path], None] | None = None
    on_step: Callable[[StepLine], None] | None = None
    on_safety: Callable[[SafetySession], None] | None = None
    on_notice: Callable[[str, str], None] | None = None  # (event, the line said on stderr)
    resume_via: str = ""  # how a paused run resumes besides its hotkey ("": SIGUSR1 to this process)
    stop_via: str = ""  # how the run stops besides its kill hotkey ("": Ctrl+C here)


class ObservedTrace(TraceWriter):
    """A trace writer that tells `on_step` about each step line after it is on disk."""

    def __init__(self, directory: str | Path, png_compress_level: int,
                 on_step: Callable[[StepLine], None]) -> None:
        super().__init__(directory, png_compress_level)
        self._on_step = on_step

    def step(self, line: StepLine, shot: Screenshot | None) -> StepLine:
        written = super().step(line, shot)
        try:
            self._on_step(written)
        except Exception:  # the observer's problem, never the run's
            pass
        return written


def trace_writer(directory: Path, png_compress_level: int, hooks: RunHooks) -> TraceWriter:
    if hooks.on_step is None:
        return TraceWriter(directory, png_compress_level)
    return ObservedTrace(directory, png_compress_level, hooks.on_step)


def started(hooks: RunHooks, directory: Path) -> None:
    call(hooks.on_start, directory)


def call(callback: Callable[..., None] | None, *args: Any) -> None:
    """Call a hook, if there is one; what goes wrong in it is the caller's problem, not the run's."""
    if callback is not None:
        try:
            callback(*args)
        except Exception:
            pass
