"""Screen geometry: monitors, screenshots and the screen → input-device mapping.

A `Screenshot` is one capture of one monitor in physical pixels. Its `monitor` records where
that monitor sits in the virtual desktop (offsets can be non-zero or negative on multi-monitor
layouts) and `scale` how many physical pixels make one unit of the input API (1.0 on X11;
2.0 where input takes logical points on a HiDPI screen). Actions carry screen coordinates —
pixels of the screenshot image — and `to_desktop` is the one place they become input-device
coordinates. Not for: model-image coordinates (policies map those to screen coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class Screenshot:
    """One capture: the image (physical pixels), the monitor it shows, the HiDPI scale."""

    image: Image.Image = field(repr=False)
    monitor: Monitor
    scale: float = 1.0
    captured_at: float = 0.0

    def __post_init__(self) -> None:
        if self.image.size != (self.monitor.width, self.monitor.height):
            raise ValueError(
                f"image size {self.image.size} does not match monitor "
                f"{self.monitor.width}x{self.monitor.height}"
            )
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")

    @property
    def size(self) -> tuple[int, int]:
        return self.monitor.width, self.monitor.height

    def contains(self, point: Point) -> bool:
        x, y = point
        return 0 <= x < self.monitor.width and 0 <= y < self.monitor.height


def to_desktop(point: Point, monitor: Monitor, scale: float = 1.0) -> Point:
    """Map a screen point (pixels of the monitor's image) to input-device coordinates.

    Adds the monitor's virtual-desktop offset, then divides by the HiDPI scale.
    """
    x, y = point
    return round((monitor.left + x) / scale), round((monitor.top + y) / scale)


def from_desktop(point: Point, monitor: Monitor, scale: float = 1.0) -> Point:
    """Inverse of `to_desktop`: an input-device point to screen pixels of `monitor`."""
    x, y = point
    return round(x * scale) - monitor.left, round(y * scale) - monitor.top
