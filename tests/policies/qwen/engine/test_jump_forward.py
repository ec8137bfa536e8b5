"""Jump-forward constrained decoding against token-by-token constrained decoding, on the tiny model.

Every action of every dialect that has a grammar (the tool call of Qwen2.5-VL and Qwen3-VL, each
restricted to one action so the random model must spell that one; UI-TARS-1.5's calls one by one):
greedy answers with `jump_forward` on must equal those with it off, token for token, in fewer
forward passes — on transformers' own forward (cache cut back after a rejected draft) and on the
static-KV step (the GPU path, run eagerly here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def backend(tiny_qwen_dir: Path):
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_settings(tiny_qwen_dir, repetition_penalty=1.0, decoding="constrained"))


def _grammars() -> list[tuple[str, object]]:
    from policies.qwen.constrained.bytes_dfa import compile_dfa, lit, seq
    from policies.qwen.constrained.grammar import action_arguments, tool_call_dfa
    from policies.qwen.dialects.uitars_grammar import answer_pattern, calls

    out: list[tuple[str, object]] = []
    for dialect, size in (("qwen2.5-vl", (308, 196)), ("qwen3-vl", (1000, 1000))):
        out += [(f"{dialect}:{action}", tool_call_dfa(*size, frozenset({action})))
                for action in action_arguments(*size)]
    opening = answer_pattern(308, 196).parts[:3]  # Thought: <line>\nAction:
    out += [(f"ui-tars-1.5:{index}", compile_dfa(seq(*opening, call))) for index, call in enumerate(calls(308, 196))]
    assert len(out) > 30 and isinstance(opening[0], type(lit("x")))
    return out


def _decode(backend, grammar, jump: bool, tokens: int = 48):
    from dataclasses import replace

    from test_decode import _request

    tokens = max(tokens, backend.constraint_index(grammar).min_tokens + 12)
    backend.options = type(backend.options).of(backend.options, jump_forward=jump)
    request = replace(_request("Do the thing", seed=3, tokens=tokens), constrained=True, grammar=grammar)
    reply = backend.complete(request)
    return reply.text, reply.completion_tokens, reply.extra["decode_passes"], reply.extra["forced_tokens"]


def test_jump_forward_answers_equal_token_by_token_for_every_action(backend) -> None:
    saved = backend.options
    before = after = 0
    rows = []
    try:
        for name, grammar in _grammars():
            slow = _decode(backend, grammar, jump=False)
            fast = _decode(backend, grammar, jump=True)
            assert fast[:2] == slow[:2], name
            assert slow[2] == slow[1] - slow[3] - 1  # token by token: one pass per decoded token but the last
            assert fast[2] <= slow[2], name
            before, after = before + slow[2], after + fast[2]
            rows.append(f"{name}: {slow[2]} -> {fast[2]} passes, {slow[1]} tokens")
    finally:
        backend.options = saved
    print("\n".join(rows), f"\ntotal passes {before} -> {after}")
    assert after < before * 0.9  # the forced closing `]}}\n</tool_call>` alone saves several per call


def test_jump_forward_on_the_static_step_equals_token_by_token(backend) -> None:
    from policies.qwen.constrained.grammar import tool_call_dfa
    from policies.qwen.engine.decode import Decoder

    saved_decoder, saved = backend.decoder, backend.options
    try:
        backend.decoder = Decoder(backend.model, backend.image_token_id, True, "eager",
                                  end_token_id=saved_decoder.end_token_id)
        for actions in ({"left_click"}, {"type"}, {"left_click_drag"}, {"scroll"}, None):
            grammar = tool_call_dfa(308, 196, None if actions is None else frozenset(actions))
            slow = _decode(backend, grammar, jump=False, tokens=40)
            fast = _decode(backend, grammar, jump=True, tokens=40)
            assert fast[:2] == slow[:2], actions
            assert fast[2] < slow[2], actions
    finally:
        backend.decoder, backend.options = saved_decoder, saved


def test_a_draft_is_only_what_the_grammar_forces(backend) -> None:
    from policies.qwen.constrained.grammar import tool_call_dfa
    from policies.qwen.constrained.processor import TokenIndex

    index = TokenIndex(tool_call_dfa(308, 196, frozenset({"mouse_move"})), backend.vocabulary(), backend.eos_ids)
    text = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "mouse_move'
    state = index.dfa.step(0, text.encode())
    draft = backend.tokenizer.decode(index.draft(state, backend._encode))
    assert '", "coordinate": ['.startswith(draft) and len(draft) >= 10, draft  # the last token may be held back
    end = index.dfa.step(0, (text + '", "coordinate": [12, 195').encode())
    assert backend.tokenizer.decode(index.draft(end, backend._encode)) == "]}}\n</tool_call>"
    free = index.dfa.step(0, (text + '", "coordinate": [').encode())
    assert index.draft(free, backend._encode) == ()  # a digit comes next: nothing is forced
