"""Qwen-VL image sizing: `smart_resize` and the one resize every backend's image goes through.

The resize factor is the dialect's (28 = patch 14 × merge 2 for Qwen2.5-VL and its fine-tunes; 32 =
patch 16 × merge 2 for Qwen3-VL). `smart_resize` is a faithful copy of transformers'
`models/qwen2_vl/image_processing_qwen2_vl.py`
(5.x; the same arithmetic as `qwen_vl_utils`): each side rounded to a multiple of 28, scaled down
(floored) above `max_pixels`, scaled up (ceiled) below `min_pixels`. `resize_for_model` resizes a
screenshot to exactly W′×H′ so a server's own resize is the identity, and returns the `ModelFrame`
that `coords` needs to map the model's answer back to the screen.
Not for: mapping coordinates (coords) or building inputs for a particular backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

FACTOR = 28  # patch 14 × spatial merge 2
PIXELS_PER_TOKEN = FACTOR * FACTOR  # one vision token per 28×28 block after the 2×2 merge
MAX_RATIO = 200


@dataclass(frozen=True)
class ModelFrame:
    """The screen the model's image shows (W×H) and the image it actually saw (W′×H′)."""

    screen_width: int
    screen_height: int
    model_width: int
    model_height: int
    factor: int = FACTOR  # the resize factor: one vision token per factor×factor block
    grid: int | None = None  # the model answers on a grid×grid (Qwen3-VL: 1000), else in W′×H′ pixels

    def __post_init__(self) -> None:
        sizes = (self.screen_width, self.screen_height, self.model_width, self.model_height, self.factor)
        if min(sizes) <= 0 or (self.grid is not None and self.grid <= 0):
            raise ValueError(f"frame sizes must be positive, got {sizes} (grid {self.grid})")

    @property
    def vision_tokens(self) -> int:
        """Vision tokens the image costs: W′·H′/factor² (784 for Qwen2.5-VL, 1024 for Qwen3-VL)."""
        return self.model_width * self.model_height // (self.factor * self.factor)

    @property
    def coordinate_size(self) -> tuple[int, int]:
        """The space the model's coordinates are in: the grid, or the W′×H′ image."""
        return (self.grid, self.grid) if self.grid else self.model

    @property
    def screen(self) -> tuple[int, int]:
        return self.screen_width, self.screen_height

    @property
    def model(self) -> tuple[int, int]:
        return self.model_width, self.model_height

    def to_json(self) -> dict[str, Any]:
        out = {"screen": list(self.screen), "model": list(self.model), "vision_tokens": self.vision_tokens}
        return out if self.grid is None else {**out, "grid": self.grid}


def smart_resize(
    height: int, width: int, factor: int = FACTOR, min_pixels: int = 56 * 56, max_pixels: int = 14 * 14 * 4 * 1280
) -> tuple[int, int]:
    """(H′, W′): both multiples of `factor`, area within [min_pixels, max_pixels], aspect kept.

    Note the argument and result order: height first, as in transformers.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_RATIO}, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def model_frame(width: int, height: int, min_pixels: int, max_pixels: int, factor: int = FACTOR,
                grid: int | None = None) -> ModelFrame:
    """The frame for a W×H screen under the given pixel budget and resize factor."""
    if not 0 < min_pixels <= max_pixels:
        raise ValueError(f"need 0 < min_pixels <= max_pixels, got {min_pixels} and {max_pixels}")
    model_h, model_w = smart_resize(height, width, factor, min_pixels, max_pixels)
    return ModelFrame(width, height, model_w, model_h, factor, grid)


def resize_for_model(image: Image.Image, min_pixels: int, max_pixels: int, factor: int = FACTOR,
                     grid: int | None = None) -> tuple[Image.Image, ModelFrame]:
    """`image` (a W×H screenshot) resized to W′×H′ (bicubic, as the Qwen2-VL image processor), RGB."""
    from PIL import Image as PILImage

    frame = model_frame(image.width, image.height, min_pixels, max_pixels, factor, grid)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if frame.model == frame.screen:
        return rgb, frame
    return rgb.resize(frame.model, PILImage.Resampling.BICUBIC), frame
