"""Settling on drawing notices (settle.mode auto/events), against a scripted timeline of drawing: it ends
a quiet interval after the last drawing, waits for a late effect, does not take drawing that leaves
the pixels as they were (or a caret, or another monitor) for the effect, keeps the hover rule, and
is chosen only where the computer offers the notices."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image, ImageDraw

from actions.dispatch import Placement
from actions.fake import FakeComputer
from actions.geometry import Monitor, Screenshot
from actions.schema import LeftClick
from agent.config import SettleSettings
from agent.run.settle import NoScreenChanges, SettleResult, hover_first, screen_changes, settle

M = Monitor(0, 0, 200, 100)
CFG = SettleSettings(mode="events", quiet_ms=20, effect_ms=0, timeout_ms=3000)
Box = tuple[int, int, int, int]


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    """The first comparison imports numpy (~150 ms): not a cost of settling."""
    settle(frame, frame(), SettleSettings(mode="poll", interval_ms=1, timeout_ms=10))


def frame(*boxes: Box) -> Screenshot:
    image = Image.new("RGB", (200, 100), "white")
    for box in boxes:
        ImageDraw.Draw(image).rectangle(box, fill="black")
    return Screenshot(image, M)


class Timeline:
    """A screen and its drawing notices: `draws` are (ms after `start()`, damaged box, screen from then on)."""

    def __init__(self, draws: list[tuple[float, Box, Screenshot]], screen: Screenshot | None = None) -> None:
        self.draws, self.screen = sorted(draws, key=lambda d: d[0]), screen or frame()
        self.started, self.reported, self.armed, self.synced, self.grabs = 0.0, 0, 0, 0, 0

    def start(self) -> None:
        self.started = time.perf_counter()

    def _now(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def grab(self) -> Screenshot:
        self.grabs += 1
        shown = [d for d in self.draws if d[0] <= self._now()]
        return shown[-1][2] if shown else self.screen

    # the ScreenChanges protocol
    def arm(self) -> None:
        self.armed += 1

    def sync(self) -> None:
        self.synced += 1

    def wait(self, timeout: float) -> list[Box]:
        due = [d for d in self.draws[self.reported:] if d[0] <= self._now()]
        if not due and timeout > 0 and self.reported < len(self.draws):
            time.sleep(max(0.0, min(timeout, (self.draws[self.reported][0] - self._now()) / 1000)))
            due = [d for d in self.draws[self.reported:] if d[0] <= self._now()]
        elif not due:
            time.sleep(timeout)
        self.reported += len(due)
        return [d[1] for d in due]

    def close(self) -> None:
        pass


def run(t: Timeline, cfg: SettleSettings = CFG, stop: threading.Event | None = None) -> SettleResult:
    t.start()
    return settle(t.grab, frame(), cfg, stop, changes=t)


def test_an_immediate_redraw_ends_a_quiet_interval_later() -> None:
    t = Timeline([(2, (10, 10, 40, 30), frame((10, 10, 40, 30)))])
    result = run(t)
    assert result.stable and result.changed_box == (10, 10, 41, 31) and t.synced == 1
    assert 20 <= result.ms < 60 and result.first_change_ms is not None and result.first_change_ms < 20


def test_a_redraw_200_ms_late_is_waited_for() -> None:
    t = Timeline([(200, (50, 50, 90, 60), frame((50, 50, 90, 60)))])
    result = run(t, CFG.model_copy(update={"effect_ms": 1000}))
    assert result.changed_box == (50, 50, 91, 61) and result.stable
    assert result.first_change_ms is not None and 200 <= result.first_change_ms <= result.ms < 400


def test_drawing_that_leaves_the_pixels_alone_is_not_the_effect() -> None:
    """A Tk entry redraws itself whole at every caret blink: drawing, but the same pixels."""
    t = Timeline([(3, (0, 0, 200, 30), frame()), (150, (0, 0, 200, 30), frame((5, 5, 60, 20)))])
    result = run(t, CFG.model_copy(update={"effect_ms": 1000}))
    assert result.changed and 150 <= result.ms < 300 and t.grabs >= 2


def test_no_effect_costs_effect_ms_and_the_start_is_looked_at_once() -> None:
    t = Timeline([])
    result = run(t, CFG.model_copy(update={"effect_ms": 120}))
    assert result.stable and not result.changed and 120 <= result.ms < 250 and t.grabs == 1


def test_an_animation_is_waited_out_and_an_endless_one_is_cut_at_the_cap() -> None:
    steps = [(float(k * 10), (k, 0, k + 30, 20), frame((k, 0, k + 30, 20))) for k in range(1, 11)]
    result = run(Timeline(steps))
    assert result.stable and result.changed_box == (10, 0, 41, 21) and 120 <= result.ms < 200
    endless = [(float(k * 5), (k % 150, 0, k % 150 + 30, 20), frame((k % 150, 0, k % 150 + 30, 20)))
               for k in range(1, 400)]
    result = run(Timeline(endless), CFG.model_copy(update={"timeout_ms": 150}))
    assert not result.stable and 150 <= result.ms < 400


def test_a_caret_or_another_monitor_does_not_hold_it() -> None:
    blink = [(float(k * 5), (100, 40, 101, 55), frame()) for k in range(1, 100)]  # a 1 px caret, every 5 ms
    elsewhere = [(float(k * 5), (300, 0, 400, 100), frame()) for k in range(1, 100)]  # right of this monitor
    for draws in (blink, elsewhere):
        result = run(Timeline(draws), CFG.model_copy(update={"effect_ms": 60}))
        assert result.stable and 60 <= result.ms < 150


def test_stop_ends_it() -> None:
    stop = threading.Event()
    stop.set()
    started = time.perf_counter()
    run(Timeline([(k * 5.0, (0, 0, 50, 50), frame((0, 0, k, 5))) for k in range(1, 200)]), stop=stop)
    assert time.perf_counter() - started < 0.1


def test_poll_mode_ignores_the_notices() -> None:
    t = Timeline([(2, (10, 10, 40, 30), frame((10, 10, 40, 30)))])
    result = run(t, CFG.model_copy(update={"mode": "poll", "interval_ms": 1}))
    assert t.synced == 0 and result.changed


class Watched(FakeComputer):
    def __init__(self, changes: Timeline | None) -> None:
        super().__init__(monitor=M)
        self.changes = changes

    def screen_changes(self) -> Timeline | None:
        return self.changes


def test_the_mode_chooses_events_where_offered_and_falls_back_to_polling() -> None:
    t = Timeline([])
    assert screen_changes(Watched(t), SettleSettings(mode="auto")) is t  # type: ignore[comparison-overlap]
    assert screen_changes(Watched(t), SettleSettings(mode="events")) is t  # type: ignore[comparison-overlap]
    for mode in ("poll", "fixed", "off"):
        assert screen_changes(Watched(t), SettleSettings(mode=mode)) is None
    assert screen_changes(Watched(None), SettleSettings(mode="auto")) is None
    assert screen_changes(FakeComputer(monitor=M), SettleSettings(mode="auto")) is None  # no notices: poll
    with pytest.raises(NoScreenChanges, match="DAMAGE"):
        screen_changes(FakeComputer(monitor=M), SettleSettings(mode="events"))


class HoverField(Watched):
    """A field with a hover highlight drawn 3 ms after the pointer arrives, that takes focus 300 ms after a click."""

    def __init__(self) -> None:
        super().__init__(Timeline([]))
        self.hovered_at: float | None = None
        self.clicked_at: float | None = None

    def screenshot(self) -> Screenshot:
        now = time.perf_counter()
        boxes = []
        if self.hovered_at is not None and now - self.hovered_at > 0.003:
            boxes.append((20, 30, 179, 59))
        if self.clicked_at is not None and now - self.clicked_at > 0.3:
            boxes.append((18, 28, 181, 61))
        return frame(*boxes)

    def move(self, to: tuple[int, int]) -> None:
        super().move(to)
        assert self.changes is not None and self.changes.armed  # armed before the pointer moves
        self.hovered_at = time.perf_counter()
        self.changes.draws, self.changes.reported = [(3, (20, 30, 179, 59), frame())], 0
        self.changes.start()

    def click(self, at: tuple[int, int] | None, button: str, count: int) -> None:
        super().click(at, button, count)
        self.clicked_at = time.perf_counter()
        assert self.changes is not None
        self.changes.draws, self.changes.reported = [(300, (18, 28, 181, 61), frame())], 0
        self.changes.start()


def test_a_hover_highlight_is_not_the_clicks_effect_on_events() -> None:
    app = HoverField()
    cfg = SettleSettings(mode="events", effect_ms=2000, hover_ms=100)
    shot = app.screenshot()
    hovered = hover_first(LeftClick(coordinate=(100, 45)), shot, app, Placement(M), cfg, changes=app.changes)
    assert hovered is not None and hovered.image.getpixel((100, 45)) == (0, 0, 0)  # the highlight is the baseline
    app.click((100, 45), "left", 1)
    result = settle(app.screenshot, hovered, cfg, changes=app.changes)
    assert result.ms >= 300 and result.changed_box == (18, 28, 182, 62)  # waited for the focus, not the hover
