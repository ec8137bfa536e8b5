"""Type any Unicode text on X11 through XTest, the way xdotool does.

pyautogui.typewrite only knows characters on the current keyboard layout, so "é", "中文" or
emoji are silently dropped. Here each character's keysym (Latin-1 code point, or 0x01000000 +
code point for the rest of Unicode) is mapped onto a spare keycode, pressed and released, and the
keycode is cleared again afterwards. Clients see a MappingNotify and re-read the keyboard map, so
a short pause follows each remap. Not for: key combinations (executors send those).
"""

from __future__ import annotations

import time
from typing import Any

REMAP_PAUSE_S = 0.012


def keysym_for(char: str) -> int:
    """The X keysym that produces `char`."""
    code = ord(char)
    if char == "\n":
        return 0xFF0D  # Return
    if char == "\t":
        return 0xFF09  # Tab
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 | code


class UnicodeTyper:
    """Types characters by remapping one spare keycode of the X keyboard."""

    def __init__(self, display: Any) -> None:
        self._display = display
        self._keycode = self._spare_keycode()

    def _spare_keycode(self) -> int:
        d = self._display
        first = d.display.info.min_keycode
        count = d.display.info.max_keycode - first + 1
        mapping = d.get_keyboard_mapping(first, count)
        for offset in range(count - 1, -1, -1):  # from the top, where layouts leave holes
            if not any(mapping[offset]):
                return first + offset
        raise RuntimeError("no spare keycode on this X keyboard to type Unicode text with")

    def type(self, text: str) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        d, keycode = self._display, self._keycode
        try:
            for char in text:
                sym = keysym_for(char)
                d.change_keyboard_mapping(keycode, [(sym, sym)])
                d.sync()
                time.sleep(REMAP_PAUSE_S)
                xtest.fake_input(d, X.KeyPress, keycode)
                xtest.fake_input(d, X.KeyRelease, keycode)
                d.sync()
        finally:
            time.sleep(REMAP_PAUSE_S)
            d.change_keyboard_mapping(keycode, [(0, 0)])
            d.sync()
