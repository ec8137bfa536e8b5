"""The executor guard: a `Computer` wrapper that every input call of a run goes through.

Before each input call it checks the run's stop flag (raising `Cancelled`) and the takeover pause
(raising `Interrupted`); long text is typed in short chunks with a check between them, so a kill
or a takeover stops typing within a chunk's time, not the whole text's. Each call is registered
with the `InputLedger`, so the takeover monitor knows the resulting events are the agent's own.
Not for: reviewing actions (the gate) or mapping coordinates (`actions.dispatch`).
"""

from __future__ import annotations

from collections.abc import Callable

from actions.computer import Button, Computer, ScreenChanges, WatchesScreen
from actions.errors import CANCELLED, DeskpilotError
from actions.geometry import Point, Screenshot
from agent.safety.control import Control
from agent.safety.takeover import InputLedger

TYPE_CHUNK = 8  # characters per executor call (x11text needs ~25 ms a character for non-ASCII)


class Cancelled(DeskpilotError, RuntimeError):
    """The run was stopped while an action was being carried out."""

    exit_code = CANCELLED


class Interrupted(RuntimeError):
    """A person took over while an action was being carried out."""


class GuardedComputer:
    def __init__(self, inner: Computer, control: Control, ledger: InputLedger | None = None) -> None:
        self.inner, self.control, self.ledger = inner, control, ledger or InputLedger()

    def screenshot(self) -> Screenshot:
        return self.inner.screenshot()

    def screen_changes(self) -> ScreenChanges | None:  # drawing notices are no input: nothing to guard
        return self.inner.screen_changes() if isinstance(self.inner, WatchesScreen) else None

    def move(self, to: Point) -> None:
        self._do(lambda: self.inner.move(to), to)

    def click(self, at: Point | None, button: Button, count: int) -> None:
        self._do(lambda: self.inner.click(at, button, count), at)

    def drag(self, start: Point | None, end: Point) -> None:
        self._do(lambda: self.inner.drag(start, end), end)

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        self._do(lambda: self.inner.scroll(at, dx, dy), at)

    def type_text(self, text: str) -> None:
        for start in range(0, len(text), TYPE_CHUNK):
            chunk = text[start:start + TYPE_CHUNK]
            self._do(lambda chunk=chunk: self.inner.type_text(chunk), None, f"after {start} of {len(text)} characters")

    def key(self, keys: tuple[str, ...]) -> None:
        self._do(lambda: self.inner.key(keys), None)

    def close(self) -> None:
        self.inner.close()

    def _do(self, call: Callable[[], None], pointer_after: Point | None, where: str = "") -> None:
        suffix = f" ({where})" if where else ""
        if self.control.stop.is_set():
            raise Cancelled(f"cancelled during the action{suffix}")
        if self.control.pause.paused:
            raise Interrupted(f"a person took over during the action{suffix}")
        with self.ledger.acting(pointer_after):
            call()
