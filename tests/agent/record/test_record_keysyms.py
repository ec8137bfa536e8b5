"""The recorder reads a key press through its keysym when the listener has no character for it (a
keycode remapped at run time, as xdotool, IMEs and our own typer do), and names what it cannot read."""

from __future__ import annotations

from dataclasses import dataclass

from agent.record.gestures import Gestures, KeyDown
from agent.record.inputs import char_of_keysym, describe_key, key_of


@dataclass
class KeyCode:  # the two attributes pynput's KeyCode carries
    vk: int | None = None
    char: str | None = None


def test_remapped_keycodes_are_read_through_their_keysym() -> None:
    assert key_of(KeyCode(vk=0xEB)) == ("ë", "ë")  # Latin-1 keysym
    assert key_of(KeyCode(vk=0x01000000 | ord("Ł"))) == ("Ł", "Ł")  # Unicode keysym
    assert key_of(KeyCode(vk=ord("Z"), char="Z")) == ("z", "Z")  # the key is named in lower case
    assert char_of_keysym(0xFF0D) is None and char_of_keysym(None) is None


def test_hi_zoe_typed_through_remapped_keycodes_is_kept_whole() -> None:
    presses = [KeyCode(ord(c), c) for c in "Hi Z"] + [KeyCode(ord("o")), KeyCode(0xEB)]
    gestures, done = Gestures(), []
    for t, key in enumerate(presses):
        name, char = key_of(key)
        done += gestures.feed(KeyDown(float(t), name, char))
    done += gestures.finish()
    assert [g.action.text for g in done] == ["Hi Zoë"]


def test_an_unreadable_key_is_named() -> None:
    assert key_of(KeyCode(vk=0xFE03)) is None  # ISO_Level3_Shift: no character
    assert describe_key(KeyCode(vk=0xFE03)) == "a key press with keysym 0xfe03"
    assert describe_key(KeyCode()) == "a key press with no keysym"
