"""Settling: waits for the action's effect (not a hover highlight), stops as soon as the screen is
still after it, reports where it changed, ignores a caret."""

from __future__ import annotations

import threading
import time

from PIL import Image, ImageDraw

from actions.dispatch import Placement
from actions.fake import FakeComputer
from actions.geometry import Monitor, Screenshot
from actions.schema import LeftClick, Type
from agent.config import SettleSettings
from agent.run.settle import differs, hover_first, settle

M = Monitor(0, 0, 200, 100)
FAST = SettleSettings(interval_ms=1, stable_frames=2, timeout_ms=5000, effect_ms=0)


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
    assert result.stable and not result.changed and result.frames == 3 and result.first_change_ms is None


def test_waits_up_to_effect_ms_for_a_change_that_never_comes() -> None:
    result = settle(frame, frame(), FAST.model_copy(update={"effect_ms": 150}))
    assert result.stable and not result.changed and 150 <= result.ms < 1000


def test_waits_for_a_late_effect_then_for_stillness() -> None:
    """An application that answers after 200 ms: the old rule (still for two frames) ended at once."""
    clicked = time.perf_counter()
    late = lambda: frame((50, 50, 90, 60)) if time.perf_counter() - clicked > 0.2 else frame()  # noqa: E731
    result = settle(late, frame(), FAST.model_copy(update={"effect_ms": 1000}))
    assert result.changed_box == (50, 50, 91, 61) and result.stable
    assert result.first_change_ms is not None and 200 <= result.first_change_ms <= result.ms < 1000


class SlowField(FakeComputer):
    """A text field drawn with a hover highlight the moment the pointer is over it, that takes focus
    (a thick border) only `delay` s after the click: Chromium right after Unicode typing (issue 11)."""

    def __init__(self, delay: float) -> None:
        super().__init__(monitor=M)
        self.delay, self.pointer, self.clicked = delay, (0, 0), None

    def screenshot(self) -> Screenshot:
        image = Image.new("RGB", (200, 100), "white")
        draw = ImageDraw.Draw(image)
        if 20 <= self.pointer[0] < 180 and 30 <= self.pointer[1] < 60:
            draw.rectangle((20, 30, 179, 59), fill=(255, 255, 220))  # hover
        if self.clicked is not None and time.perf_counter() - self.clicked > self.delay:
            draw.rectangle((18, 28, 181, 61), outline="blue", width=3)  # focused
        return Screenshot(image, M)

    def move(self, to: tuple[int, int]) -> None:
        super().move(to)
        self.pointer = to

    def click(self, at: tuple[int, int] | None, button: str, count: int) -> None:
        super().click(at, button, count)
        self.pointer, self.clicked = at or self.pointer, time.perf_counter()


def click_and_settle(app: SlowField, cfg: SettleSettings) -> tuple[float, bool]:
    """Click the field as the loop does; return the settle time and whether the field had focus by then."""
    where, shot = Placement(M), app.screenshot()
    hovered = hover_first(LeftClick(coordinate=(100, 45)), shot, app, where, cfg)
    app.click((100, 45), "left", 1)
    result = settle(app.screenshot, hovered or shot, cfg)
    focused = result.shot.image.getpixel((19, 45)) == (0, 0, 255)
    return result.ms, focused


def test_a_hover_highlight_is_not_the_clicks_effect() -> None:
    cfg = SettleSettings(interval_ms=5, stable_frames=2, effect_ms=2000, hover_ms=50)
    app = SlowField(delay=0.3)
    ms, focused = click_and_settle(app, cfg)
    assert focused and ms >= 300  # settling waited for the focus, not for the hover
    assert app.calls[0] == ("move", (100, 45)) and app.calls[1][0] == "click"
    # without pointing first, the hover is the first change and ends the wait before the focus comes
    ms, focused = click_and_settle(SlowField(delay=0.3), cfg.model_copy(update={"hover_first": False}))
    assert not focused and ms < 300


def test_only_pressing_pointer_actions_point_first() -> None:
    app = SlowField(delay=0)
    assert hover_first(Type(text="x"), app.screenshot(), app, Placement(M), SettleSettings()) is None
    off = SettleSettings(mode="fixed")
    assert hover_first(LeftClick(coordinate=(5, 5)), app.screenshot(), app, Placement(M), off) is None
    assert app.calls == []


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
