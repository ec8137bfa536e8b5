"""Screen geometry: monitors, screenshots and the screen → input-device mapping.

A `Screenshot` is one capture of one monitor in physical pixels. Its `monitor` records where
that monitor sits in the virtual desktop (offsets can be non-zero or negative on multi-monitor
layouts) and `scale` how many physical pixels make one unit of the input API (1.0 on X11;
2.0 where input takes logical points on a HiDPI screen). Actions carry screen coordinates —
pixels of the screenshot image — and `to_desktop` is the one place they become input-device
coordinates. Not for: model-image coordinates (policies map those to screen coordinates).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Point = tuple[int, int]


@dataclass(frozen=True)
class Monitor:
    """A monitor's rectangle in the virtual desktop, in physical pixels."""

    left: int
    top: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"monitor size must be positive, got {self.width}x{self.height}")

    def to_json(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


class Screenshot:
    """One capture: the pixels (physical), the monitor they show, the HiDPI scale. Immutable.

    Built either from a PIL image or from a capture's raw BGRX buffer (`bgra=`). The RGB image is
    made from the raw buffer only when something asks for `image` (the trace writer's thread, a
    model's resize), so the loop itself never pays for the conversion; `pixels()` gives a
    zero-copy array for fast comparisons.
    """

    __slots__ = ("_bgra", "_image", "_lock", "captured_at", "monitor", "scale")

    def __init__(
        self,
        image: Image.Image | None = None,
        monitor: Monitor | None = None,
        scale: float = 1.0,
        captured_at: float = 0.0,
        *,
        bgra: bytes | bytearray | None = None,
    ) -> None:
        if monitor is None or (image is None) == (bgra is None):
            raise ValueError("a screenshot needs a monitor and exactly one of image or bgra")
        size = (monitor.width, monitor.height)
        if image is not None and image.size != size:
            raise ValueError(f"image size {image.size} does not match monitor {size[0]}x{size[1]}")
        if bgra is not None and len(bgra) != size[0] * size[1] * 4:
            raise ValueError(f"raw buffer of {len(bgra)} bytes does not match monitor {size[0]}x{size[1]}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        for name, value in (("_image", image), ("_bgra", bgra), ("monitor", monitor), ("scale", scale),
                            ("captured_at", captured_at), ("_lock", threading.Lock())):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Screenshot is immutable")

    def __repr__(self) -> str:
        m = self.monitor
        return f"Screenshot({m.width}x{m.height} at {m.left},{m.top}, scale={self.scale})"

    @property
    def image(self) -> Image.Image:
        """The RGB image, converted from the raw buffer on first use (thread-safe)."""
        with self._lock:
            if self._image is None:
                from PIL import Image

                rgb = Image.frombuffer("RGB", self.size, self._bgra, "raw", "BGRX", 0, 1)
                object.__setattr__(self, "_image", rgb)
            return self._image

    def pixels(self) -> np.ndarray:
        """An (height, width) uint32 array (raw BGRX) or (height, width, 3) uint8 array (RGB)."""
        import numpy as np

        if self._bgra is not None:
            return np.frombuffer(self._bgra, dtype=np.uint32).reshape(self.monitor.height, self.monitor.width)
        return np.asarray(self.image.convert("RGB"))

    @property
    def size(self) -> tuple[int, int]:
        return self.monitor.width, self.monitor.height

    def contains(self, point: Point) -> bool:
        x, y = point
        return 0 <= x < self.monitor.width and 0 <= y < self.monitor.height


DRAG_STEPS = 8  # intermediate pointer positions of a drag: toolkits track the motion, not only its ends


def drag_path(start: Point, end: Point, steps: int = DRAG_STEPS) -> list[Point]:
    """The pointer positions of a drag after its start, evenly spaced, the last one `end`."""
    return [(start[0] + (end[0] - start[0]) * i // steps, start[1] + (end[1] - start[1]) * i // steps)
            for i in range(1, steps + 1)]


def to_desktop(point: Point, monitor: Monitor, scale: float = 1.0) -> Point:
    """Map a screen point (pixels of the monitor's image) to input-device coordinates.

    Adds the monitor's virtual-desktop offset, then divides by the HiDPI scale: the result is the
    input unit that holds the pixel's centre. (Rounding the pixel's corner instead sent the last
    column of a monitor at scale 2 — 2559 / 2 = 1279.5, rounded to 1280 — onto the monitor to its right.)
    """
    x, y = point
    return math.floor((monitor.left + x + 0.5) / scale), math.floor((monitor.top + y + 0.5) / scale)


def from_desktop(point: Point, monitor: Monitor, scale: float = 1.0) -> Point:
    """Inverse of `to_desktop`: an input-device point to the screen pixel of `monitor` holding its centre."""
    x, y = point
    return math.floor((x + 0.5) * scale) - monitor.left, math.floor((y + 0.5) * scale) - monitor.top


def normalize(point: Point, size: tuple[int, int]) -> tuple[float, float]:
    """A screen point as fractions (0..1) of a `size` screen, measured at the pixel's centre.

    Traces store these next to pixel coordinates, so a trace replays on another resolution.
    """
    (x, y), (width, height) = point, size
    return round((x + 0.5) / width, 6), round((y + 0.5) / height, 6)


def denormalize(fraction: tuple[float, float], size: tuple[int, int]) -> Point:
    """Inverse of `normalize`: the pixel of a `size` screen whose area holds the fraction."""
    (fx, fy), (width, height) = fraction, size
    # + 0.01: fractions are stored to 6 decimals; a point exactly on a pixel edge must not fall short of it
    return min(max(int(fx * width + 0.01), 0), width - 1), min(max(int(fy * height + 0.01), 0), height - 1)
