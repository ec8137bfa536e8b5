"""What a line of typed text may look like after `type` and `key` actions: the text rules' memory.

The gate cannot see what an application makes of editing keys, so `TypedLine` keeps three views
of the text typed since the last Enter, and the text rules check every pattern against each:

- `raw`: every character typed, all editing keys ignored ("mkfX", backspace, "s" → "mkfXs");
- `erased`: the same with backspaces applied and cursor moves ignored ("mkfs");
- `line`: a model of a shell's line editor (readline's emacs keys, which text fields share in
  part): text goes in at the cursor; home/end, the arrows, ctrl+a/e/b/f and ctrl/alt word moves
  move it; backspace, delete and ctrl+h/d/u/k/w cut; ctrl+y pastes the last cut; ctrl+t swaps.

`submits(keys)` says whether a key combination submits a line in a terminal: Enter (Return and
keypad Enter fold to it), ctrl+j and ctrl+m (the bytes a terminal sends for Enter) and ctrl+o
(bash and zsh run the line). `key_text(keys)` is the character a key press types, shift+<key> on
a US layout included.
Not for: deciding anything (`actions.textrules`, `actions.rules`), or being exact: an application
with other key bindings edits differently, so the views bound the likely texts rather than prove
one; the terminal-Enter rule and the window allow-list are the backstops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from actions.schema import Action, Key, Type

BUFFER = 2000  # characters of each view kept between actions
_SHIFTED = dict(zip("`1234567890-=[]\\;',./", "~!@#$%^&*()_+{}|:\"<>?", strict=True))
_NAMED_TEXT = {"space": " ", "tab": "\t"}
_CONTROL = re.compile(r"([\n\r\b\x7f])")
_WORD = re.compile(r"\S+")


_SUBMIT = tuple(frozenset(c.split("+")) for c in ("enter", "ctrl+j", "ctrl+m", "ctrl+o"))
_EDIT_KEYS: dict[str, tuple[str, ...]] = {
    "back": ("backspace", "shift+backspace", "ctrl+h"),
    "delete": ("delete", "ctrl+d"),
    "home": ("home", "ctrl+a"),
    "end": ("end", "ctrl+e"),
    "left": ("left", "ctrl+b"),
    "right": ("right", "ctrl+f"),
    "word_left": ("ctrl+left", "alt+left", "alt+b"),
    "word_right": ("ctrl+right", "alt+right", "alt+f"),
    "kill_start": ("ctrl+u",),
    "kill_end": ("ctrl+k",),
    "kill_word": ("ctrl+w", "alt+backspace", "ctrl+backspace"),
    "kill_word_forward": ("alt+d", "ctrl+delete"),
    "yank": ("ctrl+y",),
    "transpose": ("ctrl+t",),
}
_EDITS = {frozenset(combo.split("+")): edit for edit, combos in _EDIT_KEYS.items() for combo in combos}


def submits(keys: tuple[str, ...] | frozenset[str]) -> bool:
    """True when pressing `keys` together submits a terminal's line (extra modifiers too)."""
    pressed = frozenset(keys)
    return any(combo <= pressed for combo in _SUBMIT)


def key_text(keys: tuple[str, ...] | frozenset[str]) -> str | None:
    """The character pressing `keys` types ('a', '|' for shift+backslash, ' '), or None."""
    pressed = frozenset(keys)
    if len(pressed) == 2 and "shift" in pressed:
        (other,) = pressed - {"shift"}
        if len(other) == 1:
            return other.upper() if other.isalpha() else _SHIFTED.get(other)
        return " " if other == "space" else None
    if len(pressed) == 1:
        (only,) = pressed
        return only if len(only) == 1 else _NAMED_TEXT.get(only)
    return None


@dataclass(frozen=True)
class TypedLine:
    """Three views of the text typed since the last Enter (see the module docstring)."""

    raw: str = ""
    erased: str = ""
    line: str = ""
    cursor: int = 0
    killed: str = ""  # the last cut, for ctrl+y
    done: str = ""  # lines submitted by this action (kept until `settled`, so they are checked)

    def views(self) -> tuple[str, str, str]:
        return self.raw, self.erased, self.done + self.line

    def apply(self, action: Action) -> TypedLine:
        """The views after `action` (a `type` or `key`; any other action changes nothing)."""
        if isinstance(action, Type):
            state = self
            for part in _CONTROL.split(action.text):
                if part in ("\n", "\r"):
                    state = state._enter()
                elif part in ("\b", "\x7f"):
                    state = state._edit("back")
                elif part:
                    state = state._insert(part)
            return state
        if not isinstance(action, Key):
            return self
        if submits(action.keys):
            return self._enter()
        text = key_text(action.keys)
        if text is not None:
            return self._insert(text)
        edit = _EDITS.get(frozenset(action.keys))
        return self._edit(edit) if edit is not None else self

    def settled(self) -> TypedLine:
        """What to remember: submitted lines dropped, each view cut to its last `BUFFER` characters."""
        cut = max(0, len(self.line) - BUFFER)
        return TypedLine(_tail(self.raw), _tail(self.erased), self.line[cut:], max(0, self.cursor - cut),
                         self.killed[-BUFFER:])

    def _enter(self) -> TypedLine:
        return TypedLine(self.raw + "\n", self.erased + "\n", "", 0, self.killed, self.done + self.line + "\n")

    def _insert(self, text: str) -> TypedLine:
        line = self.line[: self.cursor] + text + self.line[self.cursor:]
        return replace(self, raw=self.raw + text, erased=self.erased + text, line=line,
                       cursor=self.cursor + len(text))

    def _edit(self, edit: str) -> TypedLine:
        line, at = self.line, self.cursor
        if edit == "back":
            erased = self.erased if self.erased.endswith("\n") else self.erased[:-1]
            return replace(self, erased=erased, line=line[: max(0, at - 1)] + line[at:], cursor=max(0, at - 1))
        if edit == "yank":
            return replace(self, line=line[:at] + self.killed + line[at:], cursor=at + len(self.killed))
        if edit == "transpose":  # at the end of the line: the last two characters
            i = min(at, len(line) - 1)
            if at == 0 or i < 1:
                return self
            return replace(self, line=line[: i - 1] + line[i] + line[i - 1] + line[i + 1:], cursor=i + 1)
        start, end = _span(edit, line, at)
        if edit in ("home", "end", "left", "right", "word_left", "word_right"):
            return replace(self, cursor=end if edit in ("end", "right", "word_right") else start)
        if edit == "delete":
            return replace(self, line=line[:at] + line[at + 1:])
        if start == end:
            return self
        return replace(self, line=line[:start] + line[end:], cursor=start, killed=line[start:end])


def _span(edit: str, line: str, at: int) -> tuple[int, int]:
    """The stretch of `line` a movement crosses or a cut removes, from the cursor `at`."""
    if edit in ("home", "kill_start"):
        return 0, at
    if edit in ("end", "kill_end"):
        return at, len(line)
    if edit == "left":
        return max(0, at - 1), at
    if edit == "right":
        return at, min(len(line), at + 1)
    if edit in ("word_left", "kill_word"):
        starts = [m.start() for m in _WORD.finditer(line[:at])]
        return (starts[-1] if starts else 0), at
    if edit in ("word_right", "kill_word_forward"):
        word = _WORD.search(line, at)
        return at, (word.end() if word else len(line))
    return at, at


def _tail(view: str) -> str:
    return view.rsplit("\n", 1)[-1][-BUFFER:]
