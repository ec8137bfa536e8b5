"""The wlroots `Computer`: screencopy capture plus virtual pointer and keyboard, on one connection.

`monitor` numbers outputs as mss numbers monitors (1 = the first, ordered by their place in the
layout); points arrive as logical layout coordinates (dispatch maps them with the screenshot's
monitor and scale). Every call holds one lock: pywayland objects must not be used from two threads.
Not for: choosing a backend (actions.backends) or safety (the gate and the guard wrap this).
"""

from __future__ import annotations

import threading

from actions.computer import Button
from actions.geometry import Point, Screenshot, drag_path
from actions.wayland.capture import capture_for
from actions.wayland.client import WLROOTS_GLOBALS, WaylandUnavailable, connect
from actions.wayland.inputs import VirtualKeyboard, VirtualPointer


class WlrootsComputer:
    backend = "wlroots"

    def __init__(self, monitor: int = 1, display: str | None = None) -> None:
        self._lock = threading.Lock()
        self._conn = connect(display)
        try:
            missing = [g for g in WLROOTS_GLOBALS if g not in self._conn.globals]
            if missing:
                raise WaylandUnavailable(f"this compositor does not offer {', '.join(missing)}")
            self._capture = capture_for(self._conn, monitor)
            self._pointer = VirtualPointer(self._conn)
            self._keyboard = VirtualKeyboard(self._conn)
            self._conn.display.roundtrip()
        except Exception:
            self._conn.close()
            raise
        self._at: Point | None = None

    def screenshot(self) -> Screenshot:
        with self._lock:
            return self._capture.grab()

    def move(self, to: Point) -> None:
        with self._lock:
            self._move(to)

    def click(self, at: Point | None, button: Button, count: int) -> None:
        with self._lock:
            if at is not None:
                self._move(at)
            for i in range(count):
                if i:
                    self._conn.display.roundtrip()
                self._pointer.button(button, True)
                self._pointer.button(button, False)

    def drag(self, start: Point | None, end: Point) -> None:
        with self._lock:
            if start is not None:
                self._move(start)
            self._pointer.button("left", True)
            for point in drag_path(self._at if self._at is not None else end, end):
                self._move(point)
            self._pointer.button("left", False)

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        with self._lock:
            if at is not None:
                self._move(at)
            self._pointer.scroll(dx, dy)

    def type_text(self, text: str) -> None:
        with self._lock:
            self._keyboard.type(text)

    def key(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            self._keyboard.key(keys)

    def close(self) -> None:
        with self._lock:
            for part in (self._keyboard, self._pointer, self._capture):
                try:
                    part.close()
                except Exception:  # the compositor may already be gone; disconnect anyway
                    pass
            self._conn.close()

    def _move(self, to: Point) -> None:
        self._pointer.move(*to)
        self._at = to
