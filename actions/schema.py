"""The action vocabulary: one closed, typed, frozen union in Qwen2.5-VL's computer_use terms.

Every action is a frozen pydantic model tagged by its `action` field, and round-trips to and from
the JSON the model writes (`{"action": "left_click", "coordinate": [x, y]}`). `parse_action` is
the one way in (scripts, traces, parsed model output); `action_to_json` the one way out.
Coordinates here are screen coordinates (pixels of the captured monitor).
Not for: lenient parsing of raw model text (policies do that, then call `parse_action`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from actions.errors import DeskpilotError
from actions.keys import canonical_key

Point = tuple[int, int]
MAX_TEXT = 10_000
MAX_WAIT_S = 600.0


class ActionError(DeskpilotError, ValueError):
    """An action that does not fit the schema; the message says which field and why."""


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Pointed(_Base):
    """Clicks: the coordinate is optional; without one the click happens where the pointer is."""

    coordinate: Point | None = None


class Key(_Base):
    action: Literal["key"] = "key"
    keys: tuple[str, ...] = Field(min_length=1, max_length=8)

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(canonical_key(k) for k in keys)


class Type(_Base):
    action: Literal["type"] = "type"
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class MouseMove(_Base):
    action: Literal["mouse_move"] = "mouse_move"
    coordinate: Point


class LeftClick(_Pointed):
    action: Literal["left_click"] = "left_click"


class RightClick(_Pointed):
    action: Literal["right_click"] = "right_click"


class MiddleClick(_Pointed):
    action: Literal["middle_click"] = "middle_click"


class DoubleClick(_Pointed):
    action: Literal["double_click"] = "double_click"


class TripleClick(_Pointed):
    action: Literal["triple_click"] = "triple_click"


class LeftClickDrag(_Base):
    """Drag with the left button to `coordinate`, from `start_coordinate` or the pointer."""

    action: Literal["left_click_drag"] = "left_click_drag"
    coordinate: Point
    start_coordinate: Point | None = None


class Scroll(_Base):
    """Vertical wheel scroll; positive pixels scroll up (the computer_use convention)."""

    action: Literal["scroll"] = "scroll"
    pixels: int = Field(ge=-10_000, le=10_000)
    coordinate: Point | None = None


class HScroll(_Base):
    """Horizontal wheel scroll; positive pixels scroll right."""

    action: Literal["hscroll"] = "hscroll"
    pixels: int = Field(ge=-10_000, le=10_000)
    coordinate: Point | None = None


class Wait(_Base):
    action: Literal["wait"] = "wait"
    time: float = Field(ge=0, le=MAX_WAIT_S)

    @field_validator("time")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("time must be finite")
        return value


class Terminate(_Base):
    action: Literal["terminate"] = "terminate"
    status: Literal["success", "failure"]


class Answer(_Base):
    action: Literal["answer"] = "answer"
    text: str = Field(max_length=MAX_TEXT)


Action = Annotated[
    Union[
        Key, Type, MouseMove, LeftClick, RightClick, MiddleClick, DoubleClick, TripleClick,
        LeftClickDrag, Scroll, HScroll, Wait, Terminate, Answer,
    ],
    Field(discriminator="action"),
]
Click = LeftClick | RightClick | MiddleClick | DoubleClick | TripleClick
ACTION_NAMES: tuple[str, ...] = (
    "key", "type", "mouse_move", "left_click", "right_click", "middle_click", "double_click",
    "triple_click", "left_click_drag", "scroll", "hscroll", "wait", "terminate", "answer",
)
_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)


def parse_action(data: Any) -> Action:
    """Validate a JSON-like dict into an Action, or raise ActionError with a one-line reason."""
    if not isinstance(data, dict):
        raise ActionError(f"an action must be a JSON object, got {type(data).__name__}")
    name = data.get("action")
    if name not in ACTION_NAMES:
        raise ActionError(f"unknown action {name!r}; expected one of: {', '.join(ACTION_NAMES)}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ActionError(_first_error(exc)) from None


def action_to_json(action: Action) -> dict[str, Any]:
    """The action as the model writes it: `action` first, absent optionals left out."""
    data = action.model_dump(mode="json", exclude_none=True)
    if isinstance(action, Wait) and float(action.time).is_integer():  # `"time": 2` comes back as written, not 2.0
        data["time"] = int(action.time)
    return {"action": data.pop("action"), **data}


def points_of(action: Action) -> tuple[Point, ...]:
    """Every screen point an action touches (for bounds checks and previews)."""
    points = [getattr(action, "coordinate", None), getattr(action, "start_coordinate", None)]
    return tuple(p for p in points if p is not None)


def normalized_points(action: Action, size: tuple[int, int]) -> dict[str, list[float]]:
    """Each coordinate field of `action` as fractions (0..1) of a `size` screen (see geometry.normalize)."""
    from actions.geometry import normalize

    return {
        name: list(normalize(value, size))
        for name in ("coordinate", "start_coordinate")
        if (value := getattr(action, name, None)) is not None
    }


def with_points(action: Action, fn: Any) -> Action:
    """A copy of `action` with `fn(point) -> point` applied to each of its coordinates."""
    changes = {
        name: fn(value)
        for name in ("coordinate", "start_coordinate")
        if (value := getattr(action, name, None)) is not None
    }
    return action.model_copy(update=changes) if changes else action


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"][1:]) or "action"
    return f"{loc}: {err['msg']}"
