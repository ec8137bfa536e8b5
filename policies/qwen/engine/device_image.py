"""A screenshot resized to W′×H′ on the model's GPU, in the form the transformers backend's inputs take.

Why: Pillow resizes on one CPU core, 30 ms for a 1080p screenshot and 80 ms for a 4K one on the
development machine (README, bench loop), and the pixel values are made on the GPU right after
anyway. Here the uint8 frame is copied to the device once and resized there.
How: Pillow's BICUBIC is separable. It does a horizontal pass, then a vertical one, each with the
antialiased (support-scaled) kernel and each rounded and clamped to 8 bits. The same two passes
with `torch.nn.functional.interpolate(mode="bicubic", antialias=True)` give Pillow's pixels
within 1–2 levels, over 99.6 % of them identical; the rest is Pillow's fixed-point arithmetic
(tests/policies/qwen/engine/test_device_image.py). One pass in float would differ by up to 15 levels on noisy content.
Not for: the openai backend (it sends PNGs, resized by Pillow), exports, or anything that saves
the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceImage:
    """An RGB image as a (3, H, W) uint8 tensor on a device; quacks like the PIL image it replaces."""

    tensor: Any
    mode: str = "RGB"

    @property
    def width(self) -> int:
        return int(self.tensor.shape[2])

    @property
    def height(self) -> int:
        return int(self.tensor.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def convert(self, mode: str) -> DeviceImage:
        if mode != "RGB":
            raise ValueError(f"a device image is RGB, not {mode}")
        return self


def resize_on_device(image: Any, size: tuple[int, int], device: Any) -> DeviceImage:
    """`image` (PIL, any mode) resized to `size` = (W′, H′) on `device` the way Pillow's BICUBIC does it."""
    from torch.nn.functional import interpolate

    from policies.qwen.engine.pixels import rgb_tensor

    width, height = size
    x = rgb_tensor(image, device)[None].float()
    if x.shape[3] != width:  # horizontal pass first, as Pillow
        x = interpolate(x, size=(x.shape[2], width), mode="bicubic", antialias=True).round_().clamp_(0, 255)
    if x.shape[2] != height:
        x = interpolate(x, size=(height, width), mode="bicubic", antialias=True).round_().clamp_(0, 255)
    return DeviceImage(x[0].byte())
