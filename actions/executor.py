"""What the pyautogui and pynput executors share: screenshots from their capture, text and keys through
their keyboard — `x11keyboard` on X11 (layout-independent), the library's own elsewhere.

Each executor brings its own mouse; this base holds the rest of the `Computer` protocol. Not for: the
Wayland backends (actions.wayland, actions.gnome), which capture and type through their compositor.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from actions.capture import MssCapture
from actions.computer import Keyboard, ScreenChanges
from actions.geometry import Screenshot


def platform_keyboard(elsewhere: Callable[[], Keyboard]) -> Keyboard:
    """The keyboard to type through: `x11keyboard` on Linux (X11), else the library's own (`elsewhere`)."""
    if sys.platform.startswith("linux"):
        from actions.x11keyboard import X11Keyboard

        return X11Keyboard()
    return elsewhere()


class CaptureAndKeyboard:
    """The executors' screenshots, drawing notices, text, keys and closing."""

    def __init__(self, capture: MssCapture, keyboard: Keyboard) -> None:
        self._capture, self._keyboard = capture, keyboard

    def screenshot(self) -> Screenshot:
        return self._capture.grab()

    def screen_changes(self) -> ScreenChanges | None:
        return self._capture.screen_changes()

    def type_text(self, text: str) -> None:
        self._keyboard.type(text)

    def key(self, keys: tuple[str, ...]) -> None:
        self._keyboard.key(keys)

    def close(self) -> None:
        self._keyboard.close()
        self._capture.close()
