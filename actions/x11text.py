"""Type any Unicode text on X11 through XTest, the way xdotool does.

pyautogui.typewrite only knows characters on the current keyboard layout, so "é", "中文" or
emoji are silently dropped; pynput borrows one keycode and remaps it for every character, which
races with clients' lazy keymap refresh (seen here: "中文" arriving as "é文"). Here each
character's keysym (its Latin-1 code point, or 0x01000000 + code point for the rest of Unicode)
is mapped onto a spare keycode of its own, which stays mapped while spares last, and pressed and
released with XTest. `press`/`release` hold one such character down, so an executor can send it
as part of a key combination (its modifiers it presses itself). Not for: choosing which keys
need this path (executors decide).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

REMAP_PAUSE_S = 0.03


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
    """Types characters by mapping them onto spare keycodes of the X keyboard.

    Clients re-read the keyboard map lazily (on the next key event after a MappingNotify), so a
    keycode must not be remapped until the client has handled the key event that used it.
    Mappings therefore stay in place across calls and a keycode is reused (least recently used
    first, after a pause) only when every spare one holds another character; `close` clears them.
    """

    def __init__(self, display: Any) -> None:
        self._display = display
        self._free = self._spare_keycodes()
        self._mapped: OrderedDict[str, int] = OrderedDict()  # char -> keycode, least recent first

    def _spare_keycodes(self) -> list[int]:
        d = self._display
        first = d.display.info.min_keycode
        count = d.display.info.max_keycode - first + 1
        mapping = d.get_keyboard_mapping(first, count)
        spare = [first + offset for offset in range(count) if not any(mapping[offset])]
        if not spare:
            raise RuntimeError("no spare keycode on this X keyboard to type Unicode text with")
        return spare

    def type(self, text: str) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        d = self._display
        for char in text:
            keycode = self._keycode_for(char)
            xtest.fake_input(d, X.KeyPress, keycode)
            xtest.fake_input(d, X.KeyRelease, keycode)
        d.sync()

    def press(self, char: str) -> None:
        """Hold `char` down (a key of a combination); `release` lets it go."""
        from Xlib import X
        from Xlib.ext import xtest

        xtest.fake_input(self._display, X.KeyPress, self._keycode_for(char))
        self._display.sync()

    def release(self, char: str) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        keycode = self._mapped.get(char)
        if keycode is None:  # never pressed through this typer: nothing is held
            return
        xtest.fake_input(self._display, X.KeyRelease, keycode)
        self._display.sync()

    def _keycode_for(self, char: str) -> int:
        if char in self._mapped:
            self._mapped.move_to_end(char)
            return self._mapped[char]
        if self._free:
            keycode = self._free.pop()
        else:  # reuse the least recently used keycode, once its last key event has been handled
            keycode = self._mapped.popitem(last=False)[1]
            self._display.sync()
            time.sleep(REMAP_PAUSE_S)
        sym = keysym_for(char)
        self._display.change_keyboard_mapping(keycode, [(sym, sym)])
        self._display.sync()
        time.sleep(REMAP_PAUSE_S)  # let clients see the MappingNotify before the key event
        self._mapped[char] = keycode
        return keycode

    def close(self) -> None:
        """Give the borrowed keycodes back (clear their mapping)."""
        for keycode in self._mapped.values():
            self._display.change_keyboard_mapping(keycode, [(0, 0)])
        self._free.extend(self._mapped.values())
        self._mapped.clear()
        self._display.sync()


def split_runs(text: str) -> list[tuple[str, bool]]:
    """Split text into (run, plain) pairs: runs of layout-typeable ASCII and runs of the rest."""
    runs: list[tuple[str, bool]] = []
    for char in text:
        plain = char.isascii() and (char.isprintable() or char in "\n\t")
        if runs and runs[-1][1] == plain:
            runs[-1] = (runs[-1][0] + char, plain)
        else:
            runs.append((char, plain))
    return runs
