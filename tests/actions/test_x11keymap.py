"""The keysym -> key + modifiers rules of `actions.x11keymap`, on keymaps written out as the X server reports them."""

from __future__ import annotations

import pytest

from actions.x11keymap import (
    Keymap,
    KeyNotPressable,
    Stroke,
    char_keysym,
    keysym_char,
    pack_rows,
    runs,
)

# keysyms
LESS, GREATER, SLASH, QUESTION, SEVEN, AMP, AT, Q, Z, Y = 0x3C, 0x3E, 0x2F, 0x3F, 0x37, 0x26, 0x40, 0x71, 0x7A, 0x79
SHIFT_L, CONTROL_L, ALT_L, LEVEL3, KP_DECIMAL, RETURN = 0xFFE1, 0xFFE3, 0xFFE9, 0xFE03, 0xFFAE, 0xFF0D
TWO, QUOTEDBL, TWOSUPERIOR, ONEEIGHTH = 0x32, 0x22, 0xB2, 0xAC3
CYRILLIC_ES = 0x6D3  # "с"
FIRST = 8


def keymap(keys: dict[int, tuple[int, ...]], group: int = 0, modmap: dict[int, tuple[int, ...]] | None = None,
           last: int = 40) -> Keymap:
    """A keymap with `keys` (keycode -> core row), Shift_L on 20, Control_L on 21, Alt_L on 22, AltGr on 23."""
    keys = {20: (SHIFT_L, 0, SHIFT_L), 21: (CONTROL_L, 0, CONTROL_L), 22: (ALT_L, 0, ALT_L),
            23: (LEVEL3, 0, LEVEL3), 24: (RETURN, 0, RETURN)} | keys
    rows = tuple(keys.get(k, ()) for k in range(FIRST, last + 1))
    mods = {0: (20,), 2: (21,), 3: (22,), 7: (23,)} | (modmap or {})
    return Keymap(FIRST, rows, tuple(mods.get(i, ()) for i in range(8)), group=group)


US_PC105 = keymap({25: (SLASH, QUESTION, SLASH, QUESTION), 26: (LESS, GREATER, LESS, GREATER),
                   27: (0x2C, LESS, 0x2C, LESS), 28: (Q, 0x51, Q, 0x51)})
DE = keymap({25: (SEVEN, SLASH, SEVEN, SLASH, 0x7B, 0), 26: (LESS, GREATER, LESS, GREATER, 0x7C, 0),
             28: (Q, 0x51, Q, 0x51, AT, 0x7D9), 29: (Z, 0x5A, Z, 0x5A), 30: (Y, 0x59, Y, 0x59)})


def test_a_character_is_found_at_the_lowest_level_first() -> None:
    assert US_PC105.stroke_for_char("<") == Stroke(26)  # the plain LSGT key, not Shift+comma (27)
    assert US_PC105.stroke_for_char(">") == Stroke(26, shift=True)
    assert US_PC105.stroke_for_char("?") == Stroke(25, shift=True)


def test_de_needs_shift_and_altgr_where_its_layout_does() -> None:
    assert DE.stroke_for_char("/") == Stroke(25, shift=True)
    assert DE.stroke_for_char("@") == Stroke(28, level3=True)
    assert DE.stroke_for_char("7") == Stroke(25)
    assert DE.stroke_for_char("z") == Stroke(29)


def test_without_an_altgr_key_third_levels_are_not_offered() -> None:
    no_altgr = keymap({28: (Q, 0x51, Q, 0x51, AT, 0)}, modmap={7: ()})
    assert no_altgr.level3_keycode is None
    assert no_altgr.stroke_for_char("@") is None


def test_with_several_groups_only_the_first_two_levels_of_the_group_in_force_count() -> None:
    # us,de: the "2" key reads 2 at 2 quotedbl twosuperior oneeighth; columns 4-5 are the second group's
    us_de = {11: (TWO, AT, TWO, QUOTEDBL, TWOSUPERIOR, ONEEIGHTH), 12: (Z, 0x5A, Y, 0x59)}
    first, second = keymap(us_de), keymap(us_de, group=1)
    assert not first.single_group
    assert first.stroke_for_char("²") is None  # AltGr+2 would type "2" in the us group
    assert first.stroke_for_char("@") == Stroke(11, shift=True)
    assert second.stroke_for_char('"') == Stroke(11, shift=True)
    assert second.stroke_for_char("y") == Stroke(12)
    assert second.stroke_for_char("@") is None
    assert keymap(us_de, group=2).columns() == ()


def test_keypad_keysyms_and_dead_keys_never_stand_for_characters() -> None:
    km = keymap({30: (KP_DECIMAL, KP_DECIMAL), 31: (0xFE52, 0xFE52)})  # KP_Decimal, dead_circumflex
    assert km.stroke_for_char(".") is None
    assert km.stroke_for_char("^") is None


def test_newline_and_tab_are_keys_other_control_characters_fail() -> None:
    assert US_PC105.stroke_for_char("\n") == Stroke(24)
    with pytest.raises(KeyNotPressable, match="control character"):
        char_keysym("\x07")


@pytest.mark.skipif(keysym_char(CYRILLIC_ES) is None, reason="libxkbcommon (libxkbcommon0) is not installed")
def test_legacy_keysyms_stand_for_their_characters() -> None:
    ru = keymap({30: (CYRILLIC_ES, 0x6F3)})
    assert ru.stroke_for_char("с") == Stroke(30)
    assert ru.stroke_for_char("С") == Stroke(30, shift=True)
    assert ru.stroke_for_char("s") is None  # a Latin letter the ru layout lacks: the spare-keycode path


def test_unicode_and_latin1_keysyms() -> None:
    assert char_keysym("é") == 0xE9 and keysym_char(0xE9) == "é"
    assert char_keysym("中") == 0x01004E2D and keysym_char(0x01004E2D) == "中"
    assert keysym_char(0xFF0D) is None  # Return is a key, not a character


def test_modifiers_must_be_bound_to_a_modifier() -> None:
    assert US_PC105.modifier_keycode("ctrl") == 21
    assert US_PC105.modifier_keycode("alt") == 22
    assert keymap({}, modmap={2: ()}).modifier_keycode("ctrl") is None
    assert US_PC105.modifier_keycode("super") is None


def test_spare_keycodes_are_the_empty_rows() -> None:
    spare = US_PC105.spare_keycodes()
    assert 8 in spare and 25 not in spare and 40 in spare


def test_packing_and_runs() -> None:
    assert pack_rows([1, 2, 3]) == [(1, 2), (3, 3)]
    assert runs([9, 3, 4, 5, 7]) == [[3, 4, 5], [7], [9]]


def test_a_key_press_is_read_back_with_its_modifier_and_group_state() -> None:
    """keysym_at, the reverse of the lookup (the recorder reads key events with it)."""
    mod5, lock = 1 << 7, 1 << 1
    assert DE.keysym_at(25, 1) == SLASH and DE.keysym_at(28, mod5) == AT and DE.keysym_at(29, 0) == Z
    letters = keymap({30: (Y, 0, 0, 0), 31: (0xE9, 0)})  # a lone keysym stands for both levels
    assert letters.keysym_at(30, 1) == 0x59 and letters.keysym_at(30, lock) == 0x59 and letters.keysym_at(30, 0) == Y
    assert letters.keysym_at(31, 1) == 0xC9  # é → É
    assert letters.keysym_at(40, 0) == 0  # no keysym: NoSymbol
