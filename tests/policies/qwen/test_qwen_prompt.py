"""The computer_use prompt: quoted faithfully, stable across steps, history as text plus recent images."""

from __future__ import annotations

import json

from PIL import Image

from actions.schema import LeftClick, Type
from policies.base import Decision, Outcome, StepRecord
from policies.qwen.messages import ImagePart, TextPart
from policies.qwen.prompt import build_messages, computer_use_tool, system_prompt, tool_call_text
from policies.qwen.resize import ModelFrame

FRAME = ModelFrame(1920, 1080, 1316, 728)

# QwenLM/Qwen2.5-VL cookbooks/utils/agent_function_call.py, class ComputerUse, transcribed by hand.
COOKBOOK_DESCRIPTION = """
Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another screenshot.
* The screen's resolution is {w}x{h}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges unless asked.
""".strip()  # noqa: E501
COOKBOOK_PARAMETERS = {
    "properties": {
        "action": {
            "description": """
The action to perform. The available actions are:
* `key`: Performs key down presses on the arguments passed in order, then performs key releases in reverse order.
* `type`: Type a string of text on the keyboard.
* `mouse_move`: Move the cursor to a specified (x, y) pixel coordinate on the screen.
* `left_click`: Click the left mouse button.
* `left_click_drag`: Click and drag the cursor to a specified (x, y) pixel coordinate on the screen.
* `right_click`: Click the right mouse button.
* `middle_click`: Click the middle mouse button.
* `double_click`: Double-click the left mouse button.
* `scroll`: Performs a scroll of the mouse scroll wheel.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status.
""".strip(),
            "enum": ["key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click",
                     "double_click", "scroll", "wait", "terminate"],
            "type": "string",
        },
        "keys": {"description": "Required only by `action=key`.", "type": "array"},
        "text": {"description": "Required only by `action=type`.", "type": "string"},
        "coordinate": {
            "description": "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to "
            "move the mouse to. Required only by `action=mouse_move` and `action=left_click_drag`.",
            "type": "array",
        },
        "pixels": {
            "description": "The amount of scrolling to perform. Positive values scroll up, negative values scroll "
            "down. Required only by `action=scroll`.",
            "type": "number",
        },
        "time": {"description": "The seconds to wait. Required only by `action=wait`.", "type": "number"},
        "status": {
            "description": "The status of the task. Required only by `action=terminate`.",
            "type": "string",
            "enum": ["success", "failure"],
        },
    },
    "required": ["action"],
    "type": "object",
}
# QwenLM/Qwen-Agent qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py, FN_CALL_TEMPLATE.
NOUS_HEAD = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
"""
NOUS_TAIL = """
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>"""


def test_qwen25_tool_is_the_cookbook_tool_in_the_0015_form() -> None:
    tool = computer_use_tool(1316, 728, extended=False)
    assert list(tool) == ["name_for_human", "name", "description", "parameters", "args_format"]
    assert tool == {
        "name_for_human": "computer_use",
        "name": "computer_use",
        "description": COOKBOOK_DESCRIPTION.format(w=1316, h=728),
        "parameters": COOKBOOK_PARAMETERS,
        "args_format": "Format the arguments as a JSON object.",
    }


def test_system_prompt_is_the_nous_template_with_the_tool_as_qwen_agent_dumps_it() -> None:
    text = system_prompt(1316, 728, extended=False)
    tool = json.dumps({"type": "function", "function": computer_use_tool(1316, 728, extended=False)},
                      ensure_ascii=False)
    assert text == "You are a helpful assistant.\n\n" + NOUS_HEAD + tool + NOUS_TAIL
    assert text.count("The screen's resolution is 1316x728.") == 1
    assert '{"type": "function", "function": {"name_for_human": "computer_use", "name": "computer_use", ' in text
    assert '"args_format": "Format the arguments as a JSON object."}}\n</tools>' in text


def test_the_default_is_the_cookbook_tool_and_the_extras_are_opt_in() -> None:
    assert computer_use_tool(1316, 728) == computer_use_tool(1316, 728, extended=False)
    assert "triple_click" not in system_prompt(1316, 728)


def test_deskpilot_extras_sit_where_qwen3_vl_puts_them() -> None:
    tool = computer_use_tool(1316, 728, extended=True)
    action = tool["parameters"]["properties"]["action"]
    assert action["enum"] == ["key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
                              "middle_click", "double_click", "triple_click", "scroll", "hscroll", "wait",
                              "terminate", "answer"]
    lines = action["description"].splitlines()
    after_double = lines[lines.index("* `double_click`: Double-click the left mouse button.") + 1]
    assert after_double == "* `triple_click`: Triple-click the left mouse button."
    assert lines[-1] == "* `answer`: Answer a question."
    props = tool["parameters"]["properties"]
    assert props["text"]["description"] == "Required only by `action=type` and `action=answer`."
    assert props["pixels"]["description"].endswith("Required only by `action=scroll` and `action=hscroll`.")
    base = computer_use_tool(1316, 728, extended=False)
    assert tool["description"] == base["description"]


def _step(index: int, action: object, model_action: dict | None = None, feedback: str = "",
          error: str | None = None) -> StepRecord:
    meta = {"model_action": model_action} if model_action is not None else {}
    decision = Decision(action=action, raw_text="raw", error=error, meta=meta)  # type: ignore[arg-type]
    outcome = Outcome("executed") if action is not None else Outcome("invalid", error or "")
    return StepRecord(index, decision, None, outcome, feedback)


HISTORY = [
    _step(1, LeftClick(coordinate=(960, 540)), {"action": "left_click", "coordinate": [658, 364]}),
    _step(2, Type(text="héllo"), {"action": "type", "text": "héllo"}, "The last action had no visible effect."),
    _step(3, None, None, "Your last answer could not be used: unknown action 'fly'. Answer with one tool call.",
          error="unknown action 'fly'"),
]


def _image(color: int = 0) -> Image.Image:
    return Image.new("RGB", (1316, 728), (color, color, color))


def test_first_step_is_system_then_image_then_query() -> None:
    image = _image()
    system, user = build_messages("Open the file menu", image, FRAME)
    assert system.role == "system" and system.parts == (TextPart(system_prompt(1316, 728)),)
    assert user.role == "user" and user.parts == (ImagePart(image), TextPart("The user query: Open the file menu"))


def test_earlier_steps_are_text_with_feedback_and_one_screenshot() -> None:
    messages = build_messages("Say hello", _image(), FRAME, HISTORY, history_images=1)
    assert len(messages) == 2
    text = messages[1].parts[1].text
    assert text == (
        "The user query: Say hello\n"
        "Task progress (You have done the following operation on the current device): "
        'Step 1: {"action": "left_click", "coordinate": [658, 364]}; '
        'Step 2: {"action": "type", "text": "héllo"} (The last action had no visible effect.); '
        "Step 3: (no usable action) (Your last answer could not be used: unknown action 'fly'. "
        "Answer with one tool call.);"
    )
    assert sum(isinstance(p, ImagePart) for m in messages for p in m.parts) == 1


def test_system_prompt_is_byte_identical_whatever_the_history() -> None:
    first = build_messages("T", _image(), FRAME)[0]
    later = build_messages("T", _image(9), FRAME, HISTORY, history_images=3, images={2: _image(2), 3: _image(3)})[0]
    assert first == later


def test_recent_steps_become_turns_with_their_screenshots() -> None:
    images = {1: _image(1), 2: _image(2), 3: _image(3)}
    current = _image(4)
    messages = build_messages("Say hello", current, FRAME, HISTORY, history_images=3, images=images)
    roles = [m.role for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    first_user = messages[1]
    assert first_user.parts[0] == ImagePart(images[2])
    assert first_user.parts[1].text == (
        "The user query: Say hello\nTask progress (You have done the following operation on the current device): "
        'Step 1: {"action": "left_click", "coordinate": [658, 364]};'
    )
    assert messages[2].parts == (TextPart(tool_call_text({"action": "type", "text": "héllo"})),)
    assert messages[3].parts == (ImagePart(images[3]), TextPart("The last action had no visible effect."))
    assert messages[4].parts == (TextPart("raw"),)  # the unusable answer, as the model wrote it
    assert messages[5].parts[0] == ImagePart(current)
    assert "could not be used" in messages[5].parts[1].text


def test_missing_screenshots_fall_back_to_text() -> None:
    messages = build_messages("T", _image(), FRAME, HISTORY, history_images=4, images={3: _image(3)})
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert "Step 2:" in messages[1].parts[1].text and "Step 3" not in messages[1].parts[1].text


def test_steps_without_model_space_json_are_mapped_back_to_model_space() -> None:
    step = _step(1, LeftClick(coordinate=(960, 540)))
    text = build_messages("T", _image(), FRAME, [step])[1].parts[1].text
    assert 'Step 1: {"action": "left_click", "coordinate": [658, 364]};' in text


def test_tool_call_text_is_the_nous_rendering() -> None:
    assert tool_call_text({"action": "key", "keys": ["ctrl", "c"]}) == (
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "c"]}}\n</tool_call>'
    )
