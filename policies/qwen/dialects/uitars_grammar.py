"""UI-TARS-1.5's answer grammar as a byte-level DFA, for constrained decoding.

Accepted text: `Thought: <one line>\\nAction: <call>` where the call is one of the prompt's action
space in its own spelling — click/left_double/right_single(point='<point>x y</point>'),
drag(start_point=…, end_point=…), hotkey(key='ctrl c') with 1–3 lower-case key names,
type(content='…') with the prompt's escapes (\\' \\" \\n \\\\), scroll(point=…, direction='down|up|right|left'),
wait(), finished(content='…') — points inside the W′×H′ image. The thought is one line of printable
text or UTF-8. Everything it accepts, `uitars.to_arguments` reads into an action the schema accepts
(tests/policies/qwen/dialects/test_grammar_walks.py walks it thousands of times).
Not for: parsing (the dialect's parser stays the one way in).
"""

from __future__ import annotations

from functools import lru_cache

from actions.keys import NAMED_KEYS
from policies.qwen.constrained.bytes_dfa import Cls, Dfa, Pattern, Rep, alt, byte_range, compile_dfa, lit, seq
from policies.qwen.constrained.grammar import KEY_SPELLINGS, uint_upto

_CONT = byte_range(0x80, 0xBF)
_UTF8 = alt(
    seq(byte_range(0xC2, 0xDF), _CONT),
    seq(Cls(frozenset({0xE0})), byte_range(0xA0, 0xBF), _CONT),
    seq(Cls(frozenset(range(0xE1, 0xED)) | {0xEE, 0xEF}), _CONT, _CONT),
    seq(Cls(frozenset({0xED})), byte_range(0x80, 0x9F), _CONT),
    seq(Cls(frozenset({0xF0})), byte_range(0x90, 0xBF), _CONT, _CONT),
    seq(byte_range(0xF1, 0xF3), _CONT, _CONT, _CONT),
    seq(Cls(frozenset({0xF4})), byte_range(0x80, 0x8F), _CONT, _CONT),
)


@lru_cache(maxsize=8)
def action_dfa(width: int, height: int) -> Dfa:
    """The minimal DFA of a whole answer for a W′×H′ image (cached)."""
    return compile_dfa(answer_pattern(width, height))


def answer_pattern(width: int, height: int) -> Pattern:
    thought = Rep(alt(Cls(frozenset(range(0x20, 0x7F))), _UTF8), 0, None)
    return seq(lit("Thought: "), thought, lit("\nAction: "), alt(*calls(width, height)))


def calls(width: int, height: int) -> list[Pattern]:
    point = seq(lit("'<point>"), uint_upto(width - 1), lit(" "), uint_upto(height - 1), lit("</point>'"))
    key_name = alt(*(lit(n) for n in sorted(set(NAMED_KEYS) | set(KEY_SPELLINGS))),
                   Cls(frozenset(range(0x21, 0x7F)) - {0x27, 0x5C}))
    keys = seq(key_name, Rep(seq(lit(" "), key_name), 0, 2))
    char = alt(Cls(frozenset(range(0x20, 0x7F)) - {0x27, 0x5C}), seq(lit("\\"), Cls(frozenset(b"'\"n\\"))), _UTF8)
    direction = alt(lit("down"), lit("up"), lit("right"), lit("left"))
    return [
        *(seq(lit(f"{name}(point="), point, lit(")")) for name in ("click", "left_double", "right_single")),
        seq(lit("drag(start_point="), point, lit(", end_point="), point, lit(")")),
        seq(lit("hotkey(key='"), keys, lit("')")),
        seq(lit("type(content='"), Rep(char, 1, None), lit("')")),
        seq(lit("scroll(point="), point, lit(", direction='"), direction, lit("')")),
        lit("wait()"),
        seq(lit("finished(content='"), Rep(char, 0, None), lit("')")),
    ]
