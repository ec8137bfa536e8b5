"""`X11Keyboard` against a fake X server that resolves key presses as XKB would: what it types, how it maps.

The fake keeps a core keymap (a written (plain, Shift) pair reads back as [plain, Shift, plain, Shift]),
tracks held modifiers and turns each key press into the character the keymap gives it at that moment.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from Xlib import X
from Xlib.ext import xtest

from actions import x11keyboard
from actions.x11keyboard import KeyNotPressable, X11Keyboard
from actions.x11keymap import keysym_char

SHIFT_L, CONTROL_L, LEVEL3 = 0xFFE1, 0xFFE3, 0xFE03
US = {10: (0x61, 0x41), 11: (0x73, 0x53), 12: (0x2F, 0x3F), 13: (0x31, 0x21), 20: (SHIFT_L, 0), 21: (CONTROL_L, 0),
      23: (LEVEL3, 0), 24: (0xFF1B, 0)}  # a/A s/S //? 1/! Shift Control AltGr Escape


class FakeX:
    def __init__(self, keys: dict[int, tuple[int, ...]], last: int, control: bool = True) -> None:
        self.rows = {k: (list(v) * 2)[:4] for k, v in keys.items()}
        self.last = last
        self.modmap = [[20], [], [21] if control else [], [], [], [], [], [23]]
        self.display = SimpleNamespace(info=SimpleNamespace(min_keycode=8, max_keycode=last))
        window = SimpleNamespace(id=2, destroy=lambda: None, delete_property=lambda atom: None)
        self.root = SimpleNamespace(id=1, create_window=lambda *a, **k: window, get_full_property=lambda *a: None,
                                    query_pointer=lambda: SimpleNamespace(mask=0))
        self.typed: list[str] = []
        self.held: list[int] = []
        self.requests: list[tuple[int, int]] = []  # (first keycode, count) of each ChangeKeyboardMapping

    # the Xlib Display calls X11Keyboard makes
    def get_keyboard_mapping(self, first: int, count: int) -> list[list[int]]:
        return [self.rows.get(k, [0, 0, 0, 0]) for k in range(first, first + count)]

    def change_keyboard_mapping(self, first: int, rows: list[tuple[int, int]]) -> None:
        self.requests.append((first, len(rows)))
        for offset, row in enumerate(rows):
            self.rows[first + offset] = [*row, *row] if any(row) else [0, 0, 0, 0]

    def get_modifier_mapping(self) -> list[list[int]]:
        return self.modmap

    def screen(self) -> Any:
        return SimpleNamespace(root=self.root)

    def intern_atom(self, name: str) -> int:
        return hash(name) & 0xFFFF

    def get_input_focus(self) -> Any:
        return SimpleNamespace(focus=None)

    def pending_events(self) -> int:
        return 0

    def sync(self) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    # what the server does with an XTest key event
    def fake_input(self, event: int, keycode: int) -> None:
        if event == X.KeyRelease:
            self.held.remove(keycode)
            return
        self.held.append(keycode)
        if keycode in (20, 21, 23):
            return
        column = (1 if 20 in self.held else 0) + (4 if 23 in self.held else 0)
        row = self.rows[keycode] + [0, 0]
        char = keysym_char(row[column]) or f"<{row[column]:#x}>"
        self.typed.append(("ctrl+" if 21 in self.held else "") + char)


@pytest.fixture
def fake_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xtest, "fake_input", lambda d, event, keycode: d.fake_input(event, keycode))
    monkeypatch.setattr(x11keyboard, "KEY_INTERVAL_S", 0.0)
    monkeypatch.setattr(x11keyboard, "REUSE_PAUSE_S", 0.0)
    monkeypatch.setattr(x11keyboard, "REMAP_PAUSE_S", 0.0)


def test_layout_characters_are_typed_with_their_levels(fake_input: None) -> None:
    x = FakeX(US, last=30)
    X11Keyboard(x).type("a/S!?")
    assert x.typed == list("a/S!?") and x.requests == []


def test_missing_characters_are_mapped_in_one_request_per_run_of_spare_keycodes(fake_input: None) -> None:
    x = FakeX(US, last=30)  # spare: 8, 9, 14-19, 22, 25-30
    keyboard = X11Keyboard(x)
    keyboard.type("é a中ü✓ß")
    assert "".join(x.typed) == "é a中ü✓ß"
    assert len(x.requests) == 1 and x.requests[0][1] == 3  # five characters, two per keycode, one run
    keyboard.type("ßé")  # still mapped: no new request
    assert len(x.requests) == 1
    keyboard.close()
    assert not any(any(x.rows.get(k, ())) for k in range(8, 31) if k not in US)  # all given back
    assert x.rows[10][0] == 0x61


def test_when_spare_keycodes_run_out_the_least_recently_used_are_reused(fake_input: None) -> None:
    x = FakeX(US, last=25)  # spare: 8, 9, 14-19, 22, 25: ten keycodes, twenty characters at once
    text = "".join(chr(c) for c in range(0x100, 0x140))  # 64 characters the layout lacks
    X11Keyboard(x).type(text)
    assert "".join(x.typed) == text


def test_nothing_is_typed_when_a_character_cannot_be(fake_input: None) -> None:
    full = {k: (0x100 + k, 0x200 + k) for k in range(8, 31) if k not in US} | US  # no spare keycode at all
    x = FakeX(full, last=30)
    with pytest.raises(KeyNotPressable, match="é"):
        X11Keyboard(x).type("aaé")
    with pytest.raises(KeyNotPressable, match="control character"):
        X11Keyboard(x).type("a\x07")
    assert x.typed == []


def test_keys_name_keysyms_and_modifiers_must_exist(fake_input: None) -> None:
    x = FakeX(US, last=30)
    X11Keyboard(x).key(("ctrl", "s"))
    X11Keyboard(x).key(("ctrl", "?"))  # Shift comes with it: that is how "?" is typed here
    X11Keyboard(x).key(("ctrl", "é"))  # not on the layout: a spare keycode
    assert x.typed == ["ctrl+s", "ctrl+?", "ctrl+é"] and x.held == []
    no_control = FakeX(US, last=30, control=False)
    with pytest.raises(KeyNotPressable, match="ctrl"):
        X11Keyboard(no_control).key(("ctrl", "é"))
    assert no_control.typed == [] and no_control.requests == []
