"""The GNOME `Computer`: a remote-desktop session (mutter's, or the portal's) plus its PipeWire frames.

`monitor` numbers monitors as mss does (1 = the first, left to right); on the portal path the user
picks the monitor in the portal's dialog instead. Points arrive as logical layout coordinates and
are sent as absolute motion relative to the recorded monitor. Every input call waits for mutter's
D-Bus reply, so the event has been handed to the compositor when it returns. Text: printable ASCII
as keysyms, everything else pasted through the session's clipboard (see `clipboard`).
Not for: choosing a backend or the mutter/portal path (agent.run.runner), or safety.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from actions.computer import Button
from actions.geometry import Point, Screenshot, drag_path
from actions.gnome.bus import Bus, GnomeUnavailable
from actions.gnome.capture import PipeWireCapture
from actions.gnome.clipboard import Clipboard
from actions.gnome.keysyms import MODIFIER_KEYSYMS, keysym, runs
from actions.gnome.session import BUTTONS, HORIZONTAL, VERTICAL, RemoteSession

Event = tuple[Callable[..., None], tuple[Any, ...]]  # a session's notify method and its arguments


class GnomeComputer:
    backend = "gnome"

    def __init__(self, session: RemoteSession, bus: Bus) -> None:
        self._lock = threading.Lock()
        self._session, self._bus = session, bus
        try:
            self._capture = PipeWireCapture(session.stream.node, session.stream.area, session.stream.fd)
        except Exception:
            self._close_session()
            raise
        try:
            self._capture.grab()  # the first frame: the stream works, and its size gives the scale
        except Exception:
            self.close()
            raise
        self._clipboard: Clipboard | None = None
        self._at: Point | None = None

    @property
    def via(self) -> str:
        return self._session.via

    def screenshot(self) -> Screenshot:
        with self._lock:
            return self._capture.grab()

    def move(self, to: Point) -> None:
        with self._lock:
            self._send([self._motion(to)])

    def click(self, at: Point | None, button: Button, count: int) -> None:
        code = BUTTONS[button]
        with self._lock:
            events = [] if at is None else [self._motion(at)]
            for _ in range(count):
                events += [(self._session.button, (code, True)), (self._session.button, (code, False))]
            self._send(events)

    def drag(self, start: Point | None, end: Point) -> None:
        with self._lock:
            events = [] if start is None else [self._motion(start)]
            events.append((self._session.button, (BUTTONS["left"], True)))
            events += [self._motion(point) for point in drag_path(self._at if self._at is not None else end, end)]
            events.append((self._session.button, (BUTTONS["left"], False)))
            self._send(events)

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        with self._lock:
            events = [] if at is None else [self._motion(at)]
            if dy:
                events.append((self._session.axis, (VERTICAL, -dy)))  # mutter: positive steps scroll down
            if dx:
                events.append((self._session.axis, (HORIZONTAL, dx)))
            self._send(events)

    def type_text(self, text: str) -> None:
        with self._lock:
            for by_keysym, piece in runs(text):
                if by_keysym:
                    self._send([(self._session.keysym, (keysym(c), down)) for c in piece for down in (True, False)])
                else:
                    self._paste(piece)

    def key(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            try:
                syms = [keysym(k) for k in keys]
            except ValueError as exc:
                raise GnomeUnavailable(f"cannot press {'+'.join(keys)} on GNOME: {exc}") from None
            self._press(syms)

    def close(self) -> None:
        with self._lock:
            try:
                self._capture.close()
            finally:
                self._close_session()

    def _send(self, events: list[Event]) -> None:
        """Send `events` in order, waiting for the last one's reply only: mutter handles one connection's
        calls in order, so that reply means all of them were handled (see RemoteSession)."""
        for i, (notify, args) in enumerate(events):
            notify(*args, wait=i == len(events) - 1)
        self._capture.expect_change()

    def _motion(self, to: Point) -> Event:
        """The absolute motion to layout point `to`, in stream coordinates: the frame's pixels, i.e. the layout
        offset times the stream's scale, which mutter divides out again when stage views are scaled (and
        which is 1 in its physical layout mode)."""
        x, y, _w, _h = self._session.stream.area
        scale, width, height = self._capture.frame_geometry()
        self._at = to
        px = min(max((to[0] - x) * scale, 0), width - 1)
        py = min(max((to[1] - y) * scale, 0), height - 1)
        return self._session.motion, (px, py)

    def _press(self, syms: list[int]) -> None:
        """Press `syms` together, then release them in reverse; releases even when a press failed."""
        pressed: list[int] = []
        try:
            for sym in syms:
                self._session.keysym(sym, True, wait=False)
                pressed.append(sym)
        finally:
            self._send([(self._session.keysym, (sym, False)) for sym in reversed(pressed)])

    def clipboard(self, why: str = "") -> Clipboard:
        """The session's clipboard (enabled on first use); `why` names what needs it in the error."""
        if self._clipboard is None:
            selection = self._session.selection
            if selection is None:
                raise GnomeUnavailable(f"{why or 'the clipboard'} needs the clipboard, which this {self.via} session "
                                       "does not offer (the portal's Clipboard interface); only ASCII can be typed")
            self._clipboard = Clipboard(selection)
        return self._clipboard

    def _paste(self, text: str) -> None:
        clipboard = self.clipboard(f"typing {text[:20]!r}")
        paste = [MODIFIER_KEYSYMS["ctrl"], keysym("v")]
        clipboard.paste(text, lambda: self._press(paste))

    def _close_session(self) -> None:
        try:
            self._session.close()
        finally:
            self._bus.close()
