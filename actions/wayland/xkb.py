"""XKB keymaps for the virtual keyboard: one keycode per symbol the text or shortcut needs.

Wayland's virtual-keyboard protocol lets a client upload its own keymap, so typing never depends on
the user's layout: every character gets a keycode whose only level is its keysym (named `Uxxxx`,
which xkbcommon reads as the Latin-1 keysym or 0x01000000 + code point), and the four modifiers sit on
fixed keycodes. Not for: sending keys (the keyboard module) or canonical key names (actions.keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actions.keys import MODIFIERS

# modifier → (keysym name, XKB modifier, mask bit on the wire)
MODIFIER_KEYS: dict[str, tuple[str, str, int]] = {
    "shift": ("Shift_L", "Shift", 1), "ctrl": ("Control_L", "Control", 4),
    "alt": ("Alt_L", "Mod1", 8), "super": ("Super_L", "Mod4", 64),
}
NAMED_KEYSYMS: dict[str, str] = {
    "enter": "Return", "esc": "Escape", "tab": "Tab", "space": "space", "backspace": "BackSpace",
    "delete": "Delete", "insert": "Insert", "home": "Home", "end": "End", "pageup": "Prior",
    "pagedown": "Next", "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "capslock": "Caps_Lock", "menu": "Menu", "printscreen": "Print", "pause": "Pause",
    "numlock": "Num_Lock", "scrolllock": "Scroll_Lock", **{f"f{i}": f"F{i}" for i in range(1, 21)},
}
FIRST_KEYCODE = 9  # XKB keycode = evdev code + 8; 8 is the lowest XKB allows
MAX_SYMBOLS = 240  # stay below keycode 256: XWayland clients cannot see higher keycodes


def keysym(symbol: str) -> str:
    """The XKB keysym for a canonical key name or one character ("\\n" is Return, "\\t" Tab)."""
    if symbol in NAMED_KEYSYMS:
        return NAMED_KEYSYMS[symbol]
    if symbol in MODIFIER_KEYS:
        return MODIFIER_KEYS[symbol][0]
    if symbol == "\n":
        return "Return"
    if symbol == "\t":
        return "Tab"
    if len(symbol) != 1:
        raise ValueError(f"no keysym for {symbol!r}")
    return f"U{ord(symbol):04X}"  # xkbcommon maps U+00xx to the Latin-1 keysym, others to 0x01000000 + code


@dataclass(frozen=True)
class Keymap:
    """A keymap text and the XKB keycode of every symbol in it."""

    text: str
    keycodes: dict[str, int]

    def covers(self, symbols: Iterable[str]) -> bool:
        return all(s in self.keycodes for s in symbols)


def build_keymap(symbols: Iterable[str]) -> Keymap:
    """A keymap holding the modifiers plus `symbols` (characters or canonical key names)."""
    wanted = list(dict.fromkeys([*MODIFIER_KEYS, *symbols]))
    if len(wanted) > MAX_SYMBOLS:
        raise ValueError(f"a keymap holds at most {MAX_SYMBOLS} symbols, not {len(wanted)}")
    keycodes = {s: FIRST_KEYCODE + i for i, s in enumerate(wanted)}
    last = FIRST_KEYCODE + len(wanted) - 1
    codes = "".join(f"  <K{c}> = {c};\n" for c in keycodes.values())
    syms = "".join(f"  key <K{c}> {{ [ {keysym(s)} ] }};\n" for s, c in keycodes.items())
    mods = "".join(f"  modifier_map {MODIFIER_KEYS[m][1]} {{ <K{keycodes[m]}> }};\n" for m in MODIFIERS)
    text = (
        "xkb_keymap {\n"
        f'xkb_keycodes "deskpilot" {{\n  minimum = 8;\n  maximum = {max(last, 255)};\n{codes}}};\n'
        'xkb_types "deskpilot" { include "complete" };\n'
        'xkb_compat "deskpilot" { include "complete" };\n'
        f'xkb_symbols "deskpilot" {{\n{syms}{mods}}};\n'
        "};\n"
    )
    return Keymap(text, keycodes)


def chunks(text: str) -> list[str]:
    """Split `text` into pieces that each fit one keymap (most texts are one piece)."""
    pieces, current, seen = [], [], set(MODIFIER_KEYS)
    for char in text:
        if char not in seen and len(seen) >= MAX_SYMBOLS:
            pieces.append("".join(current))
            current, seen = [], set(MODIFIER_KEYS)
        seen.add(char)
        current.append(char)
    if current:
        pieces.append("".join(current))
    return pieces
