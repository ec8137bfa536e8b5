"""The pyautogui executor's key presses, without a display: a key pyautogui cannot send is never a no-op."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from actions.pyautogui_computer import KeyNotPressable, PyAutoGuiComputer


class FakeGui:
    """pyautogui's key API; `keyboardMapping` as its X11 backend builds it (0: no keycode on this layout)."""

    KEYBOARD_KEYS = ("ctrl", "shift", "a", "s", "f20")

    def __init__(self, events: list[tuple[str, ...]], x11: bool = True) -> None:
        self.events = events
        if x11:
            self._pyautogui_x11 = SimpleNamespace(keyboardMapping={"ctrl": 37, "shift": 50, "a": 38, "s": 39,
                                                                   "f20": 0, "é": None})

    def hotkey(self, *keys: str) -> None:
        self.events.append(("hotkey", *keys))

    def keyDown(self, key: str) -> None:
        self.events.append(("down", key))

    def keyUp(self, key: str) -> None:
        self.events.append(("up", key))


class FakeTyper:
    def __init__(self, events: list[tuple[str, ...]]) -> None:
        self.events = events

    def press(self, char: str) -> None:
        self.events.append(("unicode down", char))

    def release(self, char: str) -> None:
        self.events.append(("unicode up", char))


def computer(events: list[tuple[str, ...]], typer: bool = True, x11: bool = True) -> Any:
    c = object.__new__(PyAutoGuiComputer)  # the real constructor connects to X
    c._gui, c._typer, c._capture = FakeGui(events, x11), FakeTyper(events) if typer else None, None
    return c


def test_keys_pyautogui_can_press_go_through_hotkey() -> None:
    events: list[tuple[str, ...]] = []
    computer(events).key(("ctrl", "s"))
    assert events == [("hotkey", "ctrl", "s")]


@pytest.mark.parametrize("keys", [("é",), ("ctrl", "é"), ("ctrl", "shift", "ü")])
def test_a_character_off_the_layout_is_held_through_the_unicode_path(keys: tuple[str, ...]) -> None:
    events: list[tuple[str, ...]] = []
    computer(events).key(keys)
    *mods, char = keys
    assert events == ([("down", m) for m in mods] + [("unicode down", char), ("unicode up", char)]
                      + [("up", m) for m in reversed(mods)])


@pytest.mark.parametrize(("keys", "typer", "x11"), [
    (("é",), False, True),  # no X11 Unicode input
    (("ctrl", "f20"), True, True),  # a named key without a keycode on this keyboard
    (("é",), False, False),  # not X11 (no Unicode path either): pyautogui's own key list decides
])
def test_a_key_that_cannot_be_sent_is_an_error_and_nothing_is_pressed(
    keys: tuple[str, ...], typer: bool, x11: bool
) -> None:
    events: list[tuple[str, ...]] = []
    with pytest.raises(KeyNotPressable, match=repr(keys[-1])):
        computer(events, typer, x11).key(keys)
    assert events == []
