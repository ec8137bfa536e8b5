"""Settling: after an action, poll the screen until it stops changing, instead of sleeping.

`settle` captures every `interval` until `stable_frames` consecutive captures match the one before
(within `change_threshold`, the fraction of pixels allowed to differ, so a blinking caret does not
hold the agent until the cap), or until `timeout`. It reports how long that took, whether the
screen differs from the one before the action, and where. The last capture is returned so the
next step can observe it without capturing again.
Not for: deciding what a change means (the loop and stuck detection do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.geometry import Screenshot


@dataclass(frozen=True)
class SettleResult:
    shot: Screenshot
    ms: float
    stable: bool
    frames: int
    changed_box: tuple[int, int, int, int] | None  # where the screen differs from before the action

    @property
    def changed(self) -> bool:
        return self.changed_box is not None


def settle(
    grab: Callable[[], Screenshot],
    before: Screenshot,
    interval_s: float,
    stable_frames: int,
    timeout_s: float,
    change_threshold: float = 0.0,
) -> SettleResult:
    started = time.perf_counter()
    last = grab()
    frames, same = 1, 0
    while same < stable_frames and time.perf_counter() - started < timeout_s:
        time.sleep(interval_s)
        current = grab()
        frames += 1
        same = same + 1 if differs(last, current, change_threshold) is None else 0
        last = current
    ms = (time.perf_counter() - started) * 1000
    return SettleResult(last, ms, same >= stable_frames, frames, differs(before, last, change_threshold))


def differs(a: Screenshot, b: Screenshot, threshold: float = 0.0) -> tuple[int, int, int, int] | None:
    """The bounding box where two captures differ, or None if they match within `threshold`."""
    from PIL import ImageChops

    if a.size != b.size:
        return (0, 0, *b.size)
    diff = ImageChops.difference(a.image, b.image)
    box = diff.getbbox()
    if box is None or threshold <= 0:
        return box
    changed = sum(diff.convert("L").point(lambda v: 255 if v else 0).histogram()[255:])
    return box if changed / (a.size[0] * a.size[1]) > threshold else None
