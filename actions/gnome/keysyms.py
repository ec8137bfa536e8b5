"""X keysyms for mutter's NotifyKeyboardKeysym, and which text can be typed with them.

mutter types a keysym only when the active layout has a key for it ("No keycode found for keyval"
otherwise), so text is split: printable ASCII, newline and tab go as keysyms (every Latin layout
has them, mutter adds Shift for upper case), every other character goes through the clipboard.
Not for: sending anything (the computer does), or canonical key names (actions.keys).
"""

from __future__ import annotations

MODIFIER_KEYSYMS: dict[str, int] = {"shift": 0xFFE1, "ctrl": 0xFFE3, "alt": 0xFFE9, "super": 0xFFEB}
NAMED_KEYSYMS: dict[str, int] = {
    "enter": 0xFF0D, "esc": 0xFF1B, "tab": 0xFF09, "space": 0x20, "backspace": 0xFF08, "delete": 0xFFFF,
    "insert": 0xFF63, "home": 0xFF50, "end": 0xFF57, "pageup": 0xFF55, "pagedown": 0xFF56,
    "up": 0xFF52, "down": 0xFF54, "left": 0xFF51, "right": 0xFF53, "capslock": 0xFFE5, "menu": 0xFF67,
    "printscreen": 0xFF61, "pause": 0xFF13, "numlock": 0xFF7F, "scrolllock": 0xFF14,
    **{f"f{i}": 0xFFBE + i - 1 for i in range(1, 21)}, **MODIFIER_KEYSYMS,
}
TEXT_KEYSYMS: dict[str, int] = {"\n": 0xFF0D, "\t": 0xFF09}


def typeable(char: str) -> bool:
    """Whether `char` goes as a keysym (on every Latin layout) rather than through the clipboard."""
    return char in TEXT_KEYSYMS or " " <= char <= "~"


def keysym(symbol: str) -> int:
    """The keysym of a canonical key name or one typeable character; ValueError otherwise."""
    if symbol in NAMED_KEYSYMS:
        return NAMED_KEYSYMS[symbol]
    if symbol in TEXT_KEYSYMS:
        return TEXT_KEYSYMS[symbol]
    if len(symbol) == 1 and (" " <= symbol <= "~" or "\xa0" <= symbol <= "\xff"):
        return ord(symbol)  # Latin-1 keysyms are their code points
    if len(symbol) == 1 and symbol.isprintable():
        return 0x01000000 + ord(symbol)  # the Unicode keysym: mutter finds it only on a layout that has it
    raise ValueError(f"no keysym for {symbol!r}")


def runs(text: str) -> list[tuple[bool, str]]:
    """`text` cut into runs: (True, typeable characters) and (False, characters for the clipboard). A
    typeable run between two pasted ones joins them when it holds no Enter or Tab (one paste, not three)."""
    out: list[tuple[bool, str]] = []
    for char in text:
        kind = typeable(char)
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + char)
        else:
            out.append((kind, char))
    merged: list[tuple[bool, str]] = []
    for i, (kind, piece) in enumerate(out):
        between = i < len(out) - 1 and not any(c in TEXT_KEYSYMS for c in piece)  # the next run is pasted
        if merged and not merged[-1][0] and (not kind or between):
            merged[-1] = (False, merged[-1][1] + piece)
        else:
            merged.append((kind, piece))
    return merged
