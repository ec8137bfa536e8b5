"""Model inputs for Qwen-VL models built by hand from the tokenizer and the image processor.

Why by hand: `AutoProcessor` wants a video processor, which wants torchvision, which has no CPU
wheel here. So this module does what `Qwen2_5_VLProcessor` / `Qwen3VLProcessor` do for images: the
ChatML text of the chat template, each `<|image_pad|>` expanded to t·h·w/merge² tokens of its
`image_grid_thw`, `pixel_values` from the image processor's numbers, and `mm_token_type_ids` (1 on
image tokens), without which transformers 5.x silently falls back to 1-D positions.
Text is text: the chat markup's special tokens are placed by id, and every text between them is
tokenized with `split_special_tokens`, so a task that says `<|image_pad|>` or `<|im_end|>` reaches the
model as those characters, never as the tokens (the ids equal the processor's wherever the text
holds no special-token string).
Images arrive already resized to W′×H′ (multiples of patch·merge), so the grid is exactly
W′/patch × H′/patch: the model sees the pixels whose coordinates it answers in.
Not for: generation (transformers_backend) or the prompt's wording (dialects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.qwen.messages import ImagePart, Message

DEFAULT_SYSTEM = "You are a helpful assistant."
IMAGE_PAD = "<|image_pad|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
IMAGE_BLOCK = VISION_START + IMAGE_PAD + VISION_END
FACTOR = 28  # Qwen2.5-VL: patch 14 × merge 2 (Qwen3-VL: 16 × 2, read from the image processor)


@dataclass(frozen=True)
class PreparedInputs:
    """What goes into `generate`: the tokenized text (pads expanded) and the image tensors."""

    text: str = field(repr=False)  # the text as the chat template renders it, image pads expanded
    tensors: dict[str, Any] = field(repr=False)
    prompt_tokens: int
    vision_tokens: int
    image_sizes: tuple[tuple[int, int], ...]  # (W′, H′) per image


def chat_pieces(messages: Sequence[Message], default_system: str | None = DEFAULT_SYSTEM,
                assistant_prefix: str = "") -> list[tuple[bool, str]]:
    """The ChatML of `messages` as (is_markup_token, text) pieces, ending with the assistant header.

    Qwen2.5-VL's template adds "You are a helpful assistant." when the first turn is not a system
    turn; Qwen3-VL's adds nothing (`default_system=None`). An image is one `IMAGE_BLOCK` markup piece.
    """
    out: list[tuple[bool, str]] = []
    if default_system is not None and (not messages or messages[0].role != "system"):
        out += [(True, IM_START), (False, f"system\n{default_system}"), (True, IM_END), (False, "\n")]
    for message in messages:
        out += [(True, IM_START), (False, f"{message.role}\n")]
        for part in message.parts:
            out += [(True, VISION_START), (True, IMAGE_PAD), (True, VISION_END)] if isinstance(part, ImagePart) \
                else [(False, part.text)]
        out += [(True, IM_END), (False, "\n")]
    return [*out, (True, IM_START), (False, "assistant\n" + assistant_prefix)]


def chat_text(messages: Sequence[Message], default_system: str | None = DEFAULT_SYSTEM,
              assistant_prefix: str = "") -> str:
    """ChatML exactly as the Qwen-VL chat template renders it, ending with the assistant header."""
    return "".join(text for _, text in chat_pieces(messages, default_system, assistant_prefix))


def images_of(messages: Sequence[Message]) -> list[Any]:
    return [part.image for message in messages for part in message.parts if isinstance(part, ImagePart)]


def prepare_inputs(
    tokenizer: Any, image_processor: Any, messages: Sequence[Message], image_token_id: int, mm_token_types: bool,
    device: Any = "cpu", default_system: str | None = DEFAULT_SYSTEM, assistant_prefix: str = "",
) -> PreparedInputs:
    """Token ids of `messages` with every image pad expanded; pixel tensors and token types.

    Pixel values are computed by `pixels.pixel_values` on `device` (the model's), with the image
    processor's mean, std and patch sizes: the same numbers as the processor, without its numpy pass.
    """
    import torch

    from policies.qwen.engine.pixels import pixel_values, spec_of

    images = [_rgb(image) for image in images_of(messages)]
    spec = spec_of(image_processor)
    factor = spec.patch * spec.merge
    for image in images:
        if image.width % factor or image.height % factor:
            raise ValueError(f"image {image.width}x{image.height} is not W′×H′ (multiples of {factor}); resize it")
    tensors: dict[str, Any] = {}
    counts: list[int] = []
    if images:
        tensors["pixel_values"], tensors["image_grid_thw"] = pixel_values(images, spec, device)
        counts = [int(n) for n in (tensors["image_grid_thw"].prod(-1) // (spec.merge * spec.merge)).tolist()]
    pieces = chat_pieces(messages, default_system, assistant_prefix)
    ids = token_ids(tokenizer, pieces, counts)
    input_ids = torch.tensor([ids], dtype=torch.long)
    if int((input_ids == image_token_id).sum()) != sum(counts):
        raise ValueError("image placeholder tokens do not match the images")
    tensors["input_ids"], tensors["attention_mask"] = input_ids, torch.ones_like(input_ids)
    if mm_token_types:
        tensors["mm_token_type_ids"] = (input_ids == image_token_id).to(torch.long)
    text = _rendered(pieces, counts)
    return PreparedInputs(
        text=text, tensors=tensors, prompt_tokens=len(ids), vision_tokens=sum(counts),
        image_sizes=tuple((image.width, image.height) for image in images),
    )


def _rendered(pieces: Sequence[tuple[bool, str]], counts: Sequence[int]) -> str:
    """The text the ids stand for: each image's pad markup repeated as many times as its tokens."""
    images = iter(counts)
    return "".join(t * next(images) if markup and t == IMAGE_PAD else t for markup, t in pieces)


def token_ids(tokenizer: Any, pieces: Sequence[tuple[bool, str]], counts: Sequence[int]) -> list[int]:
    """Markup tokens by id (each image pad repeated counts[i] times); each run of text between them
    tokenized whole, with any special-token string in it split into plain text."""
    ids: list[int] = []
    images = iter(counts)
    text: list[str] = []

    def flush() -> None:
        if text:
            ids.extend(tokenizer("".join(text), add_special_tokens=False, split_special_tokens=True)["input_ids"])
            text.clear()

    for markup, piece in pieces:
        if not markup:
            text.append(piece)
            continue
        flush()
        token = tokenizer.convert_tokens_to_ids(piece)
        if not isinstance(token, int) or token < 0 or token == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {piece} token")
        ids.extend([token] * (next(images) if piece == IMAGE_PAD else 1))
    flush()
    return ids


def expand_image_pads(text: str, counts: Sequence[int]) -> str:
    """Replace the i-th `<|image_pad|>` with counts[i] of them, as the processor does."""
    pieces = text.split(IMAGE_PAD)
    if len(pieces) - 1 != len(counts):
        raise ValueError(f"{len(pieces) - 1} image placeholders in the text for {len(counts)} images")
    out = [pieces[0]]
    for count, piece in zip(counts, pieces[1:], strict=True):
        out += [IMAGE_PAD * count, piece]
    return "".join(out)


def image_processor_class() -> Any:
    """The image processor class that works here: 5.x's PIL one without torchvision, else the default."""
    try:
        import torchvision  # noqa: F401
    except ImportError:
        try:
            from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

            return Qwen2VLImageProcessorPil
        except ImportError:  # 4.x: the default class is the numpy one
            pass
    from transformers import Qwen2VLImageProcessor

    return Qwen2VLImageProcessor


def load_image_processor(name: str | None, min_pixels: int, max_pixels: int, local_only: bool = False) -> Any:
    """The image processor of checkpoint `name` (or a default one), pixel budget set explicitly."""
    cls = image_processor_class()
    budget = {
        "min_pixels": min_pixels, "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
    }
    if name is None:
        return cls(patch_size=14, merge_size=2, temporal_patch_size=2, **budget)
    return cls.from_pretrained(name, local_files_only=local_only, **budget)


def _rgb(image: Any) -> Any:
    return image if image.mode == "RGB" else image.convert("RGB")
