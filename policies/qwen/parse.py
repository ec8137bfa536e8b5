"""Model text → one schema action in screen coordinates: lenient about form, strict about meaning.

`parse_reply` takes the first tool call of an answer. It accepts what Qwen2.5-VL really writes: a
thought before the call, `⚗`/`📐` in place of the `<tool_call>` tags, a missing closing tag or
closing braces, `{"name": "computer_use", "arguments": {...}}` or a bare arguments object (also
with `arguments` as a JSON string), coordinates as strings or floats, keys as "ctrl+c" or one
string. It rejects unknown actions, missing or non-finite coordinates, points far outside the
model image and anything the action schema refuses — always with a one-line `ParseError`, never
another exception. Nothing is evaluated: JSON is read with `json` only.
Coordinates are mapped to the screen through `coords.to_screen` (the only place that happens);
the model-space arguments are kept for the trace and the prompt history.
Not for: deciding what to do about a failure (the loop feeds it back to the model).
"""

from __future__ import annotations

import json
import math
import re
import typing
from dataclasses import dataclass
from typing import Any

from actions.errors import DeskpilotError
from actions.schema import Action, ActionError, parse_action
from policies.qwen.coords import to_screen
from policies.qwen.resize import ModelFrame

MAX_CHARS = 20_000  # longer answers are cut: a tool call never needs more
MAX_ATTEMPTS = 64  # JSON decode attempts per answer, to bound the work on hostile text
SLACK = 0.10  # a model point may exceed the W′×H′ image by this fraction of its size (then it is clamped)
OPEN_TAGS = ("<tool_call>", "⚗", "📐")
CLOSE_TAGS = ("</tool_call>", "⚗", "📐", "<tool_call>")
THINK_END = "</think>"  # Thinking models reason first; the call comes after
POINT_FIELDS = ("coordinate", "start_coordinate")
# Each action's fields, read from the schema itself so the two can never disagree.
FIELDS: dict[str, frozenset[str]] = {
    cls.model_fields["action"].default: frozenset(cls.model_fields) - {"action"}
    for cls in typing.get_args(typing.get_args(Action)[0])
}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", re.IGNORECASE)
_KEY_PARTS = re.compile(r"\+$|[^+]+")


