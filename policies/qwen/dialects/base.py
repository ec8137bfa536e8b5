"""What every dialect is: the model-specific half of a Qwen-VL-family policy, as one frozen value.

A `Dialect` says how one model family must be spoken to and read: its resize factor and default
pixel budget, the coordinate space of its answers (pixels of the resized image, or a grid), the chat
layout (system text, image/text order, history), the parser of its answers, the constrained-decoding
grammar if it has one, and what a grounding request looks like. The loop, gate, executors and traces
never see any of it; `QwenPolicy` asks its dialect. Which transformers class loads a checkpoint and
which engine optimisations are proven equal for it are per architecture (`architectures`).
Not for: talking to a model (backends) or choosing a dialect (`dialects.choose`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from actions.geometry import Point
from policies.base import StepRecord
from policies.qwen.messages import Message
from policies.qwen.parse import ParsedCall
from policies.qwen.resize import ModelFrame, model_frame

if TYPE_CHECKING:
    from PIL import Image

    from policies.qwen.constrained.bytes_dfa import Dfa

Role = Literal["agent", "grounder"]


class DialectError(ValueError):
    """A dialect asked for something it cannot do (a grounder asked to plan); one line."""


@dataclass(frozen=True)
class Budget:
    """A dialect's resize factor and the pixel bounds its reference code uses."""

    factor: int
    min_pixels: int
    max_pixels: int


class Dialect(Protocol):
    name: str
    roles: frozenset[Role]
    budget: Budget
    grid: int | None  # answers on a grid×grid (Qwen3-VL: 1000); None = pixels of the W′×H′ image
    default_system: str | None  # the system text the chat template adds when a request has none
    sources: tuple[str, ...]  # what the prompt and parser were checked against (README, tests)

    def messages(self, task: str, image: Image.Image, frame: ModelFrame, history: Sequence[StepRecord],
                 history_images: int, images: Mapping[int, Image.Image]) -> tuple[Message, ...]:
        """The request for the next step (images already W′×H′)."""

    def parse(self, text: str, frame: ModelFrame) -> ParsedCall:
        """The answer's action in screen coordinates; `ParseError` with a one-line reason."""

    def grammar(self, frame: ModelFrame) -> Dfa | None:
        """The constrained-decoding grammar for this frame, or None where the dialect has none."""

    def ground_messages(self, target: str, image: Image.Image, frame: ModelFrame) -> tuple[Message, ...]:
        """A request asking where `target` is on `image`."""

    def parse_point(self, text: str, frame: ModelFrame) -> Point:
        """The screen point a grounding answer names; `ParseError` with a one-line reason."""

    def target_words(self, text: str) -> str:
        """What an agent answer says it points at, in words ("" when it says nothing), for a grounder."""


def frame_for(dialect: Dialect, width: int, height: int, min_pixels: int, max_pixels: int) -> ModelFrame:
    """The frame a W×H screen gets under `dialect` with the configured pixel budget."""
    return model_frame(width, height, min_pixels, max_pixels, dialect.budget.factor, dialect.grid)


def no_agent(name: str) -> DialectError:
    return DialectError(f"{name} is a grounding model: it cannot choose actions; use it as model.grounder "
                        "with a planner (model.planner), or pick an agent dialect")


def first_point(action: Any) -> Point | None:
    return getattr(action, "coordinate", None)
