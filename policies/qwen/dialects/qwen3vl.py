"""`qwen3-vl`: Qwen3-VL (2B/4B/8B/32B dense, 30B-A3B/235B-A22B MoE; Instruct and Thinking) as its cookbooks speak.

Prompt: the Qwen3 Hermes form of QwenLM/Qwen3-VL `cookbooks/mobile_agent.ipynb` — no preamble, "\\n\\n"
+ the `# Tools` block with the tool as `{"type": "function", "function": {name, description,
parameters}}`, then its `# Response format` section (Thought, Action, one `<tool_call>`) — holding
the `computer_use` tool of QwenLM/Qwen3-VL `cookbooks/utils/agent_function_call.py` (its own action
words: triple_click, hscroll, answer), the resolution stated as the grid: "1000x1000". The user turn
puts the text before the image ("The user query: {task}.\\nTask progress (You have done the following
operation on the current device): Step 1: …; .\\n", as the cookbook). Answers are read by the same
JSON tool-call parser as Qwen2.5-VL's, with coordinates on the 0–1000 grid (x = x′·W/1000). Thinking
checkpoints write `<think>…</think>` first (the chat template opens it); the parser looks past it.
Resize factor 32 (patch 16 × merge 2), normalisation mean = std = 0.5 (the checkpoint's
preprocessor_config; `engine.pixels` reads it), bounds as OSWorld's Qwen3-VL agent (≤ 1280 tokens).
Not for: Qwen2.5-VL (pixels of the resized image: `qwen25vl`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actions.geometry import Point
from policies.base import StepRecord
from policies.qwen.dialects.base import Budget, Role
from policies.qwen.dialects.qwen25vl import BASE_ACTIONS, EXTRA_ACTIONS, before_call, last_sentence, point_of
from policies.qwen.messages import ImagePart, Message, TextPart
from policies.qwen.parse import ParsedCall, parse_reply
from policies.qwen.prompt import FN_CALL_TEMPLATE, model_arguments, tool_call_text
from policies.qwen.resize import ModelFrame

if TYPE_CHECKING:
    from PIL import Image

    from policies.qwen.constrained.bytes_dfa import Dfa

GRID = 1000
RESPONSE_FORMAT = """

# Response format

Response format for every step:
1) Thought: one concise sentence explaining the next move (no multi-step reasoning).
2) Action: a short imperative describing what to do in the UI.
3) A single <tool_call>...</tool_call> block containing only the JSON: {"name": <function-name>, "arguments": <args-json-object>}.

