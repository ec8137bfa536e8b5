"""Model inputs for Qwen2.5-VL built by hand from the tokenizer and the image processor.

Why by hand: `AutoProcessor` wants a video processor, which wants torchvision, which has no CPU
wheel here. So this module does what `Qwen2_5_VLProcessor` does for images: the ChatML text of the
Qwen2.5-VL chat template, each `<|image_pad|>` expanded to t·h·w/4 tokens of its `image_grid_thw`,
`pixel_values` from the image processor, and `mm_token_type_ids` (1 on image tokens), without which
transformers 5.x silently falls back to 1-D positions.
Images arrive already resized to W′×H′ (multiples of 28), so the image processor runs with
`do_resize=False` and its grid is exactly W′/14 × H′/14: the model sees the pixels whose
coordinates it answers in. Not for: generation (transformers_backend) or the prompt's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.qwen.messages import ImagePart, Message

DEFAULT_SYSTEM = "You are a helpful assistant."
IMAGE_PAD = "<|image_pad|>"
IMAGE_BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"
FACTOR = 28  # patch 14 × merge 2


@dataclass(frozen=True)
class PreparedInputs:
    """What goes into `generate`: the tokenized text (pads expanded) and the image tensors."""

    text: str = field(repr=False)  # the exact text tokenized, image pads expanded
    tensors: dict[str, Any] = field(repr=False)
    prompt_tokens: int
    vision_tokens: int
    image_sizes: tuple[tuple[int, int], ...]  # (W′, H′) per image


def chat_text(messages: Sequence[Message]) -> str:
    """ChatML exactly as Qwen2.5-VL's chat template renders it, ending with the assistant header."""
    out: list[str] = []
    if not messages or messages[0].role != "system":
        out.append(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")
    for message in messages:
        body = "".join(IMAGE_BLOCK if isinstance(p, ImagePart) else p.text for p in message.parts)
        out.append(f"<|im_start|>{message.role}\n{body}<|im_end|>\n")
    out.append("<|im_start|>assistant\n")
    return "".join(out)


def images_of(messages: Sequence[Message]) -> list[Any]:
    return [part.image for message in messages for part in message.parts if isinstance(part, ImagePart)]


def prepare_inputs(
    tokenizer: Any, image_processor: Any, messages: Sequence[Message], image_token_id: int, mm_token_types: bool,
    device: Any = "cpu",
) -> PreparedInputs:
    """Tokenize `messages` with every image pad expanded; add pixel tensors and token types.

    Pixel values are computed by `pixels.pixel_values` on `device` (the model's), with the image
    processor's mean, std and patch sizes: the same numbers as the processor, without its numpy pass.
    """
    import torch

    from policies.qwen.engine.pixels import pixel_values, spec_of

    images = [_rgb(image) for image in images_of(messages)]
    for image in images:
        if image.width % FACTOR or image.height % FACTOR:
            raise ValueError(f"image {image.width}x{image.height} is not W′×H′ (multiples of {FACTOR}); resize it")
    text = chat_text(messages)
    tensors: dict[str, Any] = {}
    counts: list[int] = []
    if images:
        spec = spec_of(image_processor)
        tensors["pixel_values"], tensors["image_grid_thw"] = pixel_values(images, spec, device)
        counts = [int(n) for n in (tensors["image_grid_thw"].prod(-1) // (spec.merge * spec.merge)).tolist()]
    text = expand_image_pads(text, counts)
    encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    input_ids = encoded["input_ids"]
    if int((input_ids == image_token_id).sum()) != sum(counts):
        raise ValueError("image placeholder tokens do not match the images (is '<|image_pad|>' in the text?)")
    tensors["input_ids"], tensors["attention_mask"] = input_ids, encoded["attention_mask"]
    if mm_token_types:
        tensors["mm_token_type_ids"] = (input_ids == image_token_id).to(torch.long)
    return PreparedInputs(
        text=text, tensors=tensors, prompt_tokens=int(input_ids.shape[1]), vision_tokens=sum(counts),
        image_sizes=tuple((image.width, image.height) for image in images),
    )


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


def load_image_processor(name: str | None, min_pixels: int, max_pixels: int) -> Any:
    """The image processor of checkpoint `name` (or a default one), pixel budget set explicitly."""
    cls = image_processor_class()
    budget = {
        "min_pixels": min_pixels, "max_pixels": max_pixels,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
    }
    if name is None:
        return cls(patch_size=14, merge_size=2, temporal_patch_size=2, **budget)
    return cls.from_pretrained(name, **budget)


def _rgb(image: Any) -> Any:
    return image if image.mode == "RGB" else image.convert("RGB")
