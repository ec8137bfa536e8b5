"""The recorder reads each key press with the keyboard mapping in force when the server handled it: a
keycode remapped for a moment (as xdotool, IMEs and our own typer do) is read through the request that
remapped it, even when the mapping is reverted before the recorder gets to the press; a layout change the
requests do not explain is read again from the server; what cannot be read is named."""

from __future__ import annotations

import struct
from types import SimpleNamespace

from actions.x11keymap import Keymap
from agent.record.gestures import Gestures, KeyDown, KeyUp
from agent.record.inputs import describe_keysym
from agent.record.keytap import CHANGE_KEYBOARD_MAPPING, KEY_PRESS, KEY_RELEASE, MAPPING_NOTIFY, KeyTap

FIRST = 8
LETTERS = {38: (0x61, 0x41), 43: (0x68, 0x48), 31: (0x69, 0x49), 32: (0x6F, 0x4F), 52: (0x7A, 0x5A),
           65: (0x20, 0x20), 50: (0xFFE1, 0)}  # a h i o z space Shift_L (us keycodes)
SPARE = 200
SHIFT = 1


def us() -> Keymap:
    rows = [LETTERS.get(FIRST + i, (0, 0)) for i in range(248)]
    return Keymap(FIRST, tuple(rows), ((50,), (), (), (), (), (), (), ()))


def change_request(first: int, rows: list[tuple[int, int]]) -> bytes:
    """The bytes of a core ChangeKeyboardMapping request, as RECORD hands them over."""
    body = b"".join(struct.pack("=II", *row) for row in rows)
    return struct.pack("=BBHBBH", CHANGE_KEYBOARD_MAPPING, len(rows), 2 + len(body) // 4, first, 2, 0) + body


def key(kind: int, keycode: int, state: int = 0) -> SimpleNamespace:
    return SimpleNamespace(type=kind, detail=keycode, state=state)


def tap(reread: Keymap | None = None) -> tuple[KeyTap, list]:
    seen: list = []
    keys = KeyTap(lambda named, keycode, keysym: seen.append(("down", named, keycode, keysym)),
                  lambda named: seen.append(("up", named)))
    keys._keymap = us()
    keys._read_keymap = lambda: reread  # type: ignore[method-assign]
    return keys, seen


def typed(seen: list) -> str:
    gestures, done = Gestures(), []
    for t, item in enumerate(seen):
        if item[0] == "down" and item[1] is not None:
            done += gestures.feed(KeyDown(float(t), item[1][0], item[1][1]))
        elif item[0] == "up":
            done += gestures.feed(KeyUp(float(t), item[1][0]))
    done += gestures.finish()
    return "".join(g.action.text for g in done if g.action.action == "type")


def test_hi_zoe_typed_through_a_keycode_remapped_and_reverted_at_once_is_kept_whole() -> None:
    keys, seen = tap()
    for keycode, state in ((43, SHIFT), (31, 0), (65, 0), (52, SHIFT), (32, 0)):  # "Hi Zo"
        keys._event(key(KEY_PRESS, keycode, state))
        keys._event(key(KEY_RELEASE, keycode, state))
    keys._requests(change_request(SPARE, [(0xEB, 0xEB)]))  # xdotool maps ë onto a spare keycode...
    keys._event(SimpleNamespace(type=MAPPING_NOTIFY, request=1, first_keycode=SPARE, count=1))
    keys._event(key(KEY_PRESS, SPARE))
    keys._event(key(KEY_RELEASE, SPARE))
    keys._requests(change_request(SPARE, [(0, 0)]))  # ...and takes it back before we read the press
    assert typed(seen) == "Hi Zoë"
    assert [s[1] for s in seen if s[0] == "down"][-1] == ("ë", "ë")


def test_a_layout_loaded_by_xkb_is_read_again_from_the_server() -> None:
    rows = list(us().rows)
    rows[52 - FIRST], rows[29 - FIRST] = (0x79, 0x59), (0x7A, 0x5A)  # de: y and z change places
    keys, seen = tap(Keymap(FIRST, tuple(rows), us().modmap))
    keys._event(SimpleNamespace(type=MAPPING_NOTIFY, request=1, first_keycode=FIRST, count=248))
    keys._event(key(KEY_PRESS, 52))
    assert seen[-1][1] == ("y", "y")


def test_an_unreadable_key_is_named() -> None:
    keys, seen = tap()
    keys._event(key(KEY_PRESS, 99))  # a keycode without a keysym
    assert seen == [("down", None, 99, 0)]
    assert describe_keysym(99, 0) == "a key press with no keysym (keycode 99)"
    assert describe_keysym(120, 0x1008FF14) == "a key press with keysym 0x1008ff14 (keycode 120)"
