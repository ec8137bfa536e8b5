"""Settling: after an action, wait until the application has answered it and the screen is still.

The rule, in order (`mode: auto` settles on events where the display reports drawing, else polls):
1. The input has reached the X server: every executor ends each input call with a round trip
   (XSync), so settling starts only once the server has processed the events and passed them on;
   on events, settling makes one more round trip on its own connection before it listens.
2. Hover first (`hover_first`): before a pointer action presses anything at a point, the pointer is
   moved there and the screen allowed to settle (up to `hover_ms` for a hover highlight to show,
   then still; never longer than that takes). That screen is the baseline the action's effect is
   measured against, so a hover highlight — drawn in milliseconds while the application may take
   hundreds to react to the click — never passes for the click's effect.
3. Wait for the effect: until the screen differs from the baseline, keep waiting, up to `effect_ms`
   (an application slow to react, a dialog that takes time to open). An action without any visible
   effect therefore costs `effect_ms`; with one, only as long as the application takes. Unless
   (`ping`, events only) the applications under the pointer and with focus answer a _NET_WM_PING sent
   after the round trip (actions.x11ping): their answer means they have dispatched the input, so no
   drawing for `ping_quiet_ms` after it (and after any later drawing) ends the wait with "no visible
   effect", and the hover wait of rule 2 likewise. Work a handler only started (a timer, an idle
   callback, another process) is not covered; applications drawing from another process are not asked.
4. Then still. Events (`auto`/`events`, X11 DAMAGE through actions.x11damage): no drawing anywhere on
   the monitor for `quiet_ms`, then one capture; drawing during that capture means wait again. The
   capture, not the drawing, decides whether the screen changed: a redraw that leaves the pixels as
   they were (a Tk entry redraws itself at every caret blink) is no effect. Poll (`poll`, and `auto`
   where the display has no DAMAGE, e.g. Wayland): `stable_frames` consecutive captures
   `interval_ms` apart with no change since the last change. `timeout_ms` caps the whole wait (an
   animation never stops; the run goes on).

It reports how long that took, when the first change came, whether the screen now differs from the
baseline, and where. The last capture is returned so the next step can observe it without capturing
again. Captures are compared on their raw pixels (no image conversion). Two kinds of change do not
count: changes covering at most `change_threshold` of the screen, and changes whose bounding box is
at most `caret_px` pixels wide (a blinking text caret), so a caret neither holds the agent until the
cap nor passes for an effect; drawing of that size is not waited for either. `mode: fixed` sleeps
`fixed_ms` instead (the anchors' way, kept for comparison); `mode: off` skips all of it.
Not for: deciding what a change means (the loop and stuck detection do), or sending input.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from actions.computer import Computer, ScreenChanges, WatchesScreen
from actions.dispatch import Placement
from actions.errors import DeskpilotError
from actions.geometry import Monitor, Point, Screenshot
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
from actions.x11ping import AnswersPings
from agent.config import SettleSettings

Box = tuple[int, int, int, int]
_PRESSING = (LeftClick, DoubleClick, TripleClick, RightClick, MiddleClick, Scroll, HScroll)
_WAITING = ("auto", "events", "poll")  # the modes that wait for the application (hover first included)
_SLICE_S = 0.05  # longest single wait for drawing, so a stop is noticed promptly
_GAP_MS = 2  # events: a pause in drawing this long is worth a capture (it stands if the pause lasts quiet_ms)


class NoScreenChanges(DeskpilotError, RuntimeError):
    """`settle.mode: events` on a display that reports no drawing (no X DAMAGE: Wayland, an odd server)."""


@dataclass(frozen=True)
class SettleResult:
    shot: Screenshot
    ms: float
    stable: bool
    frames: int
    changed_box: Box | None  # where the screen differs from before the action (left, top, right, bottom)
    first_change_ms: float | None = None  # when a change from before the action was first seen
    answered_ms: float | None = None  # when the applications pinged after the input had all answered

    @property
    def changed(self) -> bool:
        return self.changed_box is not None


def settle(
    grab: Callable[[], Screenshot], before: Screenshot, cfg: SettleSettings, stop: threading.Event | None = None,
    effect_ms: int | None = None, changes: ScreenChanges | None = None,
) -> SettleResult:
    """Wait as the module doc says; `effect_ms` overrides `cfg.effect_ms` (0: no change is expected).
    `changes` (armed before the input, see `screen_changes`) settles on events; None polls."""
    started = time.perf_counter()
    stop = stop or threading.Event()
    if cfg.mode == "fixed":
        stop.wait(cfg.fixed_ms / 1000)
        last = grab()
        return SettleResult(last, _since(started), True, 1, differs(before, last, cfg))
    expect = min(cfg.effect_ms if effect_ms is None else effect_ms, cfg.timeout_ms)
    if changes is not None and cfg.mode in ("auto", "events"):
        return _on_events(grab, before, cfg, stop, expect, changes, started)
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


def _on_events(grab: Callable[[], Screenshot], before: Screenshot, cfg: SettleSettings, stop: threading.Event,
               expect: int, changes: ScreenChanges, started: float) -> SettleResult:
    """Rules 3 and 4 on drawing notices. A capture is taken as soon as drawing pauses (`_GAP_MS`), so it
    overlaps the quiet interval; it stands if nothing is drawn during it or for `quiet_ms` after the last
    drawing, and the wait ends once it differs from `before` (or `expect` has passed)."""
    changes.sync()  # the server has processed the input; what it drew so far is queued to us
    asked = cfg.ping and isinstance(changes, AnswersPings) and changes.ping(tuple(cfg.ping_skip))  # rule 3's early end
    answered: float | None = None  # when all pinged applications had answered
    gap = min(_GAP_MS, cfg.quiet_ms)
    drawn, burst = 0.0, None  # the last counted drawing (the input counts, at 0); the first since the last capture
    dirty, frames, shot, box, first = True, 0, before, None, None  # dirty: drawn since the last capture
    while not stop.is_set():
        now = _since(started)
        if asked and answered is None and changes.answered():  # type: ignore[attr-defined]
            answered = now
        limit = expect if answered is None else min(expect, max(answered, drawn) + cfg.ping_quiet_ms)
        if dirty and now >= drawn + gap:  # drawing paused: look; the quiet interval says whether it holds
            shot, frames, dirty = grab(), frames + 1, False
            box = differs(before, shot, cfg)
            if _counts(changes.wait(0), before.monitor, cfg):  # drawn during the capture: look again
                drawn, dirty = _since(started), True
                continue
            if box is not None and first is None:
                first = burst if burst is not None else 0.0  # 0: changed before any drawing was seen
            burst = None
        quiet = now >= drawn + cfg.quiet_ms
        if not dirty and quiet and (box is not None or now >= limit):
            return SettleResult(shot, _since(started), True, frames, box, first, answered)
        if now >= cfg.timeout_ms:
            break
        wake = drawn + gap if dirty else drawn + cfg.quiet_ms if box is not None or not quiet else limit
        if _counts(changes.wait(min(max(min(wake, cfg.timeout_ms) - now, 0) / 1000, _SLICE_S)), before.monitor, cfg):
            drawn, dirty = _since(started), True
            burst = drawn if burst is None else burst
    if dirty:  # cut short (timeout or stop) while drawing went on: the screen as it is now
        shot, frames = grab(), frames + 1
        box = differs(before, shot, cfg)
    return SettleResult(shot, _since(started), False, frames, box, first, answered)


def _counts(boxes: list[Box], monitor: Monitor, cfg: SettleSettings) -> bool:
    """Whether any drawing counts: on the monitor, wider than a caret, larger than `change_threshold`."""
    left, top, right, bottom = monitor.left, monitor.top, monitor.left + monitor.width, monitor.top + monitor.height
    least = cfg.change_threshold * monitor.width * monitor.height
    for x0, y0, x1, y1 in boxes:
        w, h = min(x1, right) - max(x0, left), min(y1, bottom) - max(y0, top)
        if w <= 0 or h <= 0 or (w <= cfg.caret_px and h <= 4 * max(cfg.caret_px, 16)):
            continue
        if w * h > least:
            return True
    return False


def screen_changes(computer: Computer, cfg: SettleSettings) -> ScreenChanges | None:
    """The drawing notices settling waits on under `cfg.mode` (auto/events, a computer that offers them;
    the computer closes them), else None: poll. `events` without them raises `NoScreenChanges`."""
    if cfg.mode not in ("auto", "events"):
        return None
    changes = computer.screen_changes() if isinstance(computer, WatchesScreen) else None
    if changes is None and cfg.mode == "events":
        raise NoScreenChanges("settle.mode: events needs the X DAMAGE extension, which this display does not "
                              "offer (Wayland, or an X server without it); use settle.mode: auto or poll")
    return changes


def hover_first(action: Action, shot: Screenshot, computer: Computer, where: Placement, cfg: SettleSettings,
                stop: threading.Event | None = None, changes: ScreenChanges | None = None) -> Screenshot | None:
    """Rule 2: point at a pressing action's target and let the screen settle; the screen to measure
    the action against, or None where there is nothing to do (no target, or a mode that does not wait).
    With `changes`, the hover highlight is waited for on events (they are armed here, before the move)."""
    point = pressed_at(action)
    if point is None or cfg.mode not in _WAITING or not cfg.hover_first:
        return None
    target = where.desktop(point)
    assert target is not None
    if changes is not None:
        changes.arm()
    computer.move(target)
    still = 2 * cfg.quiet_ms if changes is not None else (cfg.stable_frames + 1) * cfg.interval_ms
    cap = cfg.hover_ms + still  # an animated screen never settles
    return settle(computer.screenshot, shot, cfg.model_copy(update={"timeout_ms": min(cfg.timeout_ms, cap)}),
                  stop, effect_ms=cfg.hover_ms, changes=changes).shot


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
