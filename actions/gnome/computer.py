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

from actions.computer import Button
from actions.geometry import Point, Screenshot
from actions.gnome.bus import Bus, GnomeUnavailable
from actions.gnome.capture import PipeWireCapture
from actions.gnome.clipboard import Clipboard
from actions.gnome.keysyms import MODIFIER_KEYSYMS, keysym, runs
from actions.gnome.session import BUTTONS, HORIZONTAL, VERTICAL, RemoteSession

DRAG_STEPS = 8


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
            self._move(to)

    def click(self, at: Point | None, button: Button, count: int) -> None:
        with self._lock:
            if at is not None:
                self._move(at)
            for _ in range(count):
                self._session.button(BUTTONS[button], True)
                self._session.button(BUTTONS[button], False)

    def drag(self, start: Point | None, end: Point) -> None:
        with self._lock:
            if start is not None:
                self._move(start)
            x0, y0 = self._at if self._at is not None else end
            self._session.button(BUTTONS["left"], True)
            for i in range(1, DRAG_STEPS + 1):  # intermediate motion: toolkits track the drag
                self._move((x0 + (end[0] - x0) * i // DRAG_STEPS, y0 + (end[1] - y0) * i // DRAG_STEPS))
            self._session.button(BUTTONS["left"], False)

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        with self._lock:
            if at is not None:
                self._move(at)
            if dy:
                self._session.axis(VERTICAL, -dy)  # mutter: positive steps scroll down
            if dx:
                self._session.axis(HORIZONTAL, dx)

    def type_text(self, text: str) -> None:
        with self._lock:
            for by_keysym, piece in runs(text):
                if by_keysym:
                    for char in piece:
                        self._tap(keysym(char))
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

    def _move(self, to: Point) -> None:
        # stream coordinates are the frame's pixels: layout (logical) offset times the stream's scale, which
        # mutter divides out again when stage views are scaled (and which is 1 in its physical layout mode)
        x, y, _w, _h = self._session.stream.area
        shot = self._capture.grab()
        px = min(max((to[0] - x) * shot.scale, 0), shot.monitor.width - 1)
        py = min(max((to[1] - y) * shot.scale, 0), shot.monitor.height - 1)
        self._session.motion(px, py)
        self._at = to

    def _tap(self, sym: int) -> None:
        self._session.keysym(sym, True)
        self._session.keysym(sym, False)

    def _press(self, syms: list[int]) -> None:
        pressed: list[int] = []
        try:
            for sym in syms:
                self._session.keysym(sym, True)
                pressed.append(sym)
        finally:
            for sym in reversed(pressed):
                self._session.keysym(sym, False)

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
