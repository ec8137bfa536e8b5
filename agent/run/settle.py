"""Settling: after an action, poll the screen until it stops changing, instead of sleeping.

`settle` captures every `interval_ms` until `stable_frames` consecutive captures match the one
before, or until `timeout_ms`. It reports how long that took, whether the screen now differs from
the one before the action, and where. The last capture is returned so the next step can observe it
without capturing again. Captures are compared on their raw pixels (no image conversion).

Two kinds of change do not count: changes covering at most `change_threshold` of the screen, and
changes whose bounding box is at most `caret_px` pixels wide (a blinking text caret), so a caret
neither holds the agent until the cap nor passes for an effect of the action.
`mode: fixed` sleeps `fixed_ms` instead (the anchors' way, kept for comparison); `mode: off` skips.
Not for: deciding what a change means (the loop and stuck detection do).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.geometry import Screenshot
from agent.config import SettleSettings

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SettleResult:
    shot: Screenshot
    ms: float
    stable: bool
    frames: int
    changed_box: Box | None  # where the screen differs from before the action (left, top, right, bottom)

    @property
    def changed(self) -> bool:
        return self.changed_box is not None


def settle(
    grab: Callable[[], Screenshot], before: Screenshot, cfg: SettleSettings, stop: threading.Event | None = None
) -> SettleResult:
    started = time.perf_counter()
    stop = stop or threading.Event()
    if cfg.mode == "fixed":
        stop.wait(cfg.fixed_ms / 1000)
        last, frames, same = grab(), 1, cfg.stable_frames
    else:
        last, frames, same = grab(), 1, 0
        while same < cfg.stable_frames and (time.perf_counter() - started) * 1000 < cfg.timeout_ms:
            if stop.wait(cfg.interval_ms / 1000):
                break
            current = grab()
            frames += 1
            same = same + 1 if differs(last, current, cfg) is None else 0
            last = current
    ms = (time.perf_counter() - started) * 1000
    return SettleResult(last, ms, same >= cfg.stable_frames, frames, differs(before, last, cfg))


def differs(a: Screenshot, b: Screenshot, cfg: SettleSettings | None = None) -> Box | None:
    """The bounding box where two captures differ, or None if they match (see the module doc)."""
    import numpy as np

    if a.size != b.size:
        return (0, 0, *b.size)
    pa, pb = a.pixels(), b.pixels()
    if pa.shape != pb.shape:  # one raw capture, one image: compare as RGB
        pa, pb = np.asarray(a.image), np.asarray(b.image)
    mask = pa != pb
    if mask.ndim == 3:
        mask = mask.any(axis=2)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    if cfg is not None:
        if box[2] - box[0] <= cfg.caret_px and box[3] - box[1] <= 4 * max(cfg.caret_px, 16):
            return None
        if cfg.change_threshold > 0 and mask.sum() / mask.size <= cfg.change_threshold:
            return None
    return box
