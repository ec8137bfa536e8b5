"""The one place where model-image coordinates become screen coordinates (and back, for export).

Qwen2.5-VL answers in absolute pixels of the resized image it saw (W′×H′), not 0–1000. Per axis:
x = x′·W/W′, y = y′·H/H′, rounded to the nearest pixel and clamped into the screen, because answers
can slightly exceed the image. The screen → input-device step (monitor offset, HiDPI scale) is
`actions.geometry.to_desktop`, applied later by the executor's dispatch.
Not for: deciding whether a point is plausible (the parser rejects far-off points) or resizing.
"""

from __future__ import annotations

import math

from policies.qwen.resize import ModelFrame

Point = tuple[int, int]


def to_screen(point: tuple[float, float], frame: ModelFrame) -> Point:
    """Map a model-space point (W′×H′ pixels, finite) to the screen pixel it names, clamped."""
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"coordinate {[x, y]} is not finite")
    return (
        _scale(x, frame.screen_width, frame.model_width),
        _scale(y, frame.screen_height, frame.model_height),
    )


def to_model(point: tuple[float, float], frame: ModelFrame) -> Point:
    """Inverse of `to_screen`: a screen point to the model-space pixel that maps onto it, clamped."""
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"coordinate {[x, y]} is not finite")
    return (
        _scale(x, frame.model_width, frame.screen_width),
        _scale(y, frame.model_height, frame.screen_height),
    )


def _scale(value: float, to_size: int, from_size: int) -> int:
    # Clamp before rounding: a huge finite input may overflow to inf when scaled.
    scaled = value * to_size / from_size
    return round(min(max(scaled, 0.0), to_size - 1.0))
