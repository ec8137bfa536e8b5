"""The contract between the Qwen policy and its backends: chat messages in, a reply out.

Images in a request are already resized to the model's W′×H′ (see `resize`), so every backend —
in-process or a remote server — sees exactly the pixels whose coordinates the model answers in.
Not for: building the prompt text (prompt) or parsing the answer (parse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from PIL import Image

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    image: Image.Image = field(repr=False)  # already W′×H′


@dataclass(frozen=True)
class Message:
    role: Role
    parts: tuple[TextPart | ImagePart, ...]


@dataclass(frozen=True)
class ModelRequest:
    messages: tuple[Message, ...]
    max_new_tokens: int = 128
    constrained: bool = False  # constrain decoding to the dialect's grammar (where supported)
    grammar: Any = field(default=None, compare=False, repr=False)  # that grammar (a Dfa); None: the tool call's
    assistant_prefix: str = ""  # text the chat template puts after the assistant header (Thinking: "<think>\n")
    default_system: str | None = "You are a helpful assistant."  # what the template adds without a system turn
    factor: int = 28  # the dialect's resize factor: each image costs W′·H′/factor² vision tokens
    # A threading.Event: once set, the backend stops generating and raises (the kill switch).
    stop: Any = field(default=None, compare=False, repr=False)


def expected_vision_tokens(request: ModelRequest) -> int:
    """Vision tokens the request's images cost when nobody resizes them again."""
    return sum(p.image.width * p.image.height // (request.factor * request.factor)
               for m in request.messages for p in m.parts if isinstance(p, ImagePart))


@dataclass(frozen=True)
class ModelReply:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    vision_tokens: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class ChatBackend(Protocol):
    name: str

    def complete(self, request: ModelRequest) -> ModelReply: ...

    def close(self) -> None: ...
