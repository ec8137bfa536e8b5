"""Input on wlroots: the virtual-pointer and virtual-keyboard protocols.

The pointer moves in absolute logical coordinates over the whole output layout (wlroots maps
`motion_absolute` onto the layout's bounding box). The keyboard uploads a keymap holding exactly the
symbols a text or shortcut needs (see `xkb`), so typing and shortcuts never depend on the user's
layout. Catches seen on sway: the first key after a keymap upload can be lost (a round trip and a
short pause fix it), and a click right after a move can be lost without a round trip between them.
Not for: capture, or mapping screen pixels (dispatch does).
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any

from actions.keys import MODIFIERS
from actions.wayland.client import Connection
from actions.wayland.xkb import MODIFIER_KEYS, Keymap, build_keymap, chunks

BUTTONS = {"left": 0x110, "right": 0x111, "middle": 0x112}  # linux/input-event-codes.h
_PRESSED, _RELEASED = 1, 0
_VERTICAL, _HORIZONTAL = 0, 1
_WHEEL = 0
_KEYMAP_XKB_V1 = 1
KEYMAP_SETTLE_S = 0.05


def _now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


class VirtualPointer:
    def __init__(self, conn: Connection) -> None:
        from pywayland.protocol.wayland import WlSeat

        from actions.wayland.generated.wlr_virtual_pointer_unstable_v1 import ZwlrVirtualPointerManagerV1

        self._conn = conn
        manager = conn.bind("zwlr_virtual_pointer_manager_v1", ZwlrVirtualPointerManagerV1, 1)
        seat = conn.bind("wl_seat", WlSeat, 1) if "wl_seat" in conn.globals else None
        self._ptr = manager.create_virtual_pointer(seat)

    def move(self, x: int, y: int) -> None:
        left, top, width, height = self._conn.layout()
        px = min(max(x - left, 0), width - 1)
        py = min(max(y - top, 0), height - 1)
        self._ptr.motion_absolute(_now_ms(), px, py, width, height)
        self._ptr.frame()
        self._conn.display.roundtrip()

    def button(self, name: str, pressed: bool) -> None:
        self._ptr.button(_now_ms(), BUTTONS[name], _PRESSED if pressed else _RELEASED)
        self._ptr.frame()
        self._conn.display.roundtrip()

    def scroll(self, dx: int, dy: int) -> None:
        for axis, clicks in ((_VERTICAL, -dy), (_HORIZONTAL, dx)):  # wl_pointer: positive is down / right
            if clicks:
                self._ptr.axis_source(_WHEEL)
                self._ptr.axis_discrete(_now_ms(), axis, 10.0 * clicks, clicks)  # GTK reads value / 10
                self._ptr.frame()
        self._conn.display.roundtrip()

    def close(self) -> None:
        self._ptr.destroy()


class VirtualKeyboard:
    def __init__(self, conn: Connection) -> None:
        from pywayland.protocol.wayland import WlSeat

        from actions.wayland.generated.virtual_keyboard_unstable_v1 import ZwpVirtualKeyboardManagerV1

        self._conn = conn
        manager = conn.bind("zwp_virtual_keyboard_manager_v1", ZwpVirtualKeyboardManagerV1, 1)
        self._kbd = manager.create_virtual_keyboard(conn.bind("wl_seat", WlSeat, 1))
        self._keymap: Keymap | None = None

    def type(self, text: str) -> None:
        for piece in chunks(text):
            self._ensure(piece)
            for char in piece:
                self._tap(self._keymap.keycodes[char])  # type: ignore[union-attr]

    def key(self, keys: tuple[str, ...]) -> None:
        self._ensure(keys)
        assert self._keymap is not None
        mask = 0
        for name in keys:
            self._send(self._keymap.keycodes[name], _PRESSED)
            if name in MODIFIERS:
                mask |= MODIFIER_KEYS[name][2]
                self._kbd.modifiers(mask, 0, 0, 0)
        for name in reversed(keys):
            self._send(self._keymap.keycodes[name], _RELEASED)
            if name in MODIFIERS:
                mask &= ~MODIFIER_KEYS[name][2]
                self._kbd.modifiers(mask, 0, 0, 0)
        self._conn.display.roundtrip()

    def _ensure(self, symbols: Any) -> None:
        if self._keymap is not None and self._keymap.covers(symbols):
            return
        keymap = build_keymap(symbols)
        data = keymap.text.encode() + b"\0"
        fd = os.memfd_create("deskpilot-keymap")
        try:
            os.ftruncate(fd, len(data))
            with mmap.mmap(fd, len(data)) as mem:
                mem.write(data)
            self._kbd.keymap(_KEYMAP_XKB_V1, fd, len(data))
        finally:
            os.close(fd)
        self._keymap = keymap
        self._conn.display.roundtrip()
        time.sleep(KEYMAP_SETTLE_S)  # the first key after an upload is lost without this pause

    def _tap(self, keycode: int) -> None:
        self._send(keycode, _PRESSED)
        self._send(keycode, _RELEASED)
        self._conn.display.roundtrip()

    def _send(self, keycode: int, state: int) -> None:
        self._kbd.key(_now_ms(), keycode - 8, state)

    def close(self) -> None:
        self._kbd.destroy()
