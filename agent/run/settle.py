"""Settling: after an action, wait until the application has answered it and the screen is still.

The rule (`mode: poll`, the default), in order:
1. The input has reached the X server: every executor ends each input call with a round trip
   (XSync), so settling starts only once the server has processed the events and passed them on.
2. Hover first (`hover_first`): before a pointer action presses anything at a point, the pointer is
   moved there and the screen allowed to settle (up to `hover_ms` for a hover highlight to show,
   then still for the stability window; never longer than that takes). That screen is the baseline
   the action's effect is measured against, so a hover highlight — drawn in milliseconds while the
   application may take hundreds to react to the click — never passes for the click's effect.
3. Wait for the effect: until the screen differs from the baseline, keep waiting, up to `effect_ms`
   (an application slow to react, a dialog that takes time to open). An action without any visible
   effect therefore costs `effect_ms`; with one, only as long as the application takes.
4. Then still: `stable_frames` consecutive captures `interval_ms` apart with no change since the last
   change. `timeout_ms` caps the whole wait (an animation never stops; the run goes on).

It reports how long that took, when the first change came, whether the screen now differs from the
baseline, and where. The last capture is returned so the next step can observe it without capturing
again. Captures are compared on their raw pixels (no image conversion). Two kinds of change do not
count: changes covering at most `change_threshold` of the screen, and changes whose bounding box is
at most `caret_px` pixels wide (a blinking text caret), so a caret neither holds the agent until the
cap nor passes for an effect. `mode: fixed` sleeps `fixed_ms` instead (the anchors' way, kept for
comparison); `mode: off` skips all of it.
Not for: deciding what a change means (the loop and stuck detection do), or sending input.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.computer import Computer
from actions.dispatch import Placement
from actions.geometry import Point, Screenshot
from actions.schema import (
    Action,
    DoubleClick,
    HScroll,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    RightClick,
    Scroll,
    TripleClick,
)
from agent.config import SettleSettings

Box = tuple[int, int, int, int]
_PRESSING = (LeftClick, DoubleClick, TripleClick, RightClick, MiddleClick, Scroll, HScroll)


@dataclass(frozen=True)
class SettleResult:
    shot: Screenshot
    ms: float
    stable: bool
    frames: int
    changed_box: Box | None  # where the screen differs from before the action (left, top, right, bottom)
    first_change_ms: float | None = None  # when a change from before the action was first seen

    @property
    def changed(self) -> bool:
        return self.changed_box is not None


def settle(
    grab: Callable[[], Screenshot], before: Screenshot, cfg: SettleSettings, stop: threading.Event | None = None,
    effect_ms: int | None = None,
) -> SettleResult:
    """Wait as the module doc says; `effect_ms` overrides `cfg.effect_ms` (0: no change is expected)."""
    started = time.perf_counter()
    stop = stop or threading.Event()
    if cfg.mode == "fixed":
        stop.wait(cfg.fixed_ms / 1000)
        last = grab()
        return SettleResult(last, _since(started), True, 1, differs(before, last, cfg))
    expect = min(cfg.effect_ms if effect_ms is None else effect_ms, cfg.timeout_ms)
    last, frames, same = grab(), 1, 0
    first = _since(started) if differs(before, last, cfg) is not None else None
    while _since(started) < cfg.timeout_ms:
        if same >= cfg.stable_frames and (first is not None or _since(started) >= expect):
            break
        if stop.wait(cfg.interval_ms / 1000):
            break
        current = grab()
        frames += 1
        same = same + 1 if differs(last, current, cfg) is None else 0
        if first is None and differs(before, current, cfg) is not None:
            first = _since(started)
        last = current
    stable = same >= cfg.stable_frames
    return SettleResult(last, _since(started), stable, frames, differs(before, last, cfg), first)


def hover_first(action: Action, shot: Screenshot, computer: Computer, where: Placement, cfg: SettleSettings,
                stop: threading.Event | None = None) -> Screenshot | None:
    """Rule 2: point at a pressing action's target and let the screen settle; the screen to measure
    the action against, or None where there is nothing to do (no target, or not `mode: poll`)."""
    point = pressed_at(action)
    if point is None or cfg.mode != "poll" or not cfg.hover_first:
        return None
    target = where.desktop(point)
    assert target is not None
    computer.move(target)
    cap = cfg.hover_ms + (cfg.stable_frames + 1) * cfg.interval_ms  # an animated screen never settles
    return settle(computer.screenshot, shot, cfg.model_copy(update={"timeout_ms": min(cfg.timeout_ms, cap)}),
                  stop, effect_ms=cfg.hover_ms).shot


def pressed_at(action: Action) -> Point | None:
    """Where a pointer action presses a button or turns the wheel (a drag: where it starts)."""
    if isinstance(action, LeftClickDrag):
        return action.start_coordinate
    if isinstance(action, _PRESSING):
        return action.coordinate
    return None


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


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
