"""`ui-tars-1.5`: UI-TARS-1.5-7B (Qwen2.5-VL architecture) with its own computer-use prompt and action grammar.

Prompt: `COMPUTER_USE_DOUBAO` of bytedance/UI-TARS `codes/ui_tars/prompt.py` (language English) as
the first user turn; then the history as alternating turns — each recent screenshot as a user image
followed by the model's answer, older answers without their image (the last `history_images`
screenshots, 5 in the reference agents) — and the current screenshot last.
Answers: `Thought: …\\nAction: click(point='<point>x y</point>')`, also the older
`click(start_box='(x,y)')` and `<|box_start|>(x,y)<|box_end|>` forms and 4-number boxes (their
centre), in absolute pixels of the smart-resized image (factor 28, up to 16384·28² pixels:
bytedance/UI-TARS README_coordinates.md). The action text is read by a small tokenizer
of `name(key='value', …)` — never `eval`, never `ast` (the upstream parser evaluates model text).
Not for: other UI-TARS generations (UI-TARS-2 speaks XML; v1 used a 0–1000 grid).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actions.geometry import Point
from policies.base import StepRecord
from policies.qwen.dialects.base import Budget, Role
from policies.qwen.dialects.qwen25vl import last_sentence, point_of
from policies.qwen.messages import ImagePart, Message, TextPart
from policies.qwen.parse import ParsedCall, ParseError, parse_arguments
from policies.qwen.prompt import model_arguments
from policies.qwen.resize import ModelFrame

if TYPE_CHECKING:
    from PIL import Image

    from policies.qwen.constrained.bytes_dfa import Dfa

# bytedance/UI-TARS codes/ui_tars/prompt.py, COMPUTER_USE_DOUBAO, commit 582f3a7e (the Python literal's
# escapes resolved: `\\'` there is `\'` here).
COMPUTER_USE = r"""You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
```
Thought: ...
Action: ...
```

## Action Space

