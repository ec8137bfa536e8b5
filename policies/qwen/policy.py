"""`QwenPolicy`: the Qwen2.5-VL policy — resize, prompt, ask the backend, parse, map to the screen.

Each step: the screenshot is resized to W′×H′ (`resize`), the computer_use prompt is built with the
history (`prompt`), the backend answers (`ChatBackend`: in-process transformers or an
OpenAI-compatible server), and the first tool call is parsed into an action in screen coordinates
(`parse`, through `coords`). A malformed answer is the model's fault: the Decision carries no
action, the error and the raw text, and the loop shows the error to the model next turn. A backend
that cannot answer raises (`BackendError`). `ground` implements `policies.grounding.Grounder`;
`ground_example` (verified replay's re-grounding) also shows the model the recorded crop of the target,
scaled like the screenshot and sized in whole 28-px patches, before the current screenshot, whose
W′×H′ frame the answer is read in (it is the last image, as the constrained decoder assumes).
Not for: executing or reviewing actions, or building the backend (the agent layer does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actions.geometry import Point, Screenshot
from policies.base import Decision, StepRecord
from policies.grounding import GroundingError
from policies.qwen.messages import ChatBackend, ImagePart, Message, ModelReply, ModelRequest, TextPart
from policies.qwen.parse import ParseError, parse_reply
from policies.qwen.prompt import build_messages, system_prompt
from policies.qwen.resize import FACTOR, ModelFrame, resize_for_model, smart_resize

if TYPE_CHECKING:
    from PIL import Image

GROUNDING_QUERY = "Click on {target}."
EXAMPLE_INTRO = "This is what the element looked like when it was recorded:\n"
EXAMPLE_SCREEN = "\nThis is the screen now:\n"
EXAMPLE_PIXELS = (FACTOR * FACTOR * 4, FACTOR * FACTOR * 256)  # a recorded crop costs 4 to 256 vision tokens


@dataclass(frozen=True)
class QwenOptions:
    min_pixels: int = 3136
    max_pixels: int = 1280 * 28 * 28
    history_images: int = 1
    max_new_tokens: int = 256
    constrained: bool = False
    extended_actions: bool = True  # offer triple_click, hscroll and answer too


class QwenPolicy:
    name = "qwen"
    scripted = False

    def __init__(self, backend: ChatBackend, options: QwenOptions | None = None) -> None:
        self.backend = backend
        self.options = options or QwenOptions()
        # Set by the run's safety layer (agent.safety.assemble): the kill switch's flag, which stops a model
        # call in flight (between two tokens in-process; a server request is abandoned).
        self.interrupt_event: threading.Event | None = None
        self._images: dict[int, Image.Image] = {}  # step index → the W′×H′ image the model saw then
        # the backend's own resize where it has one (the transformers backend resizes on its GPU)
        self._resize = getattr(backend, "resize_for_model", resize_for_model)

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        o = self.options
        if not history:
            self._images.clear()  # a new run
        started = time.perf_counter()
        image, frame = self._resize(shot.image, o.min_pixels, o.max_pixels)
        resize_ms = (time.perf_counter() - started) * 1000
        messages = build_messages(task, image, frame, history, o.history_images, self._images, o.extended_actions)
        self._remember(len(history) + 1, image)
        reply = self._complete(messages)
        meta = _meta(frame, reply, resize_ms, getattr(self.backend, "name", type(self.backend).__name__))
        try:
            parsed = parse_reply(reply.text, frame)
        except ParseError as exc:
            return Decision(action=None, raw_text=reply.text, error=str(exc), meta=meta)
        return Decision(action=parsed.action, raw_text=reply.text, meta={**meta, "model_action": parsed.model_action})

    def ground(self, target: str, shot: Screenshot) -> Point:
        """One model call asking to click `target`; the screen point it names."""
        o = self.options
        image, frame = self._resize(shot.image, o.min_pixels, o.max_pixels)
        messages = build_messages(GROUNDING_QUERY.format(target=target), image, frame, (), 1, None,
                                  o.extended_actions)
        return self._grounded(target, messages, frame)

    def ground_example(self, target: str, example: Image.Image, shot: Screenshot) -> Point:
        """Like `ground`, also shown `example` (what the target looked like in a recording) before the screen."""
        o = self.options
        image, frame = self._resize(shot.image, o.min_pixels, o.max_pixels)
        crop = example_for_model(example, frame)
        if crop is None:  # a sliver of an image (aspect ratio over 200): nothing worth showing
            return self.ground(target, shot)
        system = Message("system", (TextPart(system_prompt(frame.model_width, frame.model_height,
                                                           o.extended_actions)),))
        query = "The user query: " + GROUNDING_QUERY.format(target=target)
        user = Message("user", (TextPart(EXAMPLE_INTRO), ImagePart(crop), TextPart(EXAMPLE_SCREEN), ImagePart(image),
                                TextPart("\n" + query)))
        return self._grounded(target, (system, user), frame)  # `frame`: the screenshot's, the last image

    def _grounded(self, target: str, messages: Any, frame: ModelFrame) -> Point:
        """Ask, and read the answer's coordinate in `frame` (the screenshot's W′×H′) as a screen point."""
        reply = self._complete(messages)
        try:
            parsed = parse_reply(reply.text, frame)
        except ParseError as exc:
            raise GroundingError(f"could not locate {target!r}: {exc}") from None
        point = getattr(parsed.action, "coordinate", None)
        if point is None:
            raise GroundingError(f"could not locate {target!r}: the model answered {parsed.model_action['action']} "
                                 "without a coordinate")
        return point

    def close(self) -> None:
        self.backend.close()

    def _complete(self, messages: Any) -> ModelReply:
        o = self.options
        request = ModelRequest(messages, max_new_tokens=o.max_new_tokens, constrained=o.constrained,
                               stop=self.interrupt_event)
        return self.backend.complete(request)

    def _remember(self, index: int, image: Image.Image) -> None:
        self._images[index] = image
        keep = max(self.options.history_images, 1)
        for old in [i for i in self._images if i <= index - keep]:
            del self._images[old]


def example_for_model(example: Image.Image, frame: ModelFrame) -> Image.Image | None:
    """The recorded crop at the screenshot's scale (W′/W), sides rounded to multiples of 28 (`smart_resize`,
    4 to 256 vision tokens), RGB: the element as big as it is in the screenshot the model sees next to it.
    None for a crop `smart_resize` refuses (aspect ratio over 200)."""
    from PIL import Image as PILImage

    scale = frame.model_width / frame.screen_width
    width, height = max(round(example.width * scale), 1), max(round(example.height * scale), 1)
    try:
        size_h, size_w = smart_resize(height, width, FACTOR, *EXAMPLE_PIXELS)
    except ValueError:
        return None
    rgb = example if example.mode == "RGB" else example.convert("RGB")
    return rgb.resize((size_w, size_h), PILImage.Resampling.BICUBIC)


def _meta(frame: ModelFrame, reply: ModelReply, resize_ms: float, backend: str) -> dict[str, Any]:
    tokens = {"prompt": reply.prompt_tokens, "completion": reply.completion_tokens, "vision": reply.vision_tokens,
              "cached_prefix": reply.extra.get("cached_prefix_tokens"),  # system-prompt KV reused (transformers)
              "forced": reply.extra.get("forced_tokens")}  # grammar opening prefilled, not decoded (transformers)
    return {
        "screen": list(frame.screen),
        "model": list(frame.model),
        "vision_tokens": frame.vision_tokens,
        "backend": backend,
        "timings_ms": {"resize": round(resize_ms, 2), **reply.timings_ms},
        "tokens": {k: v for k, v in tokens.items() if v is not None},
        **({"finish_reason": reply.extra["finish_reason"]} if reply.extra.get("finish_reason") else {}),
    }
