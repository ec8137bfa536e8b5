"""Grounding specialists: models that point at one described element and do nothing else.

Each is a Qwen2.5-VL-architecture fine-tune with its own request and answer form (prompts quoted
from the sources named in `sources`); all answer in absolute pixels of the smart-resized image:
- `gta1` (GTA1-7B-2507): a system prompt stating the resized "height {h} and width {w}", the user
  turn image then the description; answer `(x,y)`. Bounds up to 4096·2160 pixels.
- `ui-venus-ground` (UI-Venus-Ground-7B): user turn only, image then "Outline the position …"; answer a
  box `[x1,y1,x2,y2]`, whose centre is the point. Bounds 2,000,000–4,800,000 pixels (small screens are
  upscaled).
- `holo1.5` (Holo1.5-7B): user turn only, image then the localisation prompt with the JSON schema of
  `ClickAbsoluteAction`; answer `{"action": "click_absolute", "x": …, "y": …}`.
Answers are read with regular expressions and `json` only (the UI-Venus reference code `eval`s them).
They cannot choose actions: as `model.name` alone they refuse to run (`base.no_agent`); use them as
`model.grounder`. Not for: agents (qwen25vl, qwen3vl, uitars).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actions.geometry import Point
from policies.base import StepRecord
from policies.qwen.coords import to_screen
from policies.qwen.dialects.base import Budget, Role, no_agent
from policies.qwen.messages import ImagePart, Message, TextPart
from policies.qwen.parse import SLACK, ParsedCall, ParseError
from policies.qwen.resize import ModelFrame

if TYPE_CHECKING:
    from PIL import Image

    from policies.qwen.constrained.bytes_dfa import Dfa

GTA1_SYSTEM = (
    "You are an expert UI element locator. Given a GUI image and a user's element description, provide the "
    "coordinates of the specified element as a single (x,y) point. The image resolution is height {height} and "
    "width {width}. For elements with area, return the center point.\n\nOutput the coordinate pair exactly:\n(x,y)"
)
VENUS_PROMPT = "Outline the position corresponding to the instruction: {}. The output should be only [x1,y1,x2,y2]."
HOLO_PROMPT = ("Localize an element on the GUI image according to the provided target and output a click position.\n"
               " * You must output a valid JSON following the format: {schema}\n Your target is:")
_NUM = r"\s*(-?\d+(?:\.\d+)?)\s*"
_PAIR = re.compile(r"\(" + _NUM + "," + _NUM + r"\)")
_BOX = re.compile(r"\[" + _NUM + "," + _NUM + "," + _NUM + "," + _NUM + r"\]")


def holo_schema() -> dict[str, Any]:
    """`ClickAbsoluteAction.model_json_schema()` of hcompai's Holo1.5 quickstart, rebuilt from its class."""
    from typing import Literal

    from pydantic import BaseModel, Field

    class ClickAbsoluteAction(BaseModel):
        """
        Data model representing an absolute click action on a GUI.

        Attributes:
            action (Literal["click_absolute"]): The type of action, always "click_absolute".
            x (int): The x coordinate (pixels from the left edge).
            y (int): The y coordinate (pixels from the top edge).
        """

        action: Literal["click_absolute"] = "click_absolute"
        x: int = Field(description="The x coordinate, number of pixels from the left edge.")
        y: int = Field(description="The y coordinate, number of pixels from the top edge.")

    return ClickAbsoluteAction.model_json_schema()


