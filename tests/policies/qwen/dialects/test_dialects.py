"""Dialects: prompts byte for byte against upstream text, golden parses, coordinate round trips, detection."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image
from upstream_texts import (
    COMPUTER_USE_DOUBAO,
    GROUNDING_DOUBAO,
    MOBILE_SYSTEM_PROMPT,
    QWEN3_DESCRIPTION,
    QWEN3_MOBILE_OUTPUT,
    QWEN3_PARAMETERS,
    UITARS_COORDINATES_OUTPUT,
    UITARS_README_OUTPUT,
    UITARS_TEST_OUTPUT,
)

from policies.qwen.dialects import DIALECTS, detect, dialect_for
from policies.qwen.dialects.base import DialectError, frame_for
from policies.qwen.dialects.qwen3vl import computer_use_tool, system_prompt
from policies.qwen.dialects.uitars import COMPUTER_USE, GROUNDING
from policies.qwen.messages import ImagePart, TextPart
from policies.qwen.parse import ParseError
from policies.qwen.resize import ModelFrame

SCREENS = [(1280, 720), (1366, 768), (1920, 1080), (2560, 1440), (3440, 1440), (3840, 2160), (5120, 2880)]


def test_qwen3_system_prompt_renders_the_mobile_cookbook_prompt_byte_for_byte() -> None:
    start = MOBILE_SYSTEM_PROMPT.index("<tools>\n") + len("<tools>\n")
    tool = json.loads(MOBILE_SYSTEM_PROMPT[start:MOBILE_SYSTEM_PROMPT.index("\n</tools>")])["function"]
    assert system_prompt(tool) == MOBILE_SYSTEM_PROMPT


def test_qwen3_computer_use_tool_is_the_cookbook_tool_on_the_1000_grid() -> None:
    tool = computer_use_tool()
    assert tool["description"] == QWEN3_DESCRIPTION.format(display_width_px=1000, display_height_px=1000)
    assert tool["parameters"] == QWEN3_PARAMETERS
    assert list(tool) == ["name", "description", "parameters"]


def test_uitars_prompts_are_upstream_byte_for_byte() -> None:
    assert COMPUTER_USE == COMPUTER_USE_DOUBAO
    assert GROUNDING == GROUNDING_DOUBAO
    d = dialect_for("ui-tars-1.5")
    frame = ModelFrame(1920, 1080, 1932, 1092)
    image = Image.new("RGB", frame.model)
    messages = d.messages("Open the menu", image, frame, (), 5, {})
    assert messages[1].parts == (TextPart(COMPUTER_USE_DOUBAO.format(language="English", instruction="Open the menu")),)
    assert isinstance(messages[-1].parts[0], ImagePart) and messages[-1].role == "user"


@pytest.mark.parametrize(("text", "point"), [
    (UITARS_README_OUTPUT, (100, 200)), (UITARS_TEST_OUTPUT, (200, 300)), (UITARS_COORDINATES_OUTPUT, (197, 525)),
])
def test_uitars_golden_parses_are_pixels_of_the_resized_image(text: str, point: tuple[int, int]) -> None:
    frame = ModelFrame(1932, 1092, 1932, 1092)  # identity, so the model point is the screen point
    parsed = dialect_for("ui-tars-1.5").parse(text, frame)
    assert parsed.action.action == "left_click" and parsed.action.coordinate == point


@pytest.mark.parametrize(("text", "expected"), [
    ("Thought: t\nAction: hotkey(key='ctrl c')", {"action": "key", "keys": ["ctrl", "c"]}),
    ("Thought: t\nAction: type(content='it\\'s \"x\"\\n')", {"action": "type", "text": "it's \"x\"\n"}),
    ("Thought: t\nAction: type(content='Action: click(start_box=\\'(1,2)\\')')",
     {"action": "type", "text": "Action: click(start_box='(1,2)')"}),
    ("Thought: t\nAction: scroll(point='<point>10 20</point>', direction='down')",
     {"action": "scroll", "pixels": -5, "coordinate": [10, 20]}),
    ("Thought: t\nAction: scroll(start_box='(10,20)', direction='right')",
     {"action": "hscroll", "pixels": 5, "coordinate": [10, 20]}),
    ("Thought: t\nAction: drag(start_box='(1,2)', end_box='(30,40)')",
     {"action": "left_click_drag", "start_coordinate": [1, 2], "coordinate": [30, 40]}),
    ("Action: left_double(start_box='<|box_start|>(10,20)<|box_end|>')",
     {"action": "double_click", "coordinate": [10, 20]}),
    ("Action: right_single(start_box='(10,20,30,40)')", {"action": "right_click", "coordinate": [20, 30]}),
    ("Thought: wait\nAction: wait()", {"action": "wait", "time": 5}),
    ("Thought: done\nAction: finished(content='all done')", {"action": "terminate", "status": "success"}),
])
def test_uitars_actions_map_onto_the_schema(text: str, expected: dict) -> None:
    assert dialect_for("ui-tars-1.5").parse(text, ModelFrame(100, 100, 100, 100)).model_action == expected


@pytest.mark.parametrize("text", [
    "Thought: nothing to do", "Action: click(start_box='(1)')", "Action: __import__('os').system('x')",
    "Action: click(start_box='(1,2)'", "Action: scroll(direction='sideways')", "Action: eval(content='1')",
])
def test_uitars_bad_answers_are_one_line_parse_errors_and_nothing_runs(text: str) -> None:
    with pytest.raises(ParseError) as info:
        dialect_for("ui-tars-1.5").parse(text, ModelFrame(100, 100, 100, 100))
    assert "\n" not in str(info.value)


def test_qwen3_reads_the_cookbook_answer_form_and_thinking_first() -> None:
    frame = ModelFrame(1920, 1080, 1920, 1088, factor=32, grid=1000)
    d = dialect_for("qwen3-vl")
    text = QWEN3_MOBILE_OUTPUT.replace('"mobile_use"', '"computer_use"').replace('"click"', '"left_click"')
    assert d.parse(text, frame).action.coordinate == (round(447 * 1920 / 1000), round(81 * 1080 / 1000))
    thinking = "<think>I could answer {\"action\": \"type\"} but 📐 <tool_call> no.</think>\n" + text
    assert d.parse(thinking, frame).action.action == "left_click"


def test_qwen3_states_the_grid_and_puts_text_before_the_image() -> None:
    frame = ModelFrame(1920, 1080, 1920, 1088, factor=32, grid=1000)
    messages = dialect_for("qwen3-vl").messages("Open it", Image.new("RGB", frame.model), frame, (), 1, {})
    system, user = messages
    assert "The screen's resolution is 1000x1000." in system.parts[0].text  # type: ignore[union-attr]
    assert isinstance(user.parts[0], TextPart) and isinstance(user.parts[1], ImagePart)
    assert user.parts[0].text == ("The user query: Open it.\nTask progress (You have done the following operation "
                                  "on the current device): .\n")


@pytest.mark.parametrize("name", ["qwen2.5-vl", "qwen3-vl", "ui-tars-1.5", "gta1", "ui-venus-ground", "holo1.5"])
@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_a_point_survives_the_round_trip_through_each_dialects_answer(name: str, width: int, height: int) -> None:
    """Screen point → the model's coordinate space → the dialect's own answer text → parsed → screen point."""
    d = dialect_for(name)
    frame = frame_for(d, width, height, d.budget.min_pixels, d.budget.max_pixels)
    cw, ch = frame.coordinate_size
    tolerance = (math.ceil(width / cw), math.ceil(height / ch))
    for sx, sy in [(0, 0), (width - 1, height - 1), (width // 3, height // 2), (17, height - 23)]:
        mx, my = round(sx * cw / width), round(sy * ch / height)
        got = d.parse_point(_answer(name, mx, my), frame)
        assert abs(got[0] - sx) <= tolerance[0] and abs(got[1] - sy) <= tolerance[1], (got, (sx, sy))
        assert 0 <= got[0] < width and 0 <= got[1] < height


def _answer(name: str, x: int, y: int) -> str:
    if name in ("qwen2.5-vl", "qwen3-vl"):
        return ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": '
                f'[{x}, {y}]}}}}\n</tool_call>')
    if name == "ui-tars-1.5":
        return f"Thought: there\nAction: click(point='<point>{x} {y}</point>')"
    if name == "gta1":
        return f"({x},{y})"
    if name == "ui-venus-ground":
        return f"[{x - 4},{y - 6},{x + 4},{y + 6}]"
    return json.dumps({"action": "click_absolute", "x": x, "y": y})


def test_the_budgets_are_the_reference_ones() -> None:
    assert frame_for(dialect_for("qwen3-vl"), 1920, 1080, 65536, 16 * 16 * 4 * 1280).model == (1504, 832)
    assert frame_for(dialect_for("qwen2.5-vl"), 1920, 1080, 3136, 1003520).model == (1316, 728)
    venus = dialect_for("ui-venus-ground")
    small = frame_for(venus, 1280, 720, venus.budget.min_pixels, venus.budget.max_pixels)
    assert small.model_width * small.model_height >= 2_000_000  # small screens are upscaled
    assert frame_for(dialect_for("qwen3-vl"), 1920, 1080, 65536, 16777216).vision_tokens == 2040


@pytest.mark.parametrize(("name", "config", "expected"), [
    ("Qwen/Qwen2.5-VL-7B-Instruct", None, "qwen2.5-vl"),
    ("Qwen/Qwen3-VL-8B-Instruct", None, "qwen3-vl"),
    ("/models/local", {"model_type": "qwen3_vl_moe", "architectures": ["Qwen3VLMoeForConditionalGeneration"]},
     "qwen3-vl"),
    ("/models/local", {"model_type": "qwen2_5_vl"}, "qwen2.5-vl"),
    ("ByteDance-Seed/UI-TARS-1.5-7B", {"model_type": "qwen2_5_vl"}, "ui-tars-1.5"),
    ("Salesforce/GTA1-7B-2507", {"model_type": "qwen2_5_vl"}, "gta1"),
    ("inclusionAI/UI-Venus-Ground-7B", None, "ui-venus-ground"),
    ("Hcompany/Holo1.5-7B", None, "holo1.5"),
    ("served-model", None, "qwen2.5-vl"),
])
def test_detection_from_config_and_name(name: str, config: dict | None, expected: str) -> None:
    assert detect(name, config)[0] == expected


def test_grounders_refuse_to_plan_and_unknown_dialects_are_named() -> None:
    frame = ModelFrame(100, 100, 112, 112)
    with pytest.raises(DialectError, match=r"model\.grounder"):
        dialect_for("gta1").parse("(1,2)", frame)
    with pytest.raises(DialectError, match="expected one of"):
        dialect_for("qwen9")
    assert set(DIALECTS) >= {"qwen2.5-vl", "qwen3-vl", "ui-tars-1.5", "gta1", "ui-venus-ground", "holo1.5"}


def test_grounder_prompts_follow_their_sources() -> None:
    frame = ModelFrame(1920, 1080, 1932, 1092)
    image = Image.new("RGB", frame.model)
    system, user = dialect_for("gta1").ground_messages("the OK button", image, frame)
    assert "The image resolution is height 1092 and width 1932." in system.parts[0].text  # type: ignore[union-attr]
    assert isinstance(user.parts[0], ImagePart) and user.parts[1] == TextPart("the OK button")
    (venus,) = dialect_for("ui-venus-ground").ground_messages("the OK button", image, frame)
    assert venus.parts[1] == TextPart("Outline the position corresponding to the instruction: the OK button. "
                                      "The output should be only [x1,y1,x2,y2].")
    (holo,) = dialect_for("holo1.5").ground_messages("the OK button", image, frame)
    text = holo.parts[1].text  # type: ignore[union-attr]
    assert text.startswith("Localize an element on the GUI image according to the provided target and output a "
                           "click position.\n * You must output a valid JSON following the format: {'description'")
    assert text.endswith("'title': 'ClickAbsoluteAction', 'type': 'object'}\n Your target is:\nthe OK button")


def _as_chat(messages) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"role": m.role, "content": [{"type": "image"} if isinstance(p, ImagePart) else
                                         {"type": "text", "text": p.text} for p in m.parts]} for m in messages]


@pytest.mark.model
def test_qwen3_requests_render_as_qwen3_vls_own_chat_template(tiny_qwen_dir) -> None:  # type: ignore[no-untyped-def]
    """Our ChatML (no default system turn, image and text in order, earlier turns) equals the 5292-byte
    Qwen3-VL-8B-Instruct template's rendering of the same conversation."""
    import hashlib

    from transformers import AutoTokenizer
    from upstream_texts import QWEN3VL_CHAT_TEMPLATE

    from actions.schema import LeftClick
    from policies.base import Decision, Outcome, StepRecord
    from policies.qwen.engine.inputs import chat_text

    assert hashlib.sha256(QWEN3VL_CHAT_TEMPLATE.encode()).hexdigest().startswith("3636d0f0")
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen_dir)
    frame = ModelFrame(1920, 1080, 1504, 832, factor=32, grid=1000)
    image = Image.new("RGB", frame.model)
    step = StepRecord(1, Decision(LeftClick(coordinate=(10, 10)), raw_text="Thought: x\nAction: Click.\n<tool_call>"
                                  '\n{"name": "computer_use", "arguments": {"action": "left_click"}}\n</tool_call>'),
                      None, Outcome("executed"), feedback="nothing changed")
    for history, shown in (((), 1), ((step,), 2), ((step,), 1)):
        messages = dialect_for("qwen3-vl").messages("Open the menu", image, frame, history, shown, {1: image})
        rendered = tokenizer.apply_chat_template(_as_chat(messages), chat_template=QWEN3VL_CHAT_TEMPLATE,
                                                 tokenize=False, add_generation_prompt=True)
        assert chat_text(messages, default_system=None) == rendered


