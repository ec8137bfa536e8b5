"""Natural-language targets: a script step that names what to click instead of where.

`Targeted` is such a step (`{action: left_click, target: "the Save button"}`), checked when the
script loads; `Grounder` is what turns the target into a screen point on the current screenshot
(the Qwen policy implements it with one model call); `resolve` makes the step a plain action.
Not for: running the model (policies.qwen) or reading scripts (policies.scripted.script_file).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Protocol

from actions.errors import DeskpilotError
from actions.geometry import Point, Screenshot
from actions.schema import Action, ActionError, parse_action

TARGET_KEY = "target"
# Actions that take a `coordinate`, read from the schema.
POINTED: frozenset[str] = frozenset(
    cls.model_fields["action"].default
    for cls in typing.get_args(typing.get_args(Action)[0])
    if "coordinate" in cls.model_fields
)


class GroundingError(DeskpilotError, ValueError):
    """The target could not be located on the screenshot; the message is one line."""


class Grounder(Protocol):
    def ground(self, target: str, shot: Screenshot) -> Point:
        """The screen point (pixels of `shot`) of the thing `target` describes, or GroundingError."""


@dataclass(frozen=True)
class Targeted:
    """A step whose `coordinate` is found at run time from a description of its target."""

    action_name: str
    fields: tuple[tuple[str, Any], ...]
    target: str

    @classmethod
    def from_step(cls, step: dict[str, Any]) -> Targeted:
        """Check a step dict holding `target`; raise ActionError with a one-line reason."""
        data = dict(step)
        target = data.pop(TARGET_KEY)
        if not isinstance(target, str) or not target.strip():
            raise ActionError("target must be a non-empty description, like \"the Save button\"")
        if "coordinate" in data:
            raise ActionError("give either a target or a coordinate, not both")
        name = data.pop("action", None)
        if name not in POINTED:
            raise ActionError(f"action {name!r} takes no coordinate, so it cannot have a target "
                              f"(targets work with: {', '.join(sorted(POINTED))})")
        parse_action({"action": name, **data, "coordinate": [0, 0]})  # the other fields must be valid already
        return cls(str(name), tuple(sorted(data.items())), target.strip())

    def resolve(self, point: Point) -> Action:
        """The plain action, with the grounded point as its coordinate."""
        return parse_action({"action": self.action_name, **dict(self.fields), "coordinate": list(point)})
