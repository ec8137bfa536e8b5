"""The pyautogui executor: a `Computer` that drives the desktop with pyautogui.

pyautogui connects to the X server when imported, so the import happens in the constructor.
Its PAUSE (a sleep after every call, 0.1 s by default) comes from config and defaults to 0; its
corner FAILSAFE stays on as a last-resort stop. ASCII text goes through pyautogui.write; other
characters through `x11text` on Linux, because pyautogui drops them. Screenshots come from mss
(pyautogui's own shells out to scrot and is slow).
"""

from __future__ import annotations

import sys

from actions.capture import MssCapture
from actions.computer import Button
from actions.geometry import Point, Screenshot
from actions.x11text import split_runs

_PYAUTOGUI_KEYS: dict[str, str] = {
    "super": "winleft", "menu": "apps", "scrolllock": "scrolllock", "printscreen": "printscreen",
}
DRAG_STEPS = 8


class PyAutoGuiComputer:
    def __init__(self, capture: MssCapture, pause: float = 0.0) -> None:
        import pyautogui

        _bind_to_current_display(pyautogui)
        self._gui = pyautogui
        pyautogui.PAUSE = pause
        pyautogui.FAILSAFE = True
        self._capture = capture
        self._typer = None
        if sys.platform.startswith("linux"):
            from actions.x11text import UnicodeTyper

            self._typer = UnicodeTyper(pyautogui._pyautogui_x11._display)

    def screenshot(self) -> Screenshot:
        return self._capture.grab()

    def move(self, to: Point) -> None:
        self._gui.moveTo(*to)

    def click(self, at: Point | None, button: Button, count: int) -> None:
        x, y = at if at is not None else (None, None)
        self._gui.click(x, y, clicks=count, interval=0.0, button=button)

    def drag(self, start: Point | None, end: Point) -> None:
        gui = self._gui
        if start is not None:
            gui.moveTo(*start)
        x0, y0 = gui.position()
        gui.mouseDown(button="left")
        for i in range(1, DRAG_STEPS + 1):  # intermediate motion: widgets track B1-Motion
            gui.moveTo(x0 + (end[0] - x0) * i // DRAG_STEPS, y0 + (end[1] - y0) * i // DRAG_STEPS)
        gui.mouseUp(button="left")

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        x, y = at if at is not None else (None, None)
        if dy:
            self._gui.scroll(dy, x, y)
        if dx:
            self._gui.hscroll(dx, x, y)

    def type_text(self, text: str) -> None:
        for chunk, ascii_only in split_runs(text):
            if ascii_only or self._typer is None:
                self._gui.write(chunk)
            else:
                self._typer.type(chunk)

    def key(self, keys: tuple[str, ...]) -> None:
        self._gui.hotkey(*(_PYAUTOGUI_KEYS.get(k, k) for k in keys))

    def close(self) -> None:
        if self._typer is not None:
            self._typer.close()
        self._capture.close()



def _bind_to_current_display(pyautogui: object) -> None:
    """pyautogui opens its X connection once, at import, for the DISPLAY of that moment; a process
    that drives a second display later (the daemon, the tests, the benchmarks) must reconnect it."""
    x11 = getattr(pyautogui, "_pyautogui_x11", None)
    if x11 is None:
        return
    import importlib
    import os

    try:
        same = x11._display.get_display_name() == os.environ.get("DISPLAY")
        if same:
            x11._display.sync()  # a round trip: a display of the same name may be a new server
    except Exception:  # the old server is gone (Xlib raises ConnectionClosedError or OSError)
        same = False
    if not same:
        importlib.reload(x11)  # reconnects and rebuilds its keycode table from the new display
