"""The Qwen2.5-VL computer_use prompt: the tool, the Nous function-call system prompt, the history.

Quoted from the sources the model was trained and evaluated with:
- the `ComputerUse` tool of QwenLM/Qwen2.5-VL `cookbooks/utils/agent_function_call.py`, serialised in
  the Qwen-Agent 0.0.15 form (`name_for_human`, `name`, `description`, `parameters`, `args_format`);
- `FN_CALL_TEMPLATE` of QwenLM/Qwen-Agent `qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py`,
  appended to "You are a helpful assistant." after a blank line, tools as `json.dumps(...,
  ensure_ascii=False)`.
deskpilot's opt-in extra actions (triple_click, hscroll, answer; `extended=True`, config
`model.extended_actions`; no checkpoint was trained on them) are added to the action list and enum at
the places Qwen3-VL's tool puts them (`extended=False` gives the Qwen2.5-VL tool verbatim).
The system prompt depends only on W′×H′, so it is byte-identical across the steps of a run (prefix
caching). History: the cookbook's "Step 1: {json}; Step 2: ..." text (with the loop's feedback) plus
the last `history_images` screenshots as earlier user/assistant turns.
Not for: resizing (resize), talking to a model (backends) or parsing the answer (parse).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actions.schema import action_to_json, with_points
from policies.base import StepRecord
from policies.qwen.coords import to_model
from policies.qwen.messages import ImagePart, Message, TextPart
from policies.qwen.resize import ModelFrame

if TYPE_CHECKING:
    from PIL import Image

TOOL_NAME = "computer_use"
SYSTEM_PREAMBLE = "You are a helpful assistant."
FN_CALL_TEMPLATE = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tool_descs}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""
ARGS_FORMAT = "Format the arguments as a JSON object."  # Qwen-Agent's default for tools without Chinese text
PROGRESS = "Task progress (You have done the following operation on the current device): "

_DESCRIPTION = """Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another screenshot.
* The screen's resolution is {width}x{height}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges unless asked."""  # noqa: E501
# (action, its line in the action description, whether it is a deskpilot/Qwen3-VL extra), in enum order.
_ACTIONS: tuple[tuple[str, str, bool], ...] = (
    ("key", "Performs key down presses on the arguments passed in order, then performs key releases in reverse order.",
     False),
    ("type", "Type a string of text on the keyboard.", False),
    ("mouse_move", "Move the cursor to a specified (x, y) pixel coordinate on the screen.", False),
    ("left_click", "Click the left mouse button.", False),
    ("left_click_drag", "Click and drag the cursor to a specified (x, y) pixel coordinate on the screen.", False),
    ("right_click", "Click the right mouse button.", False),
    ("middle_click", "Click the middle mouse button.", False),
    ("double_click", "Double-click the left mouse button.", False),
    ("triple_click", "Triple-click the left mouse button.", True),
    ("scroll", "Performs a scroll of the mouse scroll wheel.", False),
    ("hscroll", "Performs a horizontal scroll of the mouse scroll wheel (positive values scroll right).", True),
    ("wait", "Wait specified seconds for the change to happen.", False),
    ("terminate", "Terminate the current task and report its completion status.", False),
    ("answer", "Answer a question.", True),
)