click(point='<point>x1 y1</point>')
left_double(point='<point>x1 y1</point>')
right_single(point='<point>x1 y1</point>')
drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')
hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one hotkey action.
type(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format. If you want to submit your input, use \n at the end of content.<SP>
scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more information on the `direction` side.
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the content in normal python string format.


## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
""".replace("<SP>", " ")  # noqa: E501  (upstream's line ends in a space; kept, without a trailing-space lint)
# GROUNDING_DOUBAO of the same file (its doubled quote after </point> is upstream's).
GROUNDING = ("You are a GUI agent. You are given a task and your action history, with screenshots. You need to "
             "perform the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n## Action Space\n"
             "click(point='<point>x1 y1</point>'')\n\n## User Instruction\n{instruction}")
BUDGET = Budget(28, 100 * 28 * 28, 16384 * 28 * 28)  # README_coordinates.md
SOURCES = (
    "bytedance/UI-TARS codes/ui_tars/prompt.py (COMPUTER_USE_DOUBAO, GROUNDING_DOUBAO), commit 582f3a7e",
    "bytedance/UI-TARS README_coordinates.md (absolute pixels of the smart-resized image), commit 582f3a7e",
    "bytedance/UI-TARS codes/ui_tars/action_parser.py (action names, box forms; read, not run), commit 582f3a7e",
)
SCROLL_CLICKS = 5  # the reference agents scroll 5 wheel clicks per scroll action
WAIT_S = 5.0  # "wait() #Sleep for 5s"
CLICKS = {"click": "left_click", "left_single": "left_click", "left_double": "double_click",
          "right_single": "right_click", "hover": "mouse_move"}
_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_KWARG = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class UITars:
    language: str = "English"
    name: str = "ui-tars-1.5"
    roles: frozenset[Role] = frozenset({"agent", "grounder"})
    budget: Budget = BUDGET
    grid: int | None = None
    default_system: str | None = "You are a helpful assistant."
    sources: tuple[str, ...] = SOURCES

    def messages(self, task: str, image: Image.Image, frame: ModelFrame, history: Sequence[StepRecord],
                 history_images: int, images: Mapping[int, Image.Image]) -> tuple[Message, ...]:
        prompt = COMPUTER_USE.replace("{language}", self.language).replace("{instruction}", task)
        out = [Message("system", (TextPart("You are a helpful assistant."),)), Message("user", (TextPart(prompt),))]
        shown = max(history_images, 1) - 1
        for n, step in enumerate(history):
            recent = n >= len(history) - shown and step.index in images
            if recent:
                out.append(Message("user", (ImagePart(images[step.index]),)))
            out.append(Message("assistant", (TextPart(reply_text(step, frame)),)))
        out.append(Message("user", (ImagePart(image),)))
        return tuple(out)

    def parse(self, text: str, frame: ModelFrame) -> ParsedCall:
        return parse_arguments(to_arguments(text), frame)

    def grammar(self, frame: ModelFrame) -> Dfa | None:
        from policies.qwen.dialects.uitars_grammar import action_dfa

        return action_dfa(*frame.coordinate_size)

    def ground_messages(self, target: str, image: Image.Image, frame: ModelFrame) -> tuple[Message, ...]:
        prompt = GROUNDING.replace("{instruction}", target)
        return (Message("system", (TextPart("You are a helpful assistant."),)),
                Message("user", (TextPart(prompt), ImagePart(image))))

    def parse_point(self, text: str, frame: ModelFrame) -> Point:
        return point_of(self.parse(text, frame))

    def target_words(self, text: str) -> str:
        """The thought's last sentence ("summarize your next action (with its target element)")."""
        match = re.search(r"Thought\s*:(.*?)(?:^\s*Action\s*:|\Z)", text, re.S | re.M)
        return last_sentence(match.group(1) if match else "")


def reply_text(step: StepRecord, frame: ModelFrame) -> str:
    """An earlier step as the model wrote it (its own text, else the action rendered in its grammar)."""
    if step.decision.raw_text:
        return step.decision.raw_text[:2000]
    arguments = model_arguments(step, frame)
    return "Thought: \nAction: " + (render(arguments) if arguments else "wait()")


def render(arguments: Mapping[str, Any]) -> str:
    """A computer_use action in UI-TARS words (for history written by someone else, e.g. a script)."""
    name, point = arguments["action"], arguments.get("coordinate")
    at = f"point='<point>{point[0]} {point[1]}</point>'" if point else ""
    back = {v: k for k, v in CLICKS.items() if k != "left_single"}
    if name in back and point:
        return f"{back[name]}({at})"
    if name == "type":
        return "type(content='" + _escape(str(arguments.get("text", ""))) + "')"
    if name == "key":
        return "hotkey(key='" + " ".join(str(k).lower() for k in arguments.get("keys", [])) + "')"
    if name == "terminate":
        return "finished(content='')"
    return "wait()"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def to_arguments(text: str) -> dict[str, Any]:
    """The first `Action:` call of a UI-TARS answer as computer_use arguments (model space)."""
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    text = text[:20_000]
    starts = [m.end() for m in re.finditer(r"(?m)^\s*Action\s*:", text)]
    if not starts:
        raise ParseError("no 'Action:' in the answer; expected Thought: … Action: click(point='<point>x y</point>')")
    problem = ""
    for start in starts:
        try:
            name, kwargs = read_call(text, start)
        except ParseError as exc:
            problem = problem or str(exc)
            continue
        return translate(name, kwargs)
    raise ParseError(problem)


def read_call(text: str, pos: int) -> tuple[str, dict[str, str]]:
    """`name(key='value', key2="value")` at `pos`: the name and the decoded string values."""
    match = _CALL.match(text, pos)
    if not match:
        raise ParseError(f"expected an action call after 'Action:', got {text[pos:pos + 40]!r}")
    name, pos, kwargs = match.group(1), match.end(), {}
    while True:
        while pos < len(text) and text[pos] in " \t,":
            pos += 1
        if pos < len(text) and text[pos] == ")":
            return name, kwargs
        key = _KWARG.match(text, pos)
        if not key:
            raise ParseError(f"{name}: expected key='value' or ')', got {text[pos:pos + 40]!r}")
        value, pos = _quoted(text, key.end(), name)
        kwargs[key.group(1)] = value


def _quoted(text: str, pos: int, name: str) -> tuple[str, int]:
    if pos >= len(text) or text[pos] not in "'\"":
        raise ParseError(f"{name}: expected a quoted value at {text[pos:pos + 40]!r}")
    quote, pos, out = text[pos], pos + 1, []
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            out.append(_ESCAPES.get(text[pos + 1], "\\" + text[pos + 1]))
            pos += 2
            continue
        if ch == quote:
            return "".join(out), pos + 1
        out.append(ch)
        pos += 1
    raise ParseError(f"{name}: a quoted value is not closed")


def translate(name: str, kwargs: Mapping[str, str]) -> dict[str, Any]:
    """UI-TARS action words → computer_use arguments (points still in model space)."""
    def point(*keys: str) -> list[float] | None:
        raw = next((kwargs[k] for k in keys if kwargs.get(k)), None)
        return None if raw is None else box_centre(raw)

    start = point("point", "start_box", "start_point")
    if name in CLICKS:
        if start is None:
            raise ParseError(f"{name} needs a point")
        return {"action": CLICKS[name], "coordinate": start}
    if name in ("drag", "select"):
        end = point("end_point", "end_box")
        if start is None or end is None:
            raise ParseError(f"{name} needs start and end points")
        return {"action": "left_click_drag", "start_coordinate": start, "coordinate": end}
    if name == "hotkey":
        keys = (kwargs.get("key") or kwargs.get("hotkey") or "").split()
        return {"action": "key", "keys": keys}
    if name == "type":
        return {"action": "type", "text": kwargs.get("content", "")}
    if name == "scroll":
        direction = (kwargs.get("direction") or "").strip().lower()
        if direction not in ("up", "down", "left", "right"):
            raise ParseError(f"scroll direction must be up, down, left or right, got {direction!r}")
        sign = 1 if direction in ("up", "right") else -1
        out: dict[str, Any] = {"action": "hscroll" if direction in ("left", "right") else "scroll",
                               "pixels": sign * SCROLL_CLICKS}
        return out if start is None else {**out, "coordinate": start}
    if name == "wait":
        return {"action": "wait", "time": WAIT_S}
    if name == "finished":
        return {"action": "terminate", "status": "success"}
    if name == "call_user":
        return {"action": "terminate", "status": "failure"}
    raise ParseError(f"unknown UI-TARS action {name!r}")


def box_centre(raw: str) -> list[float]:
    """'<point>x y</point>', '(x,y)', '<|box_start|>(x,y)<|box_end|>', '(x1,y1,x2,y2)' → [x, y]."""
    numbers = [float(n) for n in _NUMBERS.findall(raw)]
    if len(numbers) == 2:
        return numbers
    if len(numbers) == 4:
        return [(numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2]
    raise ParseError(f"a point must have 2 numbers (or a box 4), got {raw[:60]!r}")