class ParseError(DeskpilotError, ValueError):
    """A model answer that yields no usable action; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split())[:300])


@dataclass(frozen=True)
class ParsedCall:
    """The action in screen coordinates, and the arguments as the model meant them (model space)."""

    action: Action
    model_action: dict[str, Any]


def parse_reply(text: str, frame: ModelFrame) -> ParsedCall:
    """Parse the first tool call of `text`; raise ParseError with a one-line reason."""
    return parse_arguments(extract_arguments(text), frame)


def parse_arguments(arguments: dict[str, Any], frame: ModelFrame) -> ParsedCall:
    """computer_use arguments in model space (any dialect's, translated) → the checked screen action."""
    model_action = normalize(arguments, frame)
    screen = dict(model_action)
    for name in POINT_FIELDS:
        if name in screen:
            screen[name] = list(to_screen(screen[name], frame))
    try:
        action = parse_action(screen)
    except ActionError as exc:
        raise ParseError(f"{model_action['action']}: {exc}") from None
    return ParsedCall(action, model_action)


def extract_arguments(text: str) -> dict[str, Any]:
    """The arguments object of the first tool call in `text` (not yet checked).

    Tag text never cuts a call short: the JSON decoder reads each candidate object whole, so a
    `</tool_call>`, `⚗` or `📐` inside a string, or a thought that mentions a tag, is just text.
    Candidates are tried in order: after a `</think>` (Thinking models) if there is one, the objects
    after each opening tag, then any object; a call cut off by the token limit is closed last.
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    text = text[:MAX_CHARS]
    budget = [MAX_ATTEMPTS]
    for region in _regions(text):
        for obj in _objects(region, budget):
            arguments = _arguments_of(obj)
            if arguments is not None:
                return arguments
    if not text.strip():
        raise ParseError('empty answer: expected <tool_call>{"name": "computer_use", "arguments": {...}}</tool_call>')
    raise ParseError(f"no tool call with an action found in the answer: {_excerpt(_call_body(text))}")


def _regions(text: str) -> typing.Iterator[str]:
    """Where to look, best first: the text after each opening tag, then all of it; past `</think>` first."""
    end_think = text.find(THINK_END)
    answer = text[end_think + len(THINK_END):] if end_think >= 0 else text
    for part in ((answer, text) if end_think >= 0 else (text,)):
        seen = set()
        for tag in OPEN_TAGS:
            start = part.find(tag)
            while start >= 0 and len(seen) < 8:
                seen.add(start)
                start = part.find(tag, start + len(tag))
        for start in sorted(seen):
            tag = next(t for t in OPEN_TAGS if part.startswith(t, start))
            yield part[start + len(tag):]
        yield part


def _call_body(text: str) -> str:
    """The text after the first opening tag (for error messages); all of it if untagged."""
    starts = [(i, tag) for tag in OPEN_TAGS if (i := text.find(tag)) >= 0]
    if not starts:
        return text
    start, tag = min(starts)
    return text[start + len(tag):]


def _objects(body: str, budget: list[int]) -> typing.Iterator[Any]:
    """Every JSON object that starts at a '{' of `body`, in order; a truncated first one is closed.
    `budget` ([attempts left]) bounds the decoding work over all regions of one answer."""
    decoder = json.JSONDecoder()
    pos = first = body.find("{")
    while pos >= 0 and budget[0] > 0:
        budget[0] -= 1
        try:
            yield decoder.raw_decode(body, pos)[0]
        except (ValueError, RecursionError):  # JSONDecodeError, int too long, nesting too deep
            pass
        pos = body.find("{", pos + 1)
    if first >= 0 and budget[0] > 0:
        budget[0] -= 1
        fragment = body[first:first + MAX_CHARS]
        for tag in CLOSE_TAGS:  # a closing tag outside any string ends the call
            fragment = _before_tag(fragment, tag)
        try:
            yield decoder.raw_decode(_closed(fragment))[0]
        except (ValueError, RecursionError):
            pass


def _before_tag(fragment: str, tag: str) -> str:
    """`fragment` up to the first `tag` that stands outside a JSON string."""
    start = fragment.find(tag)
    while start >= 0:
        if not _in_string(fragment[:start]):
            return fragment[:start]
        start = fragment.find(tag, start + 1)
    return fragment


def _in_string(prefix: str) -> bool:
    in_string = escaped = False
    for ch in prefix:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
    return in_string


def _closed(fragment: str) -> str:
    """`fragment` with its open brackets closed (an answer cut off by max tokens), "" if cut in a string."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in fragment:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if in_string:  # cut inside a string: typing half a text would be worse than asking again
        return ""
    return fragment.rstrip().rstrip(",") + "".join(reversed(stack))


def _arguments_of(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    if "arguments" in obj:
        arguments = obj["arguments"]
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except (ValueError, RecursionError):
                raise ParseError(f"the arguments are not a JSON object: {_excerpt(arguments)}") from None
        if not isinstance(arguments, dict):
            raise ParseError(f"the arguments must be a JSON object, got {type(arguments).__name__}")
        return arguments
    return obj if "action" in obj else None


def normalize(arguments: dict[str, Any], frame: ModelFrame) -> dict[str, Any]:
    """Check and tidy the arguments (model space): known action, its fields only, typed values."""
    name = arguments.get("action")
    if name is None:
        raise ParseError(f"the tool call names no action: {_excerpt(json.dumps(arguments, default=str))}")
    if not isinstance(name, str):
        raise ParseError(f"the action must be a string, got {_excerpt(name)}")
    name = "_".join(name.strip().lower().replace("-", " ").split())
    if name not in FIELDS:
        raise ParseError(f"unknown action {_excerpt(name)}; expected one of: {', '.join(FIELDS)}")
    fields = FIELDS[name]
    out: dict[str, Any] = {"action": name}
    if "keys" in fields:
        raw = next((arguments[k] for k in ("keys", "key", "text") if arguments.get(k) is not None), None)
        if raw is not None:
            out["keys"] = _keys(raw)
    for field in sorted(fields - {"keys"}):
        value = arguments.get(field)
        if value is None and field == "coordinate" and "x" in arguments and "y" in arguments:
            value = [arguments["x"], arguments["y"]]
        if value is not None:
            out[field] = _field(field, value, frame)
    return out


def _field(field: str, value: Any, frame: ModelFrame) -> Any:
    if field in POINT_FIELDS:
        return _point(field, value, frame)
    if field == "pixels":
        return round(_number(field, value))
    if field == "time":
        return _number(field, value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParseError(f"{field} must be a string, got {_excerpt(value)}")
    text = str(value)
    return text.strip().lower() if field == "status" else text


def _point(field: str, value: Any, frame: ModelFrame) -> list[int | float]:
    if isinstance(value, dict) and "x" in value and "y" in value:
        value = [value["x"], value["y"]]
    if isinstance(value, str):
        value = _NUMBER.findall(value)
    if isinstance(value, list | tuple) and len(value) == 1 and isinstance(value[0], list | tuple):
        value = value[0]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ParseError(f"{field} must be [x, y], got {_excerpt(value)}")
    x, y = (_number(field, v) for v in value)
    width, height = frame.coordinate_size
    for v, size, axis in ((x, width, "x"), (y, height, "y")):
        if not -SLACK * size <= v <= (1 + SLACK) * size:
            where = f"{width}x{height} grid" if frame.grid else f"{width}x{height} screenshot"
            raise ParseError(f"{field} {axis}={_tidy(v)} is outside the {where}")
    return [_tidy(x), _tidy(y)]


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ParseError(f"{field} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip().removesuffix("px"))
        except ValueError:
            raise ParseError(f"{field} must be a number, got {_excerpt(value)}") from None
    if not isinstance(value, int | float):
        raise ParseError(f"{field} must be a number, got {_excerpt(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ParseError(f"{field} is out of range") from None
    if not math.isfinite(number):
        raise ParseError(f"{field} must be finite, got {value!r}")
    return number


def _keys(value: Any) -> list[str]:
    """Key names from a list, a "ctrl+c" string, a JSON list in a string, or nested lists."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            value = value.strip().strip("[]")
    items = value if isinstance(value, list | tuple) else [value]
    keys: list[str] = []
    for item in items[:16]:
        for sub in item if isinstance(item, list | tuple) else [item]:
            if isinstance(sub, bool) or not isinstance(sub, str | int):
                raise ParseError(f"keys must be key names, got {_excerpt(sub)}")
            keys += _key_names(str(sub))
    if not keys:
        raise ParseError("keys must name at least one key")
    return keys


def _key_names(text: str) -> list[str]:
    """ "ctrl+c" → [ctrl, c]; "'ctrl', 'c'" → [ctrl, c]; "+" and "," stay keys of their own."""
    text = text.strip().strip("'\"") or text
    if len(text) <= 1:
        return [text]
    parts = [p.strip().strip("'\"") for p in text.split(",")] if "," in text else [text]
    return [k.strip() or k for part in parts if part for k in _KEY_PARTS.findall(part)]


def _tidy(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:60] + ("…" if len(text) > 60 else ""))
