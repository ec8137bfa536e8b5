"""The pynput executor: a `Computer` that drives the desktop with pynput's controllers.

The mouse is pynput's. On X11, text and keys go through `x11keyboard`, the same path as the pyautogui
executor's (pynput's own borrowing of one keycode for every Unicode character races with clients'
keymap refresh, and each borrow is a mapping change the window manager pays for); elsewhere through
pynput's keyboard controller. Imported lazily in the constructor because it connects to the display.
Screenshots come from mss. Not for: deciding what to send.
"""

from __future__ import annotations

from typing import Any

from actions.capture import MssCapture
from actions.computer import Button
from actions.executor import CaptureAndKeyboard, platform_keyboard
from actions.geometry import Point, drag_path

_NAMED = {
    "enter": "enter", "esc": "esc", "tab": "tab", "space": "space", "backspace": "backspace",
    "delete": "delete", "insert": "insert", "home": "home", "end": "end", "pageup": "page_up",
    "pagedown": "page_down", "up": "up", "down": "down", "left": "left", "right": "right",
    "ctrl": "ctrl", "alt": "alt", "shift": "shift", "super": "cmd", "capslock": "caps_lock",
    "menu": "menu", "printscreen": "print_screen", "pause": "pause", "numlock": "num_lock",
    "scrolllock": "scroll_lock", **{f"f{i}": f"f{i}" for i in range(1, 21)},
}


class PynputComputer(CaptureAndKeyboard):
    def __init__(self, capture: MssCapture) -> None:
        from pynput import keyboard, mouse

        self._mouse = mouse.Controller()
        self._buttons = {"left": mouse.Button.left, "right": mouse.Button.right, "middle": mouse.Button.middle}
        super().__init__(capture, platform_keyboard(lambda: PynputKeys(keyboard)))

    def move(self, to: Point) -> None:
        self._mouse.position = to

    def click(self, at: Point | None, button: Button, count: int) -> None:
        if at is not None:
            self._mouse.position = at
        self._mouse.click(self._buttons[button], count)

    def drag(self, start: Point | None, end: Point) -> None:
        if start is not None:
            self._mouse.position = start
        x0, y0 = self._mouse.position
        self._mouse.press(self._buttons["left"])
        for point in drag_path((int(x0), int(y0)), end):
            self._mouse.position = point
        self._mouse.release(self._buttons["left"])

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        if at is not None:
            self._mouse.position = at
        self._mouse.scroll(dx, dy)


class PynputKeys:
    """pynput's keyboard controller (not X11)."""

    def __init__(self, keyboard: Any) -> None:
        self._controller = keyboard.Controller()
        self._keys: dict[str, Any] = {name: keyboard.Key[member] for name, member in _NAMED.items()}

    def type(self, text: str) -> None:
        self._controller.type(text)

    def key(self, keys: tuple[str, ...]) -> None:
        resolved = [self._keys.get(k, k) for k in keys]
        for key in resolved:
            self._controller.press(key)
        for key in reversed(resolved):
            self._controller.release(key)

    def close(self) -> None:
        pass
