"""Zoom-in re-grounding: ground again on a crop around the first point, scaled up, and map back exactly.

The crop is `crop` of the screen's width and height (at least 28 px a side), centred on the first
point and shifted to stay inside the screen; it is scaled up (bicubic) so its area fills the
grounder's `max_pixels` — the detail a small element lacked in the full screenshot — and grounded as
a screen of that size. Its answer (a pixel of the scaled crop) maps back through the scale and the
crop offset: x = x0 + ⌊(x′ + ½)·cw/sw⌋, clamped into the crop, so every scaled pixel lands on the
crop pixel it was made from (tests/policies/qwen/test_zoom.py checks it at 720p–5K).
Not for: choosing what to ground (planned) or the first grounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from actions.geometry import Monitor, Point, Screenshot


@dataclass(frozen=True)
class ZoomOptions:
    crop: float = 0.5  # the crop's side as a fraction of the screen's


@dataclass(frozen=True)
class Crop:
    x0: int
    y0: int
    width: int
    height: int
    scaled_width: int
    scaled_height: int

    def to_screen(self, point: Point) -> Point:
        """A pixel of the scaled crop → the screen pixel it was made from."""
        x = min(self.width - 1, max(0, math.floor((point[0] + 0.5) * self.width / self.scaled_width)))
        y = min(self.height - 1, max(0, math.floor((point[1] + 0.5) * self.height / self.scaled_height)))
        return self.x0 + x, self.y0 + y


def crop_around(point: Point, screen: tuple[int, int], fraction: float, max_pixels: int) -> Crop:
    width, height = screen
    cw, ch = min(width, max(28, round(width * fraction))), min(height, max(28, round(height * fraction)))
    x0 = min(max(point[0] - cw // 2, 0), width - cw)
    y0 = min(max(point[1] - ch // 2, 0), height - ch)
    scale = max(1.0, math.sqrt(max_pixels / (cw * ch)))
    return Crop(x0, y0, cw, ch, max(cw, math.floor(cw * scale)), max(ch, math.floor(ch * scale)))


def ground_zoomed(ground: Callable[[str, Screenshot], Point], target: str, shot: Screenshot, options: ZoomOptions,
                  max_pixels: int) -> Point:
    """`ground` on the screen, then on the scaled crop around its answer; the second answer on the screen."""
    from PIL import Image

    first = ground(target, shot)
    box = crop_around(first, (shot.image.width, shot.image.height), options.crop, max_pixels)
    piece = shot.image.crop((box.x0, box.y0, box.x0 + box.width, box.y0 + box.height))
    scaled = piece.resize((box.scaled_width, box.scaled_height), Image.Resampling.BICUBIC)
    second = ground(target, Screenshot(scaled, Monitor(0, 0, box.scaled_width, box.scaled_height)))
    return box.to_screen(second)
