"""The computer_use tool-call grammar, as a byte-level DFA, for constrained decoding.

Accepted text (json.dumps spacing, as the model was trained to write and as `prompt.tool_call_text`
renders earlier calls):
    <tool_call>\\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}\\n</tool_call>
with one branch per action of `actions.schema.ACTION_NAMES` and exactly the argument shapes the
schema accepts: coordinates `[x, y]` integers inside the W′×H′ image the model sees (0…W′−1,
0…H′−1; 0…99999 when no size is given — the parser maps and clamps), keys a
list of 1–4 key names `canonical_key` knows (named keys and common spellings, or one printable
ASCII character), text a JSON string (non-empty for `type`; no `\\u` escapes; well-formed UTF-8),
scroll pixels −9999…9999, wait time 0…599.99 s, terminate status success|failure. Every accepted
text therefore json-decodes into arguments that `parse_action` accepts (tested exhaustively by
action and by random walks).
Not for: parsing (the lenient parser stays the one way in) or servers (they bring their own).
"""

from __future__ import annotations

from functools import lru_cache

from actions.keys import NAMED_KEYS
from policies.qwen.constrained.bytes_dfa import Cls, Dfa, Pattern, Rep, alt, byte_range, compile_dfa, lit, seq

MAX_KEYS = 4  # the schema allows 8; combos beyond 4 keys do not occur, and each one grows the DFA
PREFIX = '<tool_call>\n{"name": "computer_use", "arguments": {"action": '
SUFFIX = "}}\n</tool_call>"
# Spellings models use beside the canonical names (all folded by actions.keys.canonical_key).
KEY_SPELLINGS: tuple[str, ...] = (
    "return", "escape", "control", "control_l", "cmd", "command", "win", "windows", "meta",
    "option", "del", "pgup", "pgdn", "page_up", "page_down", "arrowup", "arrowdown", "arrowleft",
    "arrowright", "back_space", "caps_lock", "print", "prtsc", "apps", "kp_enter",
)
_DIGIT = byte_range(0x30, 0x39)
_NONZERO = byte_range(0x31, 0x39)


def key_names() -> tuple[str, ...]:
    """Every multi-character key name the grammar offers: lower case and Capitalized."""
    names = sorted(set(NAMED_KEYS) | set(KEY_SPELLINGS))
    return tuple(names + [n.capitalize() for n in names if n.capitalize() != n])


@lru_cache(maxsize=8)
def tool_call_dfa(width: int | None = None, height: int | None = None,
                  actions: frozenset[str] | None = None) -> Dfa:
    """The minimal DFA of the whole tool call for a W′×H′ image (or a W×H grid), offering `actions`
    (None: every schema action) (cached; a fraction of a second)."""
    return compile_dfa(tool_call_pattern(width, height, actions))


def tool_call_pattern(width: int | None = None, height: int | None = None,
                      actions: frozenset[str] | None = None) -> Pattern:
    branches = [seq(lit(f'"{name}"'), args) for name, args in action_arguments(width, height).items()
                if actions is None or name in actions]
    return seq(lit(PREFIX), alt(*branches), lit(SUFFIX))


def action_arguments(width: int | None = None, height: int | None = None) -> dict[str, Pattern]:
    """The argument list (after the action name) of every action, in the schema's field order."""
    x = uint_upto(width - 1 if width else 99999)
    y = uint_upto(height - 1 if height else 99999)
    point = seq(lit("["), x, lit(", "), y, lit("]"))
    at = seq(lit(', "coordinate": '), point)
    maybe_at = Rep(at, 0, 1)
    click = maybe_at
    key = seq(lit('"'), alt(*(lit(n) for n in key_names()), _single_char()), lit('"'))
    pixels = seq(lit(', "pixels": '), Rep(lit("-"), 0, 1), uint_upto(9999), maybe_at)
    time = alt(lit("0"), seq(_NONZERO, Rep(_DIGIT, 0, 1)), seq(byte_range(0x31, 0x35), _DIGIT, _DIGIT))
    return {
        "key": seq(lit(', "keys": ['), key, Rep(seq(lit(", "), key), 0, MAX_KEYS - 1), lit("]")),
        "type": seq(lit(', "text": '), json_string(non_empty=True)),
        "mouse_move": at,
        "left_click": click, "right_click": click, "middle_click": click, "double_click": click,
        "triple_click": click,
        "left_click_drag": seq(at, Rep(seq(lit(', "start_coordinate": '), point), 0, 1)),
        "scroll": pixels, "hscroll": pixels,
        "wait": seq(lit(', "time": '), time, Rep(seq(lit("."), _DIGIT, Rep(_DIGIT, 0, 1)), 0, 1)),
        "terminate": seq(lit(', "status": '), alt(lit('"success"'), lit('"failure"'))),
        "answer": seq(lit(', "text": '), json_string(non_empty=False)),
    }


def json_string(non_empty: bool) -> Pattern:
    """A JSON string literal: plain printable bytes, simple escapes, well-formed UTF-8 sequences."""
    return seq(lit('"'), Rep(_string_char(), 1 if non_empty else 0, None), lit('"'))


def _string_char() -> Pattern:
    plain = Cls(frozenset(range(0x20, 0x80)) - {0x22, 0x5C})
    escape = seq(lit("\\"), Cls(frozenset(b'"\\/bfnrt')))
    cont = byte_range(0x80, 0xBF)
    return alt(
        plain, escape,
        seq(byte_range(0xC2, 0xDF), cont),
        seq(Cls(frozenset({0xE0})), byte_range(0xA0, 0xBF), cont),
        seq(Cls(frozenset(range(0xE1, 0xED)) | {0xEE, 0xEF}), cont, cont),
        seq(Cls(frozenset({0xED})), byte_range(0x80, 0x9F), cont),
        seq(Cls(frozenset({0xF0})), byte_range(0x90, 0xBF), cont, cont),
        seq(byte_range(0xF1, 0xF3), cont, cont, cont),
        seq(Cls(frozenset({0xF4})), byte_range(0x80, 0x8F), cont, cont),
    )


def _single_char() -> Pattern:
    """One printable ASCII character other than space, `"` and `\\` escaped as JSON wants."""
    plain = Cls(frozenset(range(0x21, 0x7F)) - {0x22, 0x5C})
    return alt(plain, lit('\\"'), lit("\\\\"))


def uint_upto(limit: int) -> Pattern:
    """The decimal integers 0…limit, without leading zeros."""
    text = str(max(limit, 0))
    width = len(text)
    options: list[Pattern] = [lit("0"), lit(text)]
    if width > 1:  # every shorter number
        options.append(seq(_NONZERO, Rep(_DIGIT, 0, width - 2)))
    for i, char in enumerate(text):  # same length: equal up to i, smaller at i, anything after
        low = 1 if i == 0 else 0
        if int(char) > low:
            rest = width - i - 1
            options.append(seq(lit(text[:i]), byte_range(0x30 + low, 0x2F + int(char)), Rep(_DIGIT, rest, rest)))
    return alt(*options)
