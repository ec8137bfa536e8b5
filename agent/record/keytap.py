"""The person's key presses, each read with the keyboard mapping in force when the X server handled it.

pynput's keyboard listener reads key events against the mapping it fetched when it started, so keys on
keycodes remapped later (xdotool, IMEs and our own typer put characters on spare keycodes for a moment;
`setxkbmap` loads another layout) came out as nothing or as another character: `Hi Zoë` was recorded
as `Hi Z`, and `yz` typed after `setxkbmap de` as `zy`. `KeyTap` listens with the X RECORD extension
itself and records, in the server's own order, the key events and the requests that change the mapping:
* a core ChangeKeyboardMapping request (how xdotool and our typer remap) is applied to our copy of the
  mapping from the request's own bytes, so a mapping that is set, used and reverted at once is read right;
* any other change (an XKB layout, the modifier mapping), seen as a MappingNotify that no recorded request
  explains, makes us read the mapping again from the server.
A press is read through `actions.x11keymap.Keymap.keysym_at` (the event's own modifier and group state);
its release reports the name the press had. Not for: deciding what the keys mean (agent.record.gestures).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

from actions.x11keymap import MODIFIER_KEYSYMS, NAMED_KEYSYMS, Keymap, keysym_char

CHANGE_KEYBOARD_MAPPING = 100  # core request opcode
KEY_PRESS, KEY_RELEASE, MAPPING_NOTIFY = 2, 3, 34
MAPPING_KEYBOARD = 1
COMPOSING = {0xFE03, 0xFF7E, 0xFE11}  # AltGr, Mode_switch, ISO_Level5_Shift: they only pick a level
_NAMES = {keysym: name for name, keysyms in {**NAMED_KEYSYMS, **MODIFIER_KEYSYMS}.items() for keysym in keysyms}
_NAMES[0x20] = "space"
_NAMES.update({0xFF8D: "enter", 0xFE20: "tab"})  # KP_Enter, ISO_Left_Tab (Shift+Tab)

Named = tuple[str, "str | None"]  # (canonical key name or character, the text it types)


def name_of(keysym: int) -> Named | None:
    """(key name, text) for a keysym; None for a keysym that names no key we record."""
    if keysym in _NAMES:
        name = _NAMES[keysym]
        return name, " " if name == "space" else None
    if 0xFFB0 <= keysym <= 0xFFB9:  # keypad digits
        return str(keysym - 0xFFB0), str(keysym - 0xFFB0)
    char = keysym_char(keysym)
    if char is None or not char.isprintable():
        return None
    from actions.keys import canonical_key

    return canonical_key(char), char


class KeyTap:
    """Calls `on_press(named, keycode, keysym)` and `on_release(named)` for every key event on the display
    (`named` None: a key that cannot be read); runs on its own thread between `start` and `stop`."""

    def __init__(self, on_press: Callable[[Named | None, int, int], None], on_release: Callable[[Named], None],
                 display: str | None = None) -> None:
        self.on_press, self.on_release, self._display = on_press, on_release, display
        self._ready, self._failed = threading.Event(), ""
        self._thread = threading.Thread(target=self._run, name="record-keys", daemon=True)
        self._ctrl: Any = None
        self._data: Any = None
        self._context: Any = None
        self._keymap: Keymap | None = None
        self._explained: set[tuple[int, int]] = set()
        self._down: dict[int, Named] = {}

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._failed or self._context is None:
            raise RuntimeError(self._failed or "the key listener did not start")

    def stop(self) -> None:
        if self._ctrl is not None and self._context is not None:
            try:
                self._ctrl.record_disable_context(self._context)
                self._ctrl.flush()
            except Exception:  # the display is gone: the thread ends with it
                pass
        self._thread.join(timeout=1)

    def _run(self) -> None:
        from Xlib.display import Display
        from Xlib.ext import record

        try:
            self._ctrl, data = Display(self._display), Display(self._display)
            self._data = data
            if not self._ctrl.has_extension("RECORD"):
                raise RuntimeError("the X server has no RECORD extension")
            self._keymap = self._read_keymap()
            self._context = self._ctrl.record_create_context(0, [record.AllClients], [{
                "core_requests": (CHANGE_KEYBOARD_MAPPING, CHANGE_KEYBOARD_MAPPING), "core_replies": (0, 0),
                "ext_requests": (0, 0, 0, 0), "ext_replies": (0, 0, 0, 0),
                "delivered_events": (MAPPING_NOTIFY, MAPPING_NOTIFY), "device_events": (KEY_PRESS, KEY_RELEASE),
                "errors": (0, 0), "client_started": False, "client_died": False}])
            self._ctrl.sync()
        except Exception as exc:  # no display, no RECORD: the recorder says so
            self._failed = f"cannot listen to the keyboard: {exc}"
            self._ready.set()
            return
        self._ready.set()
        try:
            data.record_enable_context(self._context, self._handle)  # returns once disabled
            self._ctrl.record_free_context(self._context)
        except Exception:  # the display went away
            pass
        finally:
            data.close()
            self._ctrl.close()

    def _read_keymap(self) -> Keymap:
        d = self._ctrl
        first = d.display.info.min_keycode
        rows = d.get_keyboard_mapping(first, d.display.info.max_keycode - first + 1)
        return Keymap(first, tuple(tuple(r) for r in rows), tuple(tuple(r) for r in d.get_modifier_mapping()))

    def _handle(self, reply: Any) -> None:
        from Xlib.ext import record
        from Xlib.protocol import rq

        data = bytes(reply.data)
        if reply.category == record.FromClient:
            self._requests(data)
            return
        if reply.category != record.FromServer:
            return
        while len(data) >= 32:
            event, data = rq.EventField(None).parse_binary_value(data, self._data.display, None, None)
            self._event(event)

    def _requests(self, data: bytes) -> None:
        """Apply ChangeKeyboardMapping requests to our copy of the mapping, from their own bytes."""
        while len(data) >= 8 and self._keymap is not None:
            opcode, count, length = struct.unpack("=BBH", data[:4])
            size = length * 4 or len(data)
            if opcode == CHANGE_KEYBOARD_MAPPING:
                first, per = data[4], data[5]
                keysyms = struct.unpack(f"={count * per}I", data[8:8 + 4 * count * per])
                rows = list(self._keymap.rows)
                for i in range(count):
                    index = first + i - self._keymap.first_keycode
                    if 0 <= index < len(rows):
                        rows[index] = tuple(keysyms[i * per:(i + 1) * per])
                k = self._keymap
                self._keymap = Keymap(k.first_keycode, tuple(rows), k.modmap)
                self._explained.add((first, count))
            data = data[size:]

    def _event(self, event: Any) -> None:
        kind = event.type & 0x7F
        if kind == MAPPING_NOTIFY:
            if event.request == MAPPING_KEYBOARD and (event.first_keycode, event.count) in self._explained:
                return  # one of the requests applied above (each client is told; we read it once)
            self._explained.clear()
            self._keymap = self._read_keymap()
        elif kind == KEY_PRESS and self._keymap is not None:
            keysym = self._keymap.keysym_at(event.detail, event.state)
            if keysym in COMPOSING:
                return
            named = name_of(keysym)
            if named is not None:
                self._down[event.detail] = named
            self.on_press(named, event.detail, keysym)
        elif kind == KEY_RELEASE:
            named = self._down.pop(event.detail, None)
            if named is not None:
                self.on_release(named)
