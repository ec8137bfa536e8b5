"""Grammar ↔ parser agreement: every answer a dialect's grammar allows, its own parser accepts.

Thousands of random walks through each grammar's DFA (biased to finish, with long detours through
strings, keys and thoughts); each walk's text must parse into a schema action inside the image.
Tag text inside strings is among what the walks produce (`</tool_call>`, `⚗`, `📐` in type text).
"""

from __future__ import annotations

import random

import pytest

from policies.qwen.dialects import dialect_for
from policies.qwen.resize import ModelFrame

WALKS = 1500
FRAMES = {
    "qwen2.5-vl": ModelFrame(1920, 1080, 1316, 728),
    "qwen2.5-vl+extras": ModelFrame(1920, 1080, 1316, 728),
    "qwen3-vl": ModelFrame(1920, 1080, 1504, 832, factor=32, grid=1000),
    "ui-tars-1.5": ModelFrame(1920, 1080, 1932, 1092),
}


def walk(dfa, rng: random.Random, stop: float = 0.3, patience: int = 60) -> bytes:
    state, out = 0, bytearray()
    while True:
        edges = dfa.transitions[state]
        if state in dfa.accepting and (not edges or rng.random() < stop):
            return bytes(out)
        if len(out) > patience:  # head for the end: only edges that get closer
            edges = {b: s for b, s in edges.items() if dfa.distance[s] < dfa.distance[state]} or edges
        byte = rng.choice(sorted(edges))
        out.append(byte)
        state = edges[byte]


@pytest.mark.parametrize("name", list(FRAMES))
def test_every_walk_of_the_grammar_parses(name: str) -> None:
    dialect = dialect_for(name.split("+")[0], extended_actions=name.endswith("+extras"))
    frame = FRAMES[name]
    dfa = dialect.grammar(frame)
    assert dfa is not None
    rng = random.Random(name)
    seen = set()
    for _ in range(WALKS):
        text = walk(dfa, rng, patience=rng.choice((20, 60, 200))).decode("utf-8")
        parsed = dialect.parse(text, frame)
        seen.add(parsed.action.action)
        point = getattr(parsed.action, "coordinate", None)
        if point is not None:
            assert 0 <= point[0] < frame.screen_width and 0 <= point[1] < frame.screen_height
    assert len(seen) >= 8, seen  # the walks reach most actions


@pytest.mark.parametrize("text", ["</tool_call>", "⚗", "📐", "<tool_call>", "a 📐 ruler"])
def test_tag_text_the_grammar_allows_in_type_text_parses_back(text: str) -> None:
    frame = FRAMES["qwen2.5-vl"]
    dialect = dialect_for("qwen2.5-vl")
    import json

    answer = ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "type", "text": '
              + json.dumps(text, ensure_ascii=False) + "}}\n</tool_call>")
    assert dialect.grammar(frame).matches(answer.encode())
    assert dialect.parse(answer, frame).action.text == text


def test_the_cookbook_grammar_offers_only_the_cookbook_actions() -> None:
    frame = FRAMES["qwen2.5-vl"]
    triple = b'<tool_call>\n{"name": "computer_use", "arguments": {"action": "triple_click"}}\n</tool_call>'
    assert not dialect_for("qwen2.5-vl").grammar(frame).matches(triple)
    assert dialect_for("qwen2.5-vl", extended_actions=True).grammar(frame).matches(triple)
    grid = b'<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [999, 999]}}\n</tool_call>'  # noqa: E501
    assert dialect_for("qwen3-vl").grammar(FRAMES["qwen3-vl"]).matches(grid)
