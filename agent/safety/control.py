"""The run's brakes as the loop sees them: stop (kill switch, signals), pause (human takeover),
the wall-time limit and the action-rate limit.

`Control.before_step` is called before every model call and `Control.before_action` before every
action: they block while a person has taken over, and say when the run must end (stopped, out of
time) or the action must not run (stopped, a takeover happened since the screen was seen, over
the rate). `Control.sleep` is the sleep for `wait` actions and the rate limit: it ends early when
the run is stopped or its wall time runs out (`remaining` bounds the settle wait too). `Pause` is
the takeover state shared with the input monitor (`agent.safety.takeover`), the resume hotkeys, SIGUSR1
and the daemon's `resume` request.
Not for: noticing input or hotkeys (`agent.safety.takeover`, `agent.safety.hotkeys`), or deciding what a step is.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from actions.schema import Action, Answer, Terminate, Wait
from agent.safety.config import SafetySettings

POLL_S = 0.02  # how often blocked waits look at the stop flag (kill latency budget: 100 ms)
Announce = Callable[[str, dict[str, object]], None]


@dataclass(frozen=True)
class Hold:
    """Why an allowed action must not run now: the run was stopped, a person took over, the rate, or the
    time limit ran out while waiting for the rate."""

    kind: Literal["cancelled", "interrupted", "denied", "max_time"]
    reason: str
    rule: str = ""


class Pause:
    """Takeover state: paused until resumed. `epoch` counts pauses, so a stale screen can be told."""

    def __init__(self, announce: Announce | None = None) -> None:
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.RLock()  # re-entrant: SIGUSR1's handler may run inside pause()
        self.epoch = 0
        self.reason = ""
        self.announce = announce

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self, reason: str) -> bool:
        """Pause (once: a second call while paused is ignored). True if this call paused."""
        with self._lock:
            if self.paused:
                return False
            self.epoch, self.reason = self.epoch + 1, reason
            self._running.clear()
        self._say("paused", reason=reason)
        return True

    def resume(self, how: str) -> bool:
        with self._lock:
            if not self.paused:
                return False
            self._running.set()
        self._say("resumed", how=how)
        return True

    def wait(self, stop: threading.Event) -> bool:
        """Block while paused, until resumed or stopped; True if it had to wait."""
        waited = False
        while self.paused and not stop.is_set():
            waited = True
            self._running.wait(POLL_S)
        return waited

    def _say(self, event: str, **fields: object) -> None:
        if self.announce is not None:
            self.announce(event, {"t": time.time(), "epoch": self.epoch, **fields})


class RateWindow:
    """At most `per_minute` admitted actions in any 60 s (0 = unlimited)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.clock, self.times = per_minute, clock, deque[float]()

    def delay(self) -> float:
        """Seconds until one more action fits (0 if it fits now)."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        while self.times and now - self.times[0] >= 60.0:
            self.times.popleft()
        return 0.0 if len(self.times) < self.per_minute else self.times[0] + 60.0 - now

    def admit(self) -> None:
        if self.per_minute > 0:
            self.times.append(self.clock())


class Control:
    """Stop, pause and limits for one run; shared by the loop, the executor guard and the listeners."""

    def __init__(self, stop: threading.Event, safety: SafetySettings, pause: Pause | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stop, self.pause, self.clock = stop, pause or Pause(), clock
        self.limits = safety.limits
        self.started = clock()
        self.rate = RateWindow(self.limits.max_actions_per_minute, clock)
        self.out_of_time = False  # a sleep was cut short by the wall-time limit

    @property
    def epoch(self) -> int:
        return self.pause.epoch

    def before_step(self) -> tuple[Literal["cancelled", "max_time"], str] | None:
        """Wait out a takeover; then why the run must end now, if it must."""
        self.pause.wait(self.stop)
        if self.stop.is_set():
            return "cancelled", "stopped by the user before the model call"
        left = self.remaining()
        if left is not None and (self.out_of_time or left == 0):
            return "max_time", f"reached the time limit ({self.limits.max_wall_time_s:g} s)"
        return None

    def remaining(self) -> float | None:
        """Seconds left of the wall-time limit (None: no limit)."""
        limit = self.limits.max_wall_time_s
        return max(0.0, limit - (self.clock() - self.started)) if limit else None

    def before_action(self, action: Action, epoch: int) -> Hold | None:
        """Wait out a takeover and the rate limit; then why `action` must not run now, if so."""
        self.pause.wait(self.stop)
        if self.stop.is_set():
            return Hold("cancelled", "cancelled before the action")
        if self.pause.epoch != epoch:
            return Hold("interrupted", "a person took over after the screen was seen; looking again")
        if isinstance(action, Wait | Terminate | Answer):
            return None
        delay = self.rate.delay()
        if delay > 0 and self.limits.over_rate == "deny":
            per = self.limits.max_actions_per_minute
            return Hold("denied", f"more than {per} actions in a minute; wait {delay:.0f} s", "rate_limit")
        if delay > 0 and not self.sleep(delay):
            if self.stop.is_set():
                return Hold("cancelled", "cancelled while waiting for the rate limit")
            return Hold("max_time", "the time limit ran out while waiting for the rate limit")
        if self.pause.epoch != epoch:
            return Hold("interrupted", "a person took over while waiting for the rate limit")
        self.rate.admit()
        return None

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`, ending early when stopped or when the wall time runs out (the next
        `before_step` then ends the run); True if it slept the whole time."""
        left = self.remaining()
        if left is not None and left < seconds:
            if not self.stop.wait(left):
                self.out_of_time = True
            return False
        return not self.stop.wait(seconds)
