"""Key names: one canonical spelling for every key a model or a script may name.

Models write keys in many spellings ("Return", "enter", "ctrl", "Control_L", "cmd", "PgDn").
`canonical_key` folds them to one lowercase name, or raises ValueError for a name we do not
know, so executors only ever see names from `KNOWN_KEYS` or a single printable character.
Not for: sending keys (see the executors).
"""

from __future__ import annotations

NAMED_KEYS: frozenset[str] = frozenset(
    {
        "enter", "esc", "tab", "space", "backspace", "delete", "insert",
        "home", "end", "pageup", "pagedown", "up", "down", "left", "right",
        "ctrl", "alt", "shift", "super", "capslock", "menu", "printscreen",
        "pause", "numlock", "scrolllock",
    }
    | {f"f{i}" for i in range(1, 21)}
)

_ALIASES: dict[str, str] = {
    "return": "enter", "kp_enter": "enter", "escape": "esc", "del": "delete", "ins": "insert",
    "bksp": "backspace", "back_space": "backspace", "spacebar": "space",
    "page_up": "pageup", "pgup": "pageup", "prior": "pageup",
    "page_down": "pagedown", "pgdn": "pagedown", "next": "pagedown",
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "control": "ctrl", "control_l": "ctrl", "control_r": "ctrl", "ctrlleft": "ctrl", "ctrlright": "ctrl",
    "alt_l": "alt", "alt_r": "alt", "altleft": "alt", "altright": "alt", "option": "alt", "meta": "alt",
    "shift_l": "shift", "shift_r": "shift", "shiftleft": "shift", "shiftright": "shift",
    "super_l": "super", "super_r": "super", "win": "super", "winleft": "super", "winright": "super",
    "windows": "super", "cmd": "super", "command": "super",
    "caps_lock": "capslock", "print": "printscreen", "prtsc": "printscreen", "apps": "menu",
    "num_lock": "numlock", "scroll_lock": "scrolllock",
}

MODIFIERS: frozenset[str] = frozenset({"ctrl", "alt", "shift", "super"})


def canonical_key(name: str) -> str:
    """Return the canonical name of a key, or raise ValueError naming the unknown key."""
    if not isinstance(name, str) or not name:
        raise ValueError("a key name must be a non-empty string")
    if len(name) == 1:
        if not name.isprintable():
            raise ValueError(f"unknown key {name!r}")
        return name.lower() if name.isalpha() and name.isascii() else name
    folded = name.strip().lower().replace("-", "_").replace(" ", "_")
    folded = _ALIASES.get(folded, folded)
    if folded in NAMED_KEYS:
        return folded
    raise ValueError(f"unknown key {name!r}")