def _steps(n: int):  # type: ignore[no-untyped-def]
    from actions.schema import LeftClick
    from policies.base import Decision, Outcome, StepRecord

    return tuple(StepRecord(i, Decision(LeftClick(coordinate=(i, i)), raw_text=f"Thought: step {i}\nAction: "
                                        f"click(start_box='({i},{i})')"), None, Outcome("executed"))
                 for i in range(1, n + 1))


def test_uitars_history_alternates_recent_screenshots_with_its_answers() -> None:
    d = dialect_for("ui-tars-1.5")
    frame = ModelFrame(1920, 1080, 1932, 1092)
    images = {i: Image.new("RGB", frame.model, (i, i, i)) for i in range(1, 8)}
    now = Image.new("RGB", frame.model, "white")
    messages = d.messages("Do it", now, frame, _steps(7), 5, images)
    roles = [m.role for m in messages]
    # system, the prompt, 7 answers of which the last 4 follow their screenshot, then the current screenshot
    assert roles == ["system", "user", "assistant", "assistant", "assistant"] + ["user", "assistant"] * 4 + ["user"]
    shown = [p.image for m in messages for p in m.parts if isinstance(p, ImagePart)]
    assert shown == [images[4], images[5], images[6], images[7], now]  # 5 screenshots in all
    assert messages[2].parts == (TextPart("Thought: step 1\nAction: click(start_box='(1,1)')"),)


