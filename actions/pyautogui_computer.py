"""The pyautogui executor: a `Computer` that drives the desktop with pyautogui.

pyautogui connects to the X server when imported, so the import happens in the constructor.
Its PAUSE (a sleep after every call, 0.1 s by default) comes from config and defaults to 0. Its corner
FAILSAFE is off: a model may rightly aim at a screen corner (an answer on the image's last pixel maps to
one), and the agent's own moves must never read as the user stopping the run; a person stops a run with
the kill hotkey. On X11, text and keys go through `x11keyboard` (pyautogui assumes a US keymap and
typed "/" as "7" under de); elsewhere through pyautogui, and a character or key it cannot send fails
the step instead of being skipped. Screenshots come from mss (pyautogui's own shells out to scrot).
"""

from __future__ import annotations

from typing import Any

from actions.capture import MssCapture
from actions.computer import Button
from actions.executor import CaptureAndKeyboard, platform_keyboard
from actions.geometry import Point, drag_path
from actions.x11keymap import KeyNotPressable

_PYAUTOGUI_KEYS: dict[str, str] = {
    "super": "winleft", "menu": "apps", "scrolllock": "scrolllock", "printscreen": "printscreen",
}

__all__ = ["KeyNotPressable", "PyAutoGuiComputer"]


class PyAutoGuiComputer(CaptureAndKeyboard):
    def __init__(self, capture: MssCapture, pause: float = 0.0) -> None:
        import pyautogui

        _bind_to_current_display(pyautogui)
        self._gui = pyautogui
        pyautogui.PAUSE = pause
        pyautogui.FAILSAFE = False  # every pixel is a legitimate target; see the module docstring
        super().__init__(capture, platform_keyboard(lambda: PyAutoGuiKeys(pyautogui)))

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
        for point in drag_path((x0, y0), end):
            gui.moveTo(*point)
        gui.mouseUp(button="left")

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        x, y = at if at is not None else (None, None)
        if dy:
            self._gui.scroll(dy, x, y)
        if dx:
            self._gui.hscroll(dx, x, y)


class PyAutoGuiKeys:
    """pyautogui's own keyboard (not X11): what it cannot send is an error before anything is pressed."""

    def __init__(self, gui: Any) -> None:
        self._gui = gui

    def type(self, text: str) -> None:
        unsendable = sorted({c for c in text if c not in self._gui.KEYBOARD_KEYS and c not in "\n\t"})
        if unsendable:
            raise KeyNotPressable(f"the pyautogui executor cannot type {''.join(unsendable)!r} on this system")
        self._gui.write(text)

    def key(self, keys: tuple[str, ...]) -> None:
        names = [_PYAUTOGUI_KEYS.get(k, k) for k in keys]
        for name in names:  # check the whole combination before pressing any of it
            if name not in self._gui.KEYBOARD_KEYS:
                raise KeyNotPressable(f"the pyautogui executor cannot press the key {name!r} on this system")
        self._gui.hotkey(*names)

    def close(self) -> None:
        pass


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
