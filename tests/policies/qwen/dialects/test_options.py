"""Typed transformers options: config.yaml is the one source of defaults; the Thinking prefix and budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from actions.fake import FakeComputer
from actions.geometry import Monitor
from agent.config import load_settings
from policies.qwen.dialects import dialect_for
from policies.qwen.messages import ModelReply, ModelRequest
from policies.qwen.policy import QwenOptions, QwenPolicy

ROOT = Path(__file__).resolve().parents[4]


def test_transformers_options_take_their_values_from_config_yaml_and_have_no_defaults_of_their_own() -> None:
    from policies.qwen.backends.transformers_backend import TransformersOptions

    o = TransformersOptions.of(load_settings(ROOT / "config.yaml").model, min_pixels=3136, max_pixels=1003520)
    assert (o.temperature, o.top_p, o.top_k, o.repetition_penalty) == (0.1, 0.001, 1, 1.05)
    assert (o.prefix_cache, o.cuda_graphs, o.compile_decode, o.resize_on_device) == (True, True, False, True)
    defaults = [f.name for f in dataclasses.fields(TransformersOptions) if f.default is not dataclasses.MISSING]
    assert defaults == ["local_only"]


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        return ModelReply('<think>\nhmm\n</think>\n\n<tool_call>\n{"name": "computer_use", "arguments": '
                          '{"action": "left_click", "coordinate": [500, 500]}}\n</tool_call>')

    def close(self) -> None:
        pass


def test_thinking_checkpoints_open_their_think_block_and_get_its_budget() -> None:
    backend = Recording()
    shot = FakeComputer(monitor=Monitor(0, 0, 1920, 1080)).screenshot()
    options = QwenOptions(65536, 1310720, max_new_tokens=100, think_tokens=900)
    decision = QwenPolicy(backend, options, dialect_for("qwen3-vl", thinking=True)).decide("x", shot, ())
    assert decision.action.coordinate == (960, 540)
    (request,) = backend.requests
    assert request.assistant_prefix == "<think>\n" and request.max_new_tokens == 1000
    assert request.default_system is None and request.factor == 32
    constrained = QwenOptions(65536, 1310720, max_new_tokens=100, think_tokens=900, constrained=True)
    QwenPolicy(backend, constrained, dialect_for("qwen3-vl", thinking=True)).decide("x", shot, ())
    assert backend.requests[-1].assistant_prefix == "<think>\n\n</think>\n\n"
    assert backend.requests[-1].max_new_tokens == 100 and backend.requests[-1].grammar is not None


def test_engine_notes_reach_the_step_meta_once() -> None:
    class Noted(Recording):
        notes: tuple[str, ...] = ("static_decode is not verified for x: transformers' own path is used",)

        def complete(self, request: ModelRequest) -> ModelReply:
            reply = super().complete(request)
            extra = {"engine_notes": list(self.notes)} if self.notes else {}
            self.notes = ()
            return ModelReply(reply.text, extra=extra)

    shot = FakeComputer(monitor=Monitor(0, 0, 1920, 1080)).screenshot()
    policy = QwenPolicy(Noted(), QwenOptions(65536, 1310720), dialect_for("qwen3-vl"))
    first, second = (policy.decide("x", shot, ()) for _ in range(2))
    assert first.meta["engine_notes"] and "engine_notes" not in second.meta
