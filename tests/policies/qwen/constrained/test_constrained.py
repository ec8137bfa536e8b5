"""Constrained decoding: the tool-call grammar, the token index, and the proof on a tiny random model."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from actions import schema as s
from actions.keys import canonical_key
from actions.schema import ACTION_NAMES, action_to_json, parse_action
from policies.qwen.constrained.grammar import action_arguments, key_names, tool_call_dfa
from policies.qwen.prompt import tool_call_text

CALL = re.compile(r"\A<tool_call>\n(.*)\n</tool_call>\Z", re.S)
EXAMPLES = (
    s.Key(keys=("ctrl", "s")), s.Key(keys=("enter",)), s.Key(keys=('"', "\\", "a", "f12")),
    s.Type(text="hello, wörld — 世界 \"quoted\" back\\slash\nnew line 🙂"), s.Type(text="x"),
    s.MouseMove(coordinate=(0, 0)), s.LeftClick(coordinate=(199, 99)), s.LeftClick(),
    s.RightClick(coordinate=(5, 6)), s.MiddleClick(), s.DoubleClick(coordinate=(10, 20)),
    s.TripleClick(coordinate=(1, 2)), s.LeftClickDrag(coordinate=(30, 40)),
    s.LeftClickDrag(coordinate=(30, 40), start_coordinate=(1, 1)), s.Scroll(pixels=-500),
    s.Scroll(pixels=300, coordinate=(50, 50)), s.HScroll(pixels=120), s.Wait(time=2), s.Wait(time=0.5),
    s.Terminate(status="success"), s.Terminate(status="failure"), s.Answer(text=""), s.Answer(text="42"),
)


def strict_parse(text: str):
    """What the grammar promises: the exact call shape, JSON arguments, a schema action."""
    match = CALL.match(text)
    assert match, f"not a tool call: {text!r}"
    call = json.loads(match.group(1))
    assert call["name"] == "computer_use"
    return parse_action(call["arguments"])


def test_the_grammar_has_a_branch_for_every_schema_action() -> None:
    assert set(action_arguments()) == set(ACTION_NAMES)


def test_every_key_name_offered_is_one_canonical_key_knows() -> None:
    for name in key_names():
        canonical_key(name)


@pytest.mark.parametrize("action", EXAMPLES, ids=lambda a: a.action)
def test_the_text_the_model_was_trained_to_write_is_accepted(action) -> None:
    text = tool_call_text(action_to_json(action))
    assert tool_call_dfa(200, 100).matches(text.encode("utf-8")), text
    assert strict_parse(text) == action


@pytest.mark.parametrize("arguments", [
    '{"action": "fly"}', '{"action": "left_click", "coordinate": [200, 5]}',
    '{"action": "left_click", "coordinate": [5.5, 5]}', '{"action": "left_click", "coordinate": [-1, 5]}',
    '{"action": "type", "text": ""}', '{"action": "wait", "time": 600}', '{"action": "terminate", "status": "ok"}',
    '{"action": "key", "keys": ["a", "b", "c", "d", "e"]}', '{"action": "key", "keys": ["hyper"]}',
    '{"action": "key", "keys": []}', '{"action": "type", "text": "\\u0041"}', '{"action":"wait", "time": 1}',
    '{"action": "mouse_move"}', '{"action": "left_click", "coordinate": [01, 5]}',
])
def test_everything_else_is_rejected(arguments: str) -> None:
    text = f'<tool_call>\n{{"name": "computer_use", "arguments": {arguments}}}\n</tool_call>'
    assert not tool_call_dfa(200, 100).matches(text.encode("utf-8"))


def test_random_walks_through_the_grammar_always_parse_inside_the_image() -> None:
    dfa, rng = tool_call_dfa(64, 48), random.Random(7)
    for _ in range(1500):
        state, out = 0, bytearray()
        while state not in dfa.accepting:
            moves = list(dfa.transitions[state].items())
            if len(out) > 120:  # head for the end so walks stay short
                moves = [m for m in moves if dfa.distance[m[1]] < dfa.distance[state]]
            byte, state = rng.choice(moves)
            out.append(byte)
        action = strict_parse(out.decode("utf-8"))
        for point in [getattr(action, "coordinate", None), getattr(action, "start_coordinate", None)]:
            assert point is None or (0 <= point[0] < 64 and 0 <= point[1] < 48)


def toy_vocabulary():
    """Every single byte (ids 0-255), some multi-byte pieces, then two special tokens (EOS, other)."""
    pieces = [bytes([b]) for b in range(256)]
    pieces += [b"<tool_call>", b"</tool_call>", b'{"', b'": ', b'", "', b"computer_use", b"action", b"left",
               b"_click", b"coordinate", b"text", b"]}}", b"}}\n", b"hello", b' "', b"12", b"ab\"c"]
    return [*pieces, None, None]


def run_constraint(index, steps: int, seed: int) -> list[int]:
    """Drive the processor with random logits, greedy, as `generate` would (one row)."""
    import torch

    from policies.qwen.constrained.processor import ToolCallConstraint

    vocab, eos = len(toy_vocabulary()), index.eos_ids[0]
    generator = torch.Generator().manual_seed(seed)
    prompt = torch.tensor([[5, 6, 7]])
    constraint, ids = ToolCallConstraint(index, prompt_length=3, max_new_tokens=steps), prompt
    for _ in range(steps):
        scores = torch.randn(1, vocab + 5, generator=generator)  # the model's vocab may be larger
        token = int(constraint(ids, scores).argmax())
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        if token == eos:
            break
    return ids[0, 3:].tolist()


@pytest.mark.parametrize("budget", [30, 45, 200])
def test_the_processor_always_finishes_a_parsable_call_within_the_budget(budget: int) -> None:
    pytest.importorskip("torch")
    from policies.qwen.constrained.processor import TokenIndex, Vocabulary

    pieces = toy_vocabulary()
    index = TokenIndex(tool_call_dfa(300, 200), Vocabulary(pieces), eos_ids=[len(pieces) - 2])
    for seed in range(12):
        tokens = run_constraint(index, budget, seed)
        assert len(tokens) <= budget
        text = b"".join(pieces[t] or b"" for t in tokens).decode("utf-8")
        strict_parse(text)


def test_a_budget_below_the_shortest_call_is_refused() -> None:
    pytest.importorskip("torch")
    from policies.qwen.constrained.processor import TokenIndex, ToolCallConstraint, Vocabulary

    pieces = toy_vocabulary()
    index = TokenIndex(tool_call_dfa(), Vocabulary(pieces), eos_ids=[len(pieces) - 2])
    with pytest.raises(ValueError, match="too small for a tool call"):
        ToolCallConstraint(index, prompt_length=0, max_new_tokens=index.min_tokens - 1)


# ---- the proof on the tiny random model -------------------------------------------------------

def tiny_request(seed: int, constrained: bool, max_new_tokens: int):
    import numpy as np
    from PIL import Image

    from policies.qwen.messages import ImagePart, Message, ModelRequest, TextPart

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (112, 168, 3), dtype=np.uint8))
    system = Message("system", (TextPart("You are a helpful assistant. Answer with one computer_use tool call."),))
    user = Message("user", (ImagePart(image), TextPart(f"Task {seed}: click the button number {seed * 37 % 101}.")))
    return ModelRequest((system, user), max_new_tokens=max_new_tokens, constrained=constrained)


@pytest.fixture(scope="module")
def tiny_backend(tiny_qwen_dir: Path):
    from agent.config import ModelSettings
    from policies.qwen.backends.transformers_backend import TransformersBackend

    settings = ModelSettings(name=str(tiny_qwen_dir), dtype="float32", device_map="cpu", attn_implementation="sdpa",
                             temperature=0.0, decoding="constrained")
    return TransformersBackend(settings)


def parses(text: str) -> bool:
    try:
        strict_parse(text)
    except (AssertionError, ValueError, KeyError, TypeError):
        return False
    return True


def sampled(backend, seed: int, constrained: bool, max_new_tokens: int):
    import torch

    torch.manual_seed(seed)
    return backend.complete(tiny_request(seed, constrained, max_new_tokens))


@pytest.mark.model
def test_unconstrained_answers_almost_never_parse_constrained_ones_always_do(tiny_backend) -> None:
    """20 prompts and sampling seeds: the free rate is at most 10 %, the constrained rate is 100 %."""
    from policies.qwen.parse import parse_reply
    from policies.qwen.resize import ModelFrame

    runs, saved = 20, tiny_backend.settings
    tiny_backend.settings = saved.model_copy(update={"temperature": 1.0, "top_p": 1.0, "top_k": 0})
    try:
        free = [sampled(tiny_backend, seed, False, 32).text for seed in range(runs)]
        forced = [sampled(tiny_backend, seed, True, 32) for seed in range(runs)]
    finally:
        tiny_backend.settings = saved
    assert sum(map(parses, free)) / runs <= 0.10
    assert all(parses(reply.text) for reply in forced), [r.text for r in forced if not parses(r.text)]
    assert len({reply.text for reply in forced}) >= 3  # different prompts and seeds, different calls
    frame = ModelFrame(168, 112, 168, 112)
    for reply in forced:
        parse_reply(reply.text, frame)  # the policy's own parser takes every one too
        assert reply.completion_tokens <= 32 and reply.timings_ms["grammar"] >= 0


@pytest.mark.model
def test_constrained_greedy_decoding_parses_too(tiny_backend) -> None:
    for seed in range(3):
        reply = tiny_backend.complete(tiny_request(seed, True, 32))
        assert parses(reply.text) and reply.extra["constrained"] is True


@pytest.mark.model
def test_the_grammar_opening_is_prefilled_not_decoded(tiny_backend) -> None:
    """Every call starts `<tool_call>\\n{"name": "computer_use", "arguments": {"action": "`: those tokens go
    in with the prompt (one pass); the answer still parses within the budget, the opening counted in it."""
    import torch

    from policies.qwen.constrained.processor import forced_opening
    from policies.qwen.engine.decode import Decoder

    index = tiny_backend.constraint_index((168, 112))
    tokenizer = tiny_backend.tokenizer

    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False)

    opening = forced_opening(index, encode, 32)
    assert tokenizer.decode(opening) == '<tool_call>\n{"name": "computer_use", "arguments": {"action":'
    assert forced_opening(index, encode, len(opening)) == ()  # no room left to finish: decode it all
    for seed, budget in ((0, 32), (1, index.min_tokens + 1)):
        reply = tiny_backend.complete(tiny_request(seed, True, budget))
        assert reply.extra["forced_tokens"] == len(opening)
        assert parses(reply.text) and reply.completion_tokens <= budget
    tensors = tiny_backend.prepare(tiny_request(0, True, 32)).tensors
    with pytest.raises(ValueError, match="leave nothing to decode"), torch.inference_mode():
        Decoder(tiny_backend.model, 151655).generate(tensors, 3, [], tiny_backend.eos_ids, forced=(1, 2, 3))
