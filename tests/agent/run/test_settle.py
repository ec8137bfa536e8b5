"""Settling: stops as soon as the screen is still, reports where it changed, ignores a caret."""

from __future__ import annotations

import threading
import time

from PIL import Image, ImageDraw

from actions.geometry import Monitor, Screenshot
from agent.config import SettleSettings
from agent.run.settle import differs, settle

M = Monitor(0, 0, 200, 100)
FAST = SettleSettings(interval_ms=1, stable_frames=2, timeout_ms=5000)


def frame(box: tuple[int, int, int, int] | None = None, raw: bool = False) -> Screenshot:
    image = Image.new("RGB", (200, 100), "white")
    if box:
        ImageDraw.Draw(image).rectangle(box, fill="black")
    if raw:  # the way captures arrive: a BGRX buffer
        b, g, r = image.split()[::-1]
        return Screenshot(monitor=M, bgra=Image.merge("RGBA", (b, g, r, Image.new("L", image.size))).tobytes())
    return Screenshot(image, M)


def test_settles_once_the_animation_stops() -> None:
    frames = iter([frame((0, 0, 10, 10)), frame((0, 0, 20, 10)), frame((0, 0, 30, 10))] + [frame((0, 0, 30, 10))] * 5)
    result = settle(lambda: next(frames), frame(), FAST)
    assert result.stable and result.frames == 5 and result.changed_box == (0, 0, 31, 11)


def test_no_change_is_reported() -> None:
    result = settle(frame, frame(), FAST)
    assert result.stable and not result.changed and result.frames == 3


def test_gives_up_at_the_cap() -> None:
    counter = iter(range(10_000))

    def moving() -> Screenshot:
        k = next(counter) * 7 % 150
        return frame((k, 0, k + 20, 20))

    result = settle(moving, frame(), FAST.model_copy(update={"timeout_ms": 50}))
    assert not result.stable and result.ms < 1000


def test_fixed_mode_sleeps() -> None:
    started = time.perf_counter()
    result = settle(frame, frame(), FAST.model_copy(update={"mode": "fixed", "fixed_ms": 120}))
    assert time.perf_counter() - started >= 0.12 and result.frames == 1


def test_stop_interrupts_settling() -> None:
    stop = threading.Event()
    stop.set()
    counter = iter(range(10_000))
    started = time.perf_counter()
    settle(lambda: frame(((k := next(counter) * 7 % 150), 0, k + 20, 20)), frame(), FAST, stop)
    assert time.perf_counter() - started < 0.1


def test_a_blinking_caret_is_not_a_change_but_a_checkbox_tick_is() -> None:
    cfg = SettleSettings()
    caret = frame((100, 40, 100, 55))
    assert differs(frame(), caret) is not None
    assert differs(frame(), caret, cfg) is None
    assert differs(frame(), frame((50, 50, 58, 58)), cfg) == (50, 50, 59, 59)


def test_threshold_ignores_tiny_changes() -> None:
    cfg = SettleSettings(caret_px=0, change_threshold=0.01)
    assert differs(frame(), frame((10, 10, 12, 12)), cfg) is None
    assert differs(frame(), frame((0, 0, 199, 99)), cfg) is not None


def test_raw_captures_compare_without_conversion_and_match_images() -> None:
    a, b = frame((5, 5, 20, 20), raw=True), frame((5, 5, 30, 20), raw=True)
    assert differs(a, b) == (21, 5, 31, 21)
    assert differs(a, frame((5, 5, 20, 20))) is None  # raw vs image: compared as RGB
    assert a.image.getpixel((6, 6)) == (0, 0, 0) and a.image.getpixel((50, 50)) == (255, 255, 255)
