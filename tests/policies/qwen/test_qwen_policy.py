"""QwenPolicy with a fake backend: screen-space actions, meta for the trace, errors fed back, grounding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from actions.fake import FakeComputer
from actions.geometry import Monitor
from actions.schema import LeftClick, Type
from agent.config import load_settings
from agent.run.runner import execute
from agent.traces.lines import Origin
from agent.traces.store import read_trace
from policies.grounding import GroundingError
from policies.qwen.messages import ImagePart, ModelReply, ModelRequest, TextPart
from policies.qwen.policy import QwenOptions, QwenPolicy, example_for_model


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
    report = execute("Say hi", policy, settings_for(tmp_path, **extra), Origin(model={"backend": "fake"}), computer)
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
    assert first.action == {"action": "left_click", "coordinate": [960, 540]}
    assert first.policy["model_action"] == {"action": "left_click", "coordinate": [658, 364]}
    assert first.policy["screen"] == [1920, 1080] and first.policy["model"] == [1316, 728]
    assert first.policy["vision_tokens"] == 1222 and first.raw_text == CLICK
    assert second.outcome.status == "invalid" and second.raw_text == "garbage"


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


def two_colour_crop(size: tuple[int, int] = (96, 96)):  # type: ignore[no-untyped-def]
    from PIL import Image

    crop = Image.new("RGB", size, (220, 20, 20))
    crop.paste((20, 20, 220), (size[0] // 2, 0, *size))  # red left half, blue right half
    return crop


def test_ground_example_shows_the_recorded_crop_first_and_reads_the_answer_in_the_screenshot() -> None:
    import threading

    from policies.qwen.prompt import system_prompt
    from policies.scripted.verified import ExampleGrounder

    backend = FakeBackend([CLICK])
    policy = QwenPolicy(backend, QwenOptions(max_new_tokens=50, constrained=True))
    policy.interrupt_event = threading.Event()
    assert isinstance(policy, ExampleGrounder)  # what verified replay checks before offering the crop
    assert policy.ground_example("the Save button", two_colour_crop(), shot()) == (960, 540)  # 658×364 of 1316×728
    (request,) = backend.requests
    assert request.stop is policy.interrupt_event and request.constrained and request.max_new_tokens == 50
    system, user = request.messages
    assert system.parts == (TextPart(system_prompt(1316, 728)),)
    images = [p.image for p in user.parts if isinstance(p, ImagePart)]
    texts = [p.text for p in user.parts if isinstance(p, TextPart)]
    assert len(images) == 2 and images[1].size == (1316, 728)  # the screenshot, W′×H′, last
    assert images[0].size == (56, 56)  # 96 px at the screenshot's scale (1316/1920: 66 px), in 28-px patches
    assert images[0].getpixel((5, 28)) == (220, 20, 20) and images[0].getpixel((50, 28)) == (20, 20, 220)
    assert isinstance(user.parts[0], TextPart) and "looked like when it was recorded" in user.parts[0].text
    assert isinstance(user.parts[1], ImagePart) and user.parts[1].image is images[0]  # the crop comes first
    assert texts[-1].endswith("The user query: Click on the Save button.")


def test_ground_example_crop_sides_are_multiples_of_28_and_bounded() -> None:
    from policies.qwen.resize import model_frame

    for size, screen in (((96, 96), (1280, 800)), ((384, 130), (1920, 1080)), ((10, 7), (3840, 2160)),
                         ((2000, 1500), (1280, 800))):
        crop = example_for_model(two_colour_crop(size), model_frame(*screen, 3136, 1280 * 28 * 28))
        assert crop is not None and crop.width % 28 == 0 and crop.height % 28 == 0, (size, crop)
        assert 4 * 784 <= crop.width * crop.height <= 256 * 784
    assert example_for_model(two_colour_crop((96, 96)), model_frame(1280, 800, 3136, 1280 * 28 * 28)).size == (84, 84)


def test_ground_example_without_a_usable_crop_grounds_on_the_screenshot_alone() -> None:
    backend = FakeBackend([CLICK])
    assert QwenPolicy(backend).ground_example("the Save button", two_colour_crop((400, 1)), shot()) == (960, 540)
    assert sum(isinstance(p, ImagePart) for m in backend.requests[0].messages for p in m.parts) == 1


@pytest.mark.parametrize(("answer", "fragment"), [
    ("no idea", "could not locate 'the Save button'"),
    (tool_call('{"action": "type", "text": "save"}'), "without a coordinate"),
])
def test_ground_example_failures_are_grounding_errors(answer: str, fragment: str) -> None:
    with pytest.raises(GroundingError, match=fragment):
        QwenPolicy(FakeBackend([answer])).ground_example("the Save button", two_colour_crop(), shot())


@pytest.mark.model
def test_ground_example_on_the_tiny_model_constrains_to_the_screenshot_frame(tiny_qwen_dir: Path) -> None:
    """Two images through the real transformers inputs: both in 28-px patches; the grammar's bounds are the
    screenshot's W′×H′ (the last image), so a constrained answer is a point inside it."""
    from agent.config import ModelSettings
    from policies.qwen.backends.transformers_backend import TransformersBackend
    from policies.qwen.resize import model_frame

    settings = ModelSettings(name=str(tiny_qwen_dir), dtype="float32", device_map="cpu", attn_implementation="sdpa",
                             temperature=0.0, min_pixels=3136, max_pixels=200_704)
    backend = TransformersBackend(settings)
    sizes: list[object] = []
    index = backend.constraint_index
    backend.constraint_index = lambda size: sizes.append(size) or index(size)  # type: ignore[method-assign]
    prepared: list[object] = []
    prepare = backend.prepare
    backend.prepare = lambda request: prepared.append(p := prepare(request)) or p  # type: ignore[method-assign]
    policy = QwenPolicy(backend, QwenOptions(max_pixels=200_704, constrained=True, max_new_tokens=40))
    screen = shot(640, 400)
    frame = model_frame(640, 400, 3136, 200_704)
    try:
        point = policy.ground_example("the Save button", two_colour_crop(), screen)
    except GroundingError as exc:  # random weights may pick an action without a point; never a malformed call
        assert "without a coordinate" in str(exc)
    else:
        assert 0 <= point[0] < 640 and 0 <= point[1] < 400
    crop = example_for_model(two_colour_crop(), frame)
    assert crop is not None and prepared[0].image_sizes == (crop.size, frame.model)  # type: ignore[attr-defined]
    # the grammar (and its forced opening) for the screenshot: points inside its W′×H′, nowhere else
    from policies.qwen.dialects import dialect_for

    assert sizes and all(size is dialect_for("qwen2.5-vl").grammar(frame) for size in sizes)
