"""A fake `Computer` for tests: records every input call and serves canned screenshots.

Not for: production use. Lives in the package so every layer's tests share one fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actions.geometry import Monitor, Point, Screenshot


@dataclass
class FakeComputer:
    monitor: Monitor = field(default_factory=lambda: Monitor(0, 0, 1280, 800))
    scale: float = 1.0
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    color: tuple[int, int, int] = (40, 40, 40)

    def screenshot(self) -> Screenshot:
        from PIL import Image

        image = Image.new("RGB", (self.monitor.width, self.monitor.height), self.color)
        return Screenshot(image=image, monitor=self.monitor, scale=self.scale)

    def move(self, to: Point) -> None:
        self.calls.append(("move", to))

    def click(self, at: Point | None, button: str, count: int) -> None:
        self.calls.append(("click", at, button, count))

    def drag(self, start: Point | None, end: Point) -> None:
        self.calls.append(("drag", start, end))

    def scroll(self, at: Point | None, dx: int, dy: int) -> None:
        self.calls.append(("scroll", at, dx, dy))

    def type_text(self, text: str) -> None:
        self.calls.append(("type", text))

    def key(self, keys: tuple[str, ...]) -> None:
        self.calls.append(("key", keys))

    def close(self) -> None:
        self.calls.append(("close",))
