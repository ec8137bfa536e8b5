"""The one place where model-image coordinates become screen coordinates (and back, for export).

Qwen2.5-VL (and its fine-tunes) answer in absolute pixels of the resized image they saw (W′×H′);
Qwen3-VL answers on a 0–1000 grid (`ModelFrame.grid`). Per axis, with C the coordinate size (W′ or
the grid): x = x′·W/C, y = y′·H/C, rounded to the nearest pixel and clamped into the screen, because answers
can slightly exceed the image. The screen → input-device step (monitor offset, HiDPI scale) is
`actions.geometry.to_desktop`, applied later by the executor's dispatch.
Not for: deciding whether a point is plausible (the parser rejects far-off points) or resizing.
"""

from __future__ import annotations

import math

from policies.qwen.resize import ModelFrame

Point = tuple[int, int]


def to_screen(point: tuple[float, float], frame: ModelFrame) -> Point:
    """Map a model-space point (W′×H′ pixels or grid units, finite) to the screen pixel it names, clamped."""
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"coordinate {[x, y]} is not finite")
    width, height = frame.coordinate_size
    return _scale(x, frame.screen_width, width), _scale(y, frame.screen_height, height)


def to_model(point: tuple[float, float], frame: ModelFrame) -> Point:
    """Inverse of `to_screen`: a screen point to the model-space pixel that maps onto it, clamped."""
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"coordinate {[x, y]} is not finite")
    width, height = frame.coordinate_size
    return _scale(x, width, frame.screen_width), _scale(y, height, frame.screen_height)


def _scale(value: float, to_size: int, from_size: int) -> int:
    # Clamp before rounding: a huge finite input may overflow to inf when scaled.
    scaled = value * to_size / from_size
    return round(min(max(scaled, 0.0), to_size - 1.0))