def computer_use_tool(width: int, height: int, extended: bool = False) -> dict[str, Any]:
    """The computer_use function in the Qwen-Agent 0.0.15 form, for a W′×H′ model image."""
    actions = [(name, line) for name, line, extra in _ACTIONS if extended or not extra]
    action_doc = "The action to perform. The available actions are:\n" + "\n".join(
        f"* `{name}`: {line}" for name, line in actions
    )
    also = (" and `action=answer`", " and `action=hscroll`") if extended else ("", "")
    parameters = {
        "properties": {
            "action": {"description": action_doc, "enum": [name for name, _ in actions], "type": "string"},
            "keys": {"description": "Required only by `action=key`.", "type": "array"},
            "text": {"description": f"Required only by `action=type`{also[0]}.", "type": "string"},
            "coordinate": {
                "description": "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) "
                "coordinates to move the mouse to. Required only by `action=mouse_move` and `action=left_click_drag`.",
                "type": "array",
            },
            "pixels": {
                "description": "The amount of scrolling to perform. Positive values scroll up, negative values scroll "
                f"down. Required only by `action=scroll`{also[1]}.",
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
    return {
        "name_for_human": TOOL_NAME,
        "name": TOOL_NAME,
        "description": _DESCRIPTION.format(width=width, height=height),
        "parameters": parameters,
        "args_format": ARGS_FORMAT,
    }


def system_prompt(width: int, height: int, extended: bool = False) -> str:
    """"You are a helpful assistant." + the Nous `# Tools` block listing computer_use for W′×H′."""
    tool = {"type": "function", "function": computer_use_tool(width, height, extended)}
    return SYSTEM_PREAMBLE + "\n\n" + FN_CALL_TEMPLATE.format(tool_descs=json.dumps(tool, ensure_ascii=False))


def tool_call_text(arguments: Mapping[str, Any]) -> str:
    """An answer as the model writes it (and as Qwen-Agent renders earlier calls)."""
    call = json.dumps({"name": TOOL_NAME, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"<tool_call>\n{call}\n</tool_call>"


def build_messages(
    task: str,
    image: Image.Image,
    frame: ModelFrame,
    history: Sequence[StepRecord] = (),
    history_images: int = 1,
    images: Mapping[int, Image.Image] | None = None,
    extended: bool = False,
) -> tuple[Message, ...]:
    """The request for the next step.

    `image` is the current screenshot, already W′×H′. `images` maps earlier step indexes to the
    W′×H′ screenshot the model saw at that step; the last `history_images - 1` of them that exist
    become user/assistant turns, every older step is text in the first user turn.
    """
    recent = _recent(history, max(history_images, 1) - 1, images or {})
    older = history[: len(history) - len(recent)]
    system = Message("system", (TextPart(system_prompt(frame.model_width, frame.model_height, extended)),))
    query = f"The user query: {task}"
    if older:
        query += "\n" + PROGRESS + _progress(older, frame)
    if not recent:
        return system, Message("user", (ImagePart(image), TextPart(query)))
    messages = [system]
    texts: list[str] = [query]
    for step in recent:
        assert images is not None
        parts = (ImagePart(images[step.index]), *(TextPart(t) for t in texts if t))
        messages += [Message("user", parts), Message("assistant", (TextPart(_reply_text(step, frame)),))]
        texts = [step.feedback]
    messages.append(Message("user", (ImagePart(image), *(TextPart(t) for t in texts if t))))
    return tuple(messages)


def _recent(history: Sequence[StepRecord], count: int, images: Mapping[int, Image.Image]) -> list[StepRecord]:
    """The last `count` steps, cut back to the unbroken run of them whose screenshot is known."""
    recent: list[StepRecord] = []
    for step in reversed(history[len(history) - count:] if count else ()):
        if step.index not in images:
            break
        recent.insert(0, step)
    return recent


def _progress(steps: Sequence[StepRecord], frame: ModelFrame) -> str:
    entries = []
    for n, step in enumerate(steps, start=1):
        arguments = model_arguments(step, frame)
        said = json.dumps(arguments, ensure_ascii=False) if arguments is not None else "(no usable action)"
        note = f" ({step.feedback.strip()})" if step.feedback.strip() else ""
        entries.append(f"Step {n}: {said}{note};")
    return " ".join(entries)


def model_arguments(step: StepRecord, frame: ModelFrame) -> dict[str, Any] | None:
    """The step's action as the model wrote it (model-space coordinates), if it had one."""
    model_action = step.decision.meta.get("model_action")
    if isinstance(model_action, dict):
        return model_action
    if step.decision.action is None:
        return None
    return action_to_json(with_points(step.decision.action, lambda p: to_model(p, frame)))


def _reply_text(step: StepRecord, frame: ModelFrame) -> str:
    arguments = model_arguments(step, frame)
    if arguments is not None:
        return tool_call_text(arguments)
    return (step.decision.raw_text or "")[:1000]
