"""The pyautogui executor: a `Computer` that drives the desktop with pyautogui.

pyautogui connects to the X server when imported, so the import happens in the constructor.
Its PAUSE (a sleep after every call, 0.1 s by default) comes from config and defaults to 0; its
corner FAILSAFE stays on as a last-resort stop. ASCII text goes through pyautogui.write; other
characters through `x11text` on Linux, because pyautogui drops them. The same goes for key
presses: pyautogui silently ignores a key its table cannot press (a character such as "é" that
is not on the keyboard layout), so such a character is held through `x11text` while pyautogui
holds the rest of the combination, and a key neither can press is an error, never a no-op.
Screenshots come from mss (pyautogui's own shells out to scrot and is slow).
"""

from __future__ import annotations

import sys

from actions.capture import MssCapture
from actions.computer import Button
from actions.errors import DeskpilotError
from actions.geometry import Point, Screenshot
from actions.x11text import split_runs

_PYAUTOGUI_KEYS: dict[str, str] = {
    "super": "winleft", "menu": "apps", "scrolllock": "scrolllock", "printscreen": "printscreen",
}
DRAG_STEPS = 8


class KeyNotPressable(DeskpilotError, RuntimeError):
    """A key this executor has no way to send; raised before any key of the combination goes down."""


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
        names = [_PYAUTOGUI_KEYS.get(k, k) for k in keys]
        if all(self._pressable(n) for n in names):
            self._gui.hotkey(*names)
            return
        for name in names:  # check the whole combination before pressing any of it
            if not self._pressable(name) and (self._typer is None or len(name) != 1):
                raise KeyNotPressable(f"the pyautogui executor cannot press the key {name!r} on this system"
                                      + ("" if len(name) != 1 else " (no X11 Unicode input here)"))
        held: list[str] = []
        try:
            for name in names:
                self._hold(name, down=True)
                held.append(name)
        finally:
            for name in reversed(held):
                self._hold(name, down=False)

    def _pressable(self, name: str) -> bool:
        """Whether pyautogui really sends `name`: its X11 backend skips keys missing from the keymap."""
        table = getattr(getattr(self._gui, "_pyautogui_x11", None), "keyboardMapping", None)
        if table is not None:
            return bool(table.get(name))  # None: not a pyautogui key; 0: no keycode on this layout
        return name in self._gui.KEYBOARD_KEYS

    def _hold(self, name: str, down: bool) -> None:
        """Press (`down`) or release one key: pyautogui's where it can, else the X11 Unicode path."""
        if self._pressable(name):
            (self._gui.keyDown if down else self._gui.keyUp)(name)
        else:
            assert self._typer is not None  # key() checked
            (self._typer.press if down else self._typer.release)(name)

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
