"""Keyboard input on X11 that produces exactly the text and keys asked for, on any layout.

Both executors type and press keys through `X11Keyboard` (their own libraries assume a US keymap:
pyautogui typed "/" as "7" under de and "<" as ">" under us/pc105). Each action re-reads the keyboard
mapping, the modifier mapping and the group in force (three round trips, under a millisecond), so a
layout changed during a run is followed from the next action on; `x11keymap` says which key and
modifiers produce each keysym (the rules are in its docstring) and XTest presses them.

Characters the layout lacks are put onto spare keycodes, two per keycode, before the text is typed:
all those of a `type` call at once (as few ChangeKeyboardMapping requests as contiguous spare keycodes
allow), and they stay mapped across calls, so a character costs a mapping change only the first time.
Every mapping change makes each client re-read the keymap and the window manager re-grab its keys, so
after a batch of changes we wait until the window manager has handled it and the focused application
has answered a ping (`x11sync`; a short pause where it does not take part): the cost lands in this
action, not in the application's reaction to the next click, and the first key on a new keycode is not
read with the old mapping. When the spare keycodes run out, the least recently used ones are reused,
after the same ping or pause, because a client looks a keycode up when it handles the key event,
possibly after we changed it. `close` gives the spare keycodes back, after the same ping or pause, for
the same reason (measured in Chromium: no character lost in 60 runs ending on a mapped character, with or
without it; the losses once blamed on this were the form test's out-of-order posts). Caps Lock, when on, is turned off
while typing and back on after, so letters keep their case. Keys go out about 1 ms apart.

Not for: the mouse (the executors' libraries do that), or deciding what to type.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from actions.x11keymap import (
    LOCK_MASK,
    MODIFIER_KEYSYMS,
    NAMED_KEYSYMS,
    Keymap,
    KeyNotPressable,
    Stroke,
    char_keysym,
    keysym_char,
    pack_rows,
    runs,
)
from actions.x11sync import RoundTrips

# Typing paced like a fast typist rather than a burst: Chromium under openbox reacted to a click after
# 20 characters in a median 30 ms when they came as one burst, 5 ms when 1 ms apart (the application
# keeps up while the text arrives instead of queueing it). 10,000 characters take ~12 s.
KEY_INTERVAL_S = 0.001
# When the focused application does not answer pings (Tk): a pause after mapping new characters, so
# it has read the new mapping before the first key on it (Chromium without a window manager dropped
# the first character after a mapping change in 3 of 11 runs with no wait, 0 of 28 after a ping),
# and a pause before reusing a keycode, so it has looked up the keys sent on it before.
REMAP_PAUSE_S = 0.03
REUSE_PAUSE_S = 0.05


class X11Keyboard:
    def __init__(self, display: Any = None) -> None:
        """Types on `display` (an Xlib Display; default: a new connection to $DISPLAY, closed by `close`)."""
        if display is None:
            from Xlib.display import Display

            display = Display()
        self._d = display
        self._sync = RoundTrips(self._d)
        self._ours: OrderedDict[int, tuple[int, int]] = OrderedDict()  # keycode -> (plain, Shift); LRU first

    def keymap(self) -> Keymap:
        """The mapping in force now; forgets spare keycodes that a new layout has overwritten."""
        d = self._d
        while d.pending_events():  # MappingNotify and our own PropertyNotify: only the current state matters
            d.next_event()
        first = d.display.info.min_keycode
        rows = d.get_keyboard_mapping(first, d.display.info.max_keycode - first + 1)
        mask = d.screen().root.query_pointer().mask
        keymap = Keymap(first, tuple(tuple(row) for row in rows),
                        tuple(tuple(row) for row in d.get_modifier_mapping()),
                        group=(mask >> 13) & 3, caps_lock=bool(mask & LOCK_MASK))
        for keycode, pair in list(self._ours.items()):
            if keymap.row(keycode)[:2] != pair:
                del self._ours[keycode]
        if not keymap.columns():
            raise KeyNotPressable(f"keyboard group {keymap.group + 1} is active; only groups 1 and 2 are supported")
        return keymap

    def type(self, text: str) -> None:
        """Type `text` exactly; raises KeyNotPressable before sending anything it cannot type."""
        for char in text:
            char_keysym(char)  # control characters fail here, before any key is sent
        keymap = self.keymap()
        if not keymap.spare_keycodes() and not self._ours:
            lacking = "".join(sorted({char for char in text if keymap.stroke_for_char(char) is None}))
            if lacking:
                raise KeyNotPressable(f"{lacking!r} is not on this keyboard layout and no keycode is spare to map it")
        with self._caps_lock_off(keymap):
            start = 0
            while start < len(text):
                end, missing, keep = self._segment(keymap, text, start)
                if end == start:
                    raise KeyNotPressable(f"no spare keycode left to type {text[start]!r} with")
                if missing:
                    keymap = self._map(keymap, [char_keysym(char) for char in missing], keep)
                strokes = [keymap.stroke_for_char(char) for char in text[start:end]]
                for char, stroke in zip(text[start:end], strokes, strict=True):
                    if stroke is None:  # the server did not take the mapping as written
                        raise KeyNotPressable(f"could not map {char!r} onto the keyboard")
                for stroke in strokes:
                    assert stroke is not None
                    self._tap(keymap, stroke)
                self._touch(strokes)
                start = end
        self._d.sync()

    def key(self, names: Sequence[str]) -> None:
        """Press `names` (canonical key names or single characters) together, then release in reverse."""
        keymap = self.keymap()
        for name in names:  # everything is checked before the keymap changes or a key goes down
            if name in MODIFIER_KEYSYMS and keymap.modifier_keycode(name) is None:
                raise KeyNotPressable(f"the keyboard has no {name} key bound to a modifier")
            if name not in MODIFIER_KEYSYMS and name not in NAMED_KEYSYMS and len(name) != 1:
                raise KeyNotPressable(f"unknown key {name!r}")
        keys = [name for name in names if name not in MODIFIER_KEYSYMS]
        strokes = {name: self._stroke(keymap, name) for name in keys}
        missing = [name for name, stroke in strokes.items() if stroke is None]
        if missing:
            keep = {stroke.keycode for stroke in strokes.values() if stroke is not None}
            keymap = self._map(keymap, [_keysyms(name)[0] for name in missing], keep)
            strokes = {name: self._stroke(keymap, name) for name in keys}
        down: list[int] = []
        for name in names:
            stroke = strokes.get(name)
            if name in MODIFIER_KEYSYMS:
                keycodes = [keymap.modifier_keycode(name)]
            elif stroke is None:  # the server did not take the mapping as written
                raise KeyNotPressable(f"cannot press the key {name!r} on this keyboard")
            else:
                keycodes = self._keycodes(keymap, stroke)
            down += [keycode for keycode in keycodes if keycode is not None and keycode not in down]
        self._touch(list(strokes.values()))
        self._send(down)

    def close(self) -> None:
        """Clear the spare keycodes we mapped and close the connection (never raises: a cleanup)."""
        try:
            if self._ours:
                try:
                    self.keymap()  # forgets keycodes a layout loaded since has taken over
                except KeyNotPressable:
                    pass
                if not self._sync.application():  # it has handled the keys sent on them
                    time.sleep(REUSE_PAUSE_S)
                self._write({keycode: (0, 0) for keycode in self._ours})
                self._ours.clear()
                self._d.sync()
                self._sync.window_manager()
            self._sync.close()
            self._d.close()
        except Exception:  # the display is gone already: nothing left to give back
            pass

    # ------------------------------------------------------------------ mapping spare keycodes
    @staticmethod
    def _stroke(keymap: Keymap, name: str) -> Stroke | None:
        return keymap.stroke_for_keysym(NAMED_KEYSYMS[name]) if name in NAMED_KEYSYMS else keymap.stroke_for_char(name)

    def _segment(self, keymap: Keymap, text: str, start: int) -> tuple[int, list[str], set[int]]:
        """The longest text[start:end] whose missing characters fit onto spare keycodes at once."""
        free = len(keymap.spare_keycodes())
        pinned: set[int] = set()
        missing: list[str] = []
        end = start
        while end < len(text):
            char = text[end]
            stroke = keymap.stroke_for_char(char)
            more = [char] if stroke is None and char not in missing else []
            pin = {stroke.keycode} if stroke is not None and stroke.keycode in self._ours else set()
            if -(-(len(missing) + len(more)) // 2) > free + len(self._ours) - len(pinned | pin):
                break
            missing += more
            pinned |= pin
            end += 1
        return end, missing, pinned

    def _map(self, keymap: Keymap, keysyms: list[int], keep: set[int]) -> Keymap:
        """Put `keysyms` onto spare keycodes: free ones first, then our least recently used not in `keep`."""
        rows = pack_rows(keysyms)
        free = [keycode for run in sorted(runs(keymap.spare_keycodes()), key=len, reverse=True) for keycode in run]
        keycodes = (free + [keycode for keycode in self._ours if keycode not in keep])[:len(rows)]
        if len(keycodes) < len(rows):
            raise KeyNotPressable(f"not enough spare keycodes on this keyboard for {keysym_text(keysyms)!r}")
        if any(keycode in self._ours for keycode in keycodes) and not self._sync.application():
            time.sleep(REUSE_PAUSE_S)  # let the application handle the keys sent on them before
        written = dict(zip(keycodes, rows, strict=True))
        self._write(written)
        for keycode, pair in written.items():
            self._ours.pop(keycode, None)
            self._ours[keycode] = pair
        self._d.sync()
        self._sync.window_manager()
        if not self._sync.application():  # it has taken the new mapping in before the first key on it
            time.sleep(REMAP_PAUSE_S)
        return self.keymap()

    def _write(self, rows: dict[int, tuple[int, int]]) -> None:
        for run in runs(rows):
            self._d.change_keyboard_mapping(run[0], [rows[keycode] for keycode in run])

    def _touch(self, strokes: Sequence[Stroke | None]) -> None:
        for stroke in strokes:
            if stroke is not None and stroke.keycode in self._ours:
                self._ours.move_to_end(stroke.keycode)

    # ------------------------------------------------------------------ sending
    @staticmethod
    def _keycodes(keymap: Keymap, stroke: Stroke) -> list[int]:
        """The stroke's level modifiers, then its key."""
        mods = [keymap.shift_keycode if stroke.shift else None, keymap.level3_keycode if stroke.level3 else None]
        return [keycode for keycode in mods if keycode is not None] + [stroke.keycode]

    def _tap(self, keymap: Keymap, stroke: Stroke) -> None:
        self._send(self._keycodes(keymap, stroke))
        time.sleep(KEY_INTERVAL_S)

    def _send(self, keycodes: list[int]) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        for keycode in keycodes:
            xtest.fake_input(self._d, X.KeyPress, keycode)
        for keycode in reversed(keycodes):
            xtest.fake_input(self._d, X.KeyRelease, keycode)
        self._d.sync()

    @contextmanager
    def _caps_lock_off(self, keymap: Keymap) -> Iterator[None]:
        keycode = keymap.caps_lock_keycode() if keymap.caps_lock else None
        if keymap.caps_lock and keycode is None:
            raise KeyNotPressable("Caps Lock is on and there is no Caps Lock key to turn it off while typing")
        if keycode is not None:
            self._send([keycode])
        try:
            yield
        finally:
            if keycode is not None:
                self._send([keycode])


def keysym_text(keysyms: Sequence[int]) -> str:
    """The characters of `keysyms`, for messages; '?' for a keysym without one."""
    return "".join(keysym_char(k) or "?" for k in keysyms)


def _keysyms(name: str) -> tuple[int, ...]:
    return NAMED_KEYSYMS[name] if name in NAMED_KEYSYMS else (char_keysym(name),)
