"""pyautogui's own keyboard path (not X11), without a display: what it cannot send fails before anything is sent."""

from __future__ import annotations

import pytest

from actions.pyautogui_computer import KeyNotPressable, PyAutoGuiKeys


class FakeGui:
    KEYBOARD_KEYS = ("ctrl", "shift", "a", "s", "winleft", "\n", "\t", " ", "!")

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def hotkey(self, *keys: str) -> None:
        self.events.append(("hotkey", *keys))

    def write(self, text: str) -> None:
        self.events.append(("write", text))


def test_keys_it_knows_go_through_hotkey_under_its_own_names() -> None:
    gui = FakeGui()
    PyAutoGuiKeys(gui).key(("ctrl", "s"))
    PyAutoGuiKeys(gui).key(("super",))
    assert gui.events == [("hotkey", "ctrl", "s"), ("hotkey", "winleft")]


@pytest.mark.parametrize("keys", [("é",), ("ctrl", "é"), ("ctrl", "f20")])
def test_a_key_it_cannot_send_is_an_error_and_nothing_is_pressed(keys: tuple[str, ...]) -> None:
    gui = FakeGui()
    with pytest.raises(KeyNotPressable, match=repr(keys[-1])):
        PyAutoGuiKeys(gui).key(keys)
    assert gui.events == []


def test_text_it_cannot_type_is_an_error_and_nothing_is_typed() -> None:
    gui = FakeGui()
    PyAutoGuiKeys(gui).type("as !\n")
    with pytest.raises(KeyNotPressable, match="é"):
        PyAutoGuiKeys(gui).type("a é")
    assert gui.events == [("write", "as !\n")]
