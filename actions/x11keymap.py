"""Which key, with which modifiers, produces a character or a named key on the X keyboard in force.

The rules (they hold for `type` and for `key` alike):

* A character or a key name means a keysym, never a physical key: "/" is keysym `slash`, "s" is `s`,
  "enter" is `Return`. `ctrl+s` therefore presses Control and whichever key produces `s` on the active
  layout (on fr AZERTY that is the same physical key as on us; `ctrl+a` and `ctrl+z` are not), and
  `ctrl+/` on de presses Control, Shift and 7, because that is how `/` is typed there. Modifiers named
  in the action come on top: `shift+/` on us presses Shift and the "/" key (the application sees "?").
* A keysym is looked up in the core keyboard mapping of the keyboard group in force (the first or the
  second; the group is part of the pointer state), level by level: plain, Shift, then, when the keymap
  has a single group, AltGr (ISO_Level3_Shift) and Shift+AltGr (with several groups the core mapping
  does not say which group a third level belongs to); on a level, the lowest keycode wins. So on
  us/pc105 "<" is the plain LSGT key, and on fr "@" is AltGr+0. Keypad keysyms and dead keys never
  stand for a character. Groups 3 and 4 are not supported (an error, not a guess).
* A character is found under its Unicode keysym, its Latin-1 keysym, or any legacy keysym the layout
  uses for it (Cyrillic_a for "а" on ru; names resolved with libxkbcommon when it is installed).
* What the layout cannot produce goes onto spare keycodes (keycodes without any keysym), two
  characters per keycode (plain and Shift): so a Latin letter under ru, "é" under us, "中". Such a
  keycode has a single group, so it produces the same character whatever group is active; with it,
  `ctrl+s` under ru sends keysym `s` with Control, which every toolkit matches as Ctrl+S.
* Modifier names (ctrl, alt, shift, super) must be keys bound to a modifier already; they are never
  made up on a spare keycode. Anything that cannot be produced is an error, never a nearby key.

Not for: talking to the X server (see `x11keyboard`); this module only reads mapping data, so the
rules are unit-tested without a display.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from actions.errors import DeskpilotError

NO_SYMBOL = 0
SHIFT, LOCK, CONTROL = 0, 1, 2  # rows of the modifier mapping (then Mod1..Mod5)
LOCK_MASK = 1 << LOCK
LEVEL3_SHIFT = 0xFE03  # ISO_Level3_Shift
CAPS_LOCK = 0xFFE5
RETURN, TAB = 0xFF0D, 0xFF09

# canonical key name (actions.keys) -> keysyms that serve, preferred first
NAMED_KEYSYMS: dict[str, tuple[int, ...]] = {
    "enter": (RETURN,), "esc": (0xFF1B,), "tab": (TAB,), "space": (0x20,), "backspace": (0xFF08,),
    "delete": (0xFFFF,), "insert": (0xFF63,), "home": (0xFF50,), "end": (0xFF57,), "pageup": (0xFF55,),
    "pagedown": (0xFF56,), "left": (0xFF51,), "up": (0xFF52,), "right": (0xFF53,), "down": (0xFF54,),
    "capslock": (CAPS_LOCK,), "menu": (0xFF67,), "printscreen": (0xFF61,), "pause": (0xFF13,),
    "numlock": (0xFF7F,), "scrolllock": (0xFF14,),
    **{f"f{i}": (0xFFBD + i,) for i in range(1, 21)},
}
MODIFIER_KEYSYMS: dict[str, tuple[int, ...]] = {
    "shift": (0xFFE1, 0xFFE2), "ctrl": (0xFFE3, 0xFFE4), "alt": (0xFFE9, 0xFFEA, 0xFFE7, 0xFFE8),
    "super": (0xFFEB, 0xFFEC),
}
CONTROL_CHARS: dict[str, int] = {"\n": RETURN, "\r": RETURN, "\t": TAB}


class KeyNotPressable(DeskpilotError, RuntimeError):
    """A key or character that cannot be sent on this keyboard; raised before any of the action is sent."""


@dataclass(frozen=True)
class Stroke:
    """One key press: the keycode and the level modifiers it needs to produce the wanted keysym."""

    keycode: int
    shift: bool = False
    level3: bool = False


def char_keysym(char: str) -> int:
    """The keysym X defines for `char`: its Latin-1 code, else 0x01000000 + code point."""
    code = ord(char)
    if char in CONTROL_CHARS:
        return CONTROL_CHARS[char]
    if code < 0x20 or 0x7F <= code < 0xA0:
        raise KeyNotPressable(f"cannot type the control character {char!r}")
    return code if code <= 0xFF else 0x01000000 | code


def is_char_keysym(keysym: int) -> bool:
    """Whether `keysym` stands for a character: not a function, keypad, modifier or dead key."""
    return 0x20 <= keysym < 0xFE00 or 0x01000100 <= keysym <= 0x0110FFFF


@functools.lru_cache(maxsize=1)
def _xkb_to_utf32() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("xkbcommon")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).xkb_keysym_to_utf32
    except (OSError, AttributeError):
        return None
    func.restype, func.argtypes = ctypes.c_uint32, [ctypes.c_uint32]
    return func


@functools.lru_cache(maxsize=4096)
def keysym_char(keysym: int) -> str | None:
    """The character a character keysym stands for (legacy keysyms need libxkbcommon), else None."""
    if not is_char_keysym(keysym):
        return None
    if keysym <= 0xFF:
        return chr(keysym) if keysym <= 0x7E or keysym >= 0xA0 else None
    if keysym >= 0x01000000:
        return chr(keysym - 0x01000000)
    to_utf32 = _xkb_to_utf32()
    code = to_utf32(keysym) if to_utf32 is not None else 0
    return chr(code) if code >= 0x20 else None


@dataclass(frozen=True)
class Keymap:
    """The core keyboard mapping, the modifier mapping and the group in force, as read from the server."""

    first_keycode: int
    rows: tuple[tuple[int, ...], ...]
    modmap: tuple[tuple[int, ...], ...]  # keycodes per modifier: Shift, Lock, Control, Mod1..Mod5
    group: int = 0
    caps_lock: bool = False

    def row(self, keycode: int) -> tuple[int, ...]:
        index = keycode - self.first_keycode
        return self.rows[index] if 0 <= index < len(self.rows) else ()

    def spare_keycodes(self) -> list[int]:
        """Keycodes without any keysym (free to carry characters the layout lacks)."""
        return [self.first_keycode + i for i, row in enumerate(self.rows) if not any(row)]

    @functools.cached_property
    def single_group(self) -> bool:
        """Whether no key has a second group of its own: core columns 2-3 repeat columns 0-1 or are empty."""
        def pair(row: tuple[int, ...], at: int) -> tuple[int, int]:
            return (row[at] if at < len(row) else 0), (row[at + 1] if at + 1 < len(row) else 0)

        return all(pair(row, 2) in ((0, 0), pair(row, 0)) for row in self.rows)

    def columns(self) -> tuple[tuple[int, bool, bool], ...]:
        """(core column, Shift, AltGr) of each level that can be pressed in the group in force, level order.

        Levels 1-2 of group g sit in columns 2g and 2g+1. Levels 3-4 of group 1 are columns 4-5 only when
        the keymap has a single group: otherwise those columns hold whichever group has more levels
        (on us,de the "2" key reads 2 at 2 quotedbl twosuperior: the second group's levels 3-4).
        """
        if self.group > 1:
            return ()
        levels = ((2 * self.group, False, False), (2 * self.group + 1, True, False))
        return levels + (((4, False, True), (5, True, True)) if self.single_group else ())

    @functools.cached_property
    def _strokes(self) -> dict[int, Stroke]:
        """keysym -> the stroke that produces it (first level, then lowest keycode, wins)."""
        found: dict[int, Stroke] = {}
        for column, shift, level3 in self.columns():
            if (level3 and self.level3_keycode is None) or (shift and self.shift_keycode is None):
                continue
            for index, row in enumerate(self.rows):
                if column < len(row) and row[column] != NO_SYMBOL:
                    found.setdefault(row[column], Stroke(self.first_keycode + index, shift, level3))
        return found

    @functools.cached_property
    def _chars(self) -> dict[str, Stroke]:
        """character -> stroke, through every character keysym the layout has (legacy ones too)."""
        found: dict[str, Stroke] = {}
        for keysym, stroke in sorted(self._strokes.items(), key=lambda item: _rank(item[1])):
            char = keysym_char(keysym)
            if char is not None:
                found.setdefault(char, stroke)
        return found

    def stroke_for_keysym(self, keysyms: Iterable[int]) -> Stroke | None:
        strokes = [self._strokes[k] for k in keysyms if k in self._strokes]
        return min(strokes, key=_rank) if strokes else None

    def stroke_for_char(self, char: str) -> Stroke | None:
        keysym = char_keysym(char)
        if not is_char_keysym(keysym):  # newline, tab
            return self.stroke_for_keysym((keysym,))
        return self._chars.get(char)

    def keysym_at(self, keycode: int, state: int) -> int:
        """The keysym a press of `keycode` produces with modifier and group `state` (an event's state field),
        by the core protocol's rules: the group's pair of columns (a lone first keysym stands for both,
        upper-cased under Shift or Caps Lock when it is a letter), AltGr's pair when the keymap has a single
        group and the AltGr modifier is on. NoSymbol (0) where the key has none."""
        row, group = self.row(keycode), min((state >> 13) & 3, 1)
        level3 = self.single_group and self.level3_mask and state & self.level3_mask
        column = 4 if level3 else 2 * group
        plain, shifted = (row[column] if column < len(row) else 0), (row[column + 1] if column + 1 < len(row) else 0)
        if not plain and not shifted and column:  # a key without this group or level: its first group
            plain, shifted = row[:1] or (0,), row[1:2] or (0,)
            plain, shifted = plain[0], shifted[0]
        char = keysym_char(plain) if plain else None
        if not shifted:
            shifted = char_keysym(char.upper()) if char is not None and len(char.upper()) == 1 else plain
        if state & 1:
            return shifted
        if state & LOCK_MASK and char is not None and char.isalpha() and len(char.upper()) == 1:
            return char_keysym(char.upper())
        return plain

    @functools.cached_property
    def level3_mask(self) -> int:
        """The modifier bit AltGr (ISO_Level3_Shift) is bound to; 0 when none is."""
        for index, row in enumerate(self.modmap[3:], start=3):
            if any(keycode and LEVEL3_SHIFT in self.row(keycode)[:1] for keycode in row):
                return 1 << index
        return 0

    def modifier_keycode(self, name: str) -> int | None:
        """A keycode producing the modifier `name` (ctrl, alt, shift, super) that is bound to a modifier."""
        rows = {"shift": self.modmap[SHIFT:SHIFT + 1], "ctrl": self.modmap[CONTROL:CONTROL + 1]}
        return self._bound_keycode(MODIFIER_KEYSYMS[name], rows.get(name, self.modmap))

    @functools.cached_property
    def level3_keycode(self) -> int | None:
        """A keycode of ISO_Level3_Shift (AltGr) bound to Mod1..Mod5, if the layout has one."""
        return self._bound_keycode((LEVEL3_SHIFT,), self.modmap[3:])

    @functools.cached_property
    def shift_keycode(self) -> int | None:
        return self.modifier_keycode("shift")

    def caps_lock_keycode(self) -> int | None:
        stroke = self.stroke_for_keysym((CAPS_LOCK,))
        return None if stroke is None or stroke.shift or stroke.level3 else stroke.keycode

    def _bound_keycode(self, keysyms: Sequence[int], modifier_rows: Sequence[Sequence[int]]) -> int | None:
        bound = sorted({keycode for row in modifier_rows for keycode in row if keycode})
        base = 2 * self.group if self.group <= 1 else 0
        for keysym in keysyms:
            for keycode in bound:
                row = self.row(keycode)
                if keysym in (row[base:base + 1] or row[:1]):
                    return keycode
        return None


def _rank(stroke: Stroke) -> tuple[int, int]:
    return stroke.level3 * 2 + stroke.shift, stroke.keycode


def pack_rows(keysyms: Sequence[int]) -> list[tuple[int, int]]:
    """Rows for spare keycodes: two keysyms per keycode (plain, Shift); an odd last one fills both levels."""
    rows = [(keysyms[i], keysyms[i + 1]) for i in range(0, len(keysyms) - 1, 2)]
    if len(keysyms) % 2:
        rows.append((keysyms[-1], keysyms[-1]))
    return rows


def runs(keycodes: Iterable[int]) -> list[list[int]]:
    """Sorted keycodes split into runs of consecutive ones (one ChangeKeyboardMapping request each)."""
    out: list[list[int]] = []
    for keycode in sorted(set(keycodes)):
        if out and out[-1][-1] == keycode - 1:
            out[-1].append(keycode)
        else:
            out.append([keycode])
    return out
