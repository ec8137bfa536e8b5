"""`qwen2.5-vl`: Qwen2.5-VL-Instruct (3B/7B/32B/72B) spoken exactly as its cookbook speaks to it.

Prompt: "You are a helpful assistant." + the Nous `# Tools` block with the `computer_use` tool of
QwenLM/Qwen2.5-VL `cookbooks/utils/agent_function_call.py` in the Qwen-Agent 0.0.15 form, the
resolution stated as the resized W′×H′ (`prompt`, byte-checked in tests/policies/qwen/test_qwen_prompt.py).
The user turn puts the image before the text ("The user query: …", then the cookbook's
"Task progress … Step 1: {json}; …" history); recent screenshots go back as earlier user/assistant
turns. Answers: `<tool_call>{"name": "computer_use", "arguments": {…}}</tool_call>` in absolute
pixels of the W′×H′ image (`parse`). Resize factor 28; the processor's class default budget.
`extended=True` adds deskpilot's triple_click/hscroll/answer lines, which no checkpoint was trained
on (config `model.extended_actions`, off by default).
Not for: Qwen3-VL (its own tool words, the 0–1000 grid: `qwen3vl`) or UI-TARS (`uitars`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actions.geometry import Point
from policies.base import StepRecord
from policies.qwen.dialects.base import Budget, Role, first_point
from policies.qwen.messages import Message
from policies.qwen.parse import ParsedCall, ParseError, parse_reply
from policies.qwen.prompt import build_messages
from policies.qwen.resize import ModelFrame

if TYPE_CHECKING:
    from PIL import Image

    from policies.qwen.constrained.bytes_dfa import Dfa

GROUNDING_QUERY = "Click on {target}."
BASE_ACTIONS = frozenset({"key", "type", "mouse_move", "left_click", "left_click_drag", "right_click",
                          "middle_click", "double_click", "scroll", "wait", "terminate"})
EXTRA_ACTIONS = frozenset({"triple_click", "hscroll", "answer"})
BUDGET = Budget(28, 3136, 1280 * 28 * 28)  # the image processor's class default
SOURCES = (
    "QwenLM/Qwen2.5-VL cookbooks/utils/agent_function_call.py (ComputerUse), at commit d08310cb",
    "QwenLM/Qwen-Agent qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py (FN_CALL_TEMPLATE, 0.0.15)",
)


@dataclass(frozen=True)
class Qwen25VL:
    extended: bool = False
    name: str = "qwen2.5-vl"
    roles: frozenset[Role] = frozenset({"agent", "grounder"})
    budget: Budget = BUDGET
    grid: int | None = None
    default_system: str | None = "You are a helpful assistant."
    sources: tuple[str, ...] = SOURCES

    @property
    def actions(self) -> frozenset[str]:
        return BASE_ACTIONS | EXTRA_ACTIONS if self.extended else BASE_ACTIONS

    def messages(self, task: str, image: Image.Image, frame: ModelFrame, history: Sequence[StepRecord],
                 history_images: int, images: Mapping[int, Image.Image]) -> tuple[Message, ...]:
        return build_messages(task, image, frame, history, history_images, images, self.extended)

    def parse(self, text: str, frame: ModelFrame) -> ParsedCall:
        return parse_reply(text, frame)

    def grammar(self, frame: ModelFrame) -> Dfa | None:
        from policies.qwen.constrained.grammar import tool_call_dfa

        width, height = frame.coordinate_size
        return tool_call_dfa(width, height, self.actions)

    def ground_messages(self, target: str, image: Image.Image, frame: ModelFrame) -> tuple[Message, ...]:
        return build_messages(GROUNDING_QUERY.format(target=target), image, frame, (), 1, None, self.extended)

    def parse_point(self, text: str, frame: ModelFrame) -> Point:
        return point_of(parse_reply(text, frame))

    def target_words(self, text: str) -> str:
        """What the answer says it points at, in words (the thought before the call), for a grounder."""
        return last_sentence(before_call(text))


def before_call(text: str) -> str:
    """The text before the first tool-call tag (a thought), past a `</think>`."""
    text = text.split("</think>", 1)[-1]
    cut = min((i for tag in ("<tool_call>", "⚗", "📐") if (i := text.find(tag)) >= 0), default=len(text))
    return text[:cut].strip()


def last_sentence(text: str) -> str:
    """The last non-empty sentence of `text` (models summarise their next move there), at most 300 chars."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    parts = [p.strip() for p in lines[-1].replace("! ", ". ").replace("? ", ". ").split(". ") if p.strip()]
    return (parts[-1] if parts else lines[-1]).strip().rstrip(".")[:300]


def point_of(parsed: ParsedCall) -> Point:
    point = first_point(parsed.action)
    if point is None:
        raise ParseError(f"the model answered {parsed.model_action['action']} without a coordinate")
    return point