def test_qwen3_history_is_the_cookbooks_step_list_plus_recent_turns() -> None:
    d = dialect_for("qwen3-vl")
    frame = ModelFrame(1920, 1080, 1504, 832, factor=32, grid=1000)
    images = {i: Image.new("RGB", frame.model) for i in range(1, 4)}
    steps = tuple(s.__class__(s.index, s.decision.__class__(s.decision.action, raw_text=f"Thought: t\nAction: "
                                                            f"Click \"item {s.index}\".\n<tool_call>"),
                              s.verdict, s.outcome) for s in _steps(3))
    messages = d.messages("Do it", images[1], frame, steps, 2, images)
    first_user = messages[1].parts[0].text  # type: ignore[union-attr]
    assert first_user == ("The user query: Do it.\nTask progress (You have done the following operation on the "
                          "current device): Step 1: Click item 1.; Step 2: Click item 2.; .\n")
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]


def test_grounder_prompts_are_their_sources_byte_for_byte() -> None:
    from upstream_texts import GTA1_SYSTEM_PROMPT, HOLO_PROMPT_HEAD, UI_VENUS_PROMPT

    from policies.qwen.dialects.grounders import holo_schema

    frame = ModelFrame(1920, 1080, 1932, 1092)
    image = Image.new("RGB", frame.model)
    system, _ = dialect_for("gta1").ground_messages("Save", image, frame)
    assert system.parts == (TextPart(GTA1_SYSTEM_PROMPT.format(height=1092, width=1932)),)
    (venus,) = dialect_for("ui-venus-ground").ground_messages("Save", image, frame)
    assert venus.parts[1] == TextPart(UI_VENUS_PROMPT.format("Save"))
    (holo,) = dialect_for("holo1.5").ground_messages("Save", image, frame)
    assert holo.parts[1] == TextPart(HOLO_PROMPT_HEAD.format(schema=holo_schema()) + "\nSave")


@pytest.mark.parametrize(("name", "text", "point"), [
    ("gta1", "(966,546)", (960, 540)),
    ("ui-venus-ground", "[956,536,976,556]", (960, 540)),
    ("holo1.5", '{"action": "click_absolute", "x": 966, "y": 546}', (960, 540)),
    ("holo1.5", 'Sure: {"action":"click_absolute","x":966,"y":546}', (960, 540)),
])
def test_grounder_golden_parses(name: str, text: str, point: tuple[int, int]) -> None:
    assert dialect_for(name).parse_point(text, ModelFrame(1920, 1080, 1932, 1092)) == point


@pytest.mark.parametrize("name", ["gta1", "ui-venus-ground", "holo1.5"])
@pytest.mark.parametrize("text", ["", "no idea", "(1e999,2)", "[1,2]", '{"x": true, "y": 1}', "(99999,5)"])
def test_grounder_bad_answers_are_parse_errors(name: str, text: str) -> None:
    with pytest.raises(ParseError):
        dialect_for(name).parse_point(text, ModelFrame(1920, 1080, 1932, 1092))
