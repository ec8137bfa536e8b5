"""Carry out one action on a `Computer`: a `match` over the closed union.

Screen coordinates in the action become input-device coordinates here (through
`geometry.to_desktop`), so every executor receives the same, already-mapped points.
Never called on an action the gate has not allowed (the loop guarantees it).
Not for: deciding whether an action is allowed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.computer import Computer
from actions.geometry import Monitor, Point, to_desktop
from actions.schema import (
    Action,
    Answer,
    DoubleClick,
    HScroll,
    Key,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    MouseMove,
    RightClick,
    Scroll,
    Terminate,
    TripleClick,
    Type,
    Wait,
)


@dataclass(frozen=True)
class Placement:
    """Where screen coordinates live: the captured monitor and the HiDPI scale."""

    monitor: Monitor
    scale: float = 1.0
    scroll_pixels_per_click: int = 1

    def desktop(self, point: Point | None) -> Point | None:
        return None if point is None else to_desktop(point, self.monitor, self.scale)


def perform(action: Action, computer: Computer, where: Placement,
            sleep: Callable[[float], object] = time.sleep) -> None:
    """Execute `action`. Terminate and answer touch nothing; wait calls `sleep` (the loop's stops early)."""
    d = where.desktop
    match action:
        case LeftClick(coordinate=c):
            computer.click(d(c), "left", 1)
        case DoubleClick(coordinate=c):
            computer.click(d(c), "left", 2)
        case TripleClick(coordinate=c):
            computer.click(d(c), "left", 3)
        case RightClick(coordinate=c):
            computer.click(d(c), "right", 1)
        case MiddleClick(coordinate=c):
            computer.click(d(c), "middle", 1)
        case MouseMove(coordinate=c):
            computer.move(d(c))
        case LeftClickDrag(coordinate=c, start_coordinate=s):
            computer.drag(d(s), d(c))
        case Scroll(pixels=p, coordinate=c):
            computer.scroll(d(c), 0, _clicks(p, where))
        case HScroll(pixels=p, coordinate=c):
            computer.scroll(d(c), _clicks(p, where), 0)
        case Type(text=t):
            computer.type_text(t)
        case Key(keys=k):
            computer.key(k)
        case Wait(time=t):
            sleep(t)
        case Terminate() | Answer():
            pass


def _clicks(pixels: int, where: Placement) -> int:
    """Wheel clicks for a scroll of `pixels`, at least one click in the asked direction."""
    if pixels == 0:
        return 0
    clicks = round(pixels / where.scroll_pixels_per_click)
    return clicks if clicks else (1 if pixels > 0 else -1)