Rules:
- Output exactly in the order: Thought, Action, <tool_call>.
- Be brief: one sentence for Thought, one for Action.
- Do not output anything else outside those three parts.
- If finishing, use action=terminate in the tool call."""  # noqa: E501
QUERY = "The user query: {task}.\nTask progress (You have done the following operation on the current device): {progress}.\n"  # noqa: E501
GROUNDING_QUERY = "Click on {target}"
DESCRIPTION = """Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another screenshot.
* The screen's resolution is {width}x{height}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click boxes on their edges."""  # noqa: E501
ACTION_LINES = (
    ("key", "Performs key down presses on the arguments passed in order, then performs key releases in reverse order."),
    ("type", "Type a string of text on the keyboard."),
    ("mouse_move", "Move the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("left_click", "Click the left mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("left_click_drag", "Click and drag the cursor to a specified (x, y) pixel coordinate on the screen."),
    ("right_click", "Click the right mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("middle_click", "Click the middle mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("double_click", "Double-click the left mouse button at a specified (x, y) pixel coordinate on the screen."),
    ("triple_click", "Triple-click the left mouse button at a specified (x, y) pixel coordinate on the screen "
                     "(simulated as double-click since it's the closest action)."),
    ("scroll", "Performs a scroll of the mouse scroll wheel."),
    ("hscroll", "Performs a horizontal scroll (mapped to regular scroll)."),
    ("wait", "Wait specified seconds for the change to happen."),
    ("terminate", "Terminate the current task and report its completion status."),
    ("answer", "Answer a question."),
)
BUDGET = Budget(32, 65536, 16 * 16 * 4 * 1280)  # shortest_edge of the checkpoints; OSWorld's agent cap
SOURCES = (
    "QwenLM/Qwen3-VL cookbooks/utils/agent_function_call.py (ComputerUse), commit 0dcc180d",
    "QwenLM/Qwen3-VL cookbooks/mobile_agent.ipynb (system prompt, user query, 999/1000 grid), commit 9e7b8ccb",
)


def computer_use_tool(grid: int = GRID) -> dict[str, Any]:
    """The Qwen3-VL `computer_use` function, resolution stated as the grid."""
    action_doc = "The action to perform. The available actions are:\n" + "\n".join(
        f"* `{name}`: {line}" for name, line in ACTION_LINES)
    parameters = {
        "properties": {
            "action": {"description": action_doc, "enum": [name for name, _ in ACTION_LINES], "type": "string"},
            "keys": {"description": "Required only by `action=key`.", "type": "array"},
            "text": {"description": "Required only by `action=type` and `action=answer`.", "type": "string"},
            "coordinate": {"description": "(x, y): The x (pixels from the left edge) and y (pixels from the top "
                           "edge) coordinates to move the mouse to.", "type": "array"},
            "pixels": {"description": "The amount of scrolling to perform. Positive values scroll up, negative "
                       "values scroll down. Required only by `action=scroll` and `action=hscroll`.",
                       "type": "number"},
            "time": {"description": "The seconds to wait. Required only by `action=wait`.", "type": "number"},
            "status": {"description": "The status of the task. Required only by `action=terminate`.",
                       "type": "string", "enum": ["success", "failure"]},
        },
        "required": ["action"],
        "type": "object",
    }
    return {"name": "computer_use", "description": DESCRIPTION.format(width=grid, height=grid),
            "parameters": parameters}


def system_prompt(tool: Mapping[str, Any]) -> str:
    """The cookbook's system text for one tool (Hermes block + response format)."""
    block = FN_CALL_TEMPLATE.format(tool_descs=json.dumps({"type": "function", "function": dict(tool)}))
    return "\n\n" + block + RESPONSE_FORMAT


@dataclass(frozen=True)
class Qwen3VL:
    thinking: bool = False
    name: str = "qwen3-vl"
    roles: frozenset[Role] = frozenset({"agent", "grounder"})
    budget: Budget = BUDGET
    grid: int | None = GRID
    default_system: str | None = None  # Qwen3-VL's chat template adds no default system message
    sources: tuple[str, ...] = SOURCES

    @property
    def assistant_prefix(self) -> str:
        return "<think>\n" if self.thinking else ""

    def messages(self, task: str, image: Image.Image, frame: ModelFrame, history: Sequence[StepRecord],
                 history_images: int, images: Mapping[int, Image.Image]) -> tuple[Message, ...]:
        system = Message("system", (TextPart(system_prompt(computer_use_tool())),))
        keep = _recent(history, max(history_images, 1) - 1, images)
        older = history[: len(history) - len(keep)]
        query = QUERY.format(task=task, progress=_progress(older, frame))
        messages = [system]
        for n, step in enumerate(keep):
            parts = (TextPart(query), ImagePart(images[step.index])) if n == 0 else (ImagePart(images[step.index]),)
            messages += [Message("user", parts), Message("assistant", (TextPart(_reply(step, frame)),))]
        last = (ImagePart(image),) if keep else (TextPart(query), ImagePart(image))
        return (*messages, Message("user", last))

    def parse(self, text: str, frame: ModelFrame) -> ParsedCall:
        return parse_reply(text, frame)

    def grammar(self, frame: ModelFrame) -> Dfa | None:
        from policies.qwen.constrained.grammar import tool_call_dfa

        width, height = frame.coordinate_size
        return tool_call_dfa(width, height, BASE_ACTIONS | EXTRA_ACTIONS)

    def ground_messages(self, target: str, image: Image.Image, frame: ModelFrame) -> tuple[Message, ...]:
        return self.messages(GROUNDING_QUERY.format(target=target), image, frame, (), 1, {})

    def parse_point(self, text: str, frame: ModelFrame) -> Point:
        return point_of(parse_reply(text, frame))

    def target_words(self, text: str) -> str:
        """The answer's "Action:" line (a short imperative naming the target), else its thought."""
        action = _action_line(text.split("</think>", 1)[-1]).strip().strip('"').rstrip(".")
        return action[:300] if action else last_sentence(before_call(text))


def _recent(history: Sequence[StepRecord], count: int, images: Mapping[int, Image.Image]) -> list[StepRecord]:
    recent: list[StepRecord] = []
    for step in reversed(history[len(history) - count:] if count else ()):
        if step.index not in images:
            break
        recent.insert(0, step)
    return recent


def _progress(steps: Sequence[StepRecord], frame: ModelFrame) -> str:
    """The cookbook's history: "Step 1: …; Step 2: …; " — each step's Action line, else its call."""
    out = ""
    for n, step in enumerate(steps, start=1):
        said = _action_line(step.decision.raw_text or "")
        if not said:
            arguments = model_arguments(step, frame)
            said = json.dumps(arguments, ensure_ascii=False) if arguments is not None else "(no usable action)"
        if step.feedback.strip():
            said += f" ({step.feedback.strip()})"
        out += f"Step {n}: " + said.replace("\n", "").replace('"', "") + "; "
    return out


def _action_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith("Action:"):
            return line.strip()[len("Action:"):].strip()
    return ""


def _reply(step: StepRecord, frame: ModelFrame) -> str:
    if step.decision.raw_text:
        return step.decision.raw_text[:2000]
    arguments = model_arguments(step, frame)
    return tool_call_text(arguments) if arguments is not None else ""
