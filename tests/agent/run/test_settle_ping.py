"""Settling on events with `settle.ping` (the application's answer to _NET_WM_PING ends the wait for an
effect early), against a scripted timeline of drawing and answers: no drawing for two quiet intervals
after the answer ends it; drawing after the answer is still waited for; an answer that never comes,
an application that cannot be asked, or `ping: false` keep effect_ms; an effect before the answer ends
it as before; the hover wait ends the same way."""

from __future__ import annotations

import time

import pytest

from actions.dispatch import Placement
from actions.schema import LeftClick
from actions.x11ping import AnswersPings
from agent.config import SettleSettings
from agent.run.settle import SettleResult, hover_first, settle
from tests.agent.run.test_settle_events import CFG, Box, Timeline, frame

PING = CFG.model_copy(update={"effect_ms": 500, "ping": True})


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    """The first comparison imports numpy (~150 ms): not a cost of settling."""
    settle(frame, frame(), SettleSettings(mode="poll", interval_ms=1, timeout_ms=10))


class Answering(Timeline):
    """A timeline whose application answers a ping `answer_ms` after it (None: never; `askable` False: no
    application to ask)."""

    def __init__(self, draws: list[tuple[float, Box, object]], answer_ms: float | None = 1.0,
                 askable: bool = True) -> None:
        super().__init__(draws)  # type: ignore[arg-type]
        self.answer_ms, self.askable, self.pinged_at, self.pings = answer_ms, askable, None, 0

    def ping(self, skip: tuple[str, ...] = ()) -> bool:
        self.pings += 1
        self.pinged_at = self._now()
        return self.askable

    def answered(self) -> bool:
        return (self.askable and self.answer_ms is not None and self.pinged_at is not None
                and self._now() >= self.pinged_at + self.answer_ms)

    def wait(self, timeout: float) -> list[Box]:  # an answer wakes the wait, as it does on the X connection
        if self.pinged_at is not None and self.answer_ms is not None and not self.answered():
            timeout = min(timeout, max(0.0, (self.pinged_at + self.answer_ms - self._now()) / 1000))
        return super().wait(timeout)


def run(t: Answering, cfg: SettleSettings = PING) -> SettleResult:
    t.start()
    return settle(t.grab, frame(), cfg, changes=t)


def test_the_fake_answers_pings() -> None:
    assert isinstance(Answering([]), AnswersPings) and not isinstance(Timeline([]), AnswersPings)


def test_no_drawing_after_the_answer_ends_it_two_quiet_intervals_later() -> None:
    t = Answering([], answer_ms=5)
    result = run(t)
    assert result.stable and not result.changed and t.pings == 1
    assert result.answered_ms is not None and 5 <= result.answered_ms < 20
    assert 45 <= result.ms < 120  # 5 + 2 x 20, not effect_ms (500)


def test_drawing_after_the_answer_is_waited_for() -> None:
    """A handler that works 200 ms before it draws answers after it: the answer comes late, then the drawing."""
    t = Answering([(205, (50, 50, 90, 60), frame((50, 50, 90, 60)))], answer_ms=200)
    result = run(t)
    assert result.changed_box == (50, 50, 91, 61) and result.stable and 225 <= result.ms < 350
    # drawing just inside the two quiet intervals after an early answer is waited for too
    t = Answering([(35, (50, 50, 90, 60), frame((50, 50, 90, 60)))], answer_ms=1)
    assert run(t).changed


def test_drawing_that_changes_nothing_after_the_answer_extends_the_wait_not_the_effect() -> None:
    t = Answering([(30, (0, 0, 200, 30), frame())], answer_ms=1)
    result = run(t)
    assert not result.changed and 70 <= result.ms < 150  # 30 + 2 x 20


def test_a_timer_effect_after_the_answer_is_not_covered() -> None:
    """Work the input started for later (a timer 200 ms on) is not in the answer: settling ends before it."""
    t = Answering([(200, (50, 50, 90, 60), frame((50, 50, 90, 60)))], answer_ms=1)
    result = run(t)
    assert not result.changed and result.ms < 100


def test_without_an_answer_or_without_ping_it_waits_effect_ms() -> None:
    for t, cfg in ((Answering([], answer_ms=None), PING), (Answering([], askable=False), PING),
                   (Answering([], answer_ms=1), PING.model_copy(update={"ping": False}))):
        result = run(t, cfg)
        assert not result.changed and 500 <= result.ms < 600 and result.answered_ms is None
    assert t.pings == 0  # ping: false asks nobody


def test_an_effect_before_the_answer_ends_it_as_before() -> None:
    t = Answering([(2, (10, 10, 40, 30), frame((10, 10, 40, 30)))], answer_ms=100)
    result = run(t)
    assert result.changed and result.ms < 60


class Pointer(Answering):
    """The timeline as a computer to point with (hover_first moves, then captures)."""

    def move(self, to: object) -> None:
        self.start()

    def screenshot(self) -> object:
        return self.grab()


def test_the_hover_wait_ends_at_the_answer_too() -> None:
    cfg = PING.model_copy(update={"hover_ms": 300})
    for answer_ms, least, most in ((1, 40, 120), (None, 300, 420)):
        t, shot = Pointer([], answer_ms=answer_ms), frame()
        started = time.perf_counter()
        hovered = hover_first(LeftClick(coordinate=(100, 45)), shot, t, Placement(shot.monitor),  # type: ignore[arg-type]
                              cfg, changes=t)
        assert hovered is not None and least <= (time.perf_counter() - started) * 1000 < most and t.pings == 1


def test_a_descendant_process_is_found_through_proc() -> None:
    import os
    import subprocess
    import sys

    from actions.x11ping import _descends

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert _descends(child.pid, os.getpid()) and not _descends(os.getpid(), child.pid)
    finally:
        child.kill()
        child.wait()
    assert not _descends(child.pid, os.getpid())  # gone: it draws nothing


def test_a_window_opened_or_closed_after_the_ping_voids_the_answer() -> None:
    """A dialog the handler opened is mapped by the window manager and draws after the application's
    answer: any top-level created, mapped, unmapped, reparented or destroyed since the ping voids it."""
    from types import SimpleNamespace

    from Xlib import X

    from actions.x11ping import AppPing

    ping = AppPing.__new__(AppPing)
    ping._protocols, ping._ping, ping._clients = 1, 2, {}
    for kind in (X.CreateNotify, X.MapNotify, X.UnmapNotify, X.DestroyNotify, X.ReparentNotify):
        ping._pending, ping.sent, ping.windows_changed = {(7, 9)}, True, False
        answer = SimpleNamespace(type=X.ClientMessage, client_type=1, data=(32, [2, 7, 9, 0, 0]))
        assert ping.take(answer) and ping.answered()
        assert not ping.take(SimpleNamespace(type=kind))
        assert not ping.answered(), kind
    ping._pending, ping.sent, ping.windows_changed = set(), True, False
    assert not ping.take(SimpleNamespace(type=X.ConfigureNotify)) and ping.answered()  # a move is no new window