@dataclass(frozen=True)
class Grounder:
    """A grounding-only dialect: how to ask (`ask`) and how to read the point (`read`)."""

    name: str
    budget: Budget
    ask: Callable[[str, Any, ModelFrame], tuple[Message, ...]]
    read: Callable[[str], list[float]]
    sources: tuple[str, ...]
    roles: frozenset[Role] = frozenset({"grounder"})
    grid: int | None = None
    default_system: str | None = "You are a helpful assistant."

    def messages(self, task: str, image: Image.Image, frame: ModelFrame, history: Sequence[StepRecord],
                 history_images: int, images: Mapping[int, Image.Image]) -> tuple[Message, ...]:
        raise no_agent(self.name)

    def parse(self, text: str, frame: ModelFrame) -> ParsedCall:
        raise no_agent(self.name)

    def grammar(self, frame: ModelFrame) -> Dfa | None:
        return None

    def ground_messages(self, target: str, image: Image.Image, frame: ModelFrame) -> tuple[Message, ...]:
        return self.ask(target, image, frame)

    def target_words(self, text: str) -> str:
        raise no_agent(self.name)

    def parse_point(self, text: str, frame: ModelFrame) -> Point:
        if not isinstance(text, str):
            raise ParseError(f"expected text, got {type(text).__name__}")
        x, y = self.read(text[:20_000])
        width, height = frame.coordinate_size
        if not (-SLACK * width <= x <= (1 + SLACK) * width and -SLACK * height <= y <= (1 + SLACK) * height):
            raise ParseError(f"point ({x:g}, {y:g}) is outside the {width}x{height} screenshot")
        return to_screen((x, y), frame)


def _gta1_ask(target: str, image: Any, frame: ModelFrame) -> tuple[Message, ...]:
    system = GTA1_SYSTEM.format(height=frame.model_height, width=frame.model_width)
    return Message("system", (TextPart(system),)), Message("user", (ImagePart(image), TextPart(target)))


def _venus_ask(target: str, image: Any, frame: ModelFrame) -> tuple[Message, ...]:
    return (Message("user", (ImagePart(image), TextPart(VENUS_PROMPT.format(target)))),)


def _holo_ask(target: str, image: Any, frame: ModelFrame) -> tuple[Message, ...]:
    prompt = HOLO_PROMPT.format(schema=holo_schema())
    return (Message("user", (ImagePart(image), TextPart(f"{prompt}\n{target}"))),)


def read_pair(text: str) -> list[float]:
    match = _PAIR.search(text)
    if not match:
        raise ParseError(f"expected (x,y) in the answer, got {text[:60]!r}")
    return [float(match.group(1)), float(match.group(2))]


def read_box(text: str) -> list[float]:
    match = _BOX.search(text)
    if not match:
        raise ParseError(f"expected [x1,y1,x2,y2] in the answer, got {text[:60]!r}")
    x1, y1, x2, y2 = (float(g) for g in match.groups())
    return [(x1 + x2) / 2, (y1 + y2) / 2]


def read_click_absolute(text: str) -> list[float]:
    start = text.find("{")
    decoder = json.JSONDecoder()
    while start >= 0:
        try:
            obj = decoder.raw_decode(text, start)[0]
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict) and "x" in obj and "y" in obj:
            values = [obj["x"], obj["y"]]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                return [float(v) for v in values]
        start = text.find("{", start + 1)
    raise ParseError(f'expected {{"action": "click_absolute", "x": …, "y": …}}, got {text[:60]!r}')


GROUNDERS: dict[str, Callable[[], Grounder]] = {
    "gta1": lambda: Grounder("gta1", Budget(28, 3136, 4096 * 2160), _gta1_ask, read_pair,
                             ("Yan98/GTA1 README (system prompt, smart_resize max 4096*2160)",
                              "trycua/cua agent/loops/gta1.py (same SYSTEM_PROMPT text)")),
    "ui-venus-ground": lambda: Grounder("ui-venus-ground", Budget(28, 2_000_000, 4_800_000), _venus_ask, read_box,
                                        ("inclusionAI/UI-Venus models/grounding/ui_venus_ground_7b.py "
                                         "(prompt, min/max pixels)",)),
    "holo1.5": lambda: Grounder("holo1.5", Budget(28, 3136, 1280 * 28 * 28), _holo_ask, read_click_absolute,
                                ("hcompai/hai-cookbook holo1_5 quickstart (ClickAbsoluteAction, prompt)",)),
}
