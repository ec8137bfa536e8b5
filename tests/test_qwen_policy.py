"""QwenPolicy with a fake backend: screen-space actions, meta for the trace, errors fed back, grounding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from actions.fake import FakeComputer
from actions.geometry import Monitor
from actions.schema import LeftClick, Type
from agent.config import load_settings
from agent.runner import execute
from agent.trace import read_trace
from policies.grounding import GroundingError
from policies.qwen.messages import ImagePart, ModelReply, ModelRequest, TextPart
from policies.qwen.policy import QwenOptions, QwenPolicy


def tool_call(arguments: str) -> str:
    return f'<tool_call>\n{{"name": "computer_use", "arguments": {arguments}}}\n</tool_call>'


class FakeBackend:
    """Answers from a list (the last one repeats) and records every request."""

    name = "fake"

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.requests: list[ModelRequest] = []
        self.closed = False

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        text = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return ModelReply(text, prompt_tokens=100, completion_tokens=20, vision_tokens=1222,
                          timings_ms={"generate": 12.5})

    def close(self) -> None:
        self.closed = True


def shot(width: int = 1920, height: int = 1080):  # type: ignore[no-untyped-def]
    return FakeComputer(monitor=Monitor(0, 0, width, height)).screenshot()


CLICK = tool_call('{"action": "left_click", "coordinate": [658, 364]}')


def test_decide_maps_the_answer_to_the_screen_and_records_both_spaces() -> None:
    backend = FakeBackend([CLICK])
    decision = QwenPolicy(backend, QwenOptions(max_new_tokens=77, constrained=True)).decide("Press OK", shot(), [])
    assert decision.action == LeftClick(coordinate=(960, 540)) and decision.error is None
    assert decision.raw_text == CLICK
    meta = decision.meta
    assert meta["screen"] == [1920, 1080] and meta["model"] == [1316, 728] and meta["vision_tokens"] == 1222
    assert meta["model_action"] == {"action": "left_click", "coordinate": [658, 364]}
    assert meta["tokens"] == {"prompt": 100, "completion": 20, "vision": 1222}
    assert meta["timings_ms"]["generate"] == 12.5 and "resize" in meta["timings_ms"] and meta["backend"] == "fake"
    (request,) = backend.requests
    assert request.max_new_tokens == 77 and request.constrained is True
    image = request.messages[1].parts[0]
    assert isinstance(image, ImagePart) and image.image.size == (1316, 728)


def test_an_unusable_answer_is_a_decision_without_action() -> None:
    decision = QwenPolicy(FakeBackend(["I think I should click the button."])).decide("T", shot(), [])
    assert decision.action is None and decision.error and "no tool call" in decision.error
    assert decision.raw_text == "I think I should click the button." and decision.meta["model"] == [1316, 728]


def settings_for(tmp_path: Path, **extra: object):  # type: ignore[no-untyped-def]
    return load_settings(None, {"settle.mode": "off", "trace.dir": str(tmp_path / "traces"), **extra})


def run(tmp_path: Path, policy: QwenPolicy, **extra: object):  # type: ignore[no-untyped-def]
    computer = FakeComputer(monitor=Monitor(0, 0, 1920, 1080))
    report = execute("Say hi", policy, settings_for(tmp_path, **extra), {"model": {"backend": "fake"}}, computer)
    return report, computer


def test_a_run_feeds_errors_back_and_keeps_the_system_prompt_byte_identical(tmp_path: Path) -> None:
    backend = FakeBackend([CLICK, "garbage", tool_call('{"action": "type", "text": "hi"}'),
                           tool_call('{"action": "terminate", "status": "success"}')])
    report, computer = run(tmp_path, QwenPolicy(backend))
    assert report.result.status == "success" and report.result.steps == 4
    assert computer.calls[:2] == [("click", (960, 540), "left", 1), ("type", "hi")]
    systems = {r.messages[0].parts[0].text for r in backend.requests}
    assert len(systems) == 1 and "The screen's resolution is 1316x728." in systems.pop()
    third = backend.requests[2].messages[-1].parts[-1]
    assert isinstance(third, TextPart)
    assert "Step 2: (no usable action) (Your last answer could not be used: no tool call" in third.text
    trace = read_trace(report.trace_dir)
    first, second = trace.steps[0], trace.steps[1]
    assert first["action"] == {"action": "left_click", "coordinate": [960, 540]}
    assert first["policy"]["model_action"] == {"action": "left_click", "coordinate": [658, 364]}
    assert first["policy"]["screen"] == [1920, 1080] and first["policy"]["model"] == [1316, 728]
    assert first["policy"]["vision_tokens"] == 1222 and first["raw_text"] == CLICK
    assert second["outcome"]["status"] == "invalid" and second["raw_text"] == "garbage"


def test_consecutive_unusable_answers_end_the_run_with_error(tmp_path: Path) -> None:
    backend = FakeBackend(["nope"])
    report, computer = run(tmp_path, QwenPolicy(backend), **{"loop.max_consecutive_errors": 3})
    assert report.result.status == "error" and report.result.steps == 3
    assert all(call[0] == "close" for call in computer.calls)
    assert len(backend.requests) == 3


def test_history_images_keeps_the_last_screenshots_as_turns(tmp_path: Path) -> None:
    backend = FakeBackend([CLICK, CLICK, CLICK, tool_call('{"action": "terminate", "status": "success"}')])
    run(tmp_path, QwenPolicy(backend, QwenOptions(history_images=2)))
    counts = [sum(isinstance(p, ImagePart) for m in r.messages for p in m.parts) for r in backend.requests]
    assert counts == [1, 2, 2, 2]
    last = backend.requests[-1]
    assert [m.role for m in last.messages] == ["system", "user", "assistant", "user"]
    assert "Step 1:" in last.messages[1].parts[1].text and "Step 2:" in last.messages[1].parts[1].text


def test_a_new_run_forgets_the_old_screenshots() -> None:
    backend = FakeBackend([CLICK])
    policy = QwenPolicy(backend, QwenOptions(history_images=3))
    policy.decide("T", shot(), [])
    policy.decide("T", shot(), [])  # a second run: empty history again
    assert sum(isinstance(p, ImagePart) for m in backend.requests[-1].messages for p in m.parts) == 1


def test_ground_returns_the_screen_point_the_model_names() -> None:
    backend = FakeBackend([tool_call('{"action": "left_click", "coordinate": [1316, 0]}')])
    assert QwenPolicy(backend).ground("the close button", shot()) == (1919, 0)
    (request,) = backend.requests
    assert request.messages[1].parts[1] == TextPart("The user query: Click on the close button.")


@pytest.mark.parametrize(("answer", "fragment"), [
    ("no idea", "could not locate 'the Save button'"),
    (tool_call('{"action": "type", "text": "save"}'), "without a coordinate"),
])
def test_ground_failures_are_grounding_errors(answer: str, fragment: str) -> None:
    with pytest.raises(GroundingError, match=fragment):
        QwenPolicy(FakeBackend([answer])).ground("the Save button", shot())


def test_close_closes_the_backend() -> None:
    backend = FakeBackend([CLICK])
    QwenPolicy(backend).close()
    assert backend.closed


def test_type_actions_pass_through_unchanged() -> None:
    decision = QwenPolicy(FakeBackend([tool_call('{"action": "type", "text": "Grüße 中文"}')])).decide("T", shot(), [])
    assert decision.action == Type(text="Grüße 中文")
