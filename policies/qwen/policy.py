"""`QwenPolicy`: a Qwen-VL-family policy — resize, prompt, ask the backend, parse, map to the screen.

Everything model-specific comes from its `Dialect` (`dialects`: qwen2.5-vl by default, qwen3-vl,
ui-tars-1.5, grounders). Each step: the screenshot is resized to W′×H′ with the dialect's factor
(`resize`), the dialect builds the request with the history, the backend answers (`ChatBackend`:
in-process transformers or an OpenAI-compatible server), and the dialect's parser reads the action
into screen coordinates (through `coords`). A malformed answer is the model's fault: the Decision carries no
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
from policies.qwen.dialects.base import Dialect, DialectError
from policies.qwen.dialects.qwen25vl import Qwen25VL
from policies.qwen.messages import ChatBackend, ImagePart, Message, ModelReply, ModelRequest, TextPart
from policies.qwen.parse import ParseError
from policies.qwen.prompt import system_prompt
from policies.qwen.resize import FACTOR, ModelFrame, resize_for_model, smart_resize

if TYPE_CHECKING:
    from PIL import Image

GROUNDING_QUERY = "Click on {target}."  # qwen2.5-vl's (dialects.qwen25vl); kept for ground_example
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
    extended_actions: bool = False  # qwen2.5-vl: also offer triple_click, hscroll, answer (no checkpoint knows them)
    think_tokens: int = 0  # Thinking dialects: tokens allowed for the <think> block on top of max_new_tokens


class QwenPolicy:
    name = "qwen"
    scripted = False

    def __init__(self, backend: ChatBackend, options: QwenOptions | None = None,
                 dialect: Dialect | None = None) -> None:
        self.backend = backend
        self.options = options or QwenOptions()
        self.dialect: Dialect = dialect or Qwen25VL(extended=self.options.extended_actions)
        # Set by the run's safety layer (agent.safety.assemble): the kill switch's flag, which stops a model
        # call in flight (between two tokens in-process; a server request is abandoned).
        self.interrupt_event: threading.Event | None = None
        self._images: dict[int, Image.Image] = {}  # step index → the W′×H′ image the model saw then
        self.last_grounding: tuple[ModelReply, ModelFrame] | None = None
        # the backend's own resize where it has one (the transformers backend resizes on its GPU)
        self._resize = getattr(backend, "resize_for_model", resize_for_model)

    def decide(self, task: str, shot: Screenshot, history: Sequence[StepRecord]) -> Decision:
        o = self.options
        if not history:
            self._images.clear()  # a new run
        started = time.perf_counter()
        if "agent" not in self.dialect.roles:
            raise DialectError(f"{self.dialect.name} is a grounding model: it cannot choose actions; use it as "
                               "model.grounder with a planner (model.planner), or pick an agent dialect")
        image, frame = self.resized(shot.image)
        resize_ms = (time.perf_counter() - started) * 1000
        messages = self.dialect.messages(task, image, frame, history, o.history_images, self._images)
        self._remember(len(history) + 1, image)
        reply = self._complete(messages, frame)
        meta = _meta(frame, reply, resize_ms, getattr(self.backend, "name", type(self.backend).__name__))
        meta["dialect"] = self.dialect.name
        try:
            parsed = self.dialect.parse(reply.text, frame)
        except ParseError as exc:
            return Decision(action=None, raw_text=reply.text, error=str(exc), meta=meta)
        return Decision(action=parsed.action, raw_text=reply.text, meta={**meta, "model_action": parsed.model_action})

    def resized(self, image: Image.Image) -> tuple[Image.Image, ModelFrame]:
        """`image` resized to W′×H′ with the dialect's factor and the configured budget, and its frame."""
        o, d = self.options, self.dialect
        if d.budget.factor == FACTOR and d.grid is None:  # the backend's own resize (GPU) knows factor 28
            return self._resize(image, o.min_pixels, o.max_pixels)
        return self._resize(image, o.min_pixels, o.max_pixels, d.budget.factor, d.grid)

    def ground(self, target: str, shot: Screenshot) -> Point:
        """One model call asking where `target` is; the screen point it names."""
        image, frame = self.resized(shot.image)
        return self._grounded(target, self.dialect.ground_messages(target, image, frame), frame)

    def ground_example(self, target: str, example: Image.Image, shot: Screenshot) -> Point:
        """Like `ground`, also shown `example` (what the target looked like in a recording) before the screen
        (qwen2.5-vl's computer_use prompt; other dialects ground on the screen alone)."""
        if not isinstance(self.dialect, Qwen25VL):
            return self.ground(target, shot)
        image, frame = self.resized(shot.image)
        crop = example_for_model(example, frame)
        if crop is None:  # a sliver of an image (aspect ratio over 200): nothing worth showing
            return self.ground(target, shot)
        system = Message("system", (TextPart(system_prompt(frame.model_width, frame.model_height,
                                                           self.dialect.extended)),))
        query = "The user query: " + GROUNDING_QUERY.format(target=target)
        user = Message("user", (TextPart(EXAMPLE_INTRO), ImagePart(crop), TextPart(EXAMPLE_SCREEN), ImagePart(image),
                                TextPart("\n" + query)))
        return self._grounded(target, (system, user), frame)  # `frame`: the screenshot's, the last image

    def _grounded(self, target: str, messages: Any, frame: ModelFrame) -> Point:
        """Ask, and read the answer's coordinate in `frame` (the screenshot's W′×H′) as a screen point."""
        reply = self._complete(messages, frame)
        self.last_grounding = (reply, frame)  # what a planner + grounder run records in its trace
        try:
            return self.dialect.parse_point(reply.text, frame)
        except ParseError as exc:
            raise GroundingError(f"could not locate {target!r}: {exc}") from None

    def close(self) -> None:
        self.backend.close()

    def _complete(self, messages: Any, frame: ModelFrame) -> ModelReply:
        o, d = self.options, self.dialect
        grammar = d.grammar(frame) if o.constrained else None
        prefix = getattr(d, "assistant_prefix", "")
        if prefix and grammar is not None:  # the grammar starts at the call: think nothing (Qwen3's no-think form)
            prefix = "<think>\n\n</think>\n\n"
        thinking = prefix == getattr(d, "assistant_prefix", "") and bool(prefix)
        request = ModelRequest(messages, max_new_tokens=o.max_new_tokens + (o.think_tokens if thinking else 0),
                               constrained=grammar is not None, grammar=grammar, stop=self.interrupt_event,
                               assistant_prefix=prefix, default_system=d.default_system, factor=d.budget.factor)
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
        **({"engine_notes": reply.extra["engine_notes"]} if reply.extra.get("engine_notes") else {}),
    }
